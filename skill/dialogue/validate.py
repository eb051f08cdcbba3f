"""Check dialogue files and report every problem at once as ``file:line:column``.

:mod:`skill.dialogue.dialog` already reports what is wrong inside one key (syntax,
types, unknown keys). This module checks what only shows across the whole
bundle: targets that do not exist, nodes nothing leads to, flows that cannot
end or loop without ever listening, intents without phrases, one phrase
claimed by two intents at a node, placeholders we cannot fill, conditions
about nodes or answers that do not exist. The same check runs before every
session, so a broken file can never strand someone mid-check-in.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from skill.dialogue import conditions
from skill.dialogue.dialog import (
    RESERVED_FILES,
    Bundle,
    Escalation,
    Flow,
    Node,
    Problem,
    Transition,
    Variation,
    did_you_mean,
    effective_escalation,
    load_bundle,
    load_commands,
    load_vocabulary,
)
from skill.dialogue.matcher import HARD_STOP_WORDS
from skill.dialogue.normalize import normalize
from skill.dialogue.render import offered_answers
from skill.dialogue.yamlpos import Mark

log = logging.getLogger(__name__)

PLACEHOLDERS = ("name", "names", "partner", "setting", "safe_word", "notes_from", "notes_when", "support_line")
#: Only in reprompts: the question restated, and answers the question accepts.
REPROMPT_PLACEHOLDERS = ("question", "choices")
_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
_TERMINAL_THEN = ("wait", "end")


def default_dialogs_dir() -> Path:
    """``dialogs/`` beside the package (a source checkout), else in the working directory."""
    here = Path(__file__).resolve().parents[2] / "dialogs"
    return here if here.is_dir() else Path("dialogs")


def normalizer() -> Callable[[str], str]:
    """The matcher's normalizer, so 'I'm okay' and 'im okay' clash as they would live."""
    return normalize


# --------------------------------------------------------------------------
# Edges
# --------------------------------------------------------------------------


def edges(node: Node, flow: Flow) -> Iterator[tuple[str, Mark, str]]:
    """Every (target, mark, kind) a node can move to; kind names the source key."""
    if node.step == "next" and node.next:
        yield node.next, node.next_mark or node.mark, "next"
    for intent, t in node.listen.items():
        if t.next:
            yield t.next, t.next_mark, "listen"
        if t.resume:
            yield t.resume, t.resume_mark or t.mark, "resume"
    if node.step in ("wait", "note", "read_notes") and node.then:
        yield node.then, node.then_mark or node.mark, node.step
    for arm in node.branch:
        yield arm.next, arm.next_mark, "branch"
    if node.skip:
        yield node.skip, node.skip_mark or node.mark, "skip"
    for esc in (node.on_silence, node.on_unclear):
        if esc and esc.then not in _TERMINAL_THEN:
            yield esc.then, esc.then_mark, "escalation"


def flow_escalations(flow: Flow) -> Iterator[tuple[str, Escalation]]:
    for what, esc in (("on_silence", flow.on_silence), ("on_unclear", flow.on_unclear)):
        if esc is not None:
            yield what, esc


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------


class _Checker:
    def __init__(self, bundle: Bundle, normalize: Callable[[str], str]) -> None:
        self.bundle = bundle
        self.normalize = normalize
        self.problems: list[Problem] = []

    def err(self, mark: Mark, message: str, severity: str = "error") -> None:
        self.problems.append(Problem(mark, message, severity))

    # ---- targets -------------------------------------------------------

    def target(self, flow: Flow, target: str, mark: Mark, kind: str) -> None:
        if target == "resume" and kind != "resume":
            return  # back to where the sub-flow was entered from
        if "." in target:
            fname, _, nid = target.rpartition(".")
            other = self.bundle.flows.get(fname)
            if other is None:
                self.err(mark, f"'{target}' names a flow '{fname}' that does not exist"
                               f"{did_you_mean(fname, self.bundle.flows)}")
            elif nid not in other.nodes:
                self.err(mark, f"flow '{fname}' has no node '{nid}'{did_you_mean(nid, other.nodes)}")
            elif kind == "resume":
                self.err(mark, "'resume' must name a node in this flow (where to come back to)")
            return
        if target not in flow.nodes:
            self.err(mark, f"'{target}' is not a node in this flow{did_you_mean(target, flow.nodes)}")

    def targets(self, flow: Flow) -> None:
        if flow.start and flow.start not in flow.nodes:
            self.err(flow.start_mark or flow.mark, f"start node '{flow.start}' does not exist{did_you_mean(flow.start, flow.nodes)}")
        for node in flow.nodes.values():
            for target, mark, kind in edges(node, flow):
                self.target(flow, target, mark, kind)
        for what, esc in flow_escalations(flow):
            if esc.then not in _TERMINAL_THEN:
                self.target(flow, esc.then, esc.then_mark, "escalation")

    # ---- graph ---------------------------------------------------------

    def graph(self, flow: Flow) -> None:
        local: dict[str, list[str]] = {nid: [] for nid in flow.nodes}
        leaves: set[str] = set()  # nodes that hand over to another flow or return
        for nid, node in flow.nodes.items():
            for target, _, kind in edges(node, flow):
                if kind == "resume":
                    continue
                if target == "resume" or "." in target:
                    leaves.add(nid)
                elif target in flow.nodes:
                    local[nid].append(target)
            for _, esc in flow_escalations(flow):
                if esc.then not in _TERMINAL_THEN and esc.then in flow.nodes and node.step == "listen":
                    local[nid].append(esc.then)
            # A transition to another flow comes back to its 'resume' node.
            for t in node.listen.values():
                if t.resume and t.resume in flow.nodes:
                    local[nid].append(t.resume)
        roots = {flow.start} if flow.start in flow.nodes else set()
        for target in self.care_targets():
            fname, _, nid = target.rpartition(".")
            if fname == flow.name and nid in flow.nodes:
                roots.add(nid)  # care.yaml sends people here from anywhere
        for other in self.bundle.flows.values():
            for node in other.nodes.values():
                for target, _, _ in edges(node, other):
                    fname, _, nid = target.rpartition(".")
                    if fname == flow.name and other.name != flow.name and nid in flow.nodes:
                        roots.add(nid)
        seen = _reach(roots, local)
        for nid, node in flow.nodes.items():
            if nid not in seen and roots:
                self.err(node.mark, f"node '{nid}' can never be reached: nothing leads to it")
        ends = {nid for nid, n in flow.nodes.items() if n.step == "end"} | leaves
        reverse: dict[str, list[str]] = defaultdict(list)
        for a, bs in local.items():
            for b in bs:
                reverse[b].append(a)
        can_end = _reach(ends, reverse)
        stuck = [nid for nid in flow.nodes if nid in seen and nid not in can_end]
        if stuck:
            first = flow.nodes[stuck[0]]
            self.err(first.mark, f"the conversation can never end from node(s) {', '.join(stuck)}: "
                                 "add a path to a node with 'end:'")
        auto = {nid: [t for t in local[nid] if flow.nodes[t].step in ("next", "branch", "read_notes", "note")]
                for nid, n in flow.nodes.items() if n.step in ("next", "branch", "read_notes", "note")}
        for cycle in _cycles(auto):
            first = flow.nodes[cycle[0]]
            path = " -> ".join(cycle + [cycle[0]])
            self.err(first.mark, f"nodes {path} go round in a circle without ever listening")

    # ---- intents and phrases -------------------------------------------

    def intents(self, flow: Flow) -> None:
        command_phrases: dict[str, str] = {}
        stop = self.bundle.commands.get("stop")
        for p in stop.phrases if stop else ():
            command_phrases.setdefault(self.normalize(p), "stop")
        # Softer ways of ending ("call it a night"): a node may list them only
        # where its answer ends the check-in too (see Matcher._claimed_ending).
        soft_stops = [k for k in command_phrases if len(k.split()) > 1 and not set(k.split()) & HARD_STOP_WORDS]
        # Phrases that stop only as the whole answer ("good night") always win.
        for p in stop.alone if stop else ():
            command_phrases.setdefault(self.normalize(p), "stop")
        for node in flow.nodes.values():
            claimed: dict[str, str] = {}
            for intent, t in node.listen.items():
                mark = node.listen_marks.get(intent, t.mark)
                phrases = self.bundle.intent_phrases(node, intent)
                if phrases is None:
                    known = set(node.intents) | set(flow.intents) | set(self.bundle.vocabulary)
                    self.err(mark, f"intent '{intent}' has no phrases: define it under this node's 'intents', "
                                   f"the flow's 'intents' or in vocabulary.yaml{did_you_mean(intent, known)}")
                    continue
                for phrase in phrases:
                    key = self.normalize(phrase)
                    if not key:
                        continue
                    other = claimed.get(key)
                    if other is not None and other != intent:
                        self.err(mark, f"the phrase '{phrase}' is claimed by both '{other}' and '{intent}' at node "
                                       f"'{node.id}'; keep it in one of them")
                    claimed.setdefault(key, intent)
                    soft = any(f" {stop} " in f" {key} " for stop in soft_stops)
                    if key in command_phrases and not soft:
                        self.err(mark, f"the phrase '{phrase}' of '{intent}' is also the "
                                       f"'{command_phrases[key]}' command, which always wins; it will end "
                                       "the session instead", "warning")
                    elif soft and not self.ends(flow, t):
                        self.err(mark, f"the phrase '{phrase}' of '{intent}' at node '{node.id}' asks to stop in "
                                       "other words; list it only under an answer that goes to a node with "
                                       "'end:', or remove it here and leave it to the stop command")

    def ends(self, flow: Flow, t: Transition) -> bool:
        """Whether this transition goes straight to a node that ends the check-in."""
        where = self.bundle.resolve(flow.name, t.next) if t.next else None
        return where is not None and self.bundle.flows[where[0]].nodes[where[1]].end is not None

    # ---- placeholders --------------------------------------------------

    def placeholders(self, text: str, mark: Mark, for_each: bool, reprompt: bool = False) -> None:
        depth_open = text.count("{") - text.count("}")
        for m in _PLACEHOLDER_RE.finditer(text):
            name = m.group(1).strip()
            at = mark.at(m.start()) if mark.line and "\n" not in text[: m.start()] else mark
            if reprompt and name in REPROMPT_PLACEHOLDERS:
                continue
            if name not in PLACEHOLDERS:
                self.err(at, f"unknown placeholder '{{{m.group(1)}}}'{did_you_mean(name, PLACEHOLDERS)}; "
                             f"use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}")
            elif name == "name" and not for_each:
                self.err(at, "'{name}' only works in a 'for_each: person' node; use '{names}' here")
        if depth_open:
            self.err(mark, "unbalanced '{' or '}' in the text")

    def texts(self, flow: Flow) -> None:
        for _, esc in flow_escalations(flow):
            for text, mark in zip(esc.reprompts, esc.reprompt_marks):
                self.placeholders(text, mark, False, reprompt=True)
        for node in flow.nodes.values():
            fe = node.for_each
            for v in node.say + node.say_solo:
                self.placeholders(v.text, v.mark, fe and v not in node.say_solo)
            if node.help and node.help_mark:
                self.placeholders(node.help, node.help_mark, fe)
            for t in node.listen.values():
                for v in t.say:
                    self.placeholders(v.text, v.mark, fe)
            for esc in (node.on_silence, node.on_unclear):
                if esc:
                    for text, mark in zip(esc.reprompts, esc.reprompt_marks):
                        self.placeholders(text, mark, fe, reprompt=True)

    def command_texts(self) -> None:
        for cmd in self.bundle.commands.values():
            for v in cmd.reply:
                self.placeholders(v.text, v.mark, False)

    # ---- conditions ----------------------------------------------------

    def condition(self, flow: Flow, cond: conditions.Cond, mark: Mark) -> None:
        for var in conditions.answer_nodes(cond):
            target = var.answer_node or ""
            resolved = self.bundle.resolve(flow.name, target)
            if resolved is None:
                known = flow.nodes
                self.err(mark.at(var.offset), f"'{var.name}': there is no node '{target}'{did_you_mean(target, known)}")
                continue
            node = self.bundle.flows[resolved[0]].nodes[resolved[1]]
            if node.step != "listen":
                self.err(mark.at(var.offset), f"'{var.name}': node '{target}' does not listen, so it has no answer")
        for var, intent, offset in conditions.compared_intents(cond):
            resolved = self.bundle.resolve(flow.name, var.answer_node or "")
            if resolved is None:
                continue
            node = self.bundle.flows[resolved[0]].nodes[resolved[1]]
            if node.step == "listen" and intent not in node.listen:
                self.err(mark.at(offset), f"node '{node.id}' does not listen for '{intent}'"
                                          f"{did_you_mean(intent, node.listen)}")

    def conditions(self, flow: Flow) -> None:
        def variations(vs: Sequence[Variation]) -> None:
            for v in vs:
                if v.when is not None and v.when_mark is not None:
                    self.condition(flow, v.when, v.when_mark)

        for node in flow.nodes.values():
            variations(node.say)
            variations(node.say_solo)
            for t in node.listen.values():
                variations(t.say)
            for arm in node.branch:
                if arm.cond is not None and arm.cond_mark is not None:
                    self.condition(flow, arm.cond, arm.cond_mark)

    def care_targets(self) -> list[str]:
        care = self.bundle.care
        if care is None:
            return []
        from skill.dialogue.care import go_to_targets

        return list(go_to_targets(care).values())

    def care(self) -> None:
        """care.yaml's go_to targets must be nodes (FLOW.NODE)."""
        care = self.bundle.care
        if care is None or self.bundle.directory is None:
            return
        from skill.dialogue.care import go_to_targets

        label = str(self.bundle.directory / "care.yaml")
        for where, target in go_to_targets(care).items():
            fname, _, nid = target.rpartition(".")
            flow = self.bundle.flows.get(fname)
            if flow is None or nid not in flow.nodes:
                self.err(Mark(label, 1, 1), f"'{where}' goes to '{target}', which is not a node; "
                                            "write it as FLOW.NODE (for example safety.unsafe)")

    # ---- wording: short prompts, restating reprompts, honest hints ------

    def length(self, text: str, mark: Mark, limit: int, what: str) -> None:
        words = len(_PLACEHOLDER_RE.sub("", text).split())
        if words > limit:
            self.err(mark, f"{what} has {words} words; keep it to {limit} or fewer (people listen with eyes "
                           "closed)", "warning")

    def wording(self, flow: Flow) -> None:
        care_flow = flow.name in CARE_FLOWS
        for node in flow.nodes.values():
            limit, what = (MAX_AFTER_DISTRESS, "a reply after distress") if care_flow else (MAX_PROMPT, "a prompt")
            for v in node.say + node.say_solo:
                self.length(v.text, v.mark, limit, what)
            if node.help and node.help_mark:
                self.length(node.help, node.help_mark, MAX_PROMPT, "a help text")
            for intent, t in node.listen.items():
                after_distress = care_flow or intent in DISTRESS_INTENTS
                for v in t.say:
                    self.length(v.text, v.mark, MAX_AFTER_DISTRESS if after_distress else MAX_PROMPT,
                                "a reply after distress" if after_distress else "a reply")
            if node.step != "listen":
                continue
            for which in ("on_silence", "on_unclear"):
                esc = effective_escalation(node, flow, which)
                if esc is None:
                    continue
                for text, mark in zip(esc.reprompts, esc.reprompt_marks):
                    self.length(text, mark, MAX_PROMPT, "a reprompt")
                if len(esc.reprompts) >= 2 and "{question}" not in esc.reprompts[1]:
                    mark = esc.reprompt_marks[1] if len(esc.reprompt_marks) > 1 else esc.mark
                    self.err(mark, f"the second {which} reprompt (used at node '{node.id}') should restate the "
                                   "question: include {question}", "warning")
            self.hints(flow, node)

    def hints(self, flow: Flow, node: Node) -> None:
        """Every answer a hint offers ("you can say yes, no, or not sure") must be
        one this node understands (an answer it listens for, or a command)."""
        matcher = self.matcher()
        if matcher is None:
            return
        intents = {i: self.bundle.intent_phrases(node, i) or () for i in node.listen}
        texts: list[tuple[str, Mark]] = []
        if node.help and node.help_mark:
            texts.append((node.help, node.help_mark))
        for which in ("on_silence", "on_unclear"):
            esc = effective_escalation(node, flow, which)
            if esc is not None:
                texts += list(zip(esc.reprompts, esc.reprompt_marks))
        for text, mark in texts:
            for offered in offered_answers(text):
                m = matcher.match(offered, intents, 1.0, LISTEN_COMMANDS, spot=False)
                if m.kind == "command" or (m.kind == "intent" and m.name in node.listen):
                    continue
                self.err(mark, f"the hint offers '{offered}', which node '{node.id}' does not understand; "
                               "offer an answer it listens for, or use {choices}", "warning")

    def matcher(self):  # noqa: ANN201 - a skill.dialogue.matcher.Matcher, built once
        if not hasattr(self, "_matcher"):
            try:
                from skill.dialogue.matcher import Matcher

                self._matcher = Matcher(self.bundle.command_phrases(), feelings=self.bundle.feelings,
                                        stop_alone=self.bundle.stop_alone,
                                        **({"affirmative": self.bundle.affirmative}
                                           if self.bundle.affirmative is not None else {}))
            except Exception as exc:  # never let the checker crash on a half-broken bundle
                log.debug("no matcher for hint checks: %s", exc)
                self._matcher = None
        return self._matcher

    def run(self, flows: Iterable[Flow]) -> list[Problem]:
        self.care()
        for flow in flows:
            self.targets(flow)
            self.graph(flow)
            self.intents(flow)
            self.texts(flow)
            self.conditions(flow)
            self.wording(flow)
        self.command_texts()
        return self.problems


