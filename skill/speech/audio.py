"""Sound devices: choosing them, a microphone stream, an interruptible player.

Everything goes through ``sounddevice`` (PortAudio). The module is imported
lazily by :func:`load_sounddevice` so a missing PortAudio library becomes one
clear line instead of a traceback at import time. Device choice and
resampling are pure functions; the two stream classes are the thin shell.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

RECOGNIZER_RATE = 16000
BLOCK_SECONDS = 0.1


class AudioError(Exception):
    """A sound problem the user can fix; the message is one clear line."""


class MicLost(AudioError):
    """The microphone went away mid-session (unplugged, server restarted...)."""


class Microphone(Protocol):
    """What the voice loop needs from a microphone (:class:`MicStream`, or a fake in tests)."""

    def open(self) -> None:
        """Start capturing; raises :class:`MicLost` when there is no microphone."""

    def read(self, timeout: float = 0.5) -> bytes | None:
        """The next block of 16 kHz int16 mono PCM, or None after ``timeout`` seconds; raises MicLost."""

    def close(self) -> None:
        """Stop capturing (safe to call twice)."""


class Speaker(Protocol):
    """What the voice loop needs from a player (:class:`Player`, or a fake in tests)."""

    @property
    def busy(self) -> bool:
        """True while sound is playing."""

    @property
    def ended_at(self) -> float:
        """The monotonic time at which the last sound ended."""

    def play(self, samples: np.ndarray, rate: int) -> None:
        """Start playing int16 ``samples`` (returns at once); raises :class:`AudioError`."""

    def append(self, samples: np.ndarray, rate: int) -> bool:
        """Queue ``samples`` after what is playing; False when that cannot be done gaplessly."""

    def stop(self) -> None:
        """Cut the sound off now."""

    def close(self) -> None:
        """Release the device."""


def load_sounddevice():
    """Import sounddevice, turning a missing PortAudio into a clear message."""
    try:
        import sounddevice
    except OSError as exc:
        raise AudioError("the PortAudio library is missing: install the Debian package "
                         "libportaudio2 (sudo apt install libportaudio2), or use --text") from exc
    return sounddevice


@dataclass(frozen=True)
class Device:
    """One PortAudio device as the user sees it."""

    index: int
    name: str
    inputs: int
    outputs: int
    default_rate: float
    hostapi: str = ""


def query_devices(sd) -> list[Device]:
    """All devices PortAudio knows, as plain data."""
    try:
        apis = [a["name"] for a in sd.query_hostapis()]
    except Exception:  # pragma: no cover - defensive, PortAudio quirks
        apis = []
    out = []
    for i, d in enumerate(sd.query_devices()):
        api = apis[d["hostapi"]] if d.get("hostapi", -1) < len(apis) else ""
        out.append(Device(i, d["name"], int(d["max_input_channels"]),
                          int(d["max_output_channels"]), float(d["default_samplerate"]), api))
    return out


def format_devices(devices: list[Device], default_in: int | None = None,
                   default_out: int | None = None) -> str:
    """A table for ``--list-devices``; '>' marks the default input, '<' the output."""
    if not devices:
        return "No sound devices found."
    lines = []
    for d in devices:
        mark = (">" if d.index == default_in else " ") + ("<" if d.index == default_out else " ")
        kinds = ", ".join(k for k, n in (("in", d.inputs), ("out", d.outputs)) if n) or "-"
        lines.append(f"{mark} {d.index:>3}  {d.name}  ({kinds}, {d.default_rate:g} Hz"
                     f"{', ' + d.hostapi if d.hostapi else ''})")
    lines.append("(> default input, < default output)")
    return "\n".join(lines)


def resolve_device(spec: str | int | None, kind: str, devices: list[Device]) -> int | None:
    """Turn ``--input-device``/``--output-device`` into a PortAudio index.

    ``spec`` is an index or a piece of the name (case-insensitive); None means
    the system default. ``kind`` is "input" or "output". Raises AudioError with
    one line for unknown, ambiguous or wrong-direction devices.
    """
    if spec is None or str(spec).strip() == "":
        return None
    channels = (lambda d: d.inputs) if kind == "input" else (lambda d: d.outputs)
    other = "output" if kind == "input" else "input"
    text = str(spec).strip()
    if text.lstrip("-").isdigit():
        idx = int(text)
        match = [d for d in devices if d.index == idx]
        if not match:
            raise AudioError(f"there is no sound device number {idx}; see --list-devices")
        if not channels(match[0]):
            raise AudioError(f"device {idx} ({match[0].name}) is {other}-only; "
                             f"choose an {kind} device from --list-devices")
        return idx
    want = text.casefold()
    named = [d for d in devices if want in d.name.casefold()]
    usable = [d for d in named if channels(d)]
    exact = [d for d in usable if d.name.casefold() == want]
    if len(exact) == 1:
        return exact[0].index
    if len(usable) == 1:
        return usable[0].index
    if not named:
        raise AudioError(f"no sound device matches {text!r}; see --list-devices")
    if not usable:
        raise AudioError(f"{named[0].name!r} is {other}-only; "
                         f"choose an {kind} device from --list-devices")
    names = "; ".join(f"{d.index}: {d.name}" for d in usable)
    raise AudioError(f"{text!r} matches several {kind} devices ({names}); "
                     "give the number or a longer name")


def lowpass_taps(src: int, dst: int, ntaps: int = 63) -> np.ndarray:
    """A windowed-sinc low-pass FIR at 0.45 x the target rate (anti-aliasing
    for downsampling; numpy only, no scipy)."""
    cutoff = 0.45 * dst / src  # cycles per input sample
    n = np.arange(ntaps) - (ntaps - 1) / 2
    taps = 2 * cutoff * np.sinc(2 * cutoff * n) * np.hamming(ntaps)
    return (taps / taps.sum()).astype(np.float32)


def resample(samples: np.ndarray, src: int, dst: int) -> np.ndarray:
    """One-shot resampling of int16 mono (linear interpolation, after a
    low-pass filter when going down). Good enough for speech and chimes."""
    if src == dst or len(samples) == 0:
        return samples
    x = samples.astype(np.float32)
    if dst < src:
        x = np.convolve(x, lowpass_taps(src, dst), mode="same")
    n_out = int(round(len(x) * dst / src))
    pos = np.arange(n_out) * (src / dst)
    y = np.interp(pos, np.arange(len(x)), x)
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)


class StreamResampler:
    """Resample a stream of int16 blocks to 16 kHz, keeping state between
    blocks so there are no clicks at block edges."""

    def __init__(self, src: int, dst: int = RECOGNIZER_RATE) -> None:
        self.src, self.dst = int(src), int(dst)
        self.step = self.src / self.dst
        self._taps = lowpass_taps(self.src, self.dst) if self.dst < self.src else None
        self._hist = np.zeros(0 if self._taps is None else len(self._taps) - 1, dtype=np.float32)
        self._primed = False
        self._buf = np.zeros(0, dtype=np.float32)
        self._pos = 0.0

    def process(self, block: np.ndarray) -> np.ndarray:
        if self.src == self.dst:
            return block.astype(np.int16)
        x = block.astype(np.float32)
        if self._taps is not None:
            padded = np.concatenate([self._hist, x])
            filt = np.convolve(padded, self._taps, mode="valid")
            self._hist = padded[-(len(self._taps) - 1):]
            if not self._primed:  # align with the one-shot filter's delay
                filt = filt[(len(self._taps) - 1) // 2:]
                self._primed = True
            x = filt
        buf = np.concatenate([self._buf, x])
        last = len(buf) - 1
        if last < 1:
            self._buf = buf
            return np.zeros(0, dtype=np.int16)
        n = int(np.floor((last - self._pos) / self.step)) + 1
        pos = self._pos + np.arange(n) * self.step
        y = np.interp(pos, np.arange(len(buf)), buf)
        next_pos = self._pos + n * self.step
        drop = int(np.floor(next_pos))
        self._buf = buf[drop:]
        self._pos = next_pos - drop
        return np.clip(np.round(y), -32768, 32767).astype(np.int16)


def input_rate(sd, device: int | None, wanted: int = RECOGNIZER_RATE) -> int:
    """16 kHz when the device offers it, else the device's own rate."""
    try:
        sd.check_input_settings(device=device, samplerate=wanted, channels=1, dtype="int16")
        return wanted
    except Exception:
        info = sd.query_devices(device if device is not None else sd.default.device[0])
        return int(info["default_samplerate"])


