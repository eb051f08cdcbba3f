"""The hands-free loop: the pure engine driven by a real microphone and speaker.

Each engine action becomes sound or listening, and what happens becomes the
next event:

- ``Say``: synthesize in memory, play it; half-duplex, so the microphone is
  only heard for the barge-in words (stop / pause / the safe word), which cut
  the speech off at once and go to the engine.
- ``Listen``: a chime, then the recognizer with the turn's phrases; the
  no-input timer starts when the assistant stops speaking and restarts while
  someone is mid-utterance. A rejected result is sent as ``Heard("", 0.0)``.
- ``Wait``: quiet listening until a phrase or ``Timeout``.
- ``SaveNote``/``DeleteNote``: the notes store. ``End``: exit code 0.

Slow loads (the recognizer) happen in a thread while the greeting plays, so
the first words come quickly. Faults degrade gently: no speech engine ->
printed prompts; microphone gone -> say so, keep the place, retry, resume;
recognizer broken -> typed answers at a terminal, else a kind goodbye.

:class:`VoiceSession` holds the loop and takes its devices as arguments, so
unit tests drive it with fakes; :func:`run` opens the session
(:mod:`skill.shell.session`, shared with text mode) and the real devices
(:mod:`skill.shell.devices`).
"""

from __future__ import annotations

import logging
import os
from typing import Callable, Sequence

import numpy as np

from skill.dialogue.dialog import Bundle
from skill.dialogue.engine import Engine
from skill.dialogue.protocol import (Action, Adjust, DeleteNote, End, EnterNode, Event, Heard, Listen,
                                     NoteFailed, NoteSaved, SaveNote, Say, Silence, Timeout, Wait)
from skill.settings import Settings
from skill.shell import devices as devices_mod
from skill.shell import offline
from skill.shell.devices import Devices
from skill.shell.session import event_log, forget_last_note, keep_note, open_session
from skill.speech import tts
from skill.speech.audio import AudioError, MicLost
from skill.speech.recognizer import Recognizer, RecognizerError, Result
from skill.storage.eventlog import EventLog, EventLogRefused
from skill.storage.notes import NotesStore

__all__ = ["Devices", "VoiceSession", "run", "stop_phrases", "barge_phrases", "barge_heard",
           "barge_allowed", "is_echo"]

log = logging.getLogger(__name__)

MIC_RETRY_SECONDS = 2.0
BARGE_COMMANDS = ("stop", "pause")
ECHO_MIN_WORDS = 3

SPEECH_UNAVAILABLE = "(I can't speak aloud here, so I'll show my words instead.)"
MIC_LOST = "I can't hear the microphone any more. I'll keep our place and wait for it to come back."
MIC_BACK = "I can hear you again."
HEARING_FAILED_TEXT = ("(I can't understand speech just now. You can type your answers here instead, "
                       "then press Enter.)")
HEARING_FAILED_END = ("I'm sorry, I can't listen properly just now, so let's stop here. "
                      "Take good care of yourselves.")


class _Ended(Exception):
    """Internal: the session is over (``End`` or a kind stop after a fault)."""

    def __init__(self, code: int) -> None:
        self.code = code


# --------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return "".join(c.lower() if c.isalnum() or c in "' " else " " for c in text).split()


def is_echo(heard: str, spoken: str, min_words: int = ECHO_MIN_WORDS) -> bool:
    """True when ``heard`` is just a run of the prompt's own words (the
    speaker leaking into the microphone), not an answer. Short answers that
    happen to appear in the prompt ("yes") are never treated as echo."""
    h, s = _words(heard), _words(spoken)
    if len(h) < min_words or len(h) > len(s):
        return False
    return any(s[i:i + len(h)] == h for i in range(len(s) - len(h) + 1))


def _grammar(phrases: Sequence[str], free_form: bool) -> list[str] | None:
    """The recognizer's grammar for a turn: None (free-form) for dictation,
    and also when a turn names no phrases at all (never an empty grammar)."""
    return None if free_form or not phrases else list(phrases)


def stop_phrases(bundle: Bundle, safe_word: str) -> tuple[str, ...]:
    """The stop command's phrases and the safe word: the recognizer judges them most leniently.

    Not the ``alone:`` ones ("good night", "bye"): they are everyday words
    that stop only as the whole answer, so the matcher decides them from
    the transcript like any answer; a recognizer never rescues one from
    other words, and barge-in (:func:`barge_phrases`) never listens for them.
    """
    stop = bundle.commands.get("stop")
    return tuple((stop.phrases if stop is not None else ()) or ("stop",)) + ((safe_word,) if safe_word else ())