#: Commands heard at a question ("continue" only means something during a wait).
LISTEN_COMMANDS = frozenset({"stop", "pause", "repeat", "back", "skip", "help", "slower", "faster", "quieter",
                             "louder", "forget"})
#: Longest prompt, in words (people listen with their eyes closed).
MAX_PROMPT = 30
#: Longest reply once someone has said they are not okay.
MAX_AFTER_DISTRESS = 20
#: Flows that only run after distress or danger.
CARE_FLOWS = ("support", "safety")
#: Answers that mean distress: the replies to them are kept short.
DISTRESS_INTENTS = frozenset({"not_okay", "hurting", "support"})
def _reach(roots: Iterable[str], graph: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        stack.extend(graph.get(n, ()))
    return seen


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """One representative cycle per strongly-connected loop, in linear time.

    Tarjan's algorithm (iterative, so a 10,000-node chain needs no deep
    recursion) finds the strongly connected components; for each one that
    loops (two or more nodes, or a node leading to itself) a breadth-first
    search inside it gives the shortest way from its first node back to itself.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(graph.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for t in successors:
                if t not in graph:
                    continue
                if t not in index:
                    index[t] = low[t] = counter
                    counter += 1
                    stack.append(t)
                    on_stack.add(t)
                    work.append((t, iter(graph.get(t, ()))))
                    advanced = True
                    break
                if t in on_stack:
                    low[node] = min(low[node], index[t])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
    found: list[list[str]] = []
    for component in components:
        members = set(component)
        start = min(component)
        if len(component) == 1 and start not in graph.get(start, ()):
            continue
        found.append(_shortest_loop(start, members, graph))
    return sorted(found, key=lambda cycle: cycle[0])


def _shortest_loop(start: str, members: set[str], graph: dict[str, list[str]]) -> list[str]:
    """The nodes of a shortest path from ``start`` back to itself, inside ``members``."""
    parent: dict[str, str] = {}
    queue = [start]
    head = 0
    while head < len(queue):
        n = queue[head]
        head += 1
        for t in graph.get(n, ()):
            if t == start:
                path = [n]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return path[::-1]
            if t in members and t not in parent:
                parent[t] = n
                queue.append(t)
    return [start]  # pragma: no cover - a component always loops back


def check_bundle(bundle: Bundle, flows: Iterable[str] | None = None) -> list[Problem]:
    """Cross-file checks for the named flows (default: all flows in the bundle)."""
    names = list(bundle.flows) if flows is None else [f for f in flows if f in bundle.flows]
    return _Checker(bundle, normalizer()).run(bundle.flows[n] for n in names)


def errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def load_checked(directory: Path | str) -> tuple[Bundle, list[Problem]]:
    """Load a whole ``dialogs/`` folder for a session, with every check."""
    directory = Path(directory)
    bundle, problems = load_bundle(directory)
    if not bundle.commands and not any("commands.yaml" in p.mark.file for p in problems):
        problems.append(Problem(Mark(str(directory / "commands.yaml"), 1, 1), "commands.yaml is missing"))
    if not bundle.vocabulary and not any("vocabulary.yaml" in p.mark.file for p in problems):
        problems.append(Problem(Mark(str(directory / "vocabulary.yaml"), 1, 1), "vocabulary.yaml is missing"))
    problems += check_bundle(bundle)
    return bundle, sorted(problems, key=Problem.sort_key)


def check_files(files: Sequence[Path | str], context: Path | str | None = None) -> list[Problem]:
    """Check the given files; vocabulary, commands and other flows come from beside them,
    or from ``context`` (default: the project's ``dialogs/``) when not there.

    Only problems in the given files are reported.
    """
    context_dir = Path(context) if context is not None else default_dialogs_dir()
    problems: list[Problem] = []
    by_dir: dict[Path, list[Path]] = defaultdict(list)
    test_files: list[Path] = []
    for f in files:
        p = Path(f)
        if not p.is_file():
            problems.append(Problem(Mark(str(f), 1, 1), "file not found"))
            continue
        if p.parent.name == "tests":
            test_files.append(p)
            continue
        by_dir[p.parent].append(p)
    for directory, paths in by_dir.items():
        problems += _check_dir(directory, paths, context_dir)
    if test_files:
        # Conversation tests run against the flows of the folder above them.
        flows_dir = test_files[0].parent.parent
        flows_dir = flows_dir if (flows_dir / "commands.yaml").exists() else context_dir
        bundle, _ = load_bundle(flows_dir, only=[])
        for p in test_files:
            problems += check_test_file(p, bundle)
    return sorted(set(problems), key=Problem.sort_key)


TEST_FILE_KEYS = ("flow", "tests")
TEST_KEYS = ("name", "setting", "settings", "names", "solo", "seed", "safe_word", "notes", "last_notes",
             "last_notes_from", "last_notes_when",
             "turns", "expect_end")
TURN_KEYS = ("user", "expect_intent", "expect_node", "expect_say")
END_REASONS_ALL = ("completed", "stopped", "safe_word", "not_ready", "no_response", "error")


def check_test_file(path: Path, bundle: Bundle) -> list[Problem]:
    """Check a conversation test file (dialogs/tests/FLOW.yaml) against the flows it tests."""
    from skill.dialogue.dialog import _Builder, _read  # the same reading rules as flow files

    label = str(path)
    b = _Builder()
    doc = _read(path, label, b)
    if doc is None:
        return b.problems
    top = b.mapping(doc, getattr(doc, "mark", Mark(label, 1, 1)), "a conversation test file")
    if top is None:
        return b.problems
    b.keys(top, TEST_FILE_KEYS, "the test file")
    flow_name = top.get("flow", path.stem)
    if flow_name not in bundle.flows:
        b.err(top.vmark("flow") if "flow" in top else top.mark,
              f"there is no flow '{flow_name}' to test{did_you_mean(str(flow_name), bundle.flows)}")
        return b.problems
    all_nodes = {nid for f in bundle.flows.values() for nid in f.nodes}
    all_nodes |= {f"{f.name}.{nid}" for f in bundle.flows.values() for nid in f.nodes}
    from skill.dialogue.care import DANGER_KINDS

    # What the matcher can say besides intents: danger kinds and a small need.
    intents = set(bundle.vocabulary) | set(bundle.commands) | {"safe_word", "need"} | set(DANGER_KINDS)
    for f in bundle.flows.values():
        intents |= set(f.intents)
        for n in f.nodes.values():
            intents |= set(n.intents)
    tests = top.get("tests")
    if not isinstance(tests, list) or not tests:
        b.err(top.vmark("tests") if "tests" in top else top.mark, "'tests' must be a list of tests")
        return b.problems
    names: dict[str, int] = {}
    for test, tmark in zip(tests, tests.imarks):  # type: ignore[attr-defined]
        t = b.mapping(test, tmark, "a test")
        if t is None:
            continue
        b.keys(t, TEST_KEYS, "a test")
        name = t.get("name")
        if not isinstance(name, str) or not name.strip():
            b.err(tmark, "each test needs a 'name'")
        elif name in names:
            b.err(t.vmark("name"), f"test name '{name}' is used twice (first at line {names[name]})")
        else:
            names[name] = t.vmark("name").line
        if "setting" in t and t["setting"] not in conditions.SETTINGS:
            b.err(t.vmark("setting"), f"'{t['setting']}' is not a setting{did_you_mean(str(t['setting']), conditions.SETTINGS)}")
        if "settings" in t and t["settings"] != "all":
            st = t["settings"]
            if not isinstance(st, list) or any(x not in conditions.SETTINGS for x in st):
                b.err(t.vmark("settings"), f"settings must be 'all' or a list of {', '.join(conditions.SETTINGS)}")
        if "expect_end" in t and t["expect_end"] is not None and t["expect_end"] not in END_REASONS_ALL:
            b.err(t.vmark("expect_end"), f"expect_end must be one of {', '.join(END_REASONS_ALL)} or null"
                                         f"{did_you_mean(str(t['expect_end']), END_REASONS_ALL)}")
        turns = t.get("turns", [])
        if not isinstance(turns, list):
            b.err(t.vmark("turns"), "'turns' must be a list")
            continue
        for turn, umark in zip(turns, getattr(turns, "imarks", [])):
            u = b.mapping(turn, umark, "a turn")
            if u is None:
                continue
            b.keys(u, TURN_KEYS, "a turn")
            node = u.get("expect_node")
            if node is not None and str(node) not in all_nodes:
                b.err(u.vmark("expect_node"), f"there is no node '{node}'{did_you_mean(str(node), all_nodes)}")
            intent = u.get("expect_intent")
            if intent is not None and str(intent) not in intents:
                b.err(u.vmark("expect_intent"), f"there is no intent or command '{intent}'"
                                                f"{did_you_mean(str(intent), intents)}")
    return b.problems


def _check_dir(directory: Path, paths: list[Path], context_dir: Path) -> list[Problem]:
    flows = [p for p in paths if p.stem not in RESERVED_FILES]
    bundle, problems = load_bundle(directory, only=flows)
    given = {p.resolve() for p in paths}
    # vocabulary / commands: report only if asked; borrow from context when missing.
    problems = [p for p in problems if not _is_reserved(p.mark.file) or _resolve(p.mark.file) in given]
    if not (directory / "vocabulary.yaml").exists() and (context_dir / "vocabulary.yaml").exists():
        bundle.vocabulary, bundle.vocabulary_marks, _ = load_vocabulary(context_dir / "vocabulary.yaml")
    if not (directory / "commands.yaml").exists() and (context_dir / "commands.yaml").exists():
        bundle.commands, _ = load_commands(context_dir / "commands.yaml")
    if context_dir.resolve() != directory.resolve() and context_dir.is_dir():
        ctx, _ = load_bundle(context_dir, only=[])
        for name, flow in ctx.flows.items():
            bundle.flows.setdefault(name, flow)
    wanted = [f.name for f in bundle.flows.values() if _resolve(f.file) in given]
    found = check_bundle(bundle, wanted)
    found = [p for p in found if _resolve(p.mark.file) in given]
    return problems + found


def _is_reserved(label: str) -> bool:
    return Path(label).stem in RESERVED_FILES


def _resolve(label: str) -> Path:
    return Path(label).resolve()


def bundle_phrases(bundle: Bundle) -> list[str]:
    """Every phrase the dialogues listen for (vocabulary, commands, flow and node intents), sorted, once each."""
    phrases: list[str] = []
    for phr in bundle.vocabulary.values():
        phrases += phr
    for cmd in bundle.commands.values():
        phrases += cmd.said
    for flow in bundle.flows.values():
        for phr in flow.intents.values():
            phrases += phr
        for node in flow.nodes.values():
            for phr in node.intents.values():
                phrases += phr
    return sorted(set(phrases))


#: Given every phrase, one warning line per word the speech recognizer does not know.
UnknownWords = Callable[[list[str]], Iterable[str]]


def vocabulary_warnings(bundle: Bundle, unknown_words: UnknownWords) -> list[str]:
    """Ask the recognizer (``unknown_words``, passed in by the shell: the core
    knows no speech models) about words it does not know.

    The check is advice: if it fails, ``check`` goes on without it.
    """
    try:
        return list(unknown_words(bundle_phrases(bundle)))
    except Exception as exc:  # advice must never break the check
        log.debug("the vocabulary check failed: %s", exc)
        return []
