"""Idempotency keys on a real PostgreSQL, under what a server or its callers may do: a
database's own float settings, a claim whose second step fails, many callers waiting for the
one connection, a caller cancelled while it waits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import anyio
import anyio.to_thread
import psycopg
import pytest
from anyio.abc import TaskStatus

from voicenter_dialer import JournalError
from voicenter_dialer import _idempotency_postgres as keys_module
from voicenter_dialer._idempotency import Claimed, Outcome, Settled
from voicenter_dialer._idempotency_postgres import PostgresKeys, open_postgres_keys
from voicenter_dialer._journal_postgres import _SETTLE_WAIT

from .postgres import PostgresServer

PRINT = "fingerprint"


@asynccontextmanager
async def opened(url: str, *, wait: float = 5.0) -> AsyncIterator[PostgresKeys]:
    store = await open_postgres_keys(url + "#keys", ttl=3600, wait=wait, lease=30)
    try:
        yield store
    finally:
        await store.aclose()


@contextmanager
def holding(url: str, key: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """Another session holding *key*'s row locked (a claim of it waits) until committed."""
    with psycopg.connect(url, autocommit=True) as blocker:
        blocker.execute("BEGIN")
        blocker.execute(
            "SELECT 1 FROM voicenter_dialer.idempotency_keys WHERE key = %s FOR UPDATE", (key,)
        )
        try:
            yield blocker
        finally:
            if blocker.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
                blocker.execute("COMMIT")


def stored(url: str) -> dict[str, tuple[str, int]]:
    with psycopg.connect(url, autocommit=True) as db:
        rows = db.execute("SELECT key, state, token FROM voicenter_dialer.idempotency_keys")
        return {key: (state, token) for key, state, token in rows}


async def claimed(store: PostgresKeys, key: str) -> Claimed:
    claim = await store.claim(key, PRINT)
    assert isinstance(claim, Claimed)
    return claim


async def settled(store: PostgresKeys, key: str) -> None:
    await store.settle(await claimed(store, key), Outcome.accepted())


async def until_waiting_for_a_lock(url: str) -> None:
    """Until a statement of the store waits for the row another session holds."""
    with psycopg.connect(url, autocommit=True) as db:
        for _ in range(1000):  # ten seconds at most
            if db.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone() == (1,):
                return
            await anyio.sleep(0.01)
    pytest.fail("no statement of the store waits for the row")


# --- the token a new key holds is the one stored --------------------------------------------


async def test_new_keys_hold_their_stored_tokens_whatever_extra_float_digits(
    postgres_server: PostgresServer, postgres_database: str
) -> None:
    # A DBA's setting (and the default before PostgreSQL 12): float8 read back rounded.
    name = postgres_database.rsplit("/", 1)[1]
    with postgres_server.connect() as admin:
        admin.execute(f"ALTER DATABASE {name} SET extra_float_digits = 0")
    async with opened(postgres_database) as store:
        claims = await store.claim_many([(f"order-{i}", PRINT) for i in range(20)])
        rows = stored(postgres_database)
        assert all(isinstance(claim, Claimed) for claim in claims)
        assert [rows[claim.key][1] for claim in claims if isinstance(claim, Claimed)] == [
            claim.token for claim in claims if isinstance(claim, Claimed)
        ]
        # Settled, not refused as taken over after the call was sent.
        await store.settle_many(
            [(claim, Outcome.accepted()) for claim in claims if isinstance(claim, Claimed)]
        )
    assert {state for state, _ in stored(postgres_database).values()} == {"accepted"}


# --- a claim whose second step fails --------------------------------------------------------


async def test_new_keys_are_let_go_when_the_transaction_for_the_others_fails(
    postgres_database: str,
) -> None:
    # Waiting for a row lock fails at once: the transaction for the known key fails.
    url = postgres_database + "?options=-c%20lock_timeout%3D100"
    async with opened(url, wait=0.3) as store:
        await settled(store, "old")
        with holding(postgres_database, "old"), pytest.raises(JournalError):
            await store.claim_many([("new", PRINT), ("old", PRINT)])
        assert "new" not in stored(postgres_database)  # not left claimed by nobody
        again = await store.claim_many([("new", PRINT), ("old", PRINT)])
    assert [type(result) for result in again] == [Claimed, Settled]


async def test_a_failed_cleanup_does_not_fail_the_claim(
    postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keys_module, "_CLEANUP_EVERY", 0.0)  # every claim cleans up
    async with opened(postgres_database) as store:
        await settled(store, "old")
        with psycopg.connect(postgres_database, autocommit=True) as db:
            db.execute(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'no deletes here'; END $$"
            )
            db.execute(
                "CREATE TRIGGER refuse BEFORE DELETE ON voicenter_dialer.idempotency_keys "
                "FOR EACH STATEMENT EXECUTE FUNCTION refuse()"
            )
        only_new = await store.claim_many([("a", PRINT), ("b", PRINT)])
        new_and_old = await store.claim_many([("c", PRINT), ("old", PRINT)])
    assert [type(result) for result in only_new + new_and_old] == [
        Claimed,
        Claimed,
        Claimed,
        Settled,
    ]
    assert {key: state for key, (state, _) in stored(postgres_database).items()} == {
        "old": "accepted",
        "a": "pending",
        "b": "pending",
        "c": "pending",
    }


# --- many callers waiting for the connection ------------------------------------------------


async def test_callers_waiting_for_the_connection_hold_none_of_the_shared_worker_threads(
    postgres_database: str,
) -> None:
    async with opened(postgres_database) as store:
        await settled(store, "held")
        claims = [await claimed(store, f"order-{i}") for i in range(60)]
        shared = anyio.to_thread.current_default_thread_limiter()
        with holding(postgres_database, "held") as blocker:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(store.claim, "held", PRINT)
                await until_waiting_for_a_lock(postgres_database)
                for claim in claims:
                    tasks.start_soon(store.renew, [claim])
                await anyio.wait_all_tasks_blocked()
                assert shared.borrowed_tokens == 0
                with anyio.fail_after(10):  # an unrelated worker thread is not starved
                    await anyio.to_thread.run_sync(lambda: None)
                blocker.execute("COMMIT")
        await store.settle_many([(claim, Outcome.accepted()) for claim in claims])


# --- a caller cancelled while it waits for its turn -----------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_caller_cancelled_while_waiting_leaves_the_running_statement_alone(
    postgres_database: str, backend: str
) -> None:
    results: list[object] = []

    async def main() -> None:
        async with opened(postgres_database) as store:
            await settled(store, "held")
            other = await claimed(store, "other")
            with holding(postgres_database, "held") as blocker:
                async with anyio.create_task_group() as tasks:

                    async def claim() -> None:
                        results.extend(await store.claim_many([("new", PRINT), ("held", PRINT)]))

                    async def renew(*, task_status: TaskStatus[anyio.CancelScope]) -> None:
                        with anyio.CancelScope() as scope:
                            task_status.started(scope)
                            await store.renew([other])  # waits for its turn

                    tasks.start_soon(claim)
                    await until_waiting_for_a_lock(postgres_database)
                    waiting: anyio.CancelScope = await tasks.start(renew)
                    await anyio.wait_all_tasks_blocked()
                    waiting.cancel()
                    # Longer than an interrupted statement is given to end by itself.
                    await anyio.sleep(_SETTLE_WAIT + 1)
                    blocker.execute("COMMIT")
            await store.settle(other, Outcome.accepted())  # its lease untouched

    anyio.run(main, backend=backend)
    assert [type(result) for result in results] == [Claimed, Settled]
