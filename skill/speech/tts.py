"""Speech output: pyttsx3's espeak-ng driver synthesizes into memory, we play it.

Why not ``engine.say()``: pyttsx3 2.99 writes every utterance to a temporary
WAV and shells out to ``aplay``, which can neither be interrupted nor timed,
and which puts audio on disk. Its espeak driver already runs libespeak-ng in
``AUDIO_OUTPUT_RETRIEVAL`` mode (the samples come back through a callback),
so we register our own synth callback, collect the 22,050 Hz mono int16
samples in a list and hand them to the player: no file is ever written.

libespeak-ng and pyttsx3's cached engine are not thread-safe, so every call
into them runs on one dedicated worker thread (:class:`EspeakSynth`).
"""

from __future__ import annotations

import atexit
import concurrent.futures
import ctypes
import gc
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Collection

import numpy as np

log = logging.getLogger(__name__)

ESPEAK_RATE = 22050

# Calm defaults: slower than espeak's 175 wpm, softer than full scale.
DEFAULT_RATE = 150
DEFAULT_VOLUME = 0.7
DEFAULT_PAUSE = 0.35
RATE_STEP = 15
VOLUME_STEP = 0.1
RATE_RANGE = (90, 220)
VOLUME_RANGE = (0.15, 1.0)

# Synthesized speech is kept for reuse (a question asked again, "Say that
# again?", the same reply in the next check-in): at most this many seconds of
# audio (about 44 KB a second), least recently used dropped first. A hit
# costs nothing instead of 10-25 ms of espeak-ng per sentence on 2 cores.
CACHE_SECONDS = 120.0

# Per setting: (rate change in wpm, volume factor, extra pause between sentences).
SETTING_PACE = {
    "bedside": (-15, 0.7, 0.15),
    "bath": (-5, 1.0, 0.25),
}


class TtsError(Exception):
    """Speech output cannot work here; the message is one clear line."""


#: ``--voice female|male|calm``: (espeak-ng language, variant, what it sounds like).
#: The variants ship with espeak-ng (espeak-ng-data/voices/!v). "calm" is the
#: smooth female5 variant: no roughness, echo or flutter, and a narrow pitch
#: range ("pitch 160 228" in its file), so it rises and falls less than
#: "female" (tests/test_people_cli.py measures both).
FRIENDLY_VOICES: dict[str, tuple[str, str, str]] = {
    "female": ("en-us", "f3", "a woman's voice, American English"),
    "male": ("en-us", "m3", "a man's voice, American English"),
    "calm": ("en-us", "f5", "a smooth, even voice, American English"),
}
#: espeak-ng's "English (PLACE)" as people say it.
ENGLISH_NAMES = {
    "America": "American English",
    "Great Britain": "British English",
    "Scotland": "Scottish English",
    "Caribbean": "Caribbean English",
    "Received Pronunciation": "British English, Received Pronunciation",
    "Lancaster": "English, Lancaster",
    "West Midlands": "English, West Midlands",
}


@dataclass(frozen=True)
class VoiceSettings:
    """How the assistant sounds: espeak voice id, words per minute, gain 0..1,
    silence between sentences in seconds."""

    voice: str | None = None
    rate: int = DEFAULT_RATE
    volume: float = DEFAULT_VOLUME
    sentence_pause: float = DEFAULT_PAUSE


@dataclass(frozen=True)
class Speech:
    """Synthesized audio ready to play: int16 mono samples at ``rate`` Hz."""

    samples: np.ndarray
    rate: int
    text: str = ""

    @property
    def duration(self) -> float:
        return len(self.samples) / float(self.rate)


def _clamp(value, low, high):
    return max(low, min(high, value))


def settings_for(setting: str, voice: str | None = None, rate: int | None = None,
                 volume: float | None = None) -> VoiceSettings:
    """Calm defaults adapted to the setting; explicit options win.

    Bedside is slower and quieter (someone may be drifting off); the bath gets
    longer pauses. The engine separately stretches listen timeouts per setting.
    """
    d_rate, f_volume, extra_pause = SETTING_PACE.get(setting, (0, 1.0, 0.0))
    return VoiceSettings(
        voice=voice,
        rate=int(_clamp(rate if rate is not None else DEFAULT_RATE + d_rate, *RATE_RANGE)),
        volume=float(_clamp(volume if volume is not None else DEFAULT_VOLUME * f_volume,
                            *VOLUME_RANGE)),
        sentence_pause=DEFAULT_PAUSE + extra_pause,
    )


