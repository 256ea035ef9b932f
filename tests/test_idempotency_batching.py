"""Single claims made at once share a store transaction (issue 24, the cost of keys): what
each claimer gets is what it would get alone, a key claimed twice at once is claimed once, and
a claimer cancelled meanwhile leaves no key held."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import cast

import anyio
import pytest

from voicenter_dialer import Call, IdempotencyConflict
from voicenter_dialer._converter import call_to_wire
from voicenter_dialer._idempotency import (
    Claimed,
    ClaimResult,
    IdempotencyStore,
    Outcome,
    Settled,
    fingerprint,
    open_idempotency_store,
)
from voicenter_dialer._idempotency_records import Claims, Decision
from voicenter_dialer._journal_records import campaign_digest
from voicenter_dialer._lease_clock import LeaseClock

CAMPAIGN = "BATCHING-CAMPAIGN-0123456789abcdef"
ONE = fingerprint(call_to_wire(CAMPAIGN, Call("972501234567")), campaign_digest(CAMPAIGN))


class Gated:
    """A store's transactions counted, each held until its gate is opened."""

    def __init__(self, store: Claims) -> None:
        self.batches: list[list[str]] = []
        self.gates: list[anyio.Event] = []
        self._attempt = store._attempt
        store._attempt = self.attempt  # type: ignore[method-assign]

        self.held = True
        self._changed = anyio.Event()

    async def attempt(self, claims: Sequence[tuple[str, str]], lease: LeaseClock) -> list[Decision]:
        self.batches.append([key for key, _ in claims])
        gate = anyio.Event()
        self.gates.append(gate)
        changed, self._changed = self._changed, anyio.Event()
        changed.set()
        if self.held:
            await gate.wait()
        return await self._attempt(claims, lease)

    def let_all_run(self) -> None:
        """Every transaction, waiting or to come, runs at once."""
        self.held = False
        for gate in self.gates:
            gate.set()

    async def reached(self, count: int) -> None:
        """Wait until the *count*-th transaction has begun."""
        while len(self.gates) < count:
            await self._changed.wait()

    async def open_next(self, count: int) -> None:
        """Wait for the *count*-th transaction, and let it run."""
        await self.reached(count)
        self.gates[count - 1].set()


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Claims]:
    if request.param == "sqlite":
        spec = str(tmp_path / "keys.sqlite")
    else:
        spec = request.getfixturevalue("postgres_database") + "#keys"
    opened = await open_idempotency_store(spec, wait=0.5, lease_seconds=30)
    assert isinstance(opened, Claims)
    yield opened
    await opened.aclose()


async def test_claims_made_at_once_share_transactions(store: Claims) -> None:
    gated = Gated(store)
    got: dict[str, ClaimResult] = {}

    async def claim(key: str) -> None:
        got[key] = await store.claim(key, ONE)

    async with anyio.create_task_group() as tasks:
        for i in range(50):
            tasks.start_soon(claim, f"lead-{i}")
        await gated.open_next(1)  # the first claimer's alone; the others queue meanwhile
        await gated.open_next(2)

    assert gated.batches == [["lead-0"], [f"lead-{i}" for i in range(1, 50)]]
    assert all(isinstance(got[f"lead-{i}"], Claimed) for i in range(50))
    # Each was taken: claimed again, a key is in flight (waited for 0.5 s, then refused).
    gated.let_all_run()
    with pytest.raises(IdempotencyConflict, match="still being added"):
        await store.claim("lead-7", ONE)


async def test_one_key_claimed_twice_at_once_is_claimed_once(store: Claims) -> None:
    gated = Gated(store)
    got: list[ClaimResult] = []
    first_answered = anyio.Event()

    async def claim() -> None:
        got.append(await store.claim("lead-1", ONE))
        first_answered.set()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(claim)
        tasks.start_soon(claim)
        tasks.start_soon(claim)
        await gated.open_next(1)
        # The two claimers queued meanwhile go in two transactions, not one.
        await gated.open_next(2)
        await first_answered.wait()
        (first,) = got
        assert isinstance(first, Claimed)
        await cast(IdempotencyStore, store).settle(first, Outcome.accepted())
        gated.let_all_run()  # the waiting ones ask again, and find it settled

    assert gated.batches[:3] == [["lead-1"], ["lead-1"], ["lead-1"]]
    assert [type(result) for result in got] == [Claimed, Settled, Settled]


async def test_a_claimer_cancelled_while_its_batch_runs_leaves_no_key_held(
    store: Claims,
) -> None:
    gated = Gated(store)
    got: list[ClaimResult] = []

    async def claim(key: str) -> None:
        got.append(await store.claim(key, ONE))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(claim, "lead-a")
        await gated.reached(1)
        async with anyio.create_task_group() as leader_and_other:
            leader_and_other.start_soon(claim, "lead-b")  # leads the next transaction
            async with anyio.create_task_group() as cancelled:
                cancelled.start_soon(claim, "lead-c")
                await anyio.sleep(0.01)
                gated.gates[0].set()
                await gated.reached(2)
                assert gated.batches[1] == ["lead-b", "lead-c"]
                cancelled.cancel_scope.cancel()  # lead-c's task, its transaction running
            gated.gates[1].set()

    assert len(got) == 2  # lead-a and lead-b; lead-c's task was cancelled
    # lead-c was let go, not left held until its lease runs out: claimed again at once.
    gated.let_all_run()
    assert isinstance(await store.claim("lead-c", ONE), Claimed)


async def test_a_leader_cancelled_mid_transaction_still_answers_the_others(
    store: Claims,
) -> None:
    gated = Gated(store)
    got: list[ClaimResult] = []

    async def claim(key: str) -> None:
        got.append(await store.claim(key, ONE))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(claim, "lead-a")
        await gated.reached(1)
        async with anyio.create_task_group() as leader:
            leader.start_soon(claim, "lead-b")  # will lead the next transaction
            tasks.start_soon(claim, "lead-c")
            await anyio.sleep(0.01)
            gated.gates[0].set()
            await gated.reached(2)
            assert gated.batches[1] == ["lead-b", "lead-c"]
            leader.cancel_scope.cancel()  # lead-b's task, leading a transaction for lead-c
            gated.gates[1].set()

    # lead-c answered by the transaction its cancelled leader ran (the leader's own claim
    # is returned too: its cancellation lands at its next await, as for any claim).
    assert {result.key for result in got} == {"lead-a", "lead-b", "lead-c"}
    assert all(isinstance(result, Claimed) for result in got)
