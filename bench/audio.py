"""Synthetic audio for the corpus: speech from three synthesizers, noise, seeded mixing.

Voices come in families: espeak-ng (``en-us``, ``en-gb+f3`` ...: formant
synthesis, kept as the regression row), flite (``flite:awb``, ``flite:rms``,
``flite:slt``, ``flite:kal16``: recorded speakers, statistical and diphone)
and festival (``festival:kal``: a diphone voice). Speech is rendered once per
(text, voice, rate) as 16 kHz mono int16; noise beds are rendered once per
kind (sox in repeatable mode; background speech from the voices themselves);
the mix at a given SNR is computed in numpy from a seeded offset into the
bed, so a cached corpus is reproducible without storing every mixed copy.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
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


# Speech rate is given in words per minute (espeak-ng's unit); flite and
# festival take a duration stretch instead, relative to their own pace.
REFERENCE_RATE = 150

FAMILIES = ("espeak", "flite", "festival")
DEBIAN_PACKAGE = {"espeak-ng": "espeak-ng", "flite": "flite", "text2wave": "festival festvox-kallpc16k",
                  "sox": "sox"}


def family(voice: str) -> str:
    """``flite:slt`` -> flite, ``festival:kal`` -> festival, an espeak-ng voice name -> espeak."""
    head, sep, _ = voice.partition(":")
    return head if sep else "espeak"


class AudioToolError(RuntimeError):
    """A synthesizer or sox failed; the message names the command and the fix."""


def _run(cmd: list[str], stdin: bytes | None = None) -> bytes:
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise AudioToolError(f"{cmd[0]} not found: install the Debian package "
                             f"{DEBIAN_PACKAGE.get(cmd[0], cmd[0])}") from exc
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise AudioToolError(f"{cmd[0]} failed ({err[-1] if err else proc.returncode})")
    return proc.stdout


def synthesize(text: str, voice: str, rate: int) -> bytes:
    """WAV bytes of ``text`` in ``voice`` at ``rate`` words per minute (any sample rate).

    Text never goes on a command line where it could be read as an option:
    espeak-ng and festival read it on stdin, flite from a file.
    """
    fam = family(voice)
    name = voice.partition(":")[2]
    stretch = f"{REFERENCE_RATE / rate:.3f}"
    if fam == "espeak":
        return _run(["espeak-ng", "-v", voice, "-s", str(rate), "--stdin", "--stdout"], text.encode())
    with tempfile.TemporaryDirectory(prefix="bench-tts-") as tmp:
        out = Path(tmp) / "out.wav"
        if fam == "flite":
            src = Path(tmp) / "text.txt"
            src.write_text(text + "\n", encoding="utf-8")
            _run(["flite", "-voice", name, "--setf", f"duration_stretch={stretch}", "-f", str(src),
                  "-o", str(out)])
        elif fam == "festival":
            _run(["text2wave", "-eval", f"(voice_{name}_diphone)",
                  "-eval", f"(Parameter.set 'Duration_Stretch {stretch})", "-o", str(out)], text.encode())
        else:  # pragma: no cover - family() only returns the three
            raise AudioToolError(f"unknown voice family {fam!r}")
        return out.read_bytes()


def render_speech(text: str, voice: str, rate: int, path: Path) -> None:
    """Speak ``text`` and store it as 16 kHz mono int16 WAV with LEAD_S of silence before it."""
    raw = synthesize(text, voice, rate)
    tmp = path.with_suffix(".tmp.wav")
    # -R: sox dithers when it resamples (espeak-ng speaks at 22.05 kHz) with
    # random noise unless told to repeat itself; without it a render differed
    # run to run and a borderline answer could flip.
    _run(["sox", "-R", "-t", "wav", "-", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(tmp),
          "pad", str(LEAD_S), "0"], raw)
    tmp.replace(path)


def noise_key(kind: str) -> str:
    """File stem for a noise bed; changes with its recipe so a stale cache is never reused."""
    return f"{kind}-{hashlib.sha1(' '.join(NOISE_RECIPES[kind]).encode()).hexdigest()[:8]}"


# --------------------------------------------------------------------------
# Background speech ("babble"): other voices talking, as from a film or radio
# --------------------------------------------------------------------------

# Who may talk in the background: never the answer's own voice (see
# babble_talkers). Two conversations overlap: the main one in turns of two
# speakers with overlapping lines, a second one 6 dB quieter behind it.
BABBLE_VOICES = ("flite:slt", "flite:awb", "festival:kal", "en-gb+m3", "en-us+f2")
BABBLE_RATE = 165
BABBLE_SECOND_DB = -6.0


def babble_talkers(voice: str, pool: tuple[str, ...] = BABBLE_VOICES) -> tuple[str, ...]:
    """Four background talkers, none of them the answer's own voice."""
    return tuple(v for v in pool if v != voice)[:4]