def adjust(settings: VoiceSettings, what: str, step: int) -> VoiceSettings:
    """Apply an Adjust action ("rate"/"volume", +1/-1) within sane bounds."""
    if what == "rate":
        return replace(settings, rate=int(_clamp(settings.rate + step * RATE_STEP, *RATE_RANGE)))
    if what == "volume":
        vol = round(settings.volume + step * VOLUME_STEP, 2)
        return replace(settings, volume=float(_clamp(vol, *VOLUME_RANGE)))
    log.warning("ignoring unknown adjustment %r", what)
    return settings


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def split_sentences(text: str) -> list[str]:
    """Split on sentence ends so we can put a calm pause between sentences."""
    return [part.strip() for part in _SENTENCE_END.split(text.strip()) if part.strip()]


def apply_volume(samples: np.ndarray, volume: float) -> np.ndarray:
    """Scale int16 samples by a 0..1 gain (done here, not in espeak, so the
    chime and speech share one volume and Adjust takes effect at once)."""
    scaled = samples.astype(np.float32) * float(volume)
    return np.clip(np.round(scaled), -32768, 32767).astype(np.int16)


def join_with_pauses(parts: list[np.ndarray], rate: int, pause: float) -> np.ndarray:
    """Concatenate sentence audio with ``pause`` seconds of silence between."""
    if not parts:
        return np.zeros(0, dtype=np.int16)
    gap = np.zeros(int(round(pause * rate)), dtype=np.int16)
    out: list[np.ndarray] = []
    for i, part in enumerate(parts):
        if i:
            out.append(gap)
        out.append(part)
    return np.concatenate(out)


