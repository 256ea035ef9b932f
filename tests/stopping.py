"""Stopping a process with SIGSTOP at a chosen moment, for the lease tests (Linux: reads
/proc)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["CAN_STOP", "stop"]

#: Whether this system shows what :func:`stop` looks at.
CAN_STOP = Path("/proc/locks").exists()


def stopped(pid: int) -> bool:
    """Whether every thread of *pid* is stopped (SIGSTOP is delivered asynchronously)."""
    tasks = Path(f"/proc/{pid}/task")
    states = [(task / "stat").read_text().rpartition(")")[2].split()[0] for task in tasks.iterdir()]
    return all(state in ("T", "t") for state in states)


def holds_file_locks(pid: int) -> bool:
    """Whether *pid* holds a POSIX lock on some file (SQLite's, during a transaction)."""
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        for kind in ("READ", "WRITE"):
            if kind in fields and fields[fields.index(kind) + 1] == str(pid):
                return True
    return False


def stop(process: subprocess.Popen[str], ready: Callable[[], bool], timeout: float) -> None:
    """SIGSTOP *process* at a moment *ready()* says, true still once it is stopped, and while
    it holds no file lock: a SQLite journal's holder stopped in the middle of a transaction
    holds SQLite's lock on the file until it runs again (a documented limit: nobody takes
    such an upload over meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not ready():
            time.sleep(0.001)
            continue
        process.send_signal(signal.SIGSTOP)
        while not stopped(process.pid):
            time.sleep(0.001)
        if ready() and not holds_file_locks(process.pid):
            return
        process.send_signal(signal.SIGCONT)
        time.sleep(0.003)
    raise AssertionError("the process was never stopped at the moment asked for")
