"""Dialogue files as dataclasses: flows, nodes, transitions, variations.

The loader is forgiving on purpose: it never raises on bad input. It builds
as much of the model as it can and collects every structural problem (YAML
syntax, unknown keys with a did-you-mean, wrong types, bad version, bad
conditions) as a :class:`Problem` at ``file:line:column``. The cross-cutting
checks (targets, reachability, endings, phrase clashes, placeholders) live in
:mod:`skill.dialogue.validate`, which works on the model built here.

A *bundle* is one ``dialogs/`` folder: ``vocabulary.yaml``, ``commands.yaml``
and one file per flow. Nodes in other flows are named ``FLOW.NODE``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from skill.dialogue import conditions
from skill.dialogue.normalize import normalize
from skill.dialogue.readlimit import read_bounded
from skill.dialogue.yamlpos import Mark, YList, YMap, load as load_yaml

FORMAT_VERSION = 1
STEP_KEYS = ("next", "listen", "wait", "note", "read_notes", "branch", "end")
NODE_KEYS = ("say", "say_solo", "for_each", "help", "intents", "timeout", "on_silence", "on_unclear", "skip",
             "ask_everyone") + STEP_KEYS
FLOW_KEYS = ("version", "flow", "title", "description", "startable", "start", "defaults", "intents", "nodes")
DEFAULTS_KEYS = ("timeout", "on_silence", "on_unclear")
ESCALATION_KEYS = ("reprompts", "then")
TRANSITION_KEYS = ("next", "say", "resume", "now")
VARIATION_KEYS = ("text", "when")
END_REASONS = ("completed", "stopped", "not_ready")
COMMAND_NAMES = (
    "stop", "pause", "continue", "repeat", "back", "skip", "help",
    "slower", "faster", "quieter", "louder", "forget",
)
COMMAND_KEYS = ("help", "phrases", "alone", "reply", "seconds")
RESERVED_FILES = ("vocabulary", "commands", "feelings", "care")
DEFAULT_TIMEOUT = 12.0
MAX_REPROMPTS = 3
#: Limits that keep loading and checking fast on any input (the real files are
#: under 25 KB with under 20 nodes a flow); a bigger file is refused in one line.
MAX_FILE_BYTES = 256 * 1024
MAX_FLOW_NODES = 1000


@dataclass(frozen=True)
class Problem:
    """One complaint about a dialogue file, printed as ``file:line:column: message``."""

    mark: Mark
    message: str
    severity: str = "error"  # error | warning

    def format(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.mark}: {prefix}{self.message}"

    def sort_key(self) -> tuple:
        return (self.mark.file, self.mark.line, self.mark.col, self.message)


@dataclass(frozen=True)
class Variation:
    """One way of saying something, optionally only when a condition holds."""

    text: str
    mark: Mark
    when: conditions.Cond | None = None
    when_text: str | None = None
    when_mark: Mark | None = None


@dataclass(frozen=True)
class Transition:
    """Where an intent leads: an optional short reply, then a node."""

    next: str | None
    mark: Mark
    next_mark: Mark
    say: tuple[Variation, ...] = ()
    resume: str | None = None
    resume_mark: Mark | None = None
    now: bool = False


@dataclass(frozen=True)
class Escalation:
    """on_silence / on_unclear: up to three reprompts, then wait | end | NODE."""

    reprompts: tuple[str, ...]
    then: str
    mark: Mark
    then_mark: Mark
    reprompt_marks: tuple[Mark, ...] = ()


@dataclass(frozen=True)
class BranchArm:
    """One ``{if: COND, next: NODE}``; ``cond`` is None for the ``else`` arm."""

    cond: conditions.Cond | None
    next: str
    mark: Mark
    next_mark: Mark
    cond_text: str = ""
    cond_mark: Mark | None = None


@dataclass
class Node:
    id: str
    flow: str
    mark: Mark
    step: str | None = None  # one of STEP_KEYS
    say: tuple[Variation, ...] = ()
    say_solo: tuple[Variation, ...] = ()
    for_each: bool = False
    ask_everyone: bool = True  # group question: others may answer after a closing answer
    help: str | None = None
    help_mark: Mark | None = None
    timeout: float | None = None
    on_silence: Escalation | None = None
    on_unclear: Escalation | None = None
    skip: str | None = None
    skip_mark: Mark | None = None
    intents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    intent_marks: dict[str, Mark] = field(default_factory=dict)
    next: str | None = None
    next_mark: Mark | None = None
    listen: dict[str, Transition] = field(default_factory=dict)
    listen_marks: dict[str, Mark] = field(default_factory=dict)
    wait_seconds: float = 0.0
    then: str | None = None  # for wait / note / read_notes
    then_mark: Mark | None = None
    branch: tuple[BranchArm, ...] = ()
    end: str | None = None


@dataclass
class Flow:
    name: str
    file: str
    mark: Mark
    version: Any = None
    title: str = ""
    description: str = ""
    startable: bool = True  # false: reached from other flows only (never --flow)
    start: str | None = None
    start_mark: Mark | None = None
    timeout: float = DEFAULT_TIMEOUT
    on_silence: Escalation | None = None
    on_unclear: Escalation | None = None
    intents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    intent_marks: dict[str, Mark] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)


ESCALATIONS = ("on_silence", "on_unclear")


def effective_escalation(node: Node, flow: Flow, which: str) -> Escalation | None:
    """The node's own ``on_silence``/``on_unclear``, else its flow's default (None if neither)."""
    if which not in ESCALATIONS:
        raise ValueError(f"not an escalation: {which!r}")
    own = getattr(node, which)
    return own if own is not None else getattr(flow, which)


@dataclass
class Command:
    name: str
    mark: Mark
    phrases: tuple[str, ...] = ()
    reply: tuple[Variation, ...] = ()
    seconds: float | None = None
    help: str = ""  # what saying it does, for --help
    # stop only: phrases that end the check-in only when they are the whole
    # answer ("good night", "bye"), never inside a sentence ("we had a good night").
    alone: tuple[str, ...] = ()

    @property
    def said(self) -> tuple[str, ...]:
        """Every phrase the command answers to: ``phrases`` then ``alone``."""
        return self.phrases + self.alone


@dataclass
class Bundle:
    """Everything one session needs from ``dialogs/``."""

    flows: dict[str, Flow] = field(default_factory=dict)
    vocabulary: dict[str, tuple[str, ...]] = field(default_factory=dict)
    vocabulary_marks: dict[str, Mark] = field(default_factory=dict)
    commands: dict[str, Command] = field(default_factory=dict)
    directory: Path | None = None
    files: list[str] = field(default_factory=list)
    affirmative: dict[str, str | None] | list[str] | None = None
    feelings: Any = None  # skill.dialogue.care.Feelings from feelings.yaml, when present
    care: Any = None  # skill.dialogue.care.Care from care.yaml, when present

    def resolve(self, flow: str, target: str) -> tuple[str, str] | None:
        """``NODE`` or ``FLOW.NODE`` as seen from ``flow`` -> (flow, node) if it exists."""
        fname, _, nid = target.rpartition(".")
        fname = fname or flow
        f = self.flows.get(fname)
        if f is None or nid not in f.nodes:
            return None
        return fname, nid

    def command_phrases(self) -> dict[str, list[str]]:
        """Command name -> every phrase it answers to (``Command.said``), as the matcher takes them."""
        return {name: list(c.said) for name, c in self.commands.items() if c.said}

    @property
    def stop_alone(self) -> tuple[str, ...]:
        """The stop phrases that count only as the whole answer (``alone:`` in commands.yaml)."""
        stop = self.commands.get("stop")
        return stop.alone if stop is not None else ()

    def intent_phrases(self, node: Node, intent: str) -> tuple[str, ...] | None:
        """Node intents, then flow intents, then vocabulary.yaml (None if undefined)."""
        if intent in node.intents:
            return node.intents[intent]
        flow = self.flows.get(node.flow)
        if flow is not None and intent in flow.intents:
            return flow.intents[intent]
        return self.vocabulary.get(intent)


# --------------------------------------------------------------------------
# Builder helpers
# --------------------------------------------------------------------------


def did_you_mean(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _Builder:
    """Collects problems while turning YMap/YList trees into dataclasses."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def err(self, mark: Mark, message: str, severity: str = "error") -> None:
        self.problems.append(Problem(mark, message, severity))

    def keys(self, m: YMap, allowed: tuple[str, ...], where: str) -> None:
        for key in m:
            if key not in allowed:
                self.err(m.kmark(key), f"unknown key '{key}' in {where}{did_you_mean(key, allowed)}")

    def mapping(self, value: Any, mark: Mark, what: str) -> YMap | None:
        if isinstance(value, YMap):
            return value
        self.err(mark, f"{what} must be a mapping (key: value lines), not {_kind(value)}")
        return None

    def text(self, value: Any, mark: Mark, what: str) -> str | None:
        if isinstance(value, str):
            if not value.strip():
                self.err(mark, f"{what} is empty")
                return None
            return value
        self.err(mark, f"{what} must be text, not {_kind(value)}")
        return None

    def number(self, value: Any, mark: Mark, what: str, minimum: float = 0.0) -> float | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.err(mark, f"{what} must be a number of seconds, not {_kind(value)}")
            return None
        if value <= minimum:
            self.err(mark, f"{what} must be more than {minimum:g}")
            return None
        return float(value)

    def name(self, value: Any, mark: Mark, what: str) -> str | None:
        if isinstance(value, str) and value.strip():
            return value.strip()
        self.err(mark, f"{what} must be a node name, not {_kind(value)}")
        return None

    def phrases(self, value: Any, mark: Mark, what: str) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
            marks = [mark]
        elif isinstance(value, YList):
            marks = value.imarks
        else:
            self.err(mark, f"{what} must be a list of phrases, not {_kind(value)}")
            return ()
        out: list[str] = []
        for item, m in zip(value, marks):
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                item = str(item)
            if not isinstance(item, str) or not item.strip():
                self.err(m, f"each phrase in {what} must be non-empty text, not {_kind(item)}")
                continue
            if not normalize(item):
                self.err(m, f"'{item.strip()}' in {what} has no words left after normalizing; remove it")
                continue
            out.append(item.strip())
        if not out and not any(p.mark == mark for p in self.problems):
            self.err(mark, f"{what} has no phrases; give at least one example")
        return tuple(out)

    def intents(self, value: Any, mark: Mark, where: str) -> tuple[dict[str, tuple[str, ...]], dict[str, Mark]]:
        m = self.mapping(value, mark, f"intents in {where}")
        if m is None:
            return {}, {}
        out: dict[str, tuple[str, ...]] = {}
        marks: dict[str, Mark] = {}
        for name, phrases in m.items():
            out[name] = self.phrases(phrases, m.vmark(name), f"intent '{name}'")
            marks[name] = m.kmark(name)
        return out, marks

    def condition(self, value: Any, mark: Mark) -> conditions.Cond | None:
        if isinstance(value, bool) or not isinstance(value, str):
            self.err(mark, f"a condition must be text like 'setting == bath', not {_kind(value)}")
            return None
        try:
            return conditions.parse(value)
        except conditions.ConditionError as exc:
            self.err(mark.at(exc.offset), f"bad condition '{value}': {exc.message}")
            return None

    def variations(self, value: Any, mark: Mark, what: str) -> tuple[Variation, ...]:
        if isinstance(value, (str, YMap)):
            items, marks = [value], [mark]
        elif isinstance(value, YList):
            items, marks = list(value), value.imarks
            if not items:
                self.err(mark, f"{what} is an empty list; give at least one variation")
        else:
            self.err(mark, f"{what} must be text or a list of variations, not {_kind(value)}")
            return ()
        out: list[Variation] = []
        for item, m in zip(items, marks):
            if isinstance(item, str):
                if self.text(item, m, f"a variation in {what}") is not None:
                    out.append(Variation(item, m))
            elif isinstance(item, YMap):
                self.keys(item, VARIATION_KEYS, f"a variation in {what}")
                if "text" not in item:
                    self.err(m, f"a variation in {what} needs 'text'")
                    continue
                text = self.text(item["text"], item.vmark("text"), f"text of a variation in {what}")
                when = None
                when_text = None
                when_mark = None
                if "when" in item:
                    when_mark = item.vmark("when")
                    when = self.condition(item["when"], when_mark)
                    when_text = item["when"] if isinstance(item["when"], str) else None
                    if when is None:
                        continue
                if text is not None:
                    out.append(Variation(text, item.vmark("text"), when, when_text, when_mark))
            else:
                self.err(m, f"a variation in {what} must be text or {{text: ..., when: ...}}, not {_kind(item)}")
        return tuple(out)

    def escalation(self, value: Any, mark: Mark, what: str) -> Escalation | None:
        m = self.mapping(value, mark, what)
        if m is None:
            return None
        self.keys(m, ESCALATION_KEYS, what)
        reprompts: tuple[str, ...] = ()
        rmarks: tuple[Mark, ...] = ()
        if "reprompts" in m:
            rp = m["reprompts"]
            if isinstance(rp, str):
                rp_list, rp_marks = [rp], [m.vmark("reprompts")]
            elif isinstance(rp, YList):
                rp_list, rp_marks = list(rp), rp.imarks
            else:
                self.err(m.vmark("reprompts"), f"reprompts in {what} must be a list of text, not {_kind(rp)}")
                rp_list, rp_marks = [], []
            good = []
            good_marks = []
            for item, im in zip(rp_list, rp_marks):
                t = self.text(item, im, f"a reprompt in {what}")
                if t is not None:
                    good.append(t)
                    good_marks.append(im)
            if len(good) > MAX_REPROMPTS:
                self.err(rp_marks[MAX_REPROMPTS], f"{what} has {len(good)} reprompts; at most {MAX_REPROMPTS} are allowed")
            reprompts = tuple(good[:MAX_REPROMPTS])
            rmarks = tuple(good_marks[:MAX_REPROMPTS])
        then = "wait"
        then_mark = m.mark
        if "then" in m:
            then_mark = m.vmark("then")
            t = self.name(m["then"], then_mark, f"'then' in {what}")
            if t is not None:
                then = t
        return Escalation(reprompts, then, m.mark, then_mark, rmarks)

    def transition(self, value: Any, mark: Mark, what: str) -> Transition | None:
        if isinstance(value, str):
            return Transition(value.strip(), mark, mark) if value.strip() else self._bad_transition(mark, what, value)
        if not isinstance(value, YMap):
            return self._bad_transition(mark, what, value)
        self.keys(value, TRANSITION_KEYS, what)
        if "next" not in value:
            self.err(mark, f"{what} needs 'next' (the node to go to)")
            return None
        nxt = self.name(value["next"], value.vmark("next"), f"'next' in {what}")
        say = self.variations(value["say"], value.vmark("say"), f"'say' in {what}") if "say" in value else ()
        resume = None
        resume_mark = None
        if "resume" in value:
            resume_mark = value.vmark("resume")
            resume = self.name(value["resume"], resume_mark, f"'resume' in {what}")
        now = False
        if "now" in value:
            if isinstance(value["now"], bool):
                now = value["now"]
            else:
                self.err(value.vmark("now"), f"'now' in {what} must be true or false, not {_kind(value['now'])}")
        if nxt is None:
            return None
        return Transition(nxt, mark, value.vmark("next"), say, resume, resume_mark, now)

    def _bad_transition(self, mark: Mark, what: str, value: Any) -> None:
        self.err(mark, f"{what} must be a node name or {{next: NODE, say: ...}}, not {_kind(value)}")
        return None


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"'{str(value).lower()}'"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"text '{value[:40]}'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