class EspeakSynth:
    """pyttsx3's espeak-ng driver, owned by one worker thread.

    Construction is cheap (the engine loads on the worker); call
    :meth:`ready` to wait for it and surface a :class:`TtsError`.
    """

    def __init__(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1,
                                                           thread_name_prefix="tts")
        self._engine = None
        self._espeak = None
        self._driver = None
        self._voice: str | None = None
        self._rate: int | None = None
        # (text, settings) -> Speech; touched only on the worker thread
        self._cache: OrderedDict[tuple[str, VoiceSettings], Speech] = OrderedDict()
        self._cached_samples = 0
        self.cache_hits = 0
        self._init = self._pool.submit(self._load)

    # --- worker-thread side -------------------------------------------------
    def _load(self) -> None:
        try:
            import pyttsx3
            from pyttsx3.drivers import _espeak
            engine = pyttsx3.init("espeak")
        except Exception as exc:  # ImportError, OSError (no libespeak-ng), RuntimeError
            raise TtsError(f"no speech engine ({type(exc).__name__}: {exc}); "
                           "install the Debian package espeak-ng") from None
        self._engine = engine  # keep a strong ref: pyttsx3 caches engines weakly
        atexit.register(self._release)
        self._driver = engine.proxy._driver
        self._espeak = _espeak
        # Our callback replaces the driver's (which would write a temp WAV).
        _espeak.SetSynthCallback(self._on_synth)
        self._driver.setProperty("volume", 1.0)  # gain is applied by us
        self._chunks: list[bytes] = []

    def _release(self) -> None:
        """Drop the engine while the interpreter is still whole (pyttsx3's
        finalizer otherwise fails noisily at shutdown)."""
        self._engine = self._driver = None
        gc.collect()

    def _on_synth(self, wav, numsamples, events) -> int:
        if numsamples > 0 and wav:
            self._chunks.append(ctypes.string_at(wav, numsamples * 2))
        return 0

    def _configure(self, settings: VoiceSettings) -> None:
        if settings.voice != self._voice and settings.voice:
            voice_id = resolve_voice(settings.voice, self._voices(), self._variants())
            try:
                self._driver.setProperty("voice", voice_id)
            except ValueError as exc:
                raise TtsError(f"espeak-ng could not load voice {voice_id!r}") from exc
            self._voice = settings.voice
            self._rate = None  # espeak resets the rate with the voice
        if settings.rate != self._rate:
            self._driver.setProperty("rate", int(settings.rate))
            self._rate = settings.rate

    def _synth_sentence(self, sentence: str) -> np.ndarray:
        espeak = self._espeak
        self._chunks = []
        rc = espeak.Synth(sentence.encode("utf-8"), flags=espeak.ENDPAUSE | espeak.CHARS_UTF8)
        if rc != 0:
            raise TtsError(f"espeak-ng could not synthesize (code {rc})")
        espeak.Synchronize()  # retrieval mode is asynchronous; wait for the last buffer
        return np.frombuffer(b"".join(self._chunks), dtype=np.int16).copy()

    def _synth(self, text: str, settings: VoiceSettings) -> Speech:
        key = (text, settings)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            self.cache_hits += 1
            return cached
        self._configure(settings)
        parts = [self._synth_sentence(s) for s in split_sentences(text)]
        samples = apply_volume(join_with_pauses(parts, ESPEAK_RATE, settings.sentence_pause),
                               settings.volume)
        samples.flags.writeable = False  # shared by every caller that asks for this text
        speech = Speech(samples, ESPEAK_RATE, text)
        self._remember(key, speech)
        return speech

    def _remember(self, key: tuple[str, VoiceSettings], speech: Speech) -> None:
        """Keep ``speech`` for reuse within CACHE_SECONDS of audio (least recently used go first)."""
        limit = int(CACHE_SECONDS * ESPEAK_RATE)
        size = len(speech.samples)
        if size > limit:
            return
        self._cache[key] = speech
        self._cached_samples += size
        while self._cached_samples > limit:
            _, old = self._cache.popitem(last=False)
            self._cached_samples -= len(old.samples)

    def _voices(self) -> list[tuple[str, str, str]]:
        out = []
        for v in self._driver.getProperty("voices"):
            langs = ",".join(v.languages or [])
            out.append((v.id, v.name, langs))
        return out

    def _variants(self) -> set[str]:
        """espeak-ng's voice variants ("f3", "m3", ...), which pyttsx3 does not list."""
        spec = self._espeak.VOICE()
        spec.languages = b"variant"
        found = set()
        for v in self._espeak.ListVoices(spec):
            ident = (v.identifier or b"").decode("utf-8", "replace")
            found.add(ident.rsplit("/", 1)[-1])
        return found

    # --- caller side --------------------------------------------------------
    def ready(self, timeout: float | None = 10.0) -> None:
        """Wait for the engine; raises TtsError when it cannot work here."""
        self._init.result(timeout)

    def synthesize(self, text: str, settings: VoiceSettings = VoiceSettings(),
                   timeout: float | None = 30.0) -> Speech:
        """Synthesize ``text`` into memory (blocks; safe from any thread)."""
        self.ready()
        return self._pool.submit(self._synth, text, settings).result(timeout)

    def submit(self, text: str, settings: VoiceSettings) -> concurrent.futures.Future:
        """Start synthesizing in the background (e.g. the next prompt)."""
        return self._pool.submit(self._synth, text, settings)

    def voices(self) -> list[tuple[str, str, str]]:
        """(id, name, languages) for every installed espeak-ng voice."""
        self.ready()
        return self._pool.submit(self._voices).result(10.0)

    def variants(self) -> set[str]:
        """The installed espeak-ng variants (the friendly voices need some)."""
        self.ready()
        return self._pool.submit(self._variants).result(10.0)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def resolve_voice(spec: str, voices: list[tuple[str, str, str]], variants: Collection[str] | None = None) -> str:
    """Find a voice by friendly name ("female", "male", "calm"), id
    ("gmw/en-us"), short id or language ("en-us"), or a piece of its name
    ("scotland"), optionally with an espeak-ng variant ("en-gb+f2"); one
    clear error when none or several fit. ``variants`` are the installed
    espeak-ng variants (None: not checked)."""
    want = spec.strip().lower()
    if want in FRIENDLY_VOICES:
        return _friendly_voice(want, voices, variants)
    base, plus, variant = want.partition("+")
    if plus:
        known = {v.lower(): v for v in variants} if variants is not None else {variant: variant}
        if variant not in known:
            raise TtsError(f"no voice variant matches {variant!r}; espeak-ng --voices=variant lists them")
        return f"{resolve_voice(base, voices)}+{known[variant]}"
    for key in (lambda v: v[0].lower(), lambda v: v[0].lower().rsplit("/", 1)[-1],
                lambda v: v[2].lower(), lambda v: v[1].lower()):
        exact = [v for v in voices if key(v) == want]
        if exact:
            return exact[0][0]
    partial = [v for v in voices if want in v[0].lower() or want in v[1].lower()]
    if len(partial) == 1:
        return partial[0][0]
    if not partial:
        raise TtsError(f"no voice matches {spec!r}; see --list-voices")
    names = ", ".join(v[0] for v in partial[:6])
    raise TtsError(f"voice {spec!r} is ambiguous ({names}{', ...' if len(partial) > 6 else ''}); "
                   "give the full id from --list-voices")


