"""Client-wide pacing: at most N requests a second, shared by every call and bulk chunk."""

from __future__ import annotations

import anyio

from ._exceptions import ValidationError

__all__ = ["Pacer"]


class Pacer:
    """Spaces requests ``1 / rate`` seconds apart, in the order they ask.

    Each request reserves the next free instant before it waits, with no await in between,
    so concurrent tasks never take the same instant and no lock is needed. Time is the event
    loop's clock (:func:`anyio.current_time`), so tests can run it on a mock clock.
    """

    def __init__(self, requests_per_second: float) -> None:
        if not requests_per_second > 0:
            raise ValidationError(f"requests_per_second must be > 0, got {requests_per_second}")
        self.interval = 1.0 / requests_per_second
        self._next = float("-inf")

    async def wait(self) -> None:
        """Return when this request may go."""
        now = anyio.current_time()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            await anyio.sleep_until(slot)
