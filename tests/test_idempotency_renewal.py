"""Keys sent without a renewal (claimed a moment before) are renewed while the call is on
its way a third of a lease after they were confirmed, not after the send began: by virtual
time (trio's mock clock), which both the event loop and the leases' clock read."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, cast

import anyio
import pytest
import trio
import trio.testing

from voicenter_dialer import _idempotent_call, _lease_clock
from voicenter_dialer._exceptions import JournalError
from voicenter_dialer._idempotency import Claimed, IdempotencyStore, Outcome
from voicenter_dialer._idempotency_records import Claim, lease_lost
from voicenter_dialer._idempotent_call import KeyStore, add_once
from voicenter_dialer._lease_clock import LeaseClock

LEASE = 30.0
SENDING = LEASE * 0.95
CAMPAIGN = "RENEWAL-CAMPAIGN-0123456789abcdef"


class Store:
    """Claims each key after a round trip of *claiming* seconds (its lease confirmed as it
    began), and records how long after its confirmation each renewal came."""

    description = "recording store"

    def __init__(self, claiming: float) -> None:
        self.claiming = claiming
        self.renewed_after: list[float] = []
        self.settled: list[Outcome] = []

    async def claim(self, key: str, fingerprint: str) -> Claimed:
        clock = LeaseClock(LEASE, lambda: lease_lost(self.description))
        await anyio.sleep(self.claiming)
        return Claimed(key, fingerprint, 1, clock)

    async def renew(self, claims: Sequence[Claim]) -> None:
        at = _lease_clock.now()
        for claim in claims:
            self.renewed_after.append(claim.lease.age(at))
            claim.lease.confirm(at)

    async def settle(self, claim: Claim, outcome: Outcome) -> None:
        self.settled.append(outcome)


class Keys(KeyStore):
    def __init__(self, store: Store) -> None:
        super().__init__(None, ttl=3600, wait=1, lease=LEASE)
        self.store = store

    async def get(self) -> IdempotencyStore:
        return cast(IdempotencyStore, self.store)


def add_slowly(monkeypatch: pytest.MonkeyPatch, store: Store) -> None:
    """One keyed call through *store*, its answer coming after SENDING seconds of trio's
    virtual time (which the leases' clock reads too)."""
    monkeypatch.setattr(_lease_clock, "now", trio.current_time)
    monkeypatch.setattr(_idempotent_call, "now", trio.current_time)

    async def send() -> None:
        await anyio.sleep(SENDING)  # a slow answer

    async def no_targets() -> Collection[str]:
        return ()

    async def main() -> None:
        wire: dict[str, Any] = {"Target": "972501234567"}
        await add_once(Keys(store), "order-1", CAMPAIGN, wire, send, no_targets)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


@pytest.mark.parametrize("claiming", [0.0, LEASE / 3 * 0.9])
def test_a_key_sent_unrenewed_is_renewed_a_third_of_a_lease_after_its_claim(
    monkeypatch: pytest.MonkeyPatch, claiming: float
) -> None:
    store = Store(claiming)
    add_slowly(monkeypatch, store)
    # One a third of a lease after the claim, then after each renewal, until the answer.
    renewals = int((claiming + SENDING) // (LEASE / 3))
    assert store.renewed_after == [pytest.approx(LEASE / 3)] * renewals
    assert store.settled == [Outcome.accepted()]


class Flaky(Store):
    """Fails its first renewal as a store does when its connection drops for a moment."""

    async def renew(self, claims: Sequence[Claim]) -> None:
        if not self.renewed_after:
            self.renewed_after.append(-1.0)  # the failed one
            raise JournalError(f"{self.description}: the connection was lost")
        await super().renew(claims)


class TakenOver(Store):
    """Answers every renewal: the keys were taken over."""

    async def renew(self, claims: Sequence[Claim]) -> None:
        self.renewed_after.append(-1.0)
        raise lease_lost(self.description)


@pytest.mark.parametrize(
    ("kind", "renewals"),
    [
        # The failed renewal is tried again a third of a lease later; the lease, two thirds
        # of it run by then, is renewed in time.
        (Flaky, [-1.0, pytest.approx(LEASE * 2 / 3)]),
        (TakenOver, [-1.0]),  # taken over: no renewal more (the settling says so)
    ],
    ids=["a-failure-passes", "taken-over"],
)
def test_a_failed_renewal_is_tried_again_unless_the_keys_were_taken_over(
    monkeypatch: pytest.MonkeyPatch, kind: type[Store], renewals: list[float]
) -> None:
    store = kind(0.0)
    add_slowly(monkeypatch, store)
    assert store.renewed_after == renewals
