"""Idempotency keys (issue 24): the store's rule, on SQLite and on a real PostgreSQL, in one
process and across real processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from voicenter_dialer import AddResult, Call, IdempotencyConflict, JournalError, ValidationError
from voicenter_dialer._converter import call_to_wire
from voicenter_dialer._idempotency import (
    Claimed,
    IdempotencyStore,
    Outcome,
    Settled,
    Unknown,
    check_key,
    fingerprint,
    open_idempotency_store,
)
from voicenter_dialer._journal_records import campaign_digest

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGN = "IDEMPOTENCY-CAMPAIGN-0123456789abcdef"
ACCOUNT = "ACCOUNT-CODE-fedcba9876543210"
ONE = fingerprint(call_to_wire(CAMPAIGN, Call("972501234567")), campaign_digest(CAMPAIGN))
OTHER = fingerprint(call_to_wire(CAMPAIGN, Call("972501234568")), campaign_digest(CAMPAIGN))


@pytest.fixture(params=["sqlite", "postgres"])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "keys.sqlite")
    database: str = request.getfixturevalue("postgres_database")
    return database + "#keys"


@pytest.fixture
async def store(spec: str) -> AsyncIterator[IdempotencyStore]:
    opened = await open_idempotency_store(spec, wait=0.3, lease_seconds=30)
    yield opened
    await opened.aclose()


# --- fingerprints and keys ----------------------------------------------------------------


def test_a_fingerprint_holds_no_code_and_ignores_credentials() -> None:
    wire = call_to_wire(CAMPAIGN, Call("972501234567", customer_name="Dana"), ACCOUNT)
    print_ = fingerprint(wire, campaign_digest(CAMPAIGN))
    assert CAMPAIGN not in print_
    assert ACCOUNT not in print_
    # The same call sent without the account code is the same call.
    assert print_ == fingerprint(
        call_to_wire(CAMPAIGN, Call("972501234567", customer_name="Dana")),
        campaign_digest(CAMPAIGN),
    )
    # Field order does not matter; the campaign, the number and every field do.
    assert print_ == fingerprint(dict(reversed(list(wire.items()))), campaign_digest(CAMPAIGN))
    assert print_ != fingerprint(wire, campaign_digest("ANOTHER-CAMPAIGN-0123456789"))
    assert print_ != fingerprint({**wire, "CustomerName": "Dan"}, campaign_digest(CAMPAIGN))


def test_a_fingerprint_of_what_json_cannot_hold_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        fingerprint({"Target": object()}, campaign_digest(CAMPAIGN))


@pytest.mark.parametrize("key", ["", "x" * 256, "a\x00b", "\ud83d", 7, None])
def test_bad_keys_are_validation_errors(key: object) -> None:
    with pytest.raises(ValidationError):
        check_key(key)


# --- the rule -----------------------------------------------------------------------------


async def test_a_settled_key_replays_its_outcome(store: IdempotencyStore) -> None:
    claim = await store.claim("order-1", ONE)
    assert isinstance(claim, Claimed)
    result = AddResult(target="972501234567", error_code=5, description="DNC", custom_data={})
    await store.settle(claim, Outcome.rejected(result))
    again = await store.claim("order-1", ONE)
    assert isinstance(again, Settled)
    assert again.outcome.status == "rejected"
    assert again.outcome.result() == result
    accepted = await store.claim("order-2", ONE)
    assert isinstance(accepted, Claimed)
    await store.settle(accepted, Outcome.accepted())
    replay = await store.claim("order-2", ONE)
    assert isinstance(replay, Settled)
    assert replay.outcome.status == "accepted"


async def test_a_failure_is_replayed_as_the_same_error(store: IdempotencyStore) -> None:
    claim = await store.claim("bad", ONE)
    assert isinstance(claim, Claimed)
    await store.settle(claim, Outcome.failed(ValidationError("no such number")))
    again = await store.claim("bad", ONE)
    assert isinstance(again, Settled)
    error = again.outcome.error()
    assert isinstance(error, ValidationError)
    assert error.message == "no such number"


async def test_the_same_key_for_another_call_is_a_conflict(store: IdempotencyStore) -> None:
    claim = await store.claim("order-1", ONE)
    assert isinstance(claim, Claimed)
    with pytest.raises(IdempotencyConflict, match="another call"):
        await store.claim("order-1", OTHER)  # in flight: refused at once, not waited for
    await store.settle(claim, Outcome.accepted())
    with pytest.raises(IdempotencyConflict, match="another call"):
        await store.claim("order-1", OTHER)


async def test_an_unknown_outcome_is_reconciled_before_anything_is_sent(
    store: IdempotencyStore,
) -> None:
    claim = await store.claim("order-1", ONE)
    assert isinstance(claim, Claimed)
    await store.unknown([claim])
    again = await store.claim("order-1", ONE)
    assert isinstance(again, Unknown)
    assert again.token > claim.token
    # Let go without an outcome, it stays unknown for the next one.
    await store.release([again])
    third = await store.claim("order-1", ONE)
    assert isinstance(third, Unknown)
    await store.settle(third, Outcome.accepted())  # found among the pending calls
    replay = await store.claim("order-1", ONE)
    assert isinstance(replay, Settled)
    assert replay.outcome.status == "accepted"


async def test_a_released_key_is_claimed_afresh(store: IdempotencyStore) -> None:
    claim = await store.claim("order-1", ONE)
    assert isinstance(claim, Claimed)
    await store.release([claim])
    again = await store.claim("order-1", OTHER)  # forgotten: even another call may take it
    assert isinstance(again, Claimed)


async def test_a_key_held_elsewhere_is_waited_for_then_a_conflict(
    store: IdempotencyStore, spec: str
) -> None:
    claim = await store.claim("order-1", ONE)
    assert isinstance(claim, Claimed)
    other = await open_idempotency_store(spec, wait=0.3)
    try:
        with anyio.fail_after(20), pytest.raises(IdempotencyConflict, match="still being added"):
            await other.claim("order-1", ONE)
    finally:
        await other.aclose()


async def test_a_key_held_elsewhere_gets_its_outcome_once_settled(
    store: IdempotencyStore, spec: str
) -> None:
    claim = await store.claim("order-1", ONE)
    assert isinstance(claim, Claimed)
    other = await open_idempotency_store(spec, wait=30)
    got: list[object] = []
    try:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tasks:

                async def waiter() -> None:
                    got.append(await other.claim("order-1", ONE))

                tasks.start_soon(waiter)
                await anyio.sleep(0.1)
                await store.settle(claim, Outcome.accepted())
    finally:
        await other.aclose()
    (result,) = got
    assert isinstance(result, Settled)
    assert result.outcome.status == "accepted"


async def test_a_lapsed_lease_is_taken_over_and_its_holder_fenced(spec: str) -> None:
    first = await open_idempotency_store(spec, lease_seconds=0.2)
    second = await open_idempotency_store(spec, lease_seconds=30, wait=20)
    try:
        claim = await first.claim("order-1", ONE)
        assert isinstance(claim, Claimed)
        with anyio.fail_after(20):
            taken = await second.claim("order-1", ONE)  # waits for the lease to run out
        # Its holder may have sent it before it stopped: unknown, never a plain claim.
        assert isinstance(taken, Unknown)
        for write in (
            first.renew([claim]),
            first.settle(claim, Outcome.accepted()),
            first.unknown([claim]),
            first.release([claim]),
        ):
            with pytest.raises(JournalError, match="taken over"):
                await write
        await second.settle(taken, Outcome.accepted())
    finally:
        await first.aclose()
        await second.aclose()


async def test_renewing_keeps_a_lease(spec: str) -> None:
    first = await open_idempotency_store(spec, lease_seconds=0.5)
    second = await open_idempotency_store(spec, wait=1.0)
    try:
        claim = await first.claim("order-1", ONE)
        assert isinstance(claim, Claimed)
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tasks:

                async def renewing() -> None:
                    while True:
                        await first.renew([claim])
                        await anyio.sleep(0.1)

                tasks.start_soon(renewing)
                with pytest.raises(IdempotencyConflict, match="still being added"):
                    await second.claim("order-1", ONE)
                tasks.cancel_scope.cancel()
        await first.settle(claim, Outcome.accepted())
    finally:
        await first.aclose()
        await second.aclose()


async def test_an_expired_key_is_forgotten(spec: str) -> None:
    store = await open_idempotency_store(spec, ttl=0.2)
    try:
        claim = await store.claim("order-1", ONE)
        assert isinstance(claim, Claimed)
        await store.settle(claim, Outcome.accepted())
        await anyio.sleep(0.3)
        again = await store.claim("order-1", OTHER)
        assert isinstance(again, Claimed)
    finally:
        await store.aclose()


async def test_claim_many(store: IdempotencyStore) -> None:
    done = await store.claim("done", ONE)
    assert isinstance(done, Claimed)
    await store.settle(done, Outcome.accepted())
    results = await store.claim_many([("a", ONE), ("done", ONE), ("a", ONE), ("done", OTHER)])
    assert isinstance(results[0], Claimed)
    assert isinstance(results[1], Settled)
    assert isinstance(results[2], IdempotencyConflict)
    assert "twice" in str(results[2])
    assert isinstance(results[3], IdempotencyConflict)
    await store.settle_many([(results[0], Outcome.accepted())])
    assert isinstance(await store.claim("a", ONE), Settled)


async def test_bad_settings_are_validation_errors(tmp_path: Path) -> None:
    settings: list[dict[str, float]] = [
        {"ttl": 0},
        {"wait": -1},
        {"lease_seconds": float("nan")},
        {"lease_seconds": float("inf")},
    ]
    for each in settings:
        with pytest.raises(ValidationError):
            await open_idempotency_store(tmp_path / "keys", **each)


async def test_a_journal_is_not_taken_for_a_store(tmp_path: Path) -> None:
    from voicenter_dialer._journal import open_store

    path = tmp_path / "upload.journal"
    journal = await open_store(path, campaign=CAMPAIGN, chunk_size=10, total=None)
    await journal.aclose()
    before = path.read_bytes()
    with pytest.raises(JournalError, match="not an idempotency store"):
        await open_idempotency_store(path)
    assert path.read_bytes() == before


# --- real processes -----------------------------------------------------------------------


def worker(*args: str, pipes: bool = False) -> subprocess.Popen[str]:
    pipe = subprocess.PIPE if pipes else None
    return subprocess.Popen(
        [sys.executable, "-m", "tests.idempotency_worker", *args],
        cwd=ROOT,
        text=True,
        stdin=pipe,
        stdout=pipe,
    )


def test_two_processes_claiming_the_same_keys_settle_each_once(spec: str, tmp_path: Path) -> None:
    count = 3000
    go = tmp_path / "go"
    outs = [tmp_path / "sent-a", tmp_path / "sent-b"]
    procs = [worker("claim-all", spec, str(count), "250", str(go), str(out)) for out in outs]
    anyio.run(anyio.sleep, 1.0)  # both started and connected (a later start is fine too)
    go.touch()
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    sent = Counter(key for out in outs for key in out.read_text().splitlines())
    assert len(sent) == count  # nobody lost
    assert max(sent.values()) == 1  # nobody dialled twice

    async def all_settled() -> None:
        store = await open_idempotency_store(spec)
        try:
            results = await store.claim_many([(f"key-{i}", "f" * 64) for i in range(count)])
        finally:
            await store.aclose()
        assert all(isinstance(r, Settled) for r in results)

    anyio.run(all_settled)


def test_a_stopped_holder_loses_its_lease_and_is_fenced(spec: str) -> None:
    holder = worker("hold", spec, "order-1", "1.0", pipes=True)
    with holder:
        assert holder.stdout is not None
        assert holder.stdin is not None
        assert holder.stdout.readline().strip() == "claimed"
        holder.send_signal(signal.SIGSTOP)

        async def take_over() -> None:
            store = await open_idempotency_store(spec, wait=30)
            try:
                with anyio.fail_after(30):
                    claim = await store.claim("order-1", "f" * 64)
                assert isinstance(claim, Unknown)
                await store.settle(claim, Outcome.accepted())
            finally:
                await store.aclose()

        anyio.run(take_over)
        holder.send_signal(signal.SIGCONT)
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "JournalError"
        assert holder.wait(timeout=30) == 3


def test_no_password_shows(postgres_database: str) -> None:
    url = postgres_database.replace(
        "postgresql://postgres@", "postgresql://postgres:Se%cr@t-SECRET@"
    )

    async def open_() -> IdempotencyStore:
        return await open_idempotency_store(url + "#keys")

    store = anyio.run(open_)
    try:
        assert "SECRET" not in store.description + repr(store)
    finally:
        anyio.run(store.aclose)
    json.dumps(store.description)


async def test_a_key_forgotten_and_claimed_again_fences_its_earlier_holder(
    store: IdempotencyStore,
) -> None:
    first = await store.claim("order-1", ONE)
    assert isinstance(first, Claimed)
    await store.release([first])  # forgotten: the row is gone
    again = await store.claim("order-1", ONE)
    assert isinstance(again, Claimed)
    with pytest.raises(JournalError, match="taken over"):
        await store.settle(first, Outcome.accepted())  # a stale claim of its earlier life
    await store.settle(again, Outcome.accepted())