def barge_phrases(bundle: Bundle, safe_word: str, normalize: Callable[[str], str]) -> tuple[str, ...]:
    """The tiny grammar heard while speaking: stop and pause phrases and the safe word
    (not the stop phrases that count only as the whole answer, see :func:`stop_phrases`)."""
    out: list[str] = []
    for name in BARGE_COMMANDS:
        command = bundle.commands.get(name)
        for phrase in (command.phrases if command is not None else (name,)):
            out.append(normalize(phrase))
    if safe_word:
        out.append(normalize(safe_word))
    seen: dict[str, None] = {p: None for p in out if p}
    return tuple(seen)


_NEGATORS = frozenset(("not", "never", "don't", "dont", "can't", "cannot", "cant", "won't"))


def barge_heard(text: str, phrases: Sequence[str]) -> bool:
    """True when ``text`` says one of the barge-in ``phrases`` (as whole words, not negated).

    A grammar recognizer only ever returns one of the phrases; a transcriber
    (Whisper) returns whatever was said while the assistant spoke, and only
    "please stop", "red" or "hang on" may cut the speech off, never an early
    answer or a cough turned into words. "don't stop" does not count.
    """
    from skill.dialogue.normalize import normalize
    words = normalize(text).split()
    for phrase in phrases:
        target = normalize(phrase).split()
        if not target:
            continue
        for i in range(len(words) - len(target) + 1):
            if words[i:i + len(target)] == target and not (i and words[i - 1] in _NEGATORS):
                return True
    return False


def barge_allowed(text: str, spoken: str, safe_word: str) -> bool:
    """A barge-in word that the prompt itself contains may be our own echo;
    the safe word always counts."""
    words = _words(text)
    if safe_word and _words(safe_word) and words == _words(safe_word):
        return True
    return not is_echo(text, spoken, min_words=1)


# --------------------------------------------------------------------------
# The session
# --------------------------------------------------------------------------