def _friendly_voice(name: str, voices: list[tuple[str, str, str]], variants: Collection[str] | None) -> str:
    language, variant, _ = FRIENDLY_VOICES[name]
    try:
        base = resolve_voice(language, voices)
    except TtsError:
        raise TtsError(f"the {name} voice needs espeak-ng's {language} voice, which is not installed; "
                       "install the Debian package espeak-ng-data or choose one from --list-voices") from None
    if variants is not None and variant not in variants:
        raise TtsError(f"the {name} voice needs espeak-ng's {variant} variant, which is not installed; "
                       "install the Debian package espeak-ng-data or choose one from --list-voices")
    return f"{base}+{variant}"


_shared: EspeakSynth | None = None


def shared_synth() -> EspeakSynth:
    """The process-wide synthesizer (libespeak-ng initializes once per process)."""
    global _shared
    if _shared is None:
        _shared = EspeakSynth()
    return _shared


def synthesize(text: str, settings: VoiceSettings = VoiceSettings()) -> tuple[np.ndarray, int]:
    """Text -> (int16 mono samples, sample rate). For benchmarks and tests."""
    speech = shared_synth().synthesize(text, settings)
    return speech.samples, speech.rate


def _is_english(voice: tuple[str, str, str]) -> bool:
    return any(lang == "en" or lang.startswith("en-") for lang in voice[2].split(","))


def friendly_name(voice: tuple[str, str, str]) -> str:
    """"American English" for espeak-ng's "English (America)"; other names as they are."""
    name = voice[1]
    inside = name[len("English ("):-1] if name.startswith("English (") and name.endswith(")") else None
    if inside is None:
        return name
    place, _, rest = inside.partition(", ")
    known = ENGLISH_NAMES.get(place)
    if known is None:
        return f"English, {inside}"
    return f"{known}, {rest}" if rest else known


def english_voices(voices: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The English voices, American and British first."""
    first = [lang for lang, _, _ in FRIENDLY_VOICES.values()] + ["en-gb"]

    def order(v: tuple[str, str, str]) -> tuple[int, str]:
        langs = v[2].split(",")
        return (min((first.index(lang) for lang in langs if lang in first), default=len(first)), v[0])

    return sorted((v for v in voices if _is_english(v)), key=order)


def format_voices(voices: list[tuple[str, str, str]], variants: Collection[str] | None = None) -> str:
    """``--list-voices``: the friendly names, then English voices, then the rest."""
    english = english_voices(voices)
    others = [v for v in voices if not _is_english(v)]
    lines = ["Friendly names (--voice NAME):"]
    for name, (language, variant, description) in FRIENDLY_VOICES.items():
        try:
            voice_id = _friendly_voice(name, voices, variants)
        except TtsError:
            voice_id = f"(not installed: needs {language}+{variant})"
        lines.append(f"  {name:<8} {description:<44} {voice_id}")
    lines += ["", "English voices (--voice ID or LANGUAGE):"]
    lines += [f"  {vid:<24} {friendly_name((vid, name, langs)):<40} {langs}" for vid, name, langs in english]
    if others:
        lines += ["", "Other languages:"]
        lines += [f"  {vid:<24} {name:<40} {langs}" for vid, name, langs in others]
    return "\n".join(lines)
