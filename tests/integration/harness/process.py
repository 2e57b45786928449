"""Child processes in their own process group, output to a file, stopped by PID."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Dict, Optional, Sequence


class Proc:
    """A child process in its own session (process group), output to a file."""

    def __init__(self, argv: Sequence[str], log_path: Path, env: Optional[Dict[str, str]] = None, cwd=None):
        self.argv = list(argv)
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "wb")
        self.popen = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            env=env, cwd=cwd, start_new_session=True,
        )
        self.pid = self.popen.pid
        self.stopped_by_us = False

    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self):
        return self.popen.poll()

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def signal(self, sig) -> None:
        if self.alive():
            os.killpg(self.pid, sig)  # our own session: the group id is our pid

    def terminate(self) -> None:
        """SIGTERM without waiting (stop() then waits): lets several processes shut down at once."""
        if self.alive():
            self.stopped_by_us = True
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 10.0) -> Optional[int]:
        if self.alive():
            self.stopped_by_us = True
            try:
                os.killpg(self.pid, signal.SIGTERM)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(timeout)
            except ProcessLookupError:
                pass
        self._log.close()
        return self.popen.returncode


def tail(text: str, n: int = 60) -> str:
    return "\n".join(text.splitlines()[-n:])
