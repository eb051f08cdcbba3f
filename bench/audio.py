"""Synthetic audio for the corpus: espeak-ng speech, sox noise, seeded mixing.

Speech is rendered once per (text, voice, rate) as 16 kHz mono int16; noise
beds are rendered once per kind with sox in repeatable mode; the mix at a
given SNR is computed in numpy from a seeded offset into the bed, so a cached
corpus is bit-for-bit reproducible without storing every mixed copy.
"""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
LEAD_S = 0.3  # silence before the speech, as a microphone would catch it
NOISE_SECONDS = 60

# sox effect chains for each noise kind. "water" imitates a running tap or
# bath filling: band-limited white noise with a fast, shallow tremolo. Every
# bed is high-passed at 50 Hz, as a microphone's DC blocker would: sox's raw
# brown noise is mostly sub-audio drift no microphone delivers.
NOISE_RECIPES: dict[str, list[str]] = {
    "pink": ["synth", str(NOISE_SECONDS), "pinknoise", "highpass", "50"],
    "brown": ["synth", str(NOISE_SECONDS), "brownnoise", "highpass", "50"],
    "water": [
        "synth", str(NOISE_SECONDS), "whitenoise",
        "highpass", "400", "lowpass", "3500", "tremolo", "7", "40",
    ],
}


class AudioToolError(RuntimeError):
    """espeak-ng or sox failed; the message names the command and the fix."""


def _run(cmd: list[str], stdin: bytes | None = None) -> bytes:
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise AudioToolError(f"{cmd[0]} not found: install the Debian package {cmd[0]}") from exc
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise AudioToolError(f"{cmd[0]} failed ({err[-1] if err else proc.returncode})")
    return proc.stdout


def render_speech(text: str, voice: str, rate: int, path: Path) -> None:
    """Speak ``text`` with espeak-ng and store it as 16 kHz mono int16 WAV.

    Text goes in on stdin so nothing in it can be mistaken for an option.
    """
    raw = _run(["espeak-ng", "-v", voice, "-s", str(rate), "--stdin", "--stdout"], text.encode())
    tmp = path.with_suffix(".tmp.wav")
    _run(["sox", "-t", "wav", "-", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(tmp),
          "pad", str(LEAD_S), "0"], raw)
    tmp.replace(path)


def noise_key(kind: str) -> str:
    """File stem for a noise bed; changes with its recipe so a stale cache is never reused."""
    import hashlib
    return f"{kind}-{hashlib.sha1(' '.join(NOISE_RECIPES[kind]).encode()).hexdigest()[:8]}"


def render_noise(kind: str, path: Path) -> None:
    """Render a noise bed with sox in repeatable (-R) mode, normalised to -20 dBFS RMS-ish."""
    tmp = path.with_suffix(".tmp.wav")
    _run(["sox", "-R", "-n", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(tmp),
          *NOISE_RECIPES[kind], "gain", "-n", "-6"])
    tmp.replace(path)


def read_wav(path: Path) -> np.ndarray:
    """Read a 16 kHz mono int16 WAV as float32 in [-1, 1)."""
    with wave.open(str(path), "rb") as w:
        if w.getframerate() != SAMPLE_RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise AudioToolError(f"{path}: expected 16 kHz mono 16-bit; delete the cache and rebuild")
        data = w.readframes(w.getnframes())
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def speech_bounds(speech: np.ndarray, floor_db: float = -45.0) -> tuple[float, float]:
    """(start, end) in seconds of the voiced part of a clean render.

    espeak's output is digitally silent around the words, so a simple
    frame-energy floor relative to the peak finds where speech really ends;
    that instant is the zero point of every latency we report.
    """
    frame = SAMPLE_RATE // 100
    n = len(speech) // frame
    if n == 0:
        return 0.0, 0.0
    frames = speech[: n * frame].reshape(n, frame)
    energy = np.sqrt(np.mean(frames**2, axis=1) + 1e-12)
    thresh = energy.max() * 10 ** (floor_db / 20)
    voiced = np.nonzero(energy > thresh)[0]
    if len(voiced) == 0:
        return 0.0, 0.0
    return voiced[0] * frame / SAMPLE_RATE, (voiced[-1] + 1) * frame / SAMPLE_RATE


def mix(speech: np.ndarray, noise: np.ndarray | None, snr_db: float | None,
        tail_s: float, seed: int) -> np.ndarray:
    """Speech followed by ``tail_s`` of silence, with noise at ``snr_db`` over all of it.

    The SNR is measured against the speech's voiced part, so 10 dB means the
    same thing for a short "yes" as for a long sentence. The noise starts at a
    seeded offset into the bed and runs through the tail, as a real room would.
    Returns int16 PCM.
    """
    total = np.concatenate([speech, np.zeros(int(tail_s * SAMPLE_RATE), dtype=np.float32)])
    if noise is not None and snr_db is not None:
        start, end = speech_bounds(speech)
        voiced = speech[int(start * SAMPLE_RATE): int(end * SAMPLE_RATE)]
        p_speech = float(np.mean(voiced**2)) if len(voiced) else 1e-6
        rng = np.random.default_rng(seed)
        offset = int(rng.integers(0, max(1, len(noise) - len(total))))
        bed = np.resize(noise[offset:], len(total))
        p_noise = float(np.mean(bed**2)) + 1e-12
        total = total + bed * np.sqrt(p_speech / (p_noise * 10 ** (snr_db / 10)))
    return (np.clip(total, -1.0, 32767 / 32768) * 32768).astype("<i2")