class VoiceSession:
    """Runs one engine session over :class:`Devices`."""

    def __init__(self, engine: Engine, devices: Devices, settings: tts.VoiceSettings, *,
                 safe_word: str, events: EventLog | None = None, notes: NotesStore | None = None,
                 barge: Sequence[str] = (), chime: bool = True,
                 confidence_floor: float = 0.0) -> None:
        self.engine = engine
        self.dev = devices
        self.settings = settings
        self.events = events
        self.notes = notes
        self.safe_word = safe_word
        self.barge = tuple(barge)
        self.chime_on = chime and devices.chime is not None
        self.floor = confidence_floor
        self.node: str | None = None
        self.speech_end = devices.clock()
        self.last_spoken = ""
        self.last_prompt: Say | None = None
        self.speaking_ok = devices.synth is not None and devices.player is not None
        self.told_no_speech = False
        self.mic_ok = True
        self.mic_lost_pending = False
        self.hearing = "voice"  # voice | text
        self.barge_ins = 0
        self.mic_losses = 0
        self.first_words_logged = False

    # ---- main loop ----------------------------------------------------------

    def run(self) -> int:
        try:
            actions = self.engine.start()
            while True:
                event = self._perform(actions)
                if event is None:  # the engine left us nothing to wait for
                    log.warning("engine returned no Listen/Wait/End; treating as silence")
                    event = Silence()
                actions = self.engine.handle(event)
                self._log_event(event)
        except _Ended as end:
            return end.code

    def _perform(self, actions: Sequence[Action]) -> Event | None:
        for action in actions:
            self._log(action)
            event = self._do(action)
            if event is not None:
                return event
        return None

    def _do(self, action: Action) -> Event | None:
        if isinstance(action, EnterNode):
            self.node = action.node
            return None
        if isinstance(action, Say):
            if action.purpose in ("prompt", "reprompt"):
                self.last_prompt = action
            return self.speak(action.text)
        if isinstance(action, Listen):
            return self.listen(action.phrases, action.free_form, action.timeout, waiting=False)
        if isinstance(action, Wait):
            return self.listen(action.phrases, False, action.seconds, waiting=True)
        if isinstance(action, SaveNote):
            return self.save_note(action)
        if isinstance(action, DeleteNote):
            self.delete_note()
            return None
        if isinstance(action, Adjust):
            self.settings = tts.adjust(self.settings, action.what, action.step)
            log.info("delivery now rate=%d volume=%.2f", self.settings.rate, self.settings.volume)
            return None
        if isinstance(action, End):
            raise _Ended(0)
        log.warning("ignoring unknown action %r", type(action).__name__)
        return None

    # ---- event log ----------------------------------------------------------

    def _log(self, action: Action) -> None:
        if self.events is not None:
            self.events.action(action)

    def _log_event(self, event: Event) -> None:
        if self.events is None:
            return
        if isinstance(event, Heard):
            self.events.heard(event.text, self.engine.last_match, self.node)
        elif isinstance(event, Silence):
            self.events.silence(self.node)
        elif isinstance(event, (NoteSaved, NoteFailed)):
            self.events.note_result(isinstance(event, NoteSaved))

    def _write(self, record: dict) -> None:
        if self.events is not None:
            self.events.write(record)

    # ---- speaking -------------------------------------------------------------

    def _fallback_to_print(self, why: str) -> None:
        self.speaking_ok = False
        log.warning("speech output unavailable: %s", why)
        if not self.told_no_speech:
            self.told_no_speech = True
            self.dev.notice(SPEECH_UNAVAILABLE)

    def _play(self, samples: np.ndarray, rate: int) -> bool:
        assert self.dev.player is not None  # speaking_ok implies a player
        try:
            self.dev.player.play(samples, rate)
            return True
        except AudioError as exc:
            self._fallback_to_print(str(exc))
            return False

    def _synth(self, text: str) -> tts.Speech | None:
        """Speech for ``text``, or None once speech output has failed (then we print)."""
        if not self.speaking_ok or self.dev.synth is None:
            return None
        try:
            return self.dev.synth(text, self.settings)
        except Exception as exc:  # TtsError, or the engine breaking mid-session
            self._fallback_to_print(f"{type(exc).__name__}: {exc}")
            return None

    def speak(self, text: str, barge: bool = True) -> Event | None:
        """Say ``text``; returns a Heard event when a barge-in word cut it off.

        Why sentence by sentence: the reply starts as soon as its first
        sentence is synthesized (about 20 ms), and the rest is synthesized
        while that one plays, instead of the whole prompt before any sound.
        """
        self.last_spoken = text
        parts = tts.split_sentences(text) or [text]
        first, rest = parts[0], " ".join(parts[1:])
        speech = self._synth(first)
        if speech is None or not self._play(speech.samples, speech.rate):
            self.dev.say_line(text)
            self.speech_end = self.dev.clock()
            return None
        if not self.first_words_logged:
            self.first_words_logged = True
            started = since_process_start()
            if started is not None:
                log.info("first words began %.2f s after the program started", started)
        self.dev.recognizer.begin()  # load the recognizer while this plays
        later = self._synth(rest) if rest else None  # while the first sentence plays
        if rest and later is None:
            self.dev.say_line(rest)
        queued = False
        if later is not None:
            gap = np.zeros(int(round(self.settings.sentence_pause * later.rate)), dtype=np.int16)
            later_samples = np.concatenate([gap, later.samples])
            queued = self.dev.player.append(later_samples, later.rate)
        heard = self._during_playback(text if barge else None)
        if heard is None and later is not None and not queued and self.speaking_ok:
            # the first sentence ended before the rest was ready: play it now
            if self._play(later_samples, later.rate):
                heard = self._during_playback(text if barge else None)
            else:
                self.dev.say_line(rest)
        self.speech_end = self.dev.player.ended_at if heard is None else self.dev.clock()
        return heard

    def _during_playback(self, spoken: str | None) -> Event | None:
        """Wait for playback to end, hearing only the barge-in words."""
        rec = None
        want = spoken is not None and bool(self.barge)
        while self.dev.player.busy:
            if not self.mic_ok or self.hearing != "voice":
                self.dev.sleep(0.05)
                continue
            if want and rec is None:  # the recognizer may still be loading
                try:
                    rec = self._recognizer(wait=False)
                    if rec is not None:
                        rec.start(list(self.barge))
                except Exception as exc:
                    log.warning("no barge-in while speaking: %s", exc)
                    want = False
            try:
                block = self.dev.mic.read(0.05)
            except MicLost as exc:
                log.warning("microphone lost while speaking: %s", exc)
                self.mic_ok = False
                self.mic_lost_pending = True
                continue
            if block is None or rec is None:
                continue
            try:
                result = rec.feed(block)
            except Exception as exc:
                log.warning("barge-in recognizer failed: %s", exc)
                rec = None
                continue
            if result is None or not result.text or result.confidence < self.floor:
                continue
            if not barge_heard(result.text, self.barge):
                log.info("speech while speaking was not a barge-in word; ignored")
                rec.start(list(self.barge))
                continue
            if not barge_allowed(result.text, spoken or "", self.safe_word):
                log.info("ignored a barge-in word that the prompt itself contains")
                rec.start(list(self.barge))
                continue
            self.dev.player.stop()
            self.barge_ins += 1
            self._write({"event": "barge_in", "node": self.node})
            log.info("barge-in: speech interrupted")
            return Heard(result.text, result.confidence)
        return None

    def _chime(self) -> None:
        if not (self.chime_on and self.speaking_ok):
            return
        samples = self.dev.chime(self.settings.volume)
        if not self._play(samples, self.dev.chime_rate):
            return
        while self.dev.player.busy:
            if self.mic_ok:
                try:
                    self.dev.mic.read(0.05)  # gated: the chime is not an answer
                except MicLost:
                    self.mic_ok = False
                    self.mic_lost_pending = True
            else:
                self.dev.sleep(0.05)
        self.speech_end = self.dev.player.ended_at

    # ---- listening ------------------------------------------------------------

    _loaded: Recognizer | None = None

    def _recognizer(self, wait: bool = True) -> Recognizer | None:
        """The recognizer; with ``wait=False``, None while it is still loading."""
        if self._loaded is None:
            source = self.dev.recognizer
            if not wait and not source.ready():
                source.begin()
                return None
            self._loaded = source.get()
        return self._loaded

    def listen(self, phrases: Sequence[str], free_form: bool, timeout: float,
               waiting: bool) -> Event:
        """One turn: Heard, Silence (Listen) or Timeout (Wait)."""
        while True:
            if self.hearing == "text":
                return self._typed(timeout, waiting)
            if not self.mic_ok or self.mic_lost_pending:
                heard = self._recover_mic()
                if heard is not None:
                    return heard
                continue
            if not waiting:
                self._chime()
            try:
                rec = self._recognizer()
                rec.start(_grammar(phrases, free_form))
            except Exception as exc:
                self._hearing_failed(exc)
                continue
            result = self._hear(rec, phrases, free_form, timeout, waiting)
            if result is not None:
                return result

    def _hear(self, rec: Recognizer, phrases: Sequence[str], free_form: bool, timeout: float,
              waiting: bool) -> Event | None:
        clock = self.dev.clock
        deadline = max(self.speech_end, clock()) + timeout
        while True:
            try:
                block = self.dev.mic.read(0.2)
            except MicLost as exc:
                log.warning("microphone lost: %s", exc)
                self.mic_ok = False
                self.mic_lost_pending = True
                return None
            now = clock()
            if block:
                try:
                    result = rec.feed(block)
                    busy = bool(rec.partial()) or rec.in_speech
                except Exception as exc:
                    self._hearing_failed(exc)
                    return None
                if result is not None:
                    event = self._judge(result, waiting)
                    if event is not None:
                        return event
                    rec.start(_grammar(phrases, free_form))
                    continue
                if busy:
                    deadline = max(deadline, now + timeout)
            if now >= deadline:
                try:
                    result = rec.flush()
                except Exception as exc:
                    self._hearing_failed(exc)
                    return None
                if result is not None and result.text:
                    event = self._judge(result, waiting)
                    if event is not None:
                        return event
                return Timeout() if waiting else Silence()

    def _judge(self, result: Result, waiting: bool) -> Event | None:
        """A final result -> the event to send, or None to keep listening."""
        text = (result.text or "").strip()
        show = self.dev.transcript
        if not text:
            if waiting:
                return None  # noise during a pause is not a question to answer
            log.info("heard speech but rejected it (outside the phrases)")
            if show is not None:
                show("(heard: something outside the expected answers)")
            return Heard("", 0.0)
        if is_echo(text, self.last_spoken):
            log.info("ignored a transcript that echoes the prompt")
            if show is not None:
                show(f"(heard its own question, ignored: {text!r})")
            return None
        log.info("heard %d words", len(text.split()))
        if show is not None:
            show(f"(heard: {text!r}, confidence {float(result.confidence):.2f})")
        return Heard(text, float(result.confidence))

    # ---- faults ---------------------------------------------------------------

    def _recover_mic(self) -> Event | None:
        """Say the microphone is gone, keep our place, retry until it is back,
        then ask the current question again (a barge-in then is returned)."""
        self.mic_losses += 1
        self.mic_lost_pending = False
        try:
            self.dev.mic.close()
        except Exception:
            pass
        self._write({"event": "mic", "state": "lost", "node": self.node})
        self.dev.notice(MIC_LOST)
        if self.speaking_ok:
            self.speak(MIC_LOST, barge=False)
        while True:
            self.dev.sleep(MIC_RETRY_SECONDS)
            try:
                self.dev.mic.open()
                break
            except MicLost as exc:
                log.info("microphone still missing: %s", exc)
        self.mic_ok = True
        self._write({"event": "mic", "state": "back", "node": self.node})
        self.dev.notice(MIC_BACK)
        again = MIC_BACK + (" " + self.last_prompt.text if self.last_prompt else "")
        return self.speak(again)

    def _hearing_failed(self, exc: Exception) -> None:
        log.info("recognizer failed: %s: %s", type(exc).__name__, exc)
        self.dev.notice(f"aftercare: {exc}" if isinstance(exc, RecognizerError)
                        else f"aftercare: speech recognition failed ({type(exc).__name__})")
        if self.dev.typed is not None:
            self.hearing = "text"
            self.dev.notice(HEARING_FAILED_TEXT)
            if self.last_prompt is not None:
                self.dev.say_line(self.last_prompt.text)
            return
        self.speak(HEARING_FAILED_END, barge=False)
        self._write({"event": "end", "reason": "error"})
        raise _Ended(1)

    def _typed(self, timeout: float, waiting: bool) -> Event:
        assert self.dev.typed is not None  # hearing is "text" only when typing is possible
        line = self.dev.typed(timeout)
        if line is None:
            return Timeout() if waiting else Silence()
        return Heard(line.strip(), 1.0)

    # ---- notes ----------------------------------------------------------------

    def save_note(self, action: SaveNote) -> Event:
        return keep_note(self.notes, action.text)

    def delete_note(self) -> None:
        forget_last_note(self.notes)


