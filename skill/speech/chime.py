"""A soft two-note chime that marks "I'm listening", generated, never loaded.

Generated with numpy so the program ships no audio files. Sine partials with
a gentle attack and a long exponential decay sound like a small bell rather
than a beep; the second note is a fifth above, rising, which reads as an
invitation to speak.
"""

from __future__ import annotations

import numpy as np

CHIME_RATE = 22050


def _note(freq: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    tone = (np.sin(2 * np.pi * freq * t)
            + 0.3 * np.sin(2 * np.pi * 2 * freq * t)
            + 0.1 * np.sin(2 * np.pi * 3 * freq * t))
    attack = np.minimum(1.0, t / 0.012)
    decay = np.exp(-t * 6.0)
    return tone * attack * decay


def chime(rate: int = CHIME_RATE, volume: float = 0.7, base: float = 660.0) -> np.ndarray:
    """int16 mono samples of the listening chime (about 0.45 s)."""
    first = _note(base, 0.45, rate)
    second = _note(base * 1.5, 0.33, rate)
    offset = int(0.12 * rate)
    out = np.zeros(max(len(first), offset + len(second)))
    out[:len(first)] += first
    out[offset:offset + len(second)] += second
    out /= np.max(np.abs(out))
    fade = int(0.03 * rate)
    out[-fade:] *= np.linspace(1.0, 0.0, fade)  # end on silence: no click
    # Soft: peak at a quarter of full scale before the user's volume.
    return np.round(out * 0.25 * float(volume) * 32767).astype(np.int16)
