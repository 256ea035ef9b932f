"""How many bulk chunks are in flight at once: a fixed number, or ``"auto"``.

With ``"auto"`` the limit follows the service (AIMD, as TCP does):

* it starts at 1 and doubles each quiet round (a round: as many answers as the limit) until
  the service first pushes back: a request refused (429/503), or :data:`_SLOW_ROUNDS`
  rounds in a row whose median answer takes well over the recent floor (:data:`_SLOW` times
  the fastest of the last :data:`_SAMPLES` answers, plus :data:`_SLACK`): one slow answer,
  or one slow round, is a hiccup, not a trend;
* push-back above the highest limit that had a quiet round steps back to that limit, and
  makes the limit pushed back at the *ceiling*; push-back at a limit that was fine is real
  overload, and multiplies the limit by :data:`_BACKOFF`. Either happens at most once for
  the requests sent under one limit;
* then it grows by one per quiet round up to just below the ceiling, and probes the ceiling
  only after a few quiet rounds; each failed probe of the same ceiling doubles that wait (up
  to :data:`_MAX_PATIENCE` rounds), so a steady service sees few refusals.

Only answers sent while at least half the limit was in use count for growth: a trickle of
chunks does not talk the limit up to where a burst would meet refusals.
"""

from __future__ import annotations

import collections
import statistics
from typing import Final, Literal

import anyio

from ._exceptions import ValidationError
from ._validation import integer, shown

__all__ = ["AUTO", "DEFAULT_MAX_CONCURRENCY", "Concurrency", "Limiter", "Slot", "check_concurrency"]

AUTO: Final = "auto"
DEFAULT_MAX_CONCURRENCY: Final = 32
#: A number of chunks in flight, or "auto".
Concurrency = int | Literal["auto"]

#: The limit is multiplied by this when the service pushes back.
_BACKOFF: Final = 0.7
#: An answer slower than _SLOW x the recent floor + _SLACK seconds means the service strains.
_SLOW: Final = 3.0
_SLACK: Final = 0.01
#: Slow rounds in a row that make a trend (one is a hiccup: a GC pause, a busy host).
_SLOW_ROUNDS: Final = 2
#: Answers the floor is the fastest of: more than two rounds at the largest usual limit.
_SAMPLES: Final = 128
#: Quiet rounds before probing the ceiling again, at first and at most.
_PATIENCE: Final = 2
_MAX_PATIENCE: Final = 32


def check_concurrency(concurrency: object, max_concurrency: object) -> tuple[int | None, int]:
    """*concurrency* as a number (None for "auto"), and the checked *max_concurrency*."""
    maximum = integer(max_concurrency, "max_concurrency")
    if maximum < 1:
        raise ValidationError(f"max_concurrency must be at least 1, got {maximum}")
    if concurrency == AUTO:
        return None, maximum
    if isinstance(concurrency, str):
        raise ValidationError(f"concurrency must be a number or 'auto', got {shown(concurrency)}")
    workers = integer(concurrency, "concurrency")
    if workers < 1:
        raise ValidationError(f"concurrency must be at least 1 or 'auto', got {workers}")
    return workers, maximum


class Slot:
    """One chunk's place in flight."""

    __slots__ = ("_limiter", "busy", "epoch", "refused")

    def __init__(self, limiter: Limiter, epoch: int, busy: bool) -> None:
        self._limiter = limiter
        #: The limit's generation when the chunk left: push-back from before a cut is old news.
        self.epoch = epoch
        #: The limit was at least half used when the chunk left: it, not the input, held
        #: the pace.
        self.busy = busy
        self.refused = False

    def on_refused(self) -> None:
        """One attempt of this chunk was refused (429/503)."""
        self.refused = True
        self._limiter.pushed_back(self)