def babble_key(talkers: tuple[str, ...], script: tuple[str, ...], seed: int) -> str:
    h = hashlib.sha1(f"{talkers}|{script}|{seed}|{NOISE_SECONDS}|{BABBLE_RATE}|{BABBLE_SECOND_DB}".encode())
    return f"babble-{h.hexdigest()[:10]}"


def _conversation(lines: list[np.ndarray], rng: np.random.Generator, total: int) -> np.ndarray:
    """Lines one after another, each starting between 0.4 s before the previous
    one ends (people talking over each other) and 0.5 s after it."""
    out = np.zeros(total, dtype=np.float32)
    pos = int(rng.integers(0, SAMPLE_RATE))
    i = 0
    while pos < total and lines:
        line = lines[i % len(lines)]
        seg = line[: total - pos]
        out[pos:pos + len(seg)] += seg
        gap = int(rng.uniform(-0.4, 0.5) * SAMPLE_RATE)
        pos = max(pos + SAMPLE_RATE // 2, pos + len(line) + gap)
        i += 1
    return out


def render_babble(talkers: tuple[str, ...], script: tuple[str, ...], seed: int, path: Path,
                  seconds: int = NOISE_SECONDS) -> None:
    """A bed of background speech: two overlapping conversations of (up to)
    two talkers each, every line spoken by a real synthesizer, levelled per
    talker, then normalised like the sox beds. Deterministic for a seed."""
    if len(talkers) < 2:
        raise ValueError("background speech needs at least two talkers")
    rng = np.random.default_rng(seed)
    total = int(seconds * SAMPLE_RATE)
    layers = []
    for layer, pair in enumerate((talkers[0::2], talkers[1::2])):
        lines = []
        order = rng.permutation(len(script))
        for k, idx in enumerate(order):
            voice = pair[k % len(pair)]
            raw = synthesize(script[idx], voice, BABBLE_RATE)
            pcm = _run(["sox", "-R", "-t", "wav", "-", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16",
                        "-t", "raw", "-e", "signed-integer", "-"], raw)
            x = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
            x = x / (float(np.sqrt(np.mean(x ** 2))) + 1e-9)  # every talker equally loud
            lines.append(x)
        bed = _conversation(lines, rng, total)
        layers.append(bed * 10 ** ((BABBLE_SECOND_DB if layer else 0.0) / 20))
    bed = layers[0] + layers[1]
    bed = bed / (float(np.max(np.abs(bed))) + 1e-9) * 0.5
    write_wav(path, bed)


def write_wav(path: Path, x: np.ndarray) -> None:
    """Store float samples in [-1, 1) as 16 kHz mono int16 WAV (atomically)."""
    tmp = path.with_suffix(".tmp.wav")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((np.clip(x, -1.0, 32767 / 32768) * 32768).astype("<i2").tobytes())
    tmp.replace(path)


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

    The synthesizers' output is (nearly) silent around the words, so a simple
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