# --------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------


def _read(path: Path, label: str, b: _Builder) -> Any:
    try:
        raw = read_bounded(path, MAX_FILE_BYTES)
    except IsADirectoryError:
        b.err(Mark(label, 1, 1), "this is a folder, not a dialogue file")
        return None
    except OSError as exc:
        b.err(Mark(label, 1, 1), f"cannot read the file: {exc.strerror or exc}")
        return None
    except ValueError as exc:
        b.err(Mark(label, 1, 1), f"the file {exc}")
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        b.err(Mark(label, line, col), "the file is not valid UTF-8; save it as UTF-8")
        return None
    value, errors = load_yaml(label, text)
    for e in errors:
        b.err(e.mark, e.message)
    if value is None and not errors:
        b.err(Mark(label, 1, 1), "the file is empty")
    return value


def _version(doc: YMap, b: _Builder) -> None:
    if "version" not in doc:
        b.err(doc.mark, f"missing 'version: {FORMAT_VERSION}' at the top of the file")
        return
    v = doc["version"]
    if isinstance(v, bool) or not isinstance(v, int):
        b.err(doc.vmark("version"), f"version must be the number {FORMAT_VERSION}, not {_kind(v)}")
    elif v != FORMAT_VERSION:
        b.err(doc.vmark("version"), f"unsupported version {v}; this program reads version {FORMAT_VERSION}")


