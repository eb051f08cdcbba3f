"""Stop a real program inside a note save, at a known instant, and let it go again.

The program side is ``skill.storage.atomic.pause_for_tests``: when ``AFTERCARE_TEST_SAVE_HOOK``
names a folder, the first save of each process writes its complete temporary
file, announces ``PID TEMPFILE`` on the FIFO ``reached`` and then waits for one
byte on the FIFO ``go``. This side holds both FIFOs open read-write, so no
open ever blocks and no read sees a false end of file: the test waits on
``reached`` with ``select`` (an event, not a sleep) and releases sessions by
writing bytes to ``go``, or signals them while they wait.
"""

from __future__ import annotations

import os
import select
import subprocess
import time
from pathlib import Path

from skill.storage.atomic import TEST_HOOK_ENV

DEADLINE = 120.0  # a guard against a hang only; nothing is timed


class SaveHook:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        for name in ("reached", "go"):
            os.mkfifo(self.folder / name, 0o600)
        self._reached = os.open(self.folder / "reached", os.O_RDWR | os.O_NONBLOCK)
        self._go = os.open(self.folder / "go", os.O_RDWR)
        self._buffer = b""

    @property
    def env(self) -> dict[str, str]:
        return {TEST_HOOK_ENV: str(self.folder)}

    def wait(self, count: int, procs: list[subprocess.Popen] | None = None) -> list[tuple[int, str]]:
        """(pid, temp file) of the next ``count`` sessions to reach the pause.

        Returns fewer when every process in ``procs`` has ended first (the caller
        asserts on that), so a program without the hook fails the test, not hangs it.
        """
        seen: list[tuple[int, str]] = []
        deadline = time.monotonic() + DEADLINE
        while len(seen) < count and time.monotonic() < deadline:
            while b"\n" in self._buffer and len(seen) < count:
                line, self._buffer = self._buffer.split(b"\n", 1)
                pid, path = line.decode().split(" ", 1)
                seen.append((int(pid), path))
            if len(seen) >= count:
                break
            ready, _, _ = select.select([self._reached], [], [], 0.2)
            if ready:
                self._buffer += os.read(self._reached, 65536)
            elif procs and all(p.poll() is not None for p in procs):
                break
        return seen

    def release(self, count: int = 1) -> None:
        os.write(self._go, b"g" * count)

    def close(self) -> None:
        os.close(self._reached)
        os.close(self._go)