def check_input_available(sd, device: int | None) -> None:
    """Fail early, with a hint, when there is no microphone at all."""
    try:
        if device is None:
            idx = sd.default.device[0]
            if idx is None or idx < 0:
                raise AudioError("no microphone found; plug one in, pick one with "
                                 "--input-device (see --list-devices), or use --text")
            info = sd.query_devices(idx)
        else:
            info = sd.query_devices(device)
    except AudioError:
        raise
    except Exception as exc:
        raise AudioError("no microphone found; plug one in, pick one with --input-device "
                         "(see --list-devices), or use --text") from exc
    if int(info["max_input_channels"]) < 1:
        raise AudioError(f"{info['name']!r} has no microphone input; choose an input device "
                         "from --list-devices, or use --text")


class MicStream:
    """Microphone blocks as 16 kHz int16 mono bytes.

    PortAudio's callback only copies blocks into a queue; :meth:`read` does
    the resampling on the caller's thread. A stream that stops delivering
    (device unplugged) is reported as :class:`MicLost` so the loop can keep
    its place and retry.
    """

    STALL_SECONDS = 2.5
    #: Some servers take a while to deliver the first block (a PulseAudio
    #: null sink renders in 2 s chunks until a client asks for less).
    FIRST_BLOCK_SECONDS = 6.0

    def __init__(self, sd, device: int | None = None, block_seconds: float = BLOCK_SECONDS):
        self.sd = sd
        self.device = device
        self.block_seconds = block_seconds
        self._q: queue.Queue[np.ndarray] = queue.Queue()
        self._stream = None
        self._resampler: StreamResampler | None = None
        self._last_block = 0.0
        self._error: str | None = None
        self._got_block = False
        self.rate = RECOGNIZER_RATE

    def open(self) -> None:
        """Open and start; raises MicLost when the device is not there (yet)."""
        self.close()
        try:
            rate = input_rate(self.sd, self.device)
            self._resampler = StreamResampler(rate)
            self._stream = self.sd.InputStream(
                device=self.device, channels=1, dtype="int16", samplerate=rate,
                blocksize=int(rate * self.block_seconds), latency="low", callback=self._callback,
                finished_callback=self._finished)
            self._stream.start()
        except Exception as exc:
            self._stream = None
            raise MicLost(f"could not open the microphone ({exc})") from None
        self._error = None
        self.rate = rate
        self._last_block = time.monotonic()
        self._got_block = False
        log.info("microphone open at %d Hz", rate)

    def _callback(self, indata, frames, time_info, status) -> None:
        if status.input_overflow:
            log.debug("input overflow")
        self._q.put(indata[:, 0].copy())

    def _finished(self) -> None:
        self._error = self._error or "stream finished"

    def read(self, timeout: float = 0.5) -> bytes | None:
        """One 16 kHz block, or None when none arrived within ``timeout``."""
        try:
            block = self._q.get(timeout=timeout)
        except queue.Empty:
            self._check_alive()
            return None
        self._last_block = time.monotonic()
        self._got_block = True
        return self._resampler.process(block).tobytes()

    def _check_alive(self) -> None:
        stream = self._stream
        if stream is None:
            raise MicLost("the microphone is not open")
        limit = self.STALL_SECONDS if self._got_block else self.FIRST_BLOCK_SECONDS
        stalled = time.monotonic() - self._last_block > limit
        if self._error or not stream.active or stalled:
            raise MicLost("the microphone stopped sending sound")

    def drain(self) -> None:
        """Throw away what was heard so far (e.g. our own voice)."""
        while True:
            try:
                self._q.get_nowait()
            except queue.Empty:
                return

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception as exc:  # the device may already be gone
                log.debug("closing microphone: %s", exc)
        self.drain()