def load_flow(path: Path, label: str | None = None) -> tuple[Flow | None, list[Problem]]:
    """Load one flow file; returns (flow or None, problems)."""
    label = label or str(path)
    b = _Builder()
    doc = _read(path, label, b)
    if doc is None:
        return None, b.problems
    top = b.mapping(doc, getattr(doc, "mark", Mark(label, 1, 1)), "a flow file")
    if top is None:
        return None, b.problems
    nodes = top.get("nodes")
    if isinstance(nodes, dict) and len(nodes) > MAX_FLOW_NODES:
        b.err(top.vmark("nodes"), f"the flow has {len(nodes)} nodes, more than the {MAX_FLOW_NODES} allowed; "
                                  "split it into several flows")
        return None, b.problems
    return build_flow(top, path.stem, label, b), b.problems


def build_flow(doc: YMap, stem: str, label: str, b: _Builder) -> Flow:
    b.keys(doc, FLOW_KEYS, "the flow")
    _version(doc, b)
    name = stem
    if "flow" not in doc:
        b.err(doc.mark, f"missing 'flow: {stem}' (the flow's name, matching the file name)")
    else:
        given = b.name(doc["flow"], doc.vmark("flow"), "'flow'")
        if given is not None and given != stem:
            b.err(doc.vmark("flow"), f"flow name '{given}' does not match the file name '{stem}.yaml'")
    flow = Flow(name=name, file=label, mark=doc.mark, version=doc.get("version"))
    for key in ("title", "description"):
        if key in doc:
            t = b.text(doc[key], doc.vmark(key), f"'{key}'")
            setattr(flow, key, t or "")
    if "startable" in doc:
        if isinstance(doc["startable"], bool):
            flow.startable = doc["startable"]
        else:
            b.err(doc.vmark("startable"), f"'startable' must be true or false, not {_kind(doc['startable'])}")
    if "start" not in doc:
        b.err(doc.mark, "missing 'start: NODE' (the first node)")
    else:
        flow.start = b.name(doc["start"], doc.vmark("start"), "'start'")
        flow.start_mark = doc.vmark("start")
    if "defaults" in doc:
        d = b.mapping(doc["defaults"], doc.vmark("defaults"), "'defaults'")
        if d is not None:
            b.keys(d, DEFAULTS_KEYS, "'defaults'")
            if "timeout" in d:
                t = b.number(d["timeout"], d.vmark("timeout"), "'timeout'")
                if t is not None:
                    flow.timeout = t
            if "on_silence" in d:
                flow.on_silence = b.escalation(d["on_silence"], d.vmark("on_silence"), "'on_silence' in defaults")
            if "on_unclear" in d:
                flow.on_unclear = b.escalation(d["on_unclear"], d.vmark("on_unclear"), "'on_unclear' in defaults")
    if "intents" in doc:
        flow.intents, flow.intent_marks = b.intents(doc["intents"], doc.vmark("intents"), "the flow")
    if "nodes" not in doc:
        b.err(doc.mark, "missing 'nodes:' (the flow's steps)")
    else:
        nodes = b.mapping(doc["nodes"], doc.vmark("nodes"), "'nodes'")
        if nodes is not None:
            if not nodes:
                b.err(doc.vmark("nodes"), "'nodes' is empty")
            for nid, body in nodes.items():
                node = build_node(nid, body, nodes.kmark(nid), nodes.vmark(nid), name, b)
                if node is not None:
                    flow.nodes[nid] = node
    return flow