# --------------------------------------------------------------------------
# Running a session
# --------------------------------------------------------------------------


def since_process_start() -> float | None:
    """Seconds since this process started (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def run(settings: Settings, bundle: Bundle, events: EventLog | None = None) -> int:
    """Run one hands-free session. Returns the exit code (0 when it ended normally).

    ``events``: an event log to write to instead of opening ``settings.events``.
    """
    if settings.list_voices:
        return devices_mod.list_voices()
    if settings.list_devices:
        return devices_mod.list_devices()
    if settings.backend == "auto" and not settings.model:
        from skill.speech import models, recognizer_whisper
        if recognizer_whisper.model_path() is None:  # Whisper (a dependency) needs no download
            models.offer_first_download()  # before the session: a session opens no socket
    if events is not None:
        return _guarded(settings, bundle, events)
    try:
        with event_log(settings.events) as (opened, _):
            return _guarded(settings, bundle, opened)
    except EventLogRefused as exc:
        devices_mod.err(str(exc))
        return 2


def _guarded(settings: Settings, bundle: Bundle, events: EventLog) -> int:
    with offline.session_guard():
        try:
            return _run_session(settings, bundle, events)
        except (AudioError, RecognizerError, tts.TtsError) as exc:
            devices_mod.err(f"aftercare: {exc}")
            return 1
        except KeyboardInterrupt:
            devices_mod.err("\nOkay, stopping here. Take good care.")
            events.write({"event": "end", "reason": "stopped"})
            return 130
        finally:
            events.write(offline.report())


def _run_session(settings: Settings, bundle: Bundle, events: EventLog) -> int:
    from skill.dialogue.validate import normalizer

    opened = open_session(settings, bundle)
    safe_word = opened.context.safe_word
    with devices_mod.open_devices(settings, stop_phrases(bundle, safe_word), safe_word) as (devices, voice):
        session = VoiceSession(opened.engine, devices, voice, events=events, notes=opened.notes,
                               safe_word=safe_word, barge=barge_phrases(bundle, safe_word, normalizer()),
                               chime=settings.chime)
        if devices.synth is None:
            session._fallback_to_print("no speech engine")
        return session.run()
