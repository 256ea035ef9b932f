"""The one check that a holder whose lease may have lapsed sends nothing.

A lease (of a journal's upload, or of idempotency keys) is confirmed by the store: when it is
taken, renewed, or a fenced write carrying its token succeeds. A lease cannot stop a request
already on the wire, but the holder knows, by its own monotonic clock, when its last
confirmation began: just before each send, if more than the lease period has passed since,
another process may have taken the lease over, and the holder sends nothing. After a SIGSTOP
(or a frozen VM, a long pause) the monotonic clock has moved on, so a woken holder stops even
if its renewal thread has not run yet.

Used by both journal stores and both idempotency key stores (which confirm), and by the send
paths (which check): ``ChunkRunner._send`` and ``add_once``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

from ._exceptions import JournalError

__all__ = ["LeaseClock", "check_leases", "now"]


def now() -> float:
    """This process's monotonic clock: a lease's confirmations and checks are by it alone."""
    return time.monotonic()


class LeaseClock:
    """When a lease this process holds was last confirmed.

    Confirmed from worker and renewal threads, checked on the event loop: a float read or
    written whole. Two confirmations racing may keep the older one: the safe direction.
    """

    def __init__(self, lease: float, lost: Callable[[], JournalError]) -> None:
        self._lease = lease
        # The error the holder raises when it stops: the store's fencing message.
        self._lost = lost
        # Taken before the store is asked for the lease: never later than the store's own
        # start of it.
        self._confirmed = now()

    def fork(self) -> LeaseClock:
        """A clock of its own, confirmed when this one was: for each of several leases taken
        at once (keys claimed in one transaction), which are renewed apart afterwards."""
        return copy.copy(self)

    def begin(self) -> float:
        """The moment a renewal (or fenced write) begins: give it to :meth:`confirm` once the
        store says the lease is still this holder's (the lease runs from no earlier)."""
        return now()

    def confirm(self, began: float) -> None:
        if began > self._confirmed:
            self._confirmed = began

    def age(self, at: float) -> float:
        """How long before *at* (:func:`now`) the last confirmation began."""
        return at - self._confirmed

    def check(self, at: float) -> None:
        """Raise the fencing JournalError when more than a lease period has passed since the
        last confirmation, at *at* (:func:`now`)."""
        if self.age(at) > self._lease:
            raise self._lost()


def check_leases(*clocks: LeaseClock | None) -> None:
    """Just before a send: the fencing JournalError if any of *clocks* (None: no lease) may
    have lapsed; then nothing is sent."""
    at = now()
    for clock in clocks:
        if clock is not None:
            clock.check(at)