def build_node(nid: str, body: Any, kmark: Mark, vmark: Mark, flow: str, b: _Builder) -> Node | None:
    if "." in nid or not nid.strip() or nid == "resume" or any(c.isspace() for c in nid):
        b.err(kmark, f"node name '{nid}' must be one word without dots or spaces ('resume' is reserved)")
    where = f"node '{nid}'"
    m = b.mapping(body, vmark, where)
    if m is None:
        return None
    b.keys(m, NODE_KEYS, where)
    node = Node(id=nid, flow=flow, mark=kmark)
    steps = [k for k in STEP_KEYS if k in m]
    if not steps:
        b.err(kmark, f"{where} has no step; add one of {', '.join(STEP_KEYS)}")
    elif len(steps) > 1:
        b.err(m.kmark(steps[1]), f"{where} has more than one step ({', '.join(steps)}); keep exactly one")
    node.step = steps[0] if steps else None
    if "say" in m:
        node.say = b.variations(m["say"], m.vmark("say"), f"'say' in {where}")
    elif node.step not in ("branch", None):
        b.err(kmark, f"{where} needs 'say' (what to say) unless it only branches")
    if "say_solo" in m:
        node.say_solo = b.variations(m["say_solo"], m.vmark("say_solo"), f"'say_solo' in {where}")
    if "for_each" in m:
        if m["for_each"] == "person":
            node.for_each = True
        else:
            b.err(m.vmark("for_each"), f"for_each must be 'person', not {_kind(m['for_each'])}")
    if "ask_everyone" in m:
        if isinstance(m["ask_everyone"], bool):
            node.ask_everyone = m["ask_everyone"]
        else:
            b.err(m.vmark("ask_everyone"), f"ask_everyone must be true or false, not {_kind(m['ask_everyone'])}")
    if "help" in m:
        node.help = b.text(m["help"], m.vmark("help"), f"'help' in {where}")
        node.help_mark = m.vmark("help")
    if "timeout" in m:
        node.timeout = b.number(m["timeout"], m.vmark("timeout"), f"'timeout' in {where}")
    if "on_silence" in m:
        node.on_silence = b.escalation(m["on_silence"], m.vmark("on_silence"), f"'on_silence' in {where}")
    if "on_unclear" in m:
        node.on_unclear = b.escalation(m["on_unclear"], m.vmark("on_unclear"), f"'on_unclear' in {where}")
    if "skip" in m:
        node.skip = b.name(m["skip"], m.vmark("skip"), f"'skip' in {where}")
        node.skip_mark = m.vmark("skip")
    if "intents" in m:
        node.intents, node.intent_marks = b.intents(m["intents"], m.vmark("intents"), where)
    if node.step == "next":
        node.next = b.name(m["next"], m.vmark("next"), f"'next' in {where}")
        node.next_mark = m.vmark("next")
    elif node.step == "listen":
        lm = b.mapping(m["listen"], m.vmark("listen"), f"'listen' in {where}")
        if lm is not None:
            if not lm:
                b.err(m.vmark("listen"), f"'listen' in {where} is empty; list the answers to listen for")
            for intent, tv in lm.items():
                t = b.transition(tv, lm.vmark(intent), f"the '{intent}' answer of {where}")
                node.listen_marks[intent] = lm.kmark(intent)
                if t is not None:
                    node.listen[intent] = t
    elif node.step == "wait":
        wm = b.mapping(m["wait"], m.vmark("wait"), f"'wait' in {where}")
        if wm is not None:
            b.keys(wm, ("seconds", "then"), f"'wait' in {where}")
            if "seconds" not in wm:
                b.err(wm.mark, f"'wait' in {where} needs 'seconds'")
            else:
                node.wait_seconds = b.number(wm["seconds"], wm.vmark("seconds"), "'seconds'") or 0.0
            _then(node, wm, where, "wait", b)
    elif node.step in ("note", "read_notes"):
        nm = b.mapping(m[node.step], m.vmark(node.step), f"'{node.step}' in {where}")
        if nm is not None:
            b.keys(nm, ("then",), f"'{node.step}' in {where}")
            _then(node, nm, where, node.step, b)
    elif node.step == "branch":
        node.branch = _branch(m["branch"], m.vmark("branch"), where, b)
    elif node.step == "end":
        reason = m["end"]
        if reason not in END_REASONS:
            b.err(m.vmark("end"), f"end reason must be one of {', '.join(END_REASONS)}, not {_kind(reason)}"
                  f"{did_you_mean(str(reason), END_REASONS)}")
            node.end = "completed"
        else:
            node.end = reason
    return node


