"""How many bulk chunks are in flight at once: a fixed number, or ``"auto"``.

With ``"auto"`` the limit follows the service (AIMD, as TCP does):

* it starts at :data:`_INITIAL` (the default fixed concurrency: "auto" starts no slower) and
  grows by one per answer, but only up to one chunk (a quarter, once that is more) above the
  most chunks in flight that the service was seen to hold: a chunk that left with *n* in
  flight and was answered shows room for *n*. Answers read together (the first ones are)
  then cannot send a round's worth at once, and the first refusal (429/503) comes a chunk
  above the service's room;
* that first refusal tells the room: it came with *k* chunks in flight, so *k* is the
  *ceiling*, and the limit drops to *k - 1*, or to the most the service was seen to hold if
  fewer (answers not read yet count as in flight);
* then it grows by one per quiet round (a round: as many answers as the limit) up to just
  below the ceiling, and probes the ceiling only after :data:`_PATIENCE` quiet rounds there;
  each failed probe steps back and doubles that wait (up to :data:`_MAX_PATIENCE` rounds),
  so a steady service sees few refusals. A probe quiet for :data:`_PATIENCE` rounds raises
  the ceiling by one;
* push-back below the ceiling, at a limit quiet for :data:`_PROVEN` rounds, is the service
  having less room now: the limit is multiplied by :data:`_BACKOFF`; at a limit not proven
  yet (a step up), it steps down by one;
* :data:`_SLOW_ROUNDS` rounds in a row whose median answer takes well over the recent floor
  (:data:`_SLOW` times the fastest of the last :data:`_SAMPLES` answers, plus :data:`_SLACK`)
  are push-back too: one slow answer, or one slow round, is a hiccup, not a trend.

Push-back counts once for the chunks sent under one limit: those sent before a step back are
old news. Only answers that come while at least half the limit is in use count for growth: a
trickle of chunks does not talk the limit up to where a burst would meet refusals.
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

#: Where "auto" starts: the default fixed concurrency (from 1, a short upload spent its first
#: rounds well below the service's room).
_INITIAL: Final = 4
#: In slow start, the limit stays at most this many (or a quarter, once more) above the most
#: chunks in flight the service was seen to hold.
_OVERSHOOT: Final = 1
#: The limit is multiplied by this when the service pushes back at a limit that was fine.
_BACKOFF: Final = 0.7
#: An answer slower than _SLOW x the recent floor + _SLACK seconds means the service strains.
_SLOW: Final = 3.0
_SLACK: Final = 0.01
#: Slow rounds in a row that make a trend (one is a hiccup: a GC pause, a busy host).
_SLOW_ROUNDS: Final = 2
#: Answers the floor is the fastest of: more than two rounds at the largest usual limit.
_SAMPLES: Final = 128
#: Quiet rounds at the ceiling's foot before probing it (at first; at most), and quiet rounds
#: at a probe that make it hold. Each probe may cost a refusal: a 120-chunk upload at 6 in
#: flight (20 rounds) probes at most once.
_PATIENCE: Final = 16
_MAX_PATIENCE: Final = 64
#: Quiet rounds that prove a limit fine: refused later, the service has less room.
_PROVEN: Final = 2


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

    __slots__ = ("_limiter", "epoch", "in_flight", "refused")

    def __init__(self, limiter: Limiter, epoch: int) -> None:
        self._limiter = limiter
        #: The limit's generation when the chunk left: push-back from before a cut is old news.
        self.epoch = epoch
        #: Chunks in flight when it left, itself included.
        self.in_flight = 0
        self.refused = False

    def on_refused(self) -> None:
        """One attempt of this chunk was refused (429/503)."""
        self.refused = True
        self._limiter.pushed_back(self)


class Limiter:
    """At most :attr:`limit` chunks in flight; with "auto", the limit adapts."""

    def __init__(self, concurrency: int | None, maximum: int) -> None:
        self.auto = concurrency is None
        self._limit = min(_INITIAL, maximum) if concurrency is None else concurrency
        self._maximum = maximum
        # Made on first use, by the event loop that uses it (asyncio's or trio's).
        self._tokens: anyio.CapacityLimiter | None = None
        self._epoch = 0
        #: Latencies of the answers of this round (sent under the current limit, busy), and
        #: how many answers make it (the limit when it began: in slow start the limit grows
        #: within a round).
        self._round_latencies: list[float] = []
        self._round_size = self._limit
        #: The fewest chunks in flight the service refused (None: none refused yet).
        self._ceiling: int | None = None
        #: In slow start, the most chunks in flight with which one left and was answered.
        self._held = 0
        self._slow_rounds = 0
        #: Quiet rounds in a row at the current limit.
        self._quiet = 0
        self._patience = _PATIENCE
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
        slot = Slot(self, self._epoch)
        await self._capacity.acquire_on_behalf_of(slot)
        slot.in_flight = self._capacity.borrowed_tokens
        return slot

    def release(self, slot: Slot) -> None:
        self._capacity.release_on_behalf_of(slot)

    def answered(self, slot: Slot, seconds: float) -> None:
        """*slot*'s chunk was answered after *seconds* (retries and their waits included)."""
        self._used[self._limit] += 1
        if not self.auto or slot.refused:
            return  # a refused chunk's time includes its Retry-After wait: not a latency
        self._latencies.append(seconds)
        # As TCP does: a limit at most half used when an answer comes (this one included) is
        # not what holds the pace back.
        if slot.epoch != self._epoch or 2 * self._capacity.borrowed_tokens < self._limit:
            return
        if self._ceiling is None:
            self._slow_start_held(slot.in_flight)
        if not self._round_latencies:
            self._round_size = self._limit
        self._round_latencies.append(seconds)
        if len(self._round_latencies) >= self._round_size:
            self._round()

    def _slow_start_held(self, held: int) -> None:
        """A chunk that left with *held* chunks in flight (itself included) was answered."""
        self._held = max(self._held, held)
        if self._limit < self._held + max(_OVERSHOOT, self._held // 4):
            self._set(self._limit + 1)  # one more chunk leaves with each answer

    def pushed_back(self, slot: Slot) -> None:
        """*slot*'s chunk was refused (429/503) while it held its place."""
        if self.auto and slot.epoch == self._epoch:
            self._back_off(self._capacity.borrowed_tokens)

    def _round(self) -> None:
        # One slow answer is a hiccup (a GC pause, a busy host); a slow round is a trend.
        typical = statistics.median(self._round_latencies)
        self._round_latencies.clear()
        if typical > _SLOW * min(self._latencies) + _SLACK:
            self._slow_rounds += 1
            if self._slow_rounds >= _SLOW_ROUNDS:
                self._back_off(self._limit)
            return
        self._slow_rounds = 0
        self._quiet += 1
        limit, ceiling = self._limit, self._ceiling
        if ceiling is None:
            return  # slow start grows by answers, not rounds
        if limit + 1 < ceiling:
            self._set(limit + 1)
        elif self._quiet >= (_PATIENCE if limit >= ceiling else self._patience):
            if limit >= ceiling:  # a probe held: the service has room above the old ceiling
                self._ceiling = limit + 1
                self._patience = _PATIENCE
                self._quiet = 0
            else:
                self._set(limit + 1)  # probe the ceiling

    def _back_off(self, in_flight: int) -> None:
        """The service pushed back with *in_flight* chunks of ours in flight."""
        limit, ceiling = self._limit, self._ceiling
        self._slow_rounds = 0
        self._round_latencies.clear()
        self._epoch += 1
        if ceiling is None:
            # The first push-back tells the service's room: fewer than were in flight. Back
            # to as many as it was seen to hold (answers not read yet count as in flight),
            # then one more per quiet round up to the ceiling's foot.
            self._ceiling = max(1, in_flight)
            self._set(min(in_flight - 1, self._held or in_flight))
        elif limit >= ceiling:
            # A failed probe: back to the ceiling's foot, and probe less often.
            self._patience = min(self._patience * 2, _MAX_PATIENCE)
            self._set(ceiling - 1)
        else:
            # Below the ceiling: a proven limit refused is a service with less room now; one
            # not yet proven (a step up) was one too many.
            proven = self._quiet >= _PROVEN
            self._ceiling = limit
            self._set(int(limit * _BACKOFF) if proven else limit - 1)

    def _set(self, limit: int) -> None:
        self._limit = max(1, min(limit, self._maximum))
        self._quiet = 0
        if self._tokens is not None:
            self._tokens.total_tokens = self._limit