class Limiter:
    """At most :attr:`limit` chunks in flight; with "auto", the limit adapts."""

    def __init__(self, concurrency: int | None, maximum: int) -> None:
        self.auto = concurrency is None
        self._limit = 1 if concurrency is None else concurrency
        self._maximum = maximum
        # Made on first use, by the event loop that uses it (asyncio's or trio's).
        self._tokens: anyio.CapacityLimiter | None = None
        self._epoch = 0
        #: Latencies of the answers of this round (sent under the current limit, busy).
        self._round_latencies: list[float] = []
        self._ceiling: int | None = None
        self._slow_rounds = 0
        #: The highest limit that had a quiet round (since the last real cut).
        self._good = 0
        self._patience = _PATIENCE
        self._waited = 0
        self._latencies: collections.deque[float] = collections.deque(maxlen=_SAMPLES)
        #: Answers per limit they were sent under: what the limit settled on.
        self._used: collections.Counter[int] = collections.Counter()

    @property
    def limit(self) -> int:
        """Chunks allowed in flight now."""
        return self._limit

    @property
    def settled(self) -> int:
        """The limit most chunks were answered under (the fixed one, without "auto")."""
        if not self._used:
            return self._limit
        return self._used.most_common(1)[0][0]

    @property
    def _capacity(self) -> anyio.CapacityLimiter:
        if self._tokens is None:
            self._tokens = anyio.CapacityLimiter(self._limit)
        return self._tokens

    async def acquire(self) -> Slot:
        """Wait for a place in flight."""
        capacity = self._capacity
        # As TCP does: a limit at most half used is not the pace-setter.
        slot = Slot(self, self._epoch, 2 * (capacity.borrowed_tokens + 1) >= self._limit)
        await capacity.acquire_on_behalf_of(slot)
        return slot

    def release(self, slot: Slot) -> None:
        self._capacity.release_on_behalf_of(slot)

    def answered(self, slot: Slot, seconds: float) -> None:
        """*slot*'s chunk was answered after *seconds* (retries and their waits included)."""
        self._used[self._limit] += 1
        if not self.auto or slot.refused:
            return  # a refused chunk's time includes its Retry-After wait: not a latency
        self._latencies.append(seconds)
        if slot.epoch != self._epoch or not slot.busy:
            return
        self._round_latencies.append(seconds)
        if len(self._round_latencies) >= self._limit:
            self._round()

    def pushed_back(self, slot: Slot) -> None:
        if self.auto and slot.epoch == self._epoch:
            self._cut()

    def _round(self) -> None:
        # One slow answer is a hiccup (a GC pause, a busy host); a slow round is a trend.
        typical = statistics.median(self._round_latencies)
        self._round_latencies.clear()
        if typical > _SLOW * min(self._latencies) + _SLACK:
            self._slow_rounds += 1
            if self._slow_rounds >= _SLOW_ROUNDS:
                self._cut()
            return
        self._slow_rounds = 0
        limit, ceiling = self._limit, self._ceiling
        self._good = max(self._good, limit)
        if ceiling is None:
            self._set(limit * 2)
        elif limit + 1 < ceiling:
            self._set(limit + 1)
        else:
            if limit >= ceiling:  # a probe held: the ceiling was lower than the service's room
                self._ceiling = limit + 1
                self._patience = _PATIENCE
            self._waited += 1
            if self._waited >= self._patience:
                self._waited = 0
                self._set(limit + 1)

    def _cut(self) -> None:
        limit, ceiling = self._limit, self._ceiling
        self._waited = self._slow_rounds = 0
        self._round_latencies.clear()
        self._epoch += 1
        self._ceiling = limit
        if limit > self._good:
            # Pushed back while above the last limit that had a quiet round: step back to
            # it, and probe less often when this is the ceiling that failed before.
            same = ceiling is not None and limit >= ceiling
            self._patience = min(self._patience * 2, _MAX_PATIENCE) if same else _PATIENCE
            self._set(self._good)
        else:
            # A limit that was fine is not any more: the service has less room now.
            self._patience = _PATIENCE
            self._set(int(limit * _BACKOFF))
            self._good = self._limit

    def _set(self, limit: int) -> None:
        self._limit = max(1, min(limit, self._maximum))
        if self._tokens is not None:
            self._tokens.total_tokens = self._limit