def _then(node: Node, m: YMap, where: str, step: str, b: _Builder) -> None:
    if "then" not in m:
        b.err(m.mark, f"'{step}' in {where} needs 'then' (the node to go to afterwards)")
        return
    node.then = b.name(m["then"], m.vmark("then"), f"'then' in {where}")
    node.then_mark = m.vmark("then")


def _branch(value: Any, mark: Mark, where: str, b: _Builder) -> tuple[BranchArm, ...]:
    if not isinstance(value, YList) or not value:
        b.err(mark, f"'branch' in {where} must be a list of {{if: CONDITION, next: NODE}} ending with {{else: NODE}}")
        return ()
    arms: list[BranchArm] = []
    has_else = False
    for i, (item, im) in enumerate(zip(value, value.imarks)):
        if not isinstance(item, YMap):
            b.err(im, f"each branch in {where} must be {{if: CONDITION, next: NODE}} or {{else: NODE}}, not {_kind(item)}")
            continue
        if "else" in item:
            b.keys(item, ("else",), f"the else branch of {where}")
            if i != len(value) - 1:
                b.err(im, f"'else' must be the last branch in {where}")
            has_else = True
            nxt = b.name(item["else"], item.vmark("else"), f"'else' in {where}")
            if nxt is not None:
                arms.append(BranchArm(None, nxt, im, item.vmark("else")))
            continue
        b.keys(item, ("if", "next"), f"a branch of {where}")
        if "if" not in item or "next" not in item:
            b.err(im, f"a branch of {where} needs both 'if' and 'next'")
            continue
        cond = b.condition(item["if"], item.vmark("if"))
        nxt = b.name(item["next"], item.vmark("next"), f"'next' in a branch of {where}")
        if cond is not None and nxt is not None:
            arms.append(BranchArm(cond, nxt, im, item.vmark("next"), str(item["if"]), item.vmark("if")))
    if not has_else:
        b.err(mark, f"'branch' in {where} needs a last '- else: NODE' so it always goes somewhere")
    return tuple(arms)


