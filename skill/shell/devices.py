"""The voice shell's devices: command-line options, listing, and opening them.

:class:`Devices` is the voice session's seam, typed by Protocols
(:class:`~skill.speech.audio.Microphone`, :class:`~skill.speech.audio.Speaker`,
:class:`~skill.speech.recognizer.RecognizerSource`): :func:`open_devices`
fills it with the real microphone, player, speech synthesizer and recognizer
(loaded in a thread while the greeting plays); unit tests fill it with fakes.
``--list-voices`` and ``--list-devices`` are answered here too.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import logging
import select
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from skill.settings import Settings
from skill.speech import tts
from skill.speech.audio import AudioError, Microphone, MicLost, Speaker
from skill.speech.recognizer import Recognizer, RecognizerError, RecognizerSource

log = logging.getLogger(__name__)


@dataclass
class Devices:
    """The session's seams: real from :func:`open_devices`, fakes in unit tests."""

    synth: Callable[[str, tts.VoiceSettings], tts.Speech] | None  # None: print instead
    player: Speaker | None
    mic: Microphone
    recognizer: RecognizerSource
    chime: Callable[[float], np.ndarray] | None = None  # volume -> samples at chime rate
    chime_rate: int = 22050
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    say_line: Callable[[str], None] = print  # captions/fallback text (stdout)
    notice: Callable[[str], None] = lambda line: print(line, file=sys.stderr)
    typed: Callable[[float], str | None] | None = None  # text fallback: timeout -> line|None
    transcript: Callable[[str], None] | None = None  # --debug-transcripts: terminal only


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Voice, device and recognizer options (defaults None: config fills them)."""
    from skill.speech.endpoint import DEFAULT_SILENCE

    g = parser.add_argument_group("voice and sound")
    g.add_argument("--voice", default=None,
                   help=f"speaking voice: {', '.join(tts.FRIENDLY_VOICES)}, or an id, language or part "
                        "of the name (see --list-voices)")
    g.add_argument("--rate", type=int, default=None, help="speaking rate in words per minute "
                   f"(default: a calm pace for the setting, about {tts.DEFAULT_RATE})")
    g.add_argument("--volume", type=float, default=None,
                   help=f"speaking volume 0.15-1.0 (default: soft, {tts.DEFAULT_VOLUME})")
    g.add_argument("--list-voices", action="store_true",
                   help="list the voices (friendly names and English first) and exit")
    g.add_argument("--no-chime", dest="chime", action="store_false", default=True,
                   help="no soft chime before listening")
    g.add_argument("--list-devices", action="store_true", help="list sound devices and exit")
    g.add_argument("--input-device", default=None, metavar="N|NAME",
                   help="microphone: number or part of the name (see --list-devices)")
    g.add_argument("--output-device", default=None, metavar="N|NAME",
                   help="speaker: number or part of the name (see --list-devices)")
    g.add_argument("--backend", default=None, choices=("auto", "whisper", "vosk", "pocketsphinx"),
                   help="speech recognizer (default: auto)")
    g.add_argument("--model", default=None, metavar="PATH", help="a Vosk model folder")
    g.add_argument("--endpoint-silence", type=float, default=None, metavar="SECONDS",
                   help=f"seconds of quiet that end an answer (default: {DEFAULT_SILENCE})")


def err(line: str) -> None:
    print(line, file=sys.stderr)


def list_voices() -> int:
    try:
        synth = tts.shared_synth()
        print(tts.format_voices(synth.voices(), synth.variants()))
        return 0
    except tts.TtsError as exc:
        err(f"aftercare: {exc}")
        return 1


def list_devices() -> int:
    from skill.speech import audio
    try:
        sd = audio.load_sounddevice()
        default = list(sd.default.device)
        print(audio.format_devices(audio.query_devices(sd), default[0], default[1]))
        return 0
    except AudioError as exc:
        err(f"aftercare: {exc}")
        return 1


# --------------------------------------------------------------------------
# Opening the real devices
# --------------------------------------------------------------------------


class LazyRecognizer:
    """A :class:`RecognizerSource` that loads in a thread once :meth:`begin`
    is called (when the greeting starts playing, so the load does not delay
    the first words); :meth:`get` waits for the result."""

    def __init__(self, factory: Callable[[], Recognizer]) -> None:
        self._factory = factory
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="recognizer")
        self.future: concurrent.futures.Future[Recognizer] | None = None

    def begin(self) -> None:
        if self.future is None:
            self.future = self._pool.submit(self._factory)

    def ready(self) -> bool:
        return self.future is not None and self.future.done()

    def get(self) -> Recognizer:
        self.begin()
        assert self.future is not None
        return self.future.result()


def typed_line(timeout: float) -> str | None:
    """A line typed at the terminal within ``timeout`` seconds, else None."""
    try:
        ready, _, _ = select.select([sys.stdin], [], [], timeout)
    except (OSError, ValueError):
        return None
    if not ready:
        return None
    line = sys.stdin.readline()
    return line if line else None


@contextmanager
def open_devices(settings: Settings, stop_phrases: Sequence[str],
                 safe_word: str = "") -> Iterator[tuple[Devices, tts.VoiceSettings]]:
    """The real devices for ``settings`` and the voice to speak with; closed when the block ends.

    Raises AudioError / RecognizerError / TtsError with one clear line (a
    missing microphone, a broken model folder, an unknown ``--voice``).
    When no speech engine works, ``Devices.synth`` is None (prompts are printed).
    """
    from skill.speech import audio, backends
    from skill.speech import chime as chime_mod

    model = settings.model
    if model:
        from skill.speech import models
        problem = models.model_problem(Path(model).expanduser())
        if problem:
            raise RecognizerError(f"Vosk model folder {model}: {problem}")

    sd = audio.load_sounddevice()
    devices_list = audio.query_devices(sd)
    in_dev = audio.resolve_device(settings.input_device, "input", devices_list)
    out_dev = audio.resolve_device(settings.output_device, "output", devices_list)
    audio.check_input_available(sd, in_dev)

    endpoint = settings.endpoint_silence

    def load_recognizer() -> Recognizer:
        if endpoint is None:
            return backends.make_recognizer(settings.backend, model, stop_phrases=stop_phrases,
                                            safe_word=safe_word)
        return backends.make_recognizer(settings.backend, model, stop_phrases=stop_phrases, safe_word=safe_word,
                                        endpoint_silence=endpoint)

    synth = tts.shared_synth()
    voice = tts.settings_for(settings.setting, settings.voice, settings.rate, settings.volume)
    synth_fn: Callable[[str, tts.VoiceSettings], tts.Speech] | None = synth.synthesize
    try:
        synth.ready()
        if voice.voice:
            synth.synthesize(".", voice)  # surfaces an unknown --voice as one line now
    except tts.TtsError as exc:
        if voice.voice and "voice" in str(exc):
            raise
        log.warning("speech output unavailable: %s", exc)
        synth_fn = None

    mic = audio.MicStream(sd, in_dev)
    player = audio.Player(sd, out_dev)
    try:  # streams must be closed before the interpreter exits, whatever happens
        try:
            mic.open()
        except MicLost as exc:
            raise AudioError(f"could not open the microphone: {exc}; check --input-device "
                             "(see --list-devices), or use --text") from None
        yield Devices(
            synth=synth_fn, player=player, mic=mic, recognizer=LazyRecognizer(load_recognizer),
            chime=lambda volume: chime_mod.chime(chime_mod.CHIME_RATE, volume),
            chime_rate=chime_mod.CHIME_RATE,
            typed=typed_line if sys.stdin is not None and sys.stdin.isatty() else None,
            transcript=err if settings.debug_transcripts else None), voice
    finally:
        player.close()
        mic.close()
