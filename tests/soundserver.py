"""A real PulseAudio sound server with virtual devices, for sound tests.

Per the speech-stack notes: a private XDG_RUNTIME_DIR, a null sink
``speaker`` (what the program says; record it from ``speaker.monitor``), a
null sink ``micfeed`` (the tests play answers into it) and a remapped source
``mic`` on ``micfeed.monitor`` (the program's microphone). Unloading the
``mic`` module takes the microphone away mid-session, as unplugging would.

Audio moves through pipes (``pacat``/``parec`` raw s16le), never through
files. Import the ``sound_server`` fixture into a test module with
``from tests.soundserver import sound_server  # noqa: F401``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

RATE = 16000
DEBUG_ARGS: tuple = ()
MIC_ARGS = "source_name=mic master=micfeed.monitor"
ENV_KEYS = ("XDG_RUNTIME_DIR", "PULSE_RUNTIME_PATH", "PULSE_SOURCE", "PULSE_SINK")


def tools_available() -> bool:
    return all(shutil.which(t) for t in ("pulseaudio", "pactl", "pacat", "parec"))


class Recorder:
    """Records ``speaker.monitor`` into memory, with the arrival time of each chunk."""

    def __init__(self, env: dict) -> None:
        self._proc = subprocess.Popen(
            ["parec", "--device=speaker.monitor", "--format=s16le", f"--rate={RATE}",
             "--channels=1", "--latency-msec=20"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        self.started = time.monotonic()
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        while True:
            data = self._proc.stdout.read1(3200) if self._proc.stdout else b""
            if not data:
                return
            with self._lock:
                self._chunks.append(data)

    def samples(self) -> np.ndarray:
        with self._lock:
            raw = b"".join(self._chunks)
        raw = raw[: len(raw) // 2 * 2]
        return np.frombuffer(raw, dtype=np.int16)

    def seconds(self) -> float:
        return len(self.samples()) / RATE

    def stop(self) -> np.ndarray:
        self._proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(5)
        self._thread.join(2)
        return self.samples()


def active_windows(samples: np.ndarray, window: float = 0.05, threshold: int = 300) -> np.ndarray:
    """Boolean per ``window`` seconds: is there sound (RMS above threshold)?"""
    n = int(window * RATE)
    k = len(samples) // n
    if k == 0:
        return np.zeros(0, dtype=bool)
    frames = samples[: k * n].astype(np.float32).reshape(k, n)
    return np.sqrt((frames ** 2).mean(axis=1)) > threshold


def sound_spans(samples: np.ndarray, gap: float = 0.9, window: float = 0.05,
                threshold: int = 300) -> list[tuple[float, float]]:
    """(start, end) seconds of stretches of sound, merging gaps shorter than ``gap``."""
    active = active_windows(samples, window, threshold)
    spans: list[tuple[float, float]] = []
    for i, on in enumerate(active):
        if not on:
            continue
        t = i * window
        if spans and t - spans[-1][1] <= gap:
            spans[-1] = (spans[-1][0], t + window)
        else:
            spans.append((t, t + window))
    return spans


@dataclass
class SoundServer:
    """Handle on the running server: env for child processes, helpers."""

    runtime_dir: Path
    env: dict
    mic_module: int | None = None
    _players: list = field(default_factory=list)

    def pactl(self, *args: str) -> str:
        return subprocess.run(["pactl", *args], env=self.env, check=True,
                              capture_output=True, text=True, timeout=10).stdout.strip()

    def play_into_mic(self, pcm: bytes, wait: bool = True) -> subprocess.Popen:
        """Play 16 kHz int16 mono PCM into the virtual microphone."""
        proc = subprocess.Popen(
            ["pacat", "--playback", "--device=micfeed", "--format=s16le", f"--rate={RATE}",
             "--channels=1", "--latency-msec=20"],
            stdin=subprocess.PIPE, stderr=subprocess.DEVNULL, env=self.env)
        assert proc.stdin is not None
        proc.stdin.write(pcm)
        proc.stdin.close()
        if wait:
            proc.wait(30)
        else:
            self._players.append(proc)
        return proc

    def record_speaker(self) -> Recorder:
        return Recorder(self.env)

    def remove_mic(self) -> None:
        """Take the microphone away (as unplugging a USB microphone would)."""
        assert self.mic_module is not None
        self.pactl("unload-module", str(self.mic_module))
        self.mic_module = None

    def restore_mic(self) -> None:
        self.mic_module = int(self.pactl("load-module", "module-remap-source",
                                         *MIC_ARGS.split()))

    def pin_mic(self) -> None:
        """Make ``mic`` a chosen, non-default source, so clients pinned to it
        (``PULSE_SOURCE=mic`` in ``env``) lose their stream when it goes.

        PulseAudio 16 treats a stream on the default source as following the
        default and moves it to a monitor source instead (it would then hear
        the assistant itself); a pinned stream is killed, as when a chosen
        USB microphone is unplugged (with ``rescue-streams = no``).
        """
        self.pactl("set-default-source", "micfeed.monitor")

    def sources(self) -> str:
        return self.pactl("list", "short", "sources")


def _start(runtime_dir: Path) -> SoundServer:
    env = dict(os.environ)
    env.update(XDG_RUNTIME_DIR=str(runtime_dir),
               PULSE_RUNTIME_PATH=str(runtime_dir / "pulse"),
               # Pin clients to the virtual mic, so a missing mic is missing
               # (PulseAudio would otherwise fall back to a monitor source).
               PULSE_SOURCE="mic", PULSE_SINK="speaker")
    env.pop("PULSE_SERVER", None)
    # No stream rescue: when the mic goes, its streams die instead of being
    # moved to a monitor source (which would hear the assistant itself).
    conf = runtime_dir / "daemon.conf"
    conf.write_text("rescue-streams = no\n")
    subprocess.run(
        ["pulseaudio", "-D", "-n", "--exit-idle-time=-1", "--disallow-exit=true",
         "--log-target=stderr", "--log-level=error", *DEBUG_ARGS,
         "--load=module-native-protocol-unix auth-anonymous=1",
         "--load=module-null-sink sink_name=speaker",
         "--load=module-null-sink sink_name=micfeed",
         f"--load=module-remap-source {MIC_ARGS}",
         "--load=module-always-sink"],
        env={**env, "PULSE_CONFIG": str(conf)}, check=True, capture_output=True, timeout=20)
    server = SoundServer(runtime_dir, env)
    for _ in range(100):
        try:
            server.pactl("info")
            break
        except subprocess.CalledProcessError:
            time.sleep(0.05)
    server.pactl("set-default-source", "mic")
    server.pactl("set-default-sink", "speaker")
    for line in server.pactl("list", "short", "modules").splitlines():
        parts = line.split("\t")
        if len(parts) > 1 and parts[1] == "module-remap-source":
            server.mic_module = int(parts[0])
    return server


def _stop(server: SoundServer) -> None:
    for proc in server._players:
        with contextlib.suppress(Exception):
            proc.kill()
    subprocess.run(["pulseaudio", "--kill"], env=server.env, capture_output=True, timeout=10)


def use_in_process(server: SoundServer) -> None:
    """Point this process's PortAudio at the server and rescan devices
    (PortAudio lists devices once, when it initializes)."""
    for key in ENV_KEYS:
        os.environ[key] = server.env[key]
    import sounddevice as sd
    sd._terminate()
    sd._initialize()


@pytest.fixture(scope="module")
def sound_server():
    """A running PulseAudio with speaker, micfeed and mic; stopped afterwards."""
    if not tools_available():
        pytest.fail("PulseAudio tools missing: apt install pulseaudio pulseaudio-utils "
                    "libasound2-plugins")
    saved = {k: os.environ.get(k) for k in ENV_KEYS}
    runtime_dir = Path(tempfile.mkdtemp(prefix="pulse-test-"))
    server = _start(runtime_dir)
    try:
        yield server
    finally:
        _stop(server)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(runtime_dir, ignore_errors=True)