def load_vocabulary(path: Path, label: str | None = None) -> tuple[dict[str, tuple[str, ...]], dict[str, Mark], list[Problem]]:
    """vocabulary.yaml -> (intents, their marks, problems). See :func:`load_affirmative`."""
    label = label or str(path)
    b = _Builder()
    doc = _read(path, label, b)
    if doc is None:
        return {}, {}, b.problems
    top = b.mapping(doc, getattr(doc, "mark", Mark(label, 1, 1)), "vocabulary.yaml")
    if top is None:
        return {}, {}, b.problems
    b.keys(top, ("version", "intents", "affirmative"), "vocabulary.yaml")
    _version(top, b)
    if "intents" not in top:
        b.err(top.mark, "missing 'intents:' in vocabulary.yaml")
        return {}, {}, b.problems
    intents, marks = b.intents(top["intents"], top.vmark("intents"), "vocabulary.yaml")
    if "affirmative" in top:
        aff = top["affirmative"]
        if isinstance(aff, YList) and all(isinstance(a, str) for a in aff):
            pass
        elif isinstance(aff, YMap) and all(isinstance(v, str) or v is None for v in aff.values()):
            pass
        else:
            b.err(top.vmark("affirmative"), "'affirmative' must be a list of intent names or a mapping intent: counterpart")
    return intents, marks, b.problems


