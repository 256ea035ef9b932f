"""Bounds on how long one attempt may take as a whole, cheaply enough for every request.

httpx bounds each read, not a whole answer: a server trickling one byte per read timeout
would hold a request for ever. A timer per request (``asyncio.timeout``) costs about 5% of a
call's CPU (benchmarks/overhead.py, counted in instructions), so on asyncio one timer watches
every attempt of a loop: watching is a dict insert, and the timer re-arms only while attempts
are in flight. Elsewhere (trio, Python 3.10) anyio's cancel scope does the work.
"""

from __future__ import annotations

import asyncio
import sys

__all__ = ["Watchdog"]


class Watchdog:
    """Cancels the asyncio tasks whose attempt outlives *seconds*; one per dialer, attached to
    the asyncio loop that last used it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Watched tasks and when each is due.
        self._due: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._timer: asyncio.TimerHandle | None = None

    def watch(self) -> asyncio.Task[object] | None:
        """Start watching the current task; None when it is not an asyncio task that can be
        watched (then bound the attempt with a cancel scope)."""
        if sys.version_info < (3, 11):  # no Task.uncancel(): no telling our cancel apart
            return None
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no asyncio loop running: trio
            return None
        if task is None:
            return None
        loop = task.get_loop()
        if self._loop is not loop:  # first use, or a new loop: start afresh there
            self._loop, self._due, self._expired, self._timer = loop, {}, set(), None
        self._due[task] = loop.time() + self.seconds
        if self._timer is None:
            self._timer = loop.call_later(self.seconds, self._check)
        return task

    def release(self, task: asyncio.Task[object]) -> bool:
        """Stop watching *task*; True when its time ran out (it was cancelled for that)."""
        self._due.pop(task, None)
        if task not in self._expired:
            return False
        self._expired.discard(task)
        if sys.version_info >= (3, 11):
            # Only our own cancellation is a timeout; any other still cancels the task.
            return task.uncancel() == 0
        return False

    def _check(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        for task, due in list(self._due.items()):
            if due <= now:
                del self._due[task]
                self._expired.add(task)
                task.cancel()
        self._timer = (
            self._loop.call_at(min(self._due.values()), self._check) if self._due else None
        )
