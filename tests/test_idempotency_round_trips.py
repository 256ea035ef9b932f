"""What a key costs the PostgreSQL store, counted on the wire: a TCP proxy between the store
and a real server reads the client's protocol messages and counts the round trips (each
``Sync`` or simple ``Query`` is one: the client waits for its answer, and in autocommit mode
each statement commits). And what the server's planner makes of the writes to keys, and how
the store's statements take turns on its one connection."""

from __future__ import annotations

import re
import socket
import struct
import threading
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import anyio
import psycopg
import pytest

from voicenter_dialer import _idempotency_postgres
from voicenter_dialer._idempotency import (
    Claimed,
    IdempotencyStore,
    Outcome,
    Settled,
    Unknown,
    open_idempotency_store,
)

# Requests without a type byte that may come before the startup message.
_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104


class Trips:
    """Round trips counted by a proxy: the client's Sync and Query messages so far."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def add(self) -> None:
        with self._lock:
            self._count += 1

    @property
    def count(self) -> int:
        with self._lock:
            return self._count


def _read(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _client_to_server(client: socket.socket, server: socket.socket, counter: Trips) -> None:
    """Forward the client's messages, counting each Sync ('S') and Query ('Q') before it
    goes on (so the count is up to date once its answer is back)."""
    try:
        started = False
        while True:
            if not started:  # untyped: length, then a request code or a protocol version
                head = _read(client, 4)
                if head is None:
                    return
                body = _read(client, struct.unpack("!i", head)[0] - 4)
                if body is None:
                    return
                started = struct.unpack("!i", body[:4])[0] not in (_SSL_REQUEST, _GSSENC_REQUEST)
                server.sendall(head + body)
                continue
            head = _read(client, 5)
            if head is None:
                return
            body = _read(client, struct.unpack("!i", head[1:])[0] - 4)
            if body is None:
                return
            if head[:1] in (b"S", b"Q"):
                counter.add()
            server.sendall(head + body)
    except OSError:
        return
    finally:
        for sock in (client, server):
            sock.close()


def _server_to_client(server: socket.socket, client: socket.socket) -> None:
    try:
        while data := server.recv(65536):
            client.sendall(data)
    except OSError:
        return


@pytest.fixture
def counted(postgres_database: str) -> Iterator[tuple[str, Trips]]:
    """A URL of *postgres_database* through a counting proxy on 127.0.0.1, and its counter."""
    target = urlsplit(postgres_database)
    host, port = target.hostname, target.port
    assert host is not None
    assert port is not None
    counter = Trips()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            server = socket.create_connection((host, port), timeout=10)
            client.settimeout(None)
            server.settimeout(None)
            for pump in (
                threading.Thread(target=_client_to_server, args=(client, server, counter)),
                threading.Thread(target=_server_to_client, args=(server, client)),
            ):
                pump.daemon = True
                pump.start()
                threads.append(pump)

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield postgres_database.replace(f":{port}/", f":{listener.getsockname()[1]}/", 1), counter
    finally:
        stop.set()
        acceptor.join(timeout=5)
        listener.close()
        for thread in threads:
            thread.join(timeout=5)


@pytest.fixture
async def store(counted: tuple[str, Trips]) -> AsyncIterator[IdempotencyStore]:
    opened = await open_idempotency_store(counted[0] + "#keys", wait=0.3, lease_seconds=30)
    yield opened
    await opened.aclose()


async def test_a_new_key_is_claimed_and_settled_in_one_round_trip_each(
    store: IdempotencyStore, counted: tuple[str, Trips]
) -> None:
    counter = counted[1]
    await store.claim_many([("warm-up", "print")])  # the first claim also cleans up expired keys
    before = counter.count
    claim = await store.claim("lead-1", "print")
    assert isinstance(claim, Claimed)
    assert counter.count - before == 1
    before = counter.count
    await store.settle(claim, Outcome.accepted())
    assert counter.count - before == 1
    again = await store.claim("lead-1", "print")  # settled: a replay, nothing taken
    assert isinstance(again, Settled)
    assert again.outcome == Outcome.accepted()


async def test_a_chunk_of_new_keys_is_claimed_and_settled_in_one_round_trip_each(
    store: IdempotencyStore, counted: tuple[str, Trips]
) -> None:
    counter = counted[1]
    await store.claim_many([("warm-up", "print")])
    before = counter.count
    results = await store.claim_many([(f"lead-{i}", f"print-{i}") for i in range(500)])
    assert counter.count - before == 1
    claims = [claim for claim in results if isinstance(claim, Claimed)]
    assert len(claims) == 500
    before = counter.count
    await store.settle_many([(claim, Outcome.accepted()) for claim in claims])
    assert counter.count - before == 1


async def test_the_token_of_a_key_claimed_in_one_statement_is_the_one_stored(
    store: IdempotencyStore, counted: tuple[str, Trips]
) -> None:
    """The statement computes a new key's token in SQL: the claim must carry that very
    token, or its fenced writes would all be refused."""
    results = await store.claim_many([(f"lead-{i}", "print") for i in range(50)])
    claims = [claim for claim in results if isinstance(claim, Claimed)]
    assert len(claims) == 50
    with psycopg.connect(counted[0], autocommit=True) as db:
        stored: dict[str, int] = dict(
            db.execute(
                "SELECT key, token FROM voicenter_dialer.idempotency_keys WHERE store = 'keys'"
            ).fetchall()
        )
    assert {claim.key: claim.token for claim in claims} == stored
    await store.settle_many([(claim, Outcome.accepted()) for claim in claims])


async def test_keys_already_there_go_through_the_transaction_new_ones_do_not(
    store: IdempotencyStore, counted: tuple[str, Trips]
) -> None:
    """A chunk mixing a settled key, a key in doubt and new keys: each gets what the rule
    gives it; the new ones are taken by the one statement, the others by one transaction
    (BEGIN, the clock, their rows locked, the key in doubt taken, COMMIT)."""
    trips = counted[1]
    settled = await store.claim("settled", "print")
    doubtful = await store.claim("doubtful", "print")
    assert isinstance(settled, Claimed)
    assert isinstance(doubtful, Claimed)
    await store.settle(settled, Outcome.accepted())
    await store.unknown([doubtful])
    before = trips.count
    results = await store.claim_many(
        [("new-1", "print"), ("settled", "print"), ("doubtful", "print"), ("new-2", "print")]
    )
    assert trips.count - before == 1 + 5
    assert [type(result) for result in results] == [Claimed, Settled, Unknown, Claimed]
    held = [result for result in results if isinstance(result, (Claimed, Unknown))]
    await store.settle_many([(claim, Outcome.accepted()) for claim in held])


async def test_keys_claimed_at_once_by_two_stores_are_each_taken_once(
    counted: tuple[str, Trips],
) -> None:
    """Two stores (two machines) claiming the same new keys at once: each key is taken by
    one of them; the other waits for it and finds it settled."""
    url = counted[0] + "#keys"
    keys = [(f"lead-{i}", "print") for i in range(200)]
    taken: list[list[object]] = [[], []]

    async def machine(place: int) -> None:
        store = await open_idempotency_store(url, wait=10, lease_seconds=30)
        try:
            results = await store.claim_many(keys)
            mine = [result for result in results if isinstance(result, Claimed)]
            await store.settle_many([(claim, Outcome.accepted()) for claim in mine])
            taken[place] = list(results)
        finally:
            await store.aclose()

    async with anyio.create_task_group() as machines:
        machines.start_soon(machine, 0)
        machines.start_soon(machine, 1)
    for first, second in zip(*taken, strict=True):
        assert sorted(type(result).__name__ for result in (first, second)) == [
            "Claimed",
            "Settled",
        ]


_WRITES = {
    name: value
    for name, value in vars(_idempotency_postgres).items()
    if isinstance(value, _idempotency_postgres._Keyed)
}


def test_every_write_to_keys_is_checked_here() -> None:
    assert set(_WRITES) == {"_TAKE", "_RENEW", "_UNKNOWN", "_FORGET", "_LET_GO", "_SETTLE"}


@pytest.mark.parametrize("name", sorted(_WRITES))
def test_a_write_to_one_key_looks_it_up_even_when_prepared(
    name: str, postgres_database: str
) -> None:
    """The plan a prepared statement falls back to (generic: it knows no parameter) must find
    the key by the primary key: the join with ``unnest``, so planned, scans every key of the
    store (which is what the writes to many keys would do, were they prepared)."""
    placeholders: list[str] = []

    def numbered(match: re.Match[str]) -> str:
        if match.group(1) not in placeholders:
            placeholders.append(match.group(1))
        return f"${placeholders.index(match.group(1)) + 1}"

    one = re.sub(r"%\((\w+)\)s", numbered, _WRITES[name].one)
    with psycopg.connect(postgres_database, autocommit=True) as db:
        _idempotency_postgres._create_schema(db)
        db.execute("SET plan_cache_mode = force_generic_plan")
        db.execute(f"PREPARE one AS {one}")
        nulls = ", ".join("NULL" for _ in placeholders)
        row = db.execute(f"EXPLAIN (FORMAT JSON) EXECUTE one({nulls})").fetchone()
    assert row is not None
    scans = list(_scans(row[0][0]["Plan"]))
    assert scans == [("Index Scan", "idempotency_keys_pkey")], scans


def _scans(plan: dict[str, object]) -> Iterator[tuple[str, str]]:
    """The table scans of *plan* (a node of EXPLAIN's JSON), in order."""
    kind = str(plan["Node Type"])
    if "Scan" in kind and kind not in ("Function Scan", "Values Scan", "Result"):
        yield kind, str(plan.get("Index Name", ""))
    children = plan.get("Plans", [])
    assert isinstance(children, list)
    for child in children:
        yield from _scans(child)


async def test_a_write_to_many_keys_is_planned_for_its_own_keys(postgres_database: str) -> None:
    """Writes to many keys are never prepared (each is planned for its arrays), however
    often they run; one key's are (their plan holds)."""
    with psycopg.connect(postgres_database, autocommit=True) as db:
        _idempotency_postgres._create_schema(db)
        for _ in range(10):
            for count in (1, 2):
                params = {"store": "keys", "keys": ["a", "b"][:count], "tokens": [1, 1][:count]}
                _WRITES["_UNKNOWN"].run(db, count, params).fetchall()
        prepared = [row[0] for row in db.execute("SELECT statement FROM pg_prepared_statements")]
    assert len(prepared) == 1
    assert "unnest" not in prepared[0]
    assert "VALUES" in prepared[0]


async def test_a_write_cancelled_while_waiting_for_its_turn_never_runs(
    store: IdempotencyStore, counted: tuple[str, Trips]
) -> None:
    """Statements take turns on the store's connection in their worker threads: one whose
    caller is cancelled while it waits must not run later (here, a release would forget a
    key its holder may still send)."""
    held = await store.claim("held", "print")
    kept = await store.claim("kept", "print")
    assert isinstance(held, Claimed)
    assert isinstance(kept, Claimed)
    await store.settle(held, Outcome.accepted())
    with psycopg.connect(counted[0], autocommit=True) as blocker:
        # A claim of "held" locks its row: it waits for this transaction, holding the turn.
        blocker.execute("BEGIN")
        blocker.execute(
            "SELECT 1 FROM voicenter_dialer.idempotency_keys WHERE key = 'held' FOR UPDATE"
        )
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(store.claim, "held", "print")
            await anyio.sleep(0.2)
            with anyio.move_on_after(0.3) as waited:
                await store.release([kept])
            assert waited.cancelled_caught
            blocker.execute("COMMIT")  # the claim of "held" goes on, then the turn is free
        await store.settle(kept, Outcome.accepted())  # still held: the release never ran
        states: dict[str, str] = dict(
            blocker.execute(
                "SELECT key, state FROM voicenter_dialer.idempotency_keys WHERE store = 'keys'"
            ).fetchall()
        )
    assert states == {"held": "accepted", "kept": "accepted"}