def load_affirmative(path: Path) -> dict[str, str | None] | list[str] | None:
    """The optional ``affirmative:`` entry of vocabulary.yaml (for the matcher)."""
    try:
        raw = read_bounded(path, MAX_FILE_BYTES)
    except (OSError, ValueError):
        return None
    value, _ = load_yaml(str(path), raw.decode("utf-8", errors="replace"))
    if not isinstance(value, dict):
        return None
    aff = value.get("affirmative")
    if isinstance(aff, list) and all(isinstance(a, str) for a in aff):
        return [str(a) for a in aff]
    if isinstance(aff, dict):
        return {str(k): (None if v is None else str(v)) for k, v in aff.items()}
    return None


def load_commands(path: Path, label: str | None = None) -> tuple[dict[str, Command], list[Problem]]:
    label = label or str(path)
    b = _Builder()
    doc = _read(path, label, b)
    if doc is None:
        return {}, b.problems
    top = b.mapping(doc, getattr(doc, "mark", Mark(label, 1, 1)), "commands.yaml")
    if top is None:
        return {}, b.problems
    b.keys(top, ("version", "commands"), "commands.yaml")
    _version(top, b)
    if "commands" not in top:
        b.err(top.mark, "missing 'commands:' in commands.yaml")
        return {}, b.problems
    cm = b.mapping(top["commands"], top.vmark("commands"), "'commands'")
    out: dict[str, Command] = {}
    if cm is None:
        return out, b.problems
    for name, body in cm.items():
        if name not in COMMAND_NAMES:
            b.err(cm.kmark(name), f"unknown command '{name}'{did_you_mean(name, COMMAND_NAMES)}; "
                  f"commands are {', '.join(COMMAND_NAMES)}")
            continue
        where = f"command '{name}'"
        m = b.mapping(body, cm.vmark(name), where)
        if m is None:
            continue
        b.keys(m, COMMAND_KEYS, where)
        cmd = Command(name, cm.kmark(name))
        if "phrases" in m:
            cmd.phrases = b.phrases(m["phrases"], m.vmark("phrases"), f"phrases of {where}")
        else:
            b.err(m.mark, f"{where} needs 'phrases'")
        if "alone" in m:
            if name != "stop":
                b.err(m.kmark("alone"), f"'alone' is only for the stop command: every other command already "
                                        f"must be the whole answer; move these phrases to 'phrases' of {where}")
            else:
                cmd.alone = b.phrases(m["alone"], m.vmark("alone"), f"'alone' of {where}")
        if "reply" in m:
            cmd.reply = b.variations(m["reply"], m.vmark("reply"), f"'reply' of {where}")
        if "seconds" in m:
            cmd.seconds = b.number(m["seconds"], m.vmark("seconds"), f"'seconds' of {where}")
        if "help" in m:
            cmd.help = b.text(m["help"], m.vmark("help"), f"'help' of {where}") or ""
        out[name] = cmd
    return out, b.problems


