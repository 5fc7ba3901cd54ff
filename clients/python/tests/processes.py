"""Python OS processes for the fleet tests: a script of this folder run
with this interpreter, its stdout read line by line in the background (each
line kept with the monotonic time it was read), and killed if still alive
when the test ends."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

#: Seconds a line may take to come.
LINE_TIMEOUT_S = 30.0


class ScriptProcess:
    """``python tests/<script> <args…>`` with its stdout lines as they come."""

    def __init__(self, script: str, *args: str, stdin: bool = False) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name(script)), *args],
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.pid = self.process.pid
        #: Every line read so far, with the monotonic time it was read.
        self.lines: list[tuple[float, str]] = []
        self._fresh: queue.Queue[tuple[float, str] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            stamped = (time.monotonic(), line.rstrip("\n"))
            self.lines.append(stamped)
            self._fresh.put(stamped)
        self._fresh.put(None)

    def expect(self, wanted: str, timeout_s: float = LINE_TIMEOUT_S) -> float:
        """Waits for the next line equal to ``wanted`` (skipping others) and
        returns when it was read; fails after ``timeout_s`` or at EOF."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                got = self._fresh.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"process {self.pid}: no line {wanted!r} in {timeout_s} s")
            if got is None:
                raise AssertionError(f"process {self.pid} ended without printing {wanted!r}")
            if got[1] == wanted:
                return got[0]

    def texts(self) -> list[str]:
        """The lines read so far."""
        return [text for _, text in self.lines]

    def send_line(self, line: str) -> None:
        """Writes one line to the process's stdin."""
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def signal(self, signum: signal.Signals) -> None:
        """Sends ``signum``."""
        self.process.send_signal(signum)

    def wait(self, timeout_s: float = LINE_TIMEOUT_S) -> int:
        """Waits for the exit and returns its code."""
        return self.process.wait(timeout_s)

    def kill(self) -> None:
        """SIGKILL if still alive (stopped or not), then reaps it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