class Player:
    """Plays one buffer at a time; :meth:`stop` silences it at once.

    ``finished`` is set (and ``ended_at`` stamped) when the last sample has
    gone out or playback was stopped: that instant starts the no-input timer.
    """

    def __init__(self, sd, device: int | None = None) -> None:
        self.sd = sd
        self.device = device
        self.finished = threading.Event()
        self.finished.set()
        self.ended_at = time.monotonic()
        self.interrupted = False
        self._stream = None
        self._data = np.zeros(0, dtype=np.int16)
        self._pos = 0
        self._stop = False
        self._draining = False  # the callback has handed out the last sample
        self._stream_rate = 0
        self._lock = threading.Lock()
        self._rate_ok: dict[int, int] = {}

    def _output_rate(self, rate: int) -> int:
        if rate not in self._rate_ok:
            try:
                self.sd.check_output_settings(device=self.device, samplerate=rate,
                                              channels=1, dtype="int16")
                self._rate_ok[rate] = rate
            except Exception:
                info = self.sd.query_devices(self.device if self.device is not None
                                             else self.sd.default.device[1])
                self._rate_ok[rate] = int(info["default_samplerate"])
        return self._rate_ok[rate]

    def play(self, samples: np.ndarray, rate: int) -> None:
        """Start playing (returns at once). Raises AudioError when the output fails."""
        self.stop()
        out_rate = self._output_rate(rate)
        data = resample(samples, rate, out_rate) if out_rate != rate else samples
        with self._lock:
            self._data, self._pos, self._stop, self._draining = data, 0, False, False
            self._stream_rate = out_rate
        self.interrupted = False
        self.finished.clear()
        try:
            self._stream = self.sd.OutputStream(
                device=self.device, channels=1, dtype="int16", samplerate=out_rate,
                blocksize=int(out_rate * 0.05), latency="low", callback=self._callback,
                finished_callback=self._done)
            self._stream.start()
        except Exception as exc:
            self._stream = None
            self._done()
            raise AudioError(f"could not play sound ({exc})") from None

    def append(self, samples: np.ndarray, rate: int) -> bool:
        """Add ``samples`` to what is playing now, with no gap or new stream.

        Why: a reply is played a sentence at a time, and opening a stream per
        sentence added a device-dependent gap on top of the calm pause.
        Returns False when nothing is playing any more (then call :meth:`play`).
        """
        out_rate = self._output_rate(rate)
        data = resample(samples, rate, out_rate) if out_rate != rate else samples
        with self._lock:
            if (self._stream is None or self._stop or self._draining
                    or self.finished.is_set() or out_rate != self._stream_rate):
                return False
            self._data = np.concatenate([self._data, data])
            return True

    def _callback(self, outdata, frames, time_info, status) -> None:
        with self._lock:
            chunk = self._data[self._pos:self._pos + frames]
            self._pos += len(chunk)
            stop = self._stop
            self._draining = len(chunk) < frames
        if stop:
            outdata.fill(0)
            raise self.sd.CallbackAbort
        outdata[:len(chunk), 0] = chunk
        if len(chunk) < frames:
            outdata[len(chunk):].fill(0)
            raise self.sd.CallbackStop

    def _done(self) -> None:
        self.ended_at = time.monotonic()
        self.finished.set()

    @property
    def busy(self) -> bool:
        return not self.finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until playback ends; True when it did."""
        return self.finished.wait(timeout)

    def stop(self) -> None:
        """Stop playing now (barge-in) and release the stream."""
        stream, self._stream = self._stream, None
        if stream is None:
            return
        if not self.finished.is_set():
            self.interrupted = True
        with self._lock:
            self._stop = True
        try:
            stream.abort()
            stream.close()
        except Exception as exc:
            log.debug("closing output: %s", exc)
        if not self.finished.is_set():
            self._done()

    def close(self) -> None:
        self.stop()