def _label(path: Path) -> str:
    """Paths in messages: relative to the working directory when possible."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_bundle(directory: Path | str, only: Iterable[Path] | None = None) -> tuple[Bundle, list[Problem]]:
    """Load ``vocabulary.yaml``, ``commands.yaml`` and every flow file in a folder.

    ``only``: flow files to load instead of every ``*.yaml`` (other flows in the
    folder are then loaded quietly, so cross-flow references still resolve).
    """
    directory = Path(directory)
    bundle = Bundle(directory=directory)
    problems: list[Problem] = []
    if not directory.is_dir():
        problems.append(Problem(Mark(_label(directory), 1, 1), "dialogue folder not found"))
        return bundle, problems
    vocab = directory / "vocabulary.yaml"
    if vocab.exists():
        bundle.vocabulary, bundle.vocabulary_marks, ps = load_vocabulary(vocab, _label(vocab))
        problems += ps
        if not ps:
            bundle.affirmative = load_affirmative(vocab)
        bundle.files.append(_label(vocab))
    cmds = directory / "commands.yaml"
    if cmds.exists():
        bundle.commands, ps = load_commands(cmds, _label(cmds))
        problems += ps
        bundle.files.append(_label(cmds))
    from skill.dialogue.care import load_care, load_feelings

    for stem, loader, attr in (("feelings", load_feelings, "feelings"), ("care", load_care, "care")):
        path = directory / f"{stem}.yaml"
        if path.exists():
            value, ps = loader(path, _label(path))
            problems += ps
            setattr(bundle, attr, value)
            bundle.files.append(_label(path))
    wanted = {p.resolve() for p in only} if only is not None else None
    try:
        paths = {p.resolve(): p for p in directory.glob("*.yaml")}
    except OSError as exc:
        problems.append(Problem(Mark(_label(directory), 1, 1),
                                f"cannot read the folder: {exc.strerror or exc}; check its permissions"))
        return bundle, problems
    for p in only or ():
        paths.setdefault(p.resolve(), p)  # a file given by name is checked whatever it is called
    for path in sorted(paths.values()):
        if path.stem in RESERVED_FILES and path.parent.resolve() == directory.resolve():
            continue
        flow, ps = load_flow(path, _label(path))
        loud = wanted is None or path.resolve() in wanted
        if loud:
            problems += ps
            bundle.files.append(_label(path))
        if flow is not None and (loud or not any(p.severity == "error" for p in ps)):
            bundle.flows[flow.name] = flow
    return bundle, problems
