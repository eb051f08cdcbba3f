"""Synthetic speech for tests: espeak-ng text -> 16 kHz int16 mono PCM bytes.

Shared by the recognizer, speech-loop and benchmark tests. The WAV files
live only in a temporary directory for the few milliseconds sox needs them
(never in the repo); results are cached in-process because espeak-ng is the
slow part of most speech tests.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SAMPLE_RATE = 16000

VOICES = ("en-us", "en-gb", "en-us+f3", "en-us+m3")


def tools_available() -> bool:
    """True when espeak-ng and sox are both on PATH."""
    return bool(shutil.which("espeak-ng") and shutil.which("sox"))


def _padded_pcm(wav: Path, pad: tuple[float, float]) -> bytes:
    """``wav`` as int16 16 kHz mono PCM, its own quiet trimmed and ``pad`` added.

    espeak-ng and flite add their own quiet (espeak ~0.4 s at the end); it
    is trimmed so ``pad`` is exact and speech_span() gives the true speech end.
    """
    raw = wav.with_suffix(".raw")
    subprocess.run(["sox", str(wav), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16",
                    "-e", "signed-integer", "-t", "raw", str(raw),
                    "silence", "1", "0.01", "-50d", "reverse",
                    "silence", "1", "0.01", "-50d", "reverse",
                    "pad", str(pad[0]), str(pad[1])],
                   check=True, capture_output=True)
    return raw.read_bytes()


@functools.lru_cache(maxsize=512)
def synth(text: str, voice: str = "en-us", rate: int = 150,
          pad: tuple[float, float] = (0.3, 0.6)) -> bytes:
    """Speak ``text`` with espeak-ng and return int16 16 kHz mono PCM.

    ``pad`` adds (leading, trailing) silence in seconds, as a microphone
    would hear before and after an answer.
    """
    with tempfile.TemporaryDirectory(prefix="speech-fixture-") as tmp:
        wav = Path(tmp) / "say.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-w", str(wav), text],
                       check=True, capture_output=True)
        return _padded_pcm(wav, pad)


FLITE_VOICES = ("awb", "rms", "slt", "kal16")


def flite_available() -> bool:
    """True when flite and sox are both on PATH (Debian: apt install flite sox)."""
    return bool(shutil.which("flite") and shutil.which("sox"))


@functools.lru_cache(maxsize=512)
def flite(text: str, voice: str = "slt", pad: tuple[float, float] = (0.3, 0.6),
          folder: str | None = None, rate: int | None = None) -> bytes:
    """Speak ``text`` with a flite voice (not espeak: closer to how people
    sound) and return int16 16 kHz mono PCM with ``pad`` seconds of silence.

    ``folder``: where the WAV is written (a test's tmp_path), else a private
    temporary folder that is removed at once. ``rate``: words per minute, as
    the benchmark sets it (flite's own pace is about 150).
    """
    stretch = ["--setf", f"duration_stretch={150 / rate:.3f}"] if rate else []
    with tempfile.TemporaryDirectory(prefix="speech-fixture-", dir=folder) as tmp:
        wav = Path(tmp) / "say.wav"
        subprocess.run(["flite", "-voice", voice, *stretch, "-t", text, "-o", str(wav)], check=True,
                       capture_output=True)
        return _padded_pcm(wav, pad)


def speak(text: str, voice: str = "en-us", pad: tuple[float, float] = (0.3, 0.6)) -> bytes:
    """espeak-ng for "en-us" and the like, flite for "flite:slt" and the like."""
    if voice.startswith("flite:"):
        return flite(text, voice.split(":", 1)[1], pad)
    return synth(text, voice, pad=pad)


def silence(seconds: float) -> bytes:
    """Digital silence of the given length."""
    return b"\x00\x00" * int(round(seconds * SAMPLE_RATE))


def blocks(pcm: bytes, seconds: float = 0.1) -> list[bytes]:
    """Split PCM into blocks of ``seconds`` (what a microphone stream delivers)."""
    step = int(round(seconds * SAMPLE_RATE)) * 2
    return [pcm[i:i + step] for i in range(0, len(pcm), step)]


def speech_span(pcm: bytes, pad: tuple[float, float] = (0.3, 0.6)) -> tuple[float, float]:
    """(start, end) of the spoken part in seconds, from the known padding."""
    total = len(pcm) / 2 / SAMPLE_RATE
    return pad[0], total - pad[1]


def recognize(recognizer, pcm: bytes, phrases=None, block: float = 0.1,
              tail: float = 1.5):
    """Run one turn: start, feed ``pcm`` then ``tail`` seconds of silence in
    blocks, and return the first Result (or the flushed one)."""
    recognizer.start(phrases)
    for chunk in blocks(pcm + silence(tail), block):
        result = recognizer.feed(chunk)
        if result is not None:
            return result
    return recognizer.flush()


@contextlib.contextmanager
def audit_writes_and_sockets():
    """Collect every file opened for writing and every socket call inside the
    block (PEP 578 audit hook; hooks cannot be removed, so it goes quiet after)."""
    seen: list[str] = []
    active = [True]

    def hook(event, args):
        if not active[0]:
            return
        if event == "open" and len(args) > 1 and isinstance(args[1], str) and any(c in args[1] for c in "wax+"):
            seen.append(f"open {args[0]} {args[1]}")
        elif event.startswith("socket."):
            seen.append(event)

    sys.addaudithook(hook)
    try:
        yield seen
    finally:
        active[0] = False
