"""Fault injection for the fake dialer: deterministic, seeded, per method."""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from typing import Literal, get_args

import attrs

__all__ = ["BEFORE", "FAULTS", "Fault", "Faults"]

Fault = Literal["503", "429", "500", "reset", "truncated", "html", "slow"]
"""What may go wrong with one request.

Before the request is applied (the service never sees it): ``"503"`` and ``"429"``, each
with ``Retry-After``.
After it is applied (the service did the work, the answer is lost or garbled): ``"500"``;
``"reset"``, the connection is dropped without an answer; ``"truncated"``, a 200 whose JSON
body is cut short; ``"html"``, a proxy's 502 HTML error page; ``"slow"``, the answer comes
``slow_seconds`` late (longer than a client's timeout, typically).
"""

FAULTS: frozenset[Fault] = frozenset(get_args(Fault))
#: Faults injected before the request is applied.
BEFORE: frozenset[Fault] = frozenset({"503", "429"})


def _check_rates(_: object, __: object, value: Mapping[Fault, float]) -> None:
    for name, rate in value.items():
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(FAULTS))}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"a fault rate is a probability between 0 and 1, got {rate}")
    if sum(value.values()) > 1.0:
        raise ValueError("fault rates add up to more than 1")


@attrs.define
class Faults:
    """Which faults to inject, how often, into which methods, and how slowly to answer.

    ``rates`` maps a :data:`Fault` to its probability per request (they may add up to at most
    1). ``methods`` limits injection to those API methods (all when None). ``latency`` seconds
    are added to every answer; ``retry_after`` is the Retry-After of 503 and 429 answers;
    ``slow_seconds`` delays a "slow" answer. The same ``seed`` gives the same faults.

    ``capacity`` models a service with room for that many requests at once: a request
    arriving while ``capacity`` others are being served is answered 429 with Retry-After at
    once, without being processed (counted in :attr:`over_capacity`). None: no limit.
    """

    #: Each :data:`Fault`'s probability per request, between 0 and 1 (adding up to at most 1).
    rates: Mapping[Fault, float] = attrs.field(factory=dict, validator=_check_rates)
    #: The API methods faults are injected into (``{"AddCallsBulk"}``); None: all of them.
    methods: frozenset[str] | None = None
    #: Seconds added to every answer.
    latency: float = 0.0
    #: The ``Retry-After`` of 503 and 429 answers, in seconds.
    retry_after: float = 0.0
    #: How late a ``"slow"`` answer comes, in seconds.
    slow_seconds: float = 5.0
    #: The random generator's seed: the same seed gives the same faults.
    seed: int = 0
    #: Requests the service serves at once; one more is answered 429 unprocessed. None: no
    #: limit.
    capacity: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.ge(1))
    )
    _random: random.Random = attrs.field(init=False, repr=False)
    _lock: threading.Lock = attrs.field(init=False, repr=False, factory=threading.Lock)
    #: How many of each fault were injected.
    injected: dict[Fault, int] = attrs.field(init=False, factory=dict)
    #: Requests turned away because ``capacity`` others were being served.
    over_capacity: int = attrs.field(init=False, default=0)
    _serving: int = attrs.field(init=False, default=0, repr=False)

    def __attrs_post_init__(self) -> None:
        self._random = random.Random(self.seed)  # noqa: S311 -- test faults, not crypto

    def admit(self) -> bool:
        """Take a place for one request (call :meth:`leave` after); False when none is free."""
        with self._lock:
            if self.capacity is not None and self._serving >= self.capacity:
                self.over_capacity += 1
                return False
            self._serving += 1
            return True

    def leave(self) -> None:
        """A request admitted by :meth:`admit` is answered: its place is free again."""
        with self._lock:
            self._serving -= 1

    def draw(self, method: str) -> Fault | None:
        """The fault for the next request to *method*, or None."""
        if not self.rates or (self.methods is not None and method not in self.methods):
            return None
        with self._lock:
            roll = self._random.random()
            for fault, rate in self.rates.items():
                if roll < rate:
                    self.injected[fault] = self.injected.get(fault, 0) + 1
                    return fault
                roll -= rate
        return None
