"""The pure dialogue engine: events in, actions out (see :mod:`skill.dialogue.protocol`).

One Engine runs one session of one flow. It never reads a clock, a file or
a device and takes all randomness from ``random.Random(seed)``, so a session
is fully reproducible: the same seed and events give the same actions. The
text mode, the speech loop and the tests are shells around it.

Every state the engine can be in ends its action list with ``Listen``,
``Wait`` or ``End`` (or ``SaveNote``, after which the shell answers with
``NoteSaved``/``NoteFailed``), so a conversation can never strand anyone.

Silence is patient: after the reprompts run out, ``then: wait`` stays
quiet in a long ``Wait`` that any answer (or "continue") ends.

Listen timeouts are scaled by the setting's pace (:data:`PACE`): in the bath
people are slower to answer than on the sofa.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Collection, Mapping, NamedTuple, Protocol, Sequence

from skill.dialogue import conditions
from skill.dialogue.dialog import (
    MAX_REPROMPTS,
    Bundle,
    Escalation,
    Flow,
    Node,
    Transition,
    Variation,
    effective_escalation,
)
from skill.dialogue.matcher import Match, Matcher
from skill.dialogue.normalize import normalize
from skill.dialogue.protocol import (
    CONFIDENCE_ACCEPT,
    CONFIDENCE_CONFIRM,
    Action,
    Adjust,
    DeleteNote,
    End,
    EnterNode,
    Event,
    Heard,
    Listen,
    NoteFailed,
    NoteSaved,
    SaveNote,
    SessionContext,
    Silence,
    Timeout,
    Wait,
)
from skill.dialogue.protocol import Say as _Say
from skill.dialogue.render import Who, join_words, offered_answers, render

log = logging.getLogger(__name__)


class Mode(str, Enum):
    """What the engine is doing between events (``Engine.mode``).

    A ``str`` enum, so a mode prints and compares as its name ("listen").
    """

    NEW = "new"  # start() not called yet
    LISTEN = "listen"  # a question was asked: waiting for its answer
    WAIT = "wait"  # a quiet ``wait`` step: continue or its time moves on
    PAUSE = "pause"  # paused by "pause" or a small need: continue comes back
    IDLE = "idle"  # the reprompts ran out (``then: wait``): quiet, any answer goes on
    NOTE = "note"  # dictation: the words heard are the note
    CONFIRM = "confirm"  # the note was read back: keep it, leave it, or say it again
    SAVING = "saving"  # SaveNote was asked for: waiting for NoteSaved/NoteFailed
    ENDED = "ended"  # End was given; nothing more happens

    def __str__(self) -> str:
        return self.value


class _ModeHandlers(NamedTuple):
    """How one mode meets each event (see ``Engine._handlers``)."""

    heard: Callable[[str, float, list[Action]], None]
    silence: Callable[[list[Action]], None]
    timeout: Callable[[list[Action]], None]
    awaiting: Callable[[], Action]  # the action that keeps this mode going


#: Listen timeouts are multiplied by this per setting (others: 1.0).
PACE = {"bath": 1.5, "bedside": 1.25}
#: How long ``then: wait`` stays quiet before closing warmly (seconds).
IDLE_WAIT_SECONDS = 300.0
DEFAULT_PAUSE_SECONDS = 300.0
MAX_HOPS = 64  # nodes entered without listening, before we call it a loop

REDO_PHRASES = ("redo", "again", "do it again", "try again", "start again", "let me say it again",
                "say it again", "start over", "let me try again", "change it")
#: In the safety flow itself only a body emergency moves on (to emergency help).
SAFETY_DANGER = frozenset({"body"})
DICTATION_COMMANDS = frozenset({"stop", "safe_word", "pause", "skip", "back"})
WAIT_COMMANDS = frozenset({"stop", "safe_word", "continue", "skip", "back", "help", "repeat",
                           "slower", "faster", "quieter", "louder", "pause"})

_DEFAULT_ESCALATION = Escalation(
    reprompts=("Take your time.", "There's no hurry. {question}", "If you like, you can say {choices}. Or say pause."),
    then="wait", mark=None, then_mark=None,  # type: ignore[arg-type]
)
_DEFAULT_UNCLEAR = Escalation(
    reprompts=("Sorry, I didn't quite catch that.", "Let me ask another way. {question}", "You could say {choices}."),
    then="wait", mark=None, then_mark=None,  # type: ignore[arg-type]
)

# Replies used when commands.yaml has none (kept short and kind).
DEFAULT_REPLIES: Mapping[str, tuple[str, ...]] = {
    "stop": ("Okay, we'll stop here. Take good care.",),
    "pause": ("Of course. I'll wait quietly. Say continue when you're ready.",),
    "continue": ("Alright, let's carry on.",),
    "back": ("Okay, let's go back a step.",),
    "skip": ("That's fine, let's move on.",),
    "slower": ("Of course, I'll slow down.",),
    "faster": ("Okay, a little faster.",),
    "quieter": ("Sure, I'll speak more softly.",),
    "louder": ("Okay, I'll speak up a little.",),
    "forget": ("Okay, I've forgotten that note.",),
}
ADJUST = {"slower": ("rate", -1), "faster": ("rate", +1), "quieter": ("volume", -1), "louder": ("volume", +1)}

GOODBYE_NO_RESPONSE = "I'll leave it there for now. Take good care of yourselves, and come back whenever you like."
GOODBYE_SOLO_NO_RESPONSE = "I'll leave it there for now. Take good care of yourself, and come back whenever you like."
SAFE_WORD_GOODBYE = "Okay, stopping now. You're safe to stop. Take good care."
NOTE_SAVED = "I've kept that."
NOTE_FAILED = "I couldn't keep that note, but we can carry on."
NOTE_DROPPED = "Okay, I won't keep it."
NOTE_REDO = "Of course. Go ahead whenever you're ready."
NOTE_READBACK = "I have: {text}. Shall I keep that?"
NOTE_CONFIRM_AGAIN = "Shall I keep that note? You can say yes, no, or again to say it again."
NO_NOTE_TO_FORGET = "There's no note from today to forget."
NO_LAST_NOTES = "There aren't any notes from last time."
AT_START = "We're right at the beginning."
CLOSE_AFTER_RESUME = "Thank you for checking in. Take good care."
#: Said when the dialogue data cannot go on (the validator prevents each of these).
ERROR_GOODBYE = "I'm sorry, something went wrong on my side. Let's stop here. Take good care."
NOTE_LEFT_OUT = "I'll leave that note out for now."
#: {choices} names these answers first (when the question has them), then the rest as listed.
CHOICES_FIRST = ("okay", "yes", "ready", "no", "unsure", "not_okay", "not_ready")
MAX_CHOICES = 4
#: Middle confidence: confirm the best guess in a few words, then act on yes/no.
CONFIRM_GUESS = "Just to be sure: {guess}?"
#: Low confidence: ask again, restating the question.
ASK_AGAIN = "Sorry, I didn't catch that. {question}"
#: At a group question, after one person's answer: give the others a turn.
ANYONE_ELSE = ("And anyone else?", "Anything from anyone else?", "How about anyone else?")
#: Words that show one person is answering for everyone ("we're fine", "both good").
GROUP_WORDS = frozenset({"we", "us", "both", "everyone", "everybody", "neither", "nobody", "all"})
#: Words that show someone answers for themselves only ("I'm fine", "not for me"):
#: then the others get a turn. A plain "no" is heard as the answer for everyone.
SELF_WORDS = frozenset({"i", "me", "my", "mine", "myself"})
#: The flows reached from a question for one person's care: no group follow-ups there.
CARE_FLOWS = frozenset({"support", "safety"})
#: "I" -> "you" for confirming a guess out loud ("I'm okay" -> "you're okay").
_SECOND_PERSON = {"i'm": "you're", "i am": "you are", "we're": "you're", "we are": "you are", "i": "you",
                  "my": "your", "me": "you", "we": "you", "us": "you", "our": "your", "myself": "yourself",
                  "i'd": "you'd", "we'd": "you'd", "i've": "you've", "we've": "you've"}


@dataclass
class _Visit:
    """State of the current node visit."""

    flow: str
    node: str
    person: int = 0
    given: list[tuple[str | None, str]] = field(default_factory=list)
    silences: int = 0
    unclears: int = 0
    closing: int = 0  # group question: answers given that close it
    follow_up: bool = False  # group question: "anyone else?" was asked
    guess: str | None = None  # middle confidence: the intent being confirmed


class EngineError(RuntimeError):
    """The engine was used wrongly (e.g. an unknown flow)."""


class Understander(Protocol):
    """What the engine asks of its matcher (:class:`Matcher`; tests pass fakes)."""

    def match(self, text: str, intents: Mapping[str, Sequence[str]], confidence: float = 1.0,
              allowed_commands: Collection[str] | None = None, **how: Any) -> Match:
        """Classify ``text`` heard at a node with these ``intents``."""


class Engine:
    """Runs one session of one flow. ``start()`` once, then ``handle(event)``."""

    def __init__(self, bundle: Bundle, flow_name: str, context: SessionContext, seed: int = 0,
                 matcher: Understander | None = None) -> None:
        if flow_name not in bundle.flows:
            raise EngineError(f"there is no flow called '{flow_name}' (known: {', '.join(sorted(bundle.flows))})")
        self.bundle = bundle
        self.main_flow = flow_name
        self.ctx = context
        self.rng = random.Random(seed)
        self.names = tuple(n for n in context.names if n)
        if matcher is None:
            commands = bundle.command_phrases()
            kwargs: dict[str, Any] = {}
            if bundle.affirmative is not None:
                kwargs["affirmative"] = bundle.affirmative
            matcher = Matcher(commands, safe_word=context.safe_word, feelings=bundle.feelings,
                              care=bundle.care, stop_alone=bundle.stop_alone, **kwargs)
        self.matcher: Understander = matcher
        self._normalize = normalize
        self.visit: _Visit | None = None
        self.mode = Mode.NEW
        self.paused_from = Mode.LISTEN
        self._handlers = self._mode_handlers()
        self.history: list[tuple[str, str]] = []
        self.resume_stack: list[tuple[str, str, int]] = []  # (flow, node, person)
        self.answers: dict[str, set[str]] = {}
        self.last_choice: dict[Any, int] = {}
        self.last_prompt: str = ""
        self.note_text: str = ""
        self.notes_saved = 0
        self.end_reason: str | None = None
        self.last_match: Match | None = None  # the matcher's verdict on the last Heard (for event logs)
        self._hops = 0

    # ------------------------------------------------------------------
    # Public
    # ------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.mode is Mode.ENDED

    @property
    def node(self) -> str | None:
        """The current node: its id in the main flow, ``FLOW.NODE`` elsewhere."""
        return self._label(self.visit.flow, self.visit.node) if self.visit else None

    @property
    def solo(self) -> bool:
        return len(self.names) <= 1

    def start(self) -> list[Action]:
        if self.mode is not Mode.NEW:
            raise EngineError("start() was already called")
        out: list[Action] = []
        flow = self.bundle.flows[self.main_flow]
        self._enter(self.main_flow, flow.start or "", out)
        return out

    def handle(self, event: Event) -> list[Action]:
        """React to one event; returns the actions to carry out, in order."""
        if self.mode is Mode.ENDED:
            return []
        if self.mode is Mode.NEW:
            return self.start()
        out: list[Action] = []
        self._hops = 0
        self.last_match = None
        handlers = self._handlers[self.mode]
        if isinstance(event, Heard):
            text = event.text if isinstance(event.text, str) else str(event.text)
            handlers.heard(text, event.confidence, out)
        elif isinstance(event, Silence):
            handlers.silence(out)
        elif isinstance(event, Timeout):
            handlers.timeout(out)
        elif isinstance(event, NoteSaved):
            self._note_result(True, out)
        elif isinstance(event, NoteFailed):
            self._note_result(False, out)
        else:
            log.warning("ignoring unknown event %r", type(event).__name__)
            out.append(self._await())
        return out

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def _label(self, flow: str, node: str) -> str:
        return node if flow == self.main_flow else f"{flow}.{node}"

    def _flow(self) -> Flow:
        assert self.visit is not None
        return self.bundle.flows[self.visit.flow]

    def _node(self) -> Node:
        assert self.visit is not None
        return self.bundle.flows[self.visit.flow].nodes[self.visit.node]

    def _person(self) -> str | None:
        node = self._node()
        if self.visit and node.for_each and not self.solo:
            return self.names[self.visit.person % len(self.names)]
        return None

    def _who(self) -> Who:
        return Who(self.names, self._person(), self.ctx.setting, self.ctx.safe_word,
                   notes_from=self.ctx.last_notes_from, notes_when=self.ctx.last_notes_when,
                   support_line=self.ctx.support_line)

    def _env(self) -> conditions.CondEnv:
        flow = self.visit.flow if self.visit else self.main_flow
        answers: dict[str, set[str]] = dict(self.answers)
        prefix = flow + "."
        for key, given in self.answers.items():
            if key.startswith(prefix):
                answers[key[len(prefix):]] = given
        return conditions.CondEnv(
            setting=self.ctx.setting,
            people=len(self.names),
            answers=answers,
            has_notes=bool(self.ctx.last_notes),
            notes_ours=self.ctx.last_notes_ours,
            notes=bool(self.ctx.notes_enabled),
            note_kept=self.notes_saved > 0,
        )

    def _pick(self, key: Any, variations: Sequence[Variation]) -> str | None:
        """A random variation whose condition holds, never the same as last time."""
        env = self._env()
        ok = [i for i, v in enumerate(variations) if v.when is None or conditions.evaluate(v.when, env)]
        if not ok:
            return None
        if len(ok) > 1 and self.last_choice.get(key) in ok:
            ok.remove(self.last_choice[key])
        i = self.rng.choice(ok)
        self.last_choice[key] = i
        return render(variations[i].text, self._who())

    def _pick_text(self, key: Any, texts: Sequence[str]) -> str:
        if not texts:
            return ""
        choices = list(range(len(texts)))
        if len(choices) > 1 and self.last_choice.get(key) in choices:
            choices.remove(self.last_choice[key])
        i = self.rng.choice(choices)
        self.last_choice[key] = i
        return render(texts[i], self._who())

    def _reply(self, command: str) -> str:
        cmd = self.bundle.commands.get(command)
        if cmd and cmd.reply:
            return self._pick(("command", command), cmd.reply) or ""
        return self._pick_text(("command", command), DEFAULT_REPLIES.get(command, ()))

    def _say(self, out: list[Action], text: str | None, purpose: str) -> None:
        if text:
            out.append(_Say(text, self.node or "", purpose))

    def _intents(self, node: Node) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for intent in node.listen:
            phrases = self.bundle.intent_phrases(node, intent)
            if phrases:
                out[intent] = phrases
        return out

    def _command_phrases(self, only: frozenset[str] | set[str] | None = None) -> list[str]:
        phrases: list[str] = []
        for name, cmd in self.bundle.commands.items():
            if only is None or name in only:
                phrases += cmd.said
        if self.ctx.safe_word:
            phrases.append(self.ctx.safe_word)
        return phrases

    def _phrases(self, intents: Mapping[str, Sequence[str]], commands: frozenset[str] | set[str] | None = None) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for phrases in intents.values():
            for p in phrases:
                seen.setdefault(self._normalize(p), None)
        for p in self._command_phrases(commands):
            seen.setdefault(self._normalize(p), None)
        seen.pop("", None)
        return tuple(seen)

    def _timeout_s(self) -> float:
        node = self._node()
        base = node.timeout if node.timeout is not None else self._flow().timeout
        return round(base * PACE.get(self.ctx.setting, 1.0), 3)

    def _wording(self, intent: str) -> str:
        """How to name an intent out loud: its first example phrase."""
        phrases = self.bundle.intent_phrases(self._node(), intent) if intent != "redo" else REDO_PHRASES
        if phrases:
            return phrases[0]
        return intent.replace("_", " ")

    # ------------------------------------------------------------------
    # Awaiting actions
    # ------------------------------------------------------------------

    def _listen(self) -> Listen:
        node = self._node()
        if self.mode is Mode.NOTE:
            return Listen(self.node or "", (), True, self._timeout_s())
        if self.mode is Mode.CONFIRM:
            return Listen(self.node or "", self._phrases(self._confirm_intents()), False, self._timeout_s())
        intents = dict(self._intents(node))
        if self.visit is not None and self.visit.guess is not None:
            intents.update(self._yes_no())
        return Listen(self.node or "", self._phrases(intents, self._listen_commands()), False, self._timeout_s())

    def _wait_action(self, seconds: float, commands: frozenset[str] | None) -> Wait:
        intents: Mapping[str, Sequence[str]] = self._distress_intents()
        if self.mode is Mode.IDLE:
            intents = self._intents(self._node())
        return Wait(seconds, self.node or "", self._phrases(intents, commands))

    def _await(self) -> Action:
        """The action that keeps the current state going (Listen, Wait, SaveNote or End)."""
        handlers = self._handlers.get(self.mode)
        return handlers.awaiting() if handlers else End(self.end_reason or "completed")

    def _await_wait(self) -> Wait:
        return self._wait_action(self._node().wait_seconds, frozenset({"continue", "stop", "skip"}))

    def _await_pause(self) -> Wait:
        return self._wait_action(self._pause_seconds(), frozenset({"continue", "stop"}))

    def _await_idle(self) -> Wait:
        return self._wait_action(IDLE_WAIT_SECONDS, None)

    def _await_saving(self) -> SaveNote:
        return SaveNote(self.note_text, self.visit.flow if self.visit else "")

    def _pause_seconds(self) -> float:
        cmd = self.bundle.commands.get("pause")
        return float(cmd.seconds) if cmd and cmd.seconds else DEFAULT_PAUSE_SECONDS

    # ------------------------------------------------------------------
    # Moving
    # ------------------------------------------------------------------

    def _end(self, out: list[Action], reason: str, goodbye: str | None = None) -> None:
        if goodbye:
            self._say(out, goodbye, "goodbye")
        self.mode = Mode.ENDED
        self.end_reason = reason
        out.append(End(reason))

    def _goto(self, target: str, out: list[Action]) -> None:
        assert self.visit is not None
        if target == "resume":
            if self.resume_stack:
                flow, node, person = self.resume_stack.pop()
                self._enter(flow, node, out, person)
            else:
                self._end(out, "completed", CLOSE_AFTER_RESUME)
            return
        resolved = self.bundle.resolve(self.visit.flow, target)
        if resolved is None:  # the validator prevents this; end kindly rather than crash
            log.error("dialogue target %r not found from %s", target, self.node)
            self._end(out, "error", ERROR_GOODBYE)
            return
        self._enter(resolved[0], resolved[1], out)

    def _take(self, t: Transition, out: list[Action], say: bool = True) -> None:
        assert self.visit is not None
        if say and t.say:
            self._say(out, self._pick(("reply", self.visit.flow, self.visit.node, t.next), t.say), "reply")
        if t.resume:
            self.resume_stack.append((self.visit.flow, t.resume, 0))
        self._goto(t.next or "resume", out)

    def _enter(self, flow: str, nid: str, out: list[Action], person: int = 0) -> None:
        self._hops += 1
        if self._hops > MAX_HOPS:
            log.error("dialogue loops without listening at %s.%s", flow, nid)
            self._end(out, "error", ERROR_GOODBYE)
            return
        self.visit = _Visit(flow, nid, person)
        node = self._node()
        if node.for_each and person == 0:
            self.answers.pop(f"{flow}.{nid}", None)  # a fresh round of answers
        out.append(EnterNode(self._label(flow, nid), self._person()))
        if node.step == "branch":
            env = self._env()
            for arm in node.branch:
                if arm.cond is None or conditions.evaluate(arm.cond, env):
                    self._goto(arm.next, out)
                    return
            self._end(out, "error", ERROR_GOODBYE)
            return
        if node.step == "note" and not self.ctx.notes_enabled:
            self._goto(node.then or "resume", out)
            return
        self._prompt(out)
        if node.step == "next":
            self._goto(node.next or "resume", out)
        elif node.step == "end":
            self.mode = Mode.ENDED
            self.end_reason = node.end or "completed"
            out.append(End(self.end_reason))
        elif node.step == "listen":
            self._push_history()
            self.mode = Mode.LISTEN
            out.append(self._listen())
        elif node.step == "wait":
            self.mode = Mode.WAIT
            out.append(self._await())
        elif node.step == "note":
            self._push_history()
            self.mode = Mode.NOTE
            out.append(self._listen())
        elif node.step == "read_notes":
            if self.ctx.last_notes:
                for text in self.ctx.last_notes:
                    self._say(out, text, "readback")
            else:
                self._say(out, NO_LAST_NOTES, "reply")
            self._goto(node.then or "resume", out)
        else:  # no step: the validator refuses this; never strand anyone
            self._end(out, "error", ERROR_GOODBYE)

    def _prompt(self, out: list[Action]) -> None:
        assert self.visit is not None
        node = self._node()
        variations = node.say_solo if (self.solo and node.say_solo) else node.say
        text = self._pick(("say", self.visit.flow, self.visit.node), variations)
        if text:
            self.last_prompt = text
            self._say(out, text, "prompt")

    def _push_history(self) -> None:
        assert self.visit is not None
        here = (self.visit.flow, self.visit.node)
        if not self.history or self.history[-1] != here:
            self.history.append(here)

    # ------------------------------------------------------------------
    # Events
    # ------------------------------------------------------------------

    def _mode_handlers(self) -> dict[Mode, _ModeHandlers]:
        """Each mode's answer to Heard, Silence and Timeout, and the action that
        keeps it going. NEW and ENDED have none: :meth:`handle` deals with them."""
        H = _ModeHandlers
        return {
            Mode.LISTEN: H(self._heard_answer, self._silence_listening, self._keep_going, self._listen),
            Mode.IDLE: H(self._heard_answer, self._keep_going, self._end_no_response, self._await_idle),
            Mode.NOTE: H(self._heard_note, self._silence_listening, self._keep_going, self._listen),
            Mode.CONFIRM: H(self._heard_confirm, self._silence_listening, self._keep_going, self._listen),
            Mode.WAIT: H(self._heard_waiting, self._keep_going, self._timeout_wait, self._await_wait),
            Mode.PAUSE: H(self._heard_waiting, self._keep_going, self._reask, self._await_pause),
            Mode.SAVING: H(self._heard_saving, self._unanswered_save, self._unanswered_save, self._await_saving),
        }

    def _keep_going(self, out: list[Action]) -> None:
        """Nothing to do for this event in this mode: carry on as before."""
        out.append(self._await())

    def _care_first(self, match: Any, out: list[Action]) -> bool:
        """Danger and small needs, heard at any node: True when handled."""
        if match.kind == "danger":
            self._danger(match, out)
            return True
        if match.kind == "need":
            self._need(out)
            return True
        return False

    def _heard_note(self, text: str, confidence: float, out: list[Action]) -> None:
        # Dictation: only a stop (or the safe word) said on its own stops.
        match = self._match(text, {}, confidence, DICTATION_COMMANDS, safety_anywhere=False,
                            read_feelings=False, spot_needs=False)
        log.info("heard %d words, intent=%s", len(text.split()), match.name if match.kind == "command" else "note")
        if self._care_first(match, out):
            return
        if match.kind == "command":
            self._command(match.name, out)
        elif not text.strip():
            self._unclear(out)
        else:
            self.note_text = " ".join(text.split())
            self.mode = Mode.CONFIRM
            self.visit.unclears = 0  # type: ignore[union-attr]
            self._say(out, NOTE_READBACK.format(text=self.note_text), "readback")
            out.append(self._listen())

    def _heard_confirm(self, text: str, confidence: float, out: list[Action]) -> None:
        node = self._node()
        match = self._match(text, self._confirm_intents(), confidence, None, read_feelings=False,
                            spot_needs=False)
        log.info("heard %d words, intent=%s", len(text.split()), match.name or match.kind)
        if self._care_first(match, out):
            return
        if match.kind == "command" and match.name == "forget":
            # "forget it" while a note is read back means: don't keep *this* one.
            self.note_text = ""
            self._say(out, NOTE_DROPPED, "reply")
            self._goto(node.then or "resume", out)
        elif match.kind == "command":
            self._command(match.name, out)
        elif match.kind == "intent" and match.name == "yes":
            self.mode = Mode.SAVING
            out.append(self._await_saving())
        elif match.kind == "intent" and match.name == "no":
            self.note_text = ""
            self._say(out, NOTE_DROPPED, "reply")
            self._goto(node.then or "resume", out)
        elif match.kind == "intent" and match.name == "redo":
            self.mode = Mode.NOTE
            self._say(out, NOTE_REDO, "reply")
            out.append(self._listen())
        else:
            assert self.visit is not None
            self.visit.unclears += 1
            if self.visit.unclears >= MAX_REPROMPTS:
                self.note_text = ""
                self._say(out, NOTE_LEFT_OUT, "reply")
                self._goto(node.then or "resume", out)
            else:
                self._say(out, NOTE_CONFIRM_AGAIN, "clarify")
                out.append(self._listen())

    def _heard_waiting(self, text: str, confidence: float, out: list[Action]) -> None:
        match = self._match(text, self._distress_intents(), confidence, WAIT_COMMANDS)
        log.info("heard %d words, intent=%s", len(text.split()), match.name or match.kind)
        if self._care_first(match, out):
            return
        if match.kind == "command":
            self._command(match.name, out)
        elif match.kind == "intent":
            assert self.visit is not None
            here = self.visit.flow
            resume = self._node().then if self.mode is Mode.WAIT else self.visit.node
            target = self.bundle.resolve(here, resume or "") if resume and resume != "resume" else None
            self.mode = Mode.LISTEN
            if target is not None:
                self._to_support(target, out)
            elif self.resume_stack:
                self._enter("support", self.bundle.flows["support"].start, out)
            else:
                self._to_support((here, self.visit.node), out)
        else:
            out.append(self._await())  # stay quietly waiting

    def _heard_saving(self, text: str, confidence: float, out: list[Action]) -> None:
        # The shell should have answered the SaveNote first; assume it was kept,
        # but a stop or the safe word still ends the session on this turn.
        match = self._match(text, {}, confidence, frozenset({"stop", "safe_word"}), spot_needs=False)
        if match.kind == "command" and match.name in ("stop", "safe_word"):
            self.notes_saved += 1
            self._command(match.name, out)
        elif match.kind == "danger":
            self.notes_saved += 1
            self.mode = Mode.LISTEN
            self._danger(match, out)
        else:
            self._unanswered_save(out)

    def _heard_answer(self, text: str, confidence: float, out: list[Action]) -> None:
        """listen / idle / a middle-confidence check: an answer to the question."""
        assert self.visit is not None
        node = self._node()
        guess = self.visit.guess
        if self.mode is Mode.IDLE:
            self.mode = Mode.LISTEN
        intents = self._intents(node)
        commands = None if self.mode is Mode.IDLE else self._listen_commands()
        kinds = SAFETY_DANGER if self.visit.flow == "safety" else None
        match = self._match(text, intents, confidence, commands, danger_kinds=kinds)
        log.info("heard %d words, intent=%s", len(text.split()), match.name or match.kind)
        self.visit.guess = None
        if self._care_first(match, out):
            return
        if match.kind == "command":
            self._command(match.name, out)
            return
        if guess is not None:
            # "Just to be sure: you're okay?" -- yes or no answers the check first.
            check = self.matcher.match(text, self._yes_no(), 1.0, frozenset(), read_feelings=False, spot=False)
            if check.kind == "intent" and check.name == "yes":
                self._answer(guess, out, text)
                return
            if check.kind == "intent" and check.name == "no":
                self._ask_again(out, lead=False)
                return
        if confidence < CONFIDENCE_CONFIRM:
            self._ask_again(out)
        elif match.kind == "intent" and match.name in node.listen:
            if confidence < CONFIDENCE_ACCEPT and guess is None and not node.listen[match.name].now:
                self._confirm_guess(match.name, out)
            else:
                self._answer(match.name, out, text)
        elif match.kind == "ambiguous" and len(match.alternatives) >= 2:
            self._clarify(match.alternatives, out)
        elif self.visit.follow_up:
            self._close_group(out)  # "anyone else?" and something we could not place: carry on
        else:
            self._unclear(out)

    # ------------------------------------------------------------------
    # Care: danger, small needs, confidence
    # ------------------------------------------------------------------

    def _here(self) -> tuple[str, str, int]:
        assert self.visit is not None
        return (self.visit.flow, self.visit.node, self.visit.person)

    def _danger(self, match: Any, out: list[Action]) -> None:
        """Someone may not be safe: pause the check-in and go to the safety node.

        Going on later comes back to this question (and this person). With a
        stop asked for in the same breath, say the safety words, then stop.
        """
        assert self.visit is not None
        target = self.bundle.resolve(self.visit.flow, match.go_to or "")
        if target is None:
            log.error("care.yaml sends %s to %r, which does not exist", match.name, match.go_to)
            self._command("stop", out)
            return
        self.note_text = ""
        if match.also_stop:
            node = self.bundle.flows[target[0]].nodes[target[1]]
            self._say(out, self._pick(("say",) + target, node.say), "reply")
            self._command("stop", out)
            return
        if self.visit.flow != "safety":
            self.resume_stack.append(self._here())
        self.mode = Mode.LISTEN
        self._enter(target[0], target[1], out)

    def _need(self, out: list[Action]) -> None:
        """A small bodily need: a short warm reply, then a pause; go on comes back here."""
        care = self.bundle.care
        reply = self._pick(("need",), care.needs_reply) if care is not None and care.needs_reply else None
        if self.mode is not Mode.PAUSE:
            self.paused_from = self.mode
        self.mode = Mode.PAUSE
        self._say(out, reply or self._reply("pause"), "reply")
        out.append(self._await())

    def _yes_no(self) -> dict[str, tuple[str, ...]]:
        vocab = self.bundle.vocabulary
        return {"yes": vocab.get("yes") or ("yes",), "no": vocab.get("no") or ("no",)}

    def _confirm_guess(self, intent: str, out: list[Action]) -> None:
        """Middle confidence: "Just to be sure: you're okay?" (never for stop or care)."""
        assert self.visit is not None
        self.visit.guess = intent
        self._say(out, CONFIRM_GUESS.format(guess=second_person(self._wording(intent))), "clarify")
        out.append(self._listen())

    def _restate(self) -> str:
        """The question again, in other words when the node has another variation."""
        assert self.visit is not None
        node = self._node()
        variations = node.say_solo if (self.solo and node.say_solo) else node.say
        return self._pick(("say", self.visit.flow, self.visit.node), variations) or self.last_prompt

    def _ask_again(self, out: list[Action], lead: bool = True) -> None:
        """Low confidence (or "no" to a guess): ask again, restating the question."""
        assert self.visit is not None
        self.visit.unclears += 1
        esc = self._escalation("on_unclear")
        if self.visit.unclears > max(len(esc.reprompts), 1):
            self._then(esc, out)
            return
        question = self._restate()
        self._say(out, ASK_AGAIN.format(question=question) if lead else question, "reprompt")
        out.append(self._listen())

    def _match(self, text: str, intents: Mapping[str, Sequence[str]], confidence: float,
               allowed: Any, **how: Any) -> Any:
        """Ask the matcher, remembering the verdict for the shell's event log."""
        match = self.matcher.match(text, intents, confidence, allowed, **how)
        self.last_match = match
        return match

    def _confirm_intents(self) -> dict[str, tuple[str, ...]]:
        """Answers to "Shall I keep that?": the vocabulary's keep/no/redo, so
        "keep it", "that's right" and "not quite" are understood too."""
        vocab = self.bundle.vocabulary
        return {
            "yes": vocab.get("keep") or vocab.get("yes") or ("yes", "yes please", "keep it"),
            "no": vocab.get("no") or ("no", "no thanks", "don't keep it"),
            "redo": vocab.get("redo") or REDO_PHRASES,
        }

    def _distress_intents(self) -> dict[str, tuple[str, ...]]:
        """While waiting quietly, someone may say they are not okay: listen for
        that too, so support is never more than one sentence away."""
        if "support" not in self.bundle.flows or (self.visit is not None and self.visit.flow == "safety"):
            return {}
        return {name: self.bundle.vocabulary[name] for name in ("not_okay", "support")
                if self.bundle.vocabulary.get(name)}

    def _to_support(self, resume: tuple[str, str], out: list[Action]) -> None:
        self.resume_stack.append((resume[0], resume[1], 0))
        support = self.bundle.flows["support"]
        self._enter("support", support.start, out)

    def _listen_commands(self) -> frozenset[str]:
        """Commands honoured while listening for an answer: all but "continue",
        which only means something during a pause or a wait (so "yes, we're
        ready" answers the question instead of being taken as "continue")."""
        return (frozenset(self.bundle.commands) | {"safe_word", "stop"}) - {"continue"}

    def _answer(self, intent: str, out: list[Action], text: str = "") -> None:
        assert self.visit is not None
        node = self._node()
        visit = self.visit
        person = self._person()
        visit.given.append((person, intent))
        key = f"{visit.flow}.{visit.node}"
        self.answers.setdefault(key, set()).add(intent)
        t = node.listen[intent]
        if node.for_each and not self.solo:
            self._answer_person(t, out)
        elif self._asks_everyone(node) and not t.now and self._closes(node, t):
            self._answer_group(intent, t, text, out)
        else:
            self._take(t, out)

    def _more_people(self) -> bool:
        assert self.visit is not None
        return self.visit.person + 1 < len(self.names)

    def _answer_person(self, t: Transition, out: list[Action]) -> None:
        """A per-person question: each answer gets its own short reply, then the
        next person is asked. Support for one person comes back to the next."""
        assert self.visit is not None
        visit = self.visit
        if t.now:
            if self._more_people():
                self.resume_stack.append((visit.flow, visit.node, visit.person + 1))
                self._goto(t.next or "resume", out)
            else:
                self._take(t, out)
            return
        if t.say:
            self._say(out, self._pick(("reply", visit.flow, visit.node, t.next), t.say), "reply")
        if self._more_people():
            self._next_person(out)
        else:
            self._finish_round(out)

    def _next_person(self, out: list[Action]) -> None:
        assert self.visit is not None
        visit = self.visit
        visit.person += 1
        visit.silences = visit.unclears = 0
        out.append(EnterNode(self._label(visit.flow, visit.node), self._person()))
        self._prompt(out)
        out.append(self._listen())

    def _finish_round(self, out: list[Action]) -> None:
        """Everyone has answered: follow the first-listed answer anyone gave."""
        assert self.visit is not None
        node = self._node()
        given = self.answers.get(f"{self.visit.flow}.{self.visit.node}", set())
        for name, t in node.listen.items():  # listed order is priority
            if name not in given:
                continue
            if not t.now:
                self._take(t, out, say=False)
                return
            if t.resume:  # someone had support here: go where that would have come back to
                self._goto(t.resume, out)
                return
        self._goto(self._default_target(node), out)

    def _default_target(self, node: Node) -> str:
        """Where a question goes when nothing in particular was said (also "skip")."""
        if node.skip:
            return node.skip
        plain = [t for t in node.listen.values() if not t.now]
        t = plain[-1] if plain else list(node.listen.values())[-1]
        return t.next or "resume"

    def _asks_everyone(self, node: Node) -> bool:
        """A group question (not per person, two or more people, in the main check-in)."""
        assert self.visit is not None
        return (not self.solo and node.step == "listen" and not node.for_each and node.ask_everyone
                and self.visit.flow not in CARE_FLOWS)

    def _closes(self, node: Node, t: Transition) -> bool:
        """An answer that would close the question ("no", "all good"): others may
        still have something. One that opens something is taken at once."""
        return (t.next or "resume") == self._default_target(node)

    def _answer_group(self, intent: str, t: Transition, text: str, out: list[Action]) -> None:
        """Group questions: an answer that opens something is taken at once. One
        that closes the question gets its reply; when it was said for oneself
        ("I'm fine", "not for me") the others get "anyone else?", until
        everyone has answered, someone answers for all ("we're fine", a plain
        "no"), or nobody adds anything (silence)."""
        assert self.visit is not None
        visit = self.visit
        said_before = [i for _, i in visit.given[:-1]]
        if t.say and intent not in said_before:
            self._say(out, self._pick(("reply", visit.flow, visit.node, t.next), t.say), "reply")
        visit.closing += 1
        words = set(self._normalize(text).split())
        if visit.closing >= len(self.names) or words & GROUP_WORDS or not words & SELF_WORDS:
            self._close_group(out)
            return
        visit.follow_up = True
        visit.silences = visit.unclears = 0
        self._say(out, self._pick_text(("anyone_else",), ANYONE_ELSE), "prompt")
        out.append(self._listen())

    def _close_group(self, out: list[Action]) -> None:
        assert self.visit is not None
        node = self._node()
        self.visit.follow_up = False
        given = {i for _, i in self.visit.given}
        for name, t in node.listen.items():
            if name in given and not t.now:
                self._take(t, out, say=False)
                return
        self._goto(self._default_target(node), out)

    def _clarify(self, alternatives: Sequence[str], out: list[Action]) -> None:
        assert self.visit is not None
        self.visit.unclears += 1
        esc = self._escalation("on_unclear")
        if self.visit.unclears > len(esc.reprompts):
            self._then(esc, out)
            return
        words = [self._wording(a) for a in alternatives[:3]]
        self._say(out, f"Sorry, did you mean {join_words(words)}?", "clarify")
        out.append(self._listen())

    def _escalation(self, which: str) -> Escalation:
        found = effective_escalation(self._node(), self._flow(), which)
        if found is not None:
            return found
        return _DEFAULT_ESCALATION if which == "on_silence" else _DEFAULT_UNCLEAR

    def _unclear(self, out: list[Action]) -> None:
        self._escalate("on_unclear", out)

    def _escalate(self, which: str, out: list[Action]) -> None:
        assert self.visit is not None
        if which == "on_silence":
            self.visit.silences += 1
            count = self.visit.silences
        else:
            self.visit.unclears += 1
            count = self.visit.unclears
        esc = self._escalation(which)
        if count <= len(esc.reprompts):
            text = self._reprompt_text(esc.reprompts[count - 1])
            self._say(out, text, "reprompt")
            out.append(self._listen())
        else:
            self._then(esc, out)

    def _reprompt_text(self, template: str) -> str:
        """A reprompt with {question} (the question, restated) and {choices}
        (answers this question accepts) filled in."""
        if "{question}" in template:
            template = template.replace("{question}", self._restate().replace("{", "(").replace("}", ")"))
        if "{choices}" in template:
            template = template.replace("{choices}", self._choices())
        return render(template, self._who())

    def _choices(self) -> str:
        """A few answers this node accepts, named by their first example phrase."""
        node = self._node()
        if self.mode in (Mode.NOTE, Mode.CONFIRM) or node.step != "listen":
            return join_words(["continue", "stop"])
        if node.help:
            offered = offered_answers(render(node.help, self._who()))
            if offered:  # the author's own hint (check verifies each is understood here)
                return join_words(offered[:MAX_CHOICES])
        named = [i for i in CHOICES_FIRST if i in node.listen]
        named += [i for i, t in node.listen.items() if not t.now and i not in named]
        return join_words([self._wording(i) for i in named][:MAX_CHOICES])

    def _then(self, esc: Escalation, out: list[Action]) -> None:
        if esc.then == "end":
            self._end_no_response(out)
        elif esc.then == "wait":
            if self.mode in (Mode.NOTE, Mode.CONFIRM):
                # Dictation: quietly keep listening for the note itself.
                out.append(self._listen())
            else:
                self.mode = Mode.IDLE
                out.append(self._await())
        else:
            self._goto(esc.then, out)

    def _unanswered_save(self, out: list[Action]) -> None:
        """The shell did not answer SaveNote; never ask it to save twice, just go on."""
        log.warning("expected NoteSaved/NoteFailed; carrying on")
        self.notes_saved += 1
        self._goto(self._node().then or "resume", out)

    def _silence_listening(self, out: list[Action]) -> None:
        """Silence after a question, a dictation or a readback: the reprompts."""
        assert self.visit is not None
        if self.mode is Mode.LISTEN and self.visit.follow_up:
            self._close_group(out)  # nobody else had anything
            return
        self.visit.guess = None
        self._escalate("on_silence", out)

    def _timeout_wait(self, out: list[Action]) -> None:
        """A quiet wait step ran its time: go on."""
        self._goto(self._node().then or "resume", out)

    def _end_no_response(self, out: list[Action]) -> None:
        self._end(out, "no_response", GOODBYE_SOLO_NO_RESPONSE if self.solo else GOODBYE_NO_RESPONSE)

    def _note_result(self, ok: bool, out: list[Action]) -> None:
        if self.mode is not Mode.SAVING:
            out.append(self._await())
            return
        node = self._node()
        if ok:
            self.notes_saved += 1
            self._say(out, NOTE_SAVED, "reply")
        else:
            self._say(out, NOTE_FAILED, "reply")
        self.note_text = ""
        self._goto(node.then or "resume", out)

    def _reask(self, out: list[Action]) -> None:
        """After a pause: say the question again and listen as before."""
        self.mode = self.paused_from
        if self.mode in (Mode.LISTEN, Mode.IDLE):
            self.mode = Mode.LISTEN
            if self.visit:
                self.visit.silences = self.visit.unclears = 0
        if self.mode is Mode.CONFIRM:
            self._say(out, NOTE_READBACK.format(text=self.note_text), "readback")
        elif self.last_prompt:
            self._say(out, self.last_prompt, "prompt")
        out.append(self._await())

    # ------------------------------------------------------------------
    # Commands
    # ------------------------------------------------------------------

    def _command(self, name: str | None, out: list[Action]) -> None:
        assert self.visit is not None
        node = self._node()
        if name == "stop":
            self._end(out, "stopped", self._reply("stop"))
        elif name == "safe_word":
            cmd = self.bundle.commands.get("stop")
            self._end(out, "safe_word", self._reply("stop") if cmd and cmd.reply else SAFE_WORD_GOODBYE)
        elif name == "pause":
            if self.mode is not Mode.PAUSE:
                self.paused_from = self.mode
            self.mode = Mode.PAUSE
            self._say(out, self._reply("pause"), "reply")
            out.append(self._await())
        elif name == "continue":
            if self.mode is Mode.PAUSE:
                self._say(out, self._reply("continue"), "reply")
                self._reask(out)
            elif self.mode is Mode.WAIT:
                self._goto(node.then or "resume", out)
            elif self.mode is Mode.IDLE:
                self._reask(out)
            else:  # nothing to continue from: ask again
                self._repeat(out)
        elif name == "repeat":
            self._repeat(out)
        elif name == "back":
            self._back(out)
        elif name == "skip":
            self._skip(out)
        elif name == "help":
            self._say(out, self._help(node), "help")
            out.append(self._await())
        elif name in ADJUST:
            what, step = ADJUST[name]
            out.append(Adjust(what, step))
            self._say(out, self._reply(name), "reply")
            out.append(self._await())
        elif name == "forget":
            if self.notes_saved > 0:
                self.notes_saved -= 1
                out.append(DeleteNote())
                self._say(out, self._reply("forget"), "reply")
            else:
                self._say(out, NO_NOTE_TO_FORGET, "reply")
            out.append(self._await())
        else:
            log.warning("unknown command %r", name)
            out.append(self._await())

    def _repeat(self, out: list[Action]) -> None:
        if self.mode is Mode.CONFIRM:
            self._say(out, NOTE_READBACK.format(text=self.note_text), "readback")
        elif self.last_prompt:
            self._say(out, self.last_prompt, "prompt")
        if self.mode is Mode.IDLE:
            self.mode = Mode.LISTEN
        out.append(self._await())

    def _back(self, out: list[Action]) -> None:
        assert self.visit is not None
        node = self._node()
        if node.for_each and not self.solo and self.visit.person > 0 and self.mode is Mode.LISTEN:
            # Back one person at the same question.
            self.visit.person -= 1
            self.visit.given = [g for g in self.visit.given if g[0] != self._person()]
            self.visit.silences = self.visit.unclears = 0
            self._say(out, self._reply("back"), "reply")
            out.append(EnterNode(self._label(self.visit.flow, self.visit.node), self._person()))
            self._prompt(out)
            out.append(self._listen())
            return
        here = (self.visit.flow, self.visit.node)
        if self.history and self.history[-1] == here:
            self.history.pop()
        if not self.history:
            self._say(out, AT_START, "reply")
            self.history.append(here)
            self._repeat(out)
            return
        flow, nid = self.history.pop()
        if flow != here[0] and self.resume_stack and self.resume_stack[-1][0] == flow:
            self.resume_stack.pop()  # backing out of a sub-flow: forget where it would return to
        self.answers.pop(f"{flow}.{nid}", None)
        self.answers.pop(f"{here[0]}.{here[1]}", None)
        self._say(out, self._reply("back"), "reply")
        self._enter(flow, nid, out)

    def _skip(self, out: list[Action]) -> None:
        node = self._node()
        self._say(out, self._reply("skip"), "reply")
        if node.step == "listen" and node.for_each and not self.solo and self.mode is Mode.LISTEN:
            # Skip one person: ask the next, or go on when it was the last.
            if self._more_people():
                self._next_person(out)
            else:
                self._finish_round(out)
            return
        if node.skip:
            self._goto(node.skip, out)
            return
        if node.step == "listen":
            self._goto(self._default_target(node), out)
            return
        if node.step in ("wait", "note", "read_notes"):
            self.note_text = ""
            self._goto(node.then or "resume", out)
            return
        self._goto(node.next or "resume", out)

    def _help(self, node: Node) -> str:
        if self.mode is Mode.NOTE:
            return "Just say what you'd like me to keep, in your own words. Or say skip."
        if self.mode is Mode.CONFIRM:
            return "You can say yes to keep the note, no to leave it out, or again to say it again."
        if node.help:
            return render(node.help, self._who())
        if self.mode in (Mode.WAIT, Mode.PAUSE, Mode.IDLE) and node.step != "listen":
            return "Say continue whenever you're ready, or stop to finish."
        words = [self._wording(i) for i in node.listen][:5]
        lead = f"You could say {join_words(words)}. " if words else ""
        return lead + "You can also say pause, repeat, go back, skip, or stop at any time."


def second_person(phrase: str) -> str:
    """Turn an example answer round to the listener: "I'm okay" -> "you're okay"."""
    words = phrase.split()
    out: list[str] = []
    i = 0
    while i < len(words):
        pair = " ".join(words[i:i + 2]).lower()
        if pair in _SECOND_PERSON:
            out.append(_SECOND_PERSON[pair])
            i += 2
            continue
        out.append(_SECOND_PERSON.get(words[i].lower(), words[i]))
        i += 1
    return " ".join(out)
