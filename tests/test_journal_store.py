"""The journal stores: the same behaviour from the SQLite file and from PostgreSQL (a real
server, see tests/postgres.py)."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import anyio
import attrs
import psycopg
import pytest

from voicenter_dialer import JournalError, ValidationError
from voicenter_dialer._journal import (
    ChunkRecord,
    JournalStore,
    JournalSummary,
    LeadRecord,
    campaign_digest,
)
from voicenter_dialer._journal_postgres import open_postgres, summarise_postgres
from voicenter_dialer._journal_sqlite import SqliteJournal, summarise_sqlite

from .postgres import PostgresServer

CAMPAIGN = "JOURNAL-CAMPAIGN-0123456789abcdef"
DIGEST = bytes(range(250, 256)) + b"\x00\x01"  # any bytes, NUL and high ones too
REJECTED = LeadRecord(3, "rejected", "97250000003", 4, "AddResult", "Target is blocked")
INVALID = LeadRecord(5, "failed", "12", None, "ValidationError", "target: too short")
REFUSED = LeadRecord(7, "refused", "97250000007", None, "TransportError", "503 after retries")
UNKNOWN = LeadRecord(8, "unknown", "97250000008", None, "TransportError", "read timed out")


class Backend(Protocol):
    @property
    def name(self) -> str: ...

    def location(self, name: str) -> str:
        """What ``journal=`` names the journal of the upload *name* by."""

    async def open(self, location: str, *, campaign: str, chunk_size: int) -> JournalStore: ...

    def summarise(self, location: str) -> JournalSummary: ...

    def contents(self) -> bytes:
        """Everything the store holds, as bytes to search."""

    def set_schema_version(self, location: str, version: int) -> None: ...

    @property
    def holder(self) -> str:
        """A program that opens the journal at argv[1], prints "ready" and sleeps."""


@attrs.frozen
class Sqlite:
    folder: Path
    name: str = "sqlite"
    holder: str = (
        "import functools, sys, time, anyio\n"
        "from voicenter_dialer._journal_sqlite import SqliteJournal\n"
        "store = anyio.run(functools.partial(\n"
        f"    SqliteJournal.open, sys.argv[1], campaign={CAMPAIGN!r}, chunk_size=100, total=None\n"
        "))\n"
        "print('ready', flush=True)\n"
        "time.sleep(120)\n"
    )

    def location(self, name: str) -> str:
        return str(self.folder / f"{name}.journal")

    async def open(self, location: str, *, campaign: str, chunk_size: int) -> JournalStore:
        return await SqliteJournal.open(
            location, campaign=campaign, chunk_size=chunk_size, total=None
        )

    def summarise(self, location: str) -> JournalSummary:
        return summarise_sqlite(Path(location))

    def contents(self) -> bytes:
        return b"".join(path.read_bytes() for path in self.folder.iterdir())

    def set_schema_version(self, location: str, version: int) -> None:
        # A connection's own `with` commits but does not close (a ResourceWarning on 3.13).
        with contextlib.closing(sqlite3.connect(location)) as db, db:
            db.execute("UPDATE meta SET value = ? WHERE key = 'version'", (str(version),))


@attrs.frozen
class Postgres:
    server: PostgresServer
    url: str
    name: str = "postgres"
    holder: str = (
        "import functools, sys, time, anyio\n"
        "from voicenter_dialer._journal_postgres import open_postgres\n"
        "store = anyio.run(functools.partial(\n"
        f"    open_postgres, sys.argv[1], campaign={CAMPAIGN!r}, chunk_size=100, total=None\n"
        "))\n"
        "print('ready', flush=True)\n"
        "time.sleep(120)\n"
    )

    def location(self, name: str) -> str:
        return f"{self.url}#{name}"

    async def open(self, location: str, *, campaign: str, chunk_size: int) -> JournalStore:
        return await open_postgres(location, campaign=campaign, chunk_size=chunk_size, total=None)

    def summarise(self, location: str) -> JournalSummary:
        return summarise_postgres(location)

    def contents(self) -> bytes:
        return self.server.dump(self.url.rsplit("/", 1)[1])

    def set_schema_version(self, location: str, version: int) -> None:
        with psycopg.connect(self.url) as db:
            db.execute("UPDATE voicenter_dialer.schema_version SET version = %s", (version,))


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return Sqlite(tmp_path)
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return Postgres(server, request.getfixturevalue("postgres_database"))


class Opener(Protocol):
    def __call__(
        self, name: str = ..., campaign: str = ..., chunk_size: int = ...
    ) -> Awaitable[JournalStore]: ...


@pytest.fixture
async def opened(backend: Backend) -> AsyncIterator[list[JournalStore]]:
    """The stores a test opened, closed after it (those it did not close itself)."""
    stores: list[JournalStore] = []
    yield stores
    for store in stores:
        await store.aclose()


@pytest.fixture
def open_store(backend: Backend, opened: list[JournalStore]) -> Opener:
    async def open_(
        name: str = "upload", campaign: str = CAMPAIGN, chunk_size: int = 100
    ) -> JournalStore:
        store = await backend.open(backend.location(name), campaign=campaign, chunk_size=chunk_size)
        opened.append(store)
        return store

    return open_


async def reopen(
    backend: Backend, opened: list[JournalStore], name: str = "upload"
) -> JournalStore:
    """Close the test's stores and open the upload's journal again, as a rerun does."""
    while opened:
        await opened.pop().aclose()
    store = await backend.open(backend.location(name), campaign=CAMPAIGN, chunk_size=500)
    opened.append(store)
    return store


async def test_a_chunk_is_recorded_as_sent_with_its_local_failures(open_store: Opener) -> None:
    store = await open_store()
    assert await store.chunk(0) is None
    assert not await store.has_unknown()

    await store.sent(0, 100, DIGEST, [INVALID])

    assert await store.chunk(0) == ChunkRecord(0, 100, DIGEST, "sent", 0)
    assert await store.leads(0, 100) == {INVALID.index: INVALID}
    assert await store.chunk(100) is None
    assert await store.has_unknown()  # it is in flight: any call of it may be added


async def test_done_records_each_calls_outcome_in_place_of_what_was_known(
    open_store: Opener,
) -> None:
    store = await open_store()
    await store.sent(0, 100, DIGEST, [INVALID])
    await store.sent(100, 100, DIGEST, [])

    outcome = [REJECTED, INVALID, REFUSED]
    await store.done(0, 100, 97, outcome)

    assert await store.chunk(0) == ChunkRecord(0, 100, DIGEST, "done", 97)
    assert await store.leads(0, 100) == {lead.index: lead for lead in outcome}
    assert await store.leads(100, 100) == {}
    assert await store.has_unknown()  # the second chunk is still in flight
    await store.done(100, 100, 100, [])
    assert not await store.has_unknown()


async def test_a_second_answer_for_a_chunk_replaces_the_first(open_store: Opener) -> None:
    store = await open_store()
    await store.sent(0, 100, DIGEST, [])
    await store.done(0, 100, 97, [REJECTED, REFUSED, UNKNOWN])

    settled = attrs.evolve(UNKNOWN, status="rejected", error_code=2, kind="AddResult")
    await store.done(0, 100, 99, [settled])

    assert await store.leads(0, 100) == {settled.index: settled}
    assert await store.chunk(0) == ChunkRecord(0, 100, DIGEST, "done", 99)


async def test_a_rerun_finds_everything_and_the_chunk_size_it_started_with(
    backend: Backend, opened: list[JournalStore], open_store: Opener
) -> None:
    store = await open_store(chunk_size=100)
    await store.sent(0, 100, DIGEST, [])
    await store.done(0, 100, 97, [REJECTED, INVALID, REFUSED])
    await store.sent(100, 100, b"other", [])
    await store.finished(250)

    again = await reopen(backend, opened)

    assert again.chunk_size == 100
    assert await again.chunk(0) == ChunkRecord(0, 100, DIGEST, "done", 97)
    assert await again.chunk(100) == ChunkRecord(100, 100, b"other", "sent", 0)
    assert set(await again.leads(0, 200)) == {REJECTED.index, INVALID.index, REFUSED.index}
    await again.aclose()  # an open SQLite journal is locked from the start, reads included
    opened.remove(again)
    assert backend.summarise(backend.location("upload")).total == 250


async def test_another_campaign_is_refused(
    backend: Backend, opened: list[JournalStore], open_store: Opener
) -> None:
    store = await open_store()
    await store.sent(0, 100, DIGEST, [])
    await store.aclose()
    opened.clear()

    with pytest.raises(JournalError, match="another campaign"):
        await open_store(campaign="ANOTHER-CAMPAIGN-0123456789")
    again = await open_store()  # refusing it changed nothing
    assert await again.chunk(0) == ChunkRecord(0, 100, DIGEST, "sent", 0)


async def test_no_code_is_stored_only_the_campaigns_hash(
    backend: Backend, opened: list[JournalStore], open_store: Opener
) -> None:
    store = await open_store()
    await store.sent(0, 100, DIGEST, [INVALID])
    await store.done(0, 100, 98, [REJECTED, INVALID])
    await store.finished(100)
    await store.aclose()
    opened.clear()

    contents = backend.contents()
    assert CAMPAIGN.encode() not in contents
    assert CAMPAIGN[-16:].encode() not in contents  # nor a part of it
    assert campaign_digest(CAMPAIGN).encode() in contents  # what recognises the campaign
    assert REJECTED.reason.encode() in contents  # the search does see what is stored


async def test_resending_turns_the_calls_unknown_until_they_are_answered(
    open_store: Opener,
) -> None:
    store = await open_store()
    await store.sent(0, 100, DIGEST, [])
    await store.done(0, 100, 97, [REJECTED, REFUSED, attrs.evolve(REFUSED, index=9)])
    assert not await store.has_unknown()

    resent = [attrs.evolve(REFUSED, status="unknown", reason="re-sent")]
    await store.resending(resent)

    assert await store.has_unknown()
    leads = await store.leads(0, 100)
    assert leads[REFUSED.index] == resent[0]
    assert leads[REJECTED.index] == REJECTED  # the others as they were
    assert leads[9].status == "refused"
    await store.done(0, 100, 99, [REJECTED])
    assert not await store.has_unknown()


async def test_the_summary_counts_each_call_once(
    backend: Backend, opened: list[JournalStore], open_store: Opener
) -> None:
    store = await open_store()
    await store.sent(0, 100, DIGEST, [INVALID])
    await store.done(
        0, 100, 95, [REJECTED, INVALID, REFUSED, UNKNOWN, attrs.evolve(REJECTED, index=4)]
    )
    await store.sent(100, 100, DIGEST, [attrs.evolve(INVALID, index=150)])  # in flight
    await store.aclose()
    location = backend.location("upload")

    assert backend.summarise(location) == JournalSummary(
        total=None, accepted=95, rejected=2, failed=2, unknown=1 + 99, remaining=None
    )
    store = await reopen(backend, opened)
    await store.finished(250)
    await store.aclose()
    summary = backend.summarise(location)
    assert summary.total == 250
    assert summary.remaining == 250 - 200 + 1  # never sent, and the refused call
    assert summary.done == 95 + 2 + 2


async def test_the_summary_of_a_journal_that_is_not_there(backend: Backend) -> None:
    with pytest.raises(JournalError, match="no such journal"):
        backend.summarise(backend.location("never-started"))


async def test_a_journal_of_a_newer_schema_is_refused(
    backend: Backend, opened: list[JournalStore], open_store: Opener
) -> None:
    store = await open_store()
    await store.aclose()
    opened.clear()
    location = backend.location("upload")
    backend.set_schema_version(location, 99)  # newer than any store's

    with pytest.raises(JournalError, match="99"):
        await open_store()
    with pytest.raises(JournalError, match="99"):
        backend.summarise(location)


async def test_one_upload_at_a_time_per_journal(
    opened: list[JournalStore], open_store: Opener
) -> None:
    first = await open_store()

    with pytest.raises(JournalError, match="in use by a running upload"):
        await open_store()

    await first.aclose()
    opened.remove(first)
    await open_store()  # free once the first upload closed it


async def test_uploads_of_other_names_run_side_by_side(open_store: Opener) -> None:
    first, second = await open_store("first"), await open_store("second")
    await first.sent(0, 100, DIGEST, [INVALID])
    await second.sent(0, 50, b"second", [])
    await second.done(0, 50, 50, [])

    assert await first.chunk(0) == ChunkRecord(0, 100, DIGEST, "sent", 0)
    assert await second.chunk(0) == ChunkRecord(0, 50, b"second", "done", 50)
    assert await first.leads(0, 100) == {INVALID.index: INVALID}
    assert await second.leads(0, 100) == {}
    assert await first.has_unknown()
    assert not await second.has_unknown()


async def test_a_killed_uploads_journal_is_free_again(backend: Backend, open_store: Opener) -> None:
    location = backend.location("upload")
    command = [sys.executable, "-c", backend.holder, location]
    async with await anyio.open_process(command, stderr=None) as holder:
        assert holder.stdout is not None
        said = b""
        while not said.endswith(b"\n"):  # a pipe may deliver the line in pieces
            said += await holder.stdout.receive()
        assert said == b"ready\n"
        with pytest.raises(JournalError):
            await open_store()
        holder.send_signal(signal.SIGKILL)
        assert await holder.wait() == -signal.SIGKILL

    # The server (or the kernel, for a file) lets go of the dead holder's lock at once, or
    # nearly: allow it a moment.
    deadline = time.monotonic() + 10
    while True:
        try:
            await open_store()
        except JournalError:
            if time.monotonic() > deadline:
                raise
            await anyio.sleep(0.1)
        else:
            break


# --- PostgreSQL only ------------------------------------------------------------------


async def test_no_round_trip_runs_on_the_event_loop_thread(
    postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[tuple[str, int]] = []

    def spy(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def record(*args: Any, **kwargs: Any) -> Any:
            threads.append((name, threading.get_ident()))
            return original(*args, **kwargs)

        return record

    monkeypatch.setattr(psycopg, "connect", spy("connect", psycopg.connect))
    monkeypatch.setattr(psycopg.Cursor, "execute", spy("execute", psycopg.Cursor.execute))
    monkeypatch.setattr(psycopg.Connection, "close", spy("close", psycopg.Connection.close))

    store = await open_postgres(
        postgres_database + "#upload", campaign=CAMPAIGN, chunk_size=100, total=None
    )
    await store.chunk(0)
    await store.sent(0, 100, DIGEST, [INVALID])
    await store.leads(0, 100)
    await store.has_unknown()
    await store.resending([UNKNOWN])
    await store.done(0, 100, 99, [INVALID])
    await store.finished(100)
    await store.aclose()

    assert {name for name, _ in threads} == {"connect", "execute", "close"}
    assert threading.get_ident() not in {thread for _, thread in threads}


def test_the_postgres_store_works_under_trio(postgres_database: str) -> None:
    async def upload() -> None:
        url = postgres_database + "#trio"
        store = await open_postgres(url, campaign=CAMPAIGN, chunk_size=100, total=None)
        await store.sent(0, 100, DIGEST, [])
        await store.done(0, 100, 100, [])
        assert await store.chunk(0) == ChunkRecord(0, 100, DIGEST, "done", 100)
        await store.aclose()

    anyio.run(upload, backend="trio")


async def test_the_first_uploads_on_a_new_database_create_the_tables_once(
    postgres_database: str,
) -> None:
    stores: list[JournalStore] = []

    async def start(name: str) -> None:
        url = f"{postgres_database}#{name}"
        stores.append(await open_postgres(url, campaign=CAMPAIGN, chunk_size=100, total=None))

    try:
        async with anyio.create_task_group() as tasks:
            for name in ("one", "two", "three"):
                tasks.start_soon(start, name)
    finally:
        for store in stores:
            await store.aclose()
    assert len(stores) == 3


async def test_the_summary_reads_while_the_upload_runs(postgres_database: str) -> None:
    url = postgres_database + "#running"
    store = await open_postgres(url, campaign=CAMPAIGN, chunk_size=100, total=300)
    try:
        await store.sent(0, 100, DIGEST, [])
        await store.done(0, 100, 100, [])
        assert summarise_postgres(url).accepted == 100
    finally:
        await store.aclose()


@pytest.mark.parametrize("url", ["postgresql://postgres@127.0.0.1/db", "postgresql://x/db#"])
async def test_a_url_must_name_the_upload(url: str) -> None:
    with pytest.raises(ValidationError, match="UPLOAD_NAME"):
        await open_postgres(url, campaign=CAMPAIGN, chunk_size=100, total=None)
    with pytest.raises(ValidationError, match="UPLOAD_NAME"):
        summarise_postgres(url)


async def test_no_password_in_what_is_shown(
    postgres_server: PostgresServer, postgres_database: str
) -> None:
    with_password = postgres_database.replace("postgres@", "postgres:s3cr3t-pw@")
    store = await open_postgres(
        with_password + "?application_name=x&password=s3cr3t-pw#my%20upload",
        campaign=CAMPAIGN,
        chunk_size=100,
        total=None,
    )
    await store.aclose()
    assert store.description == with_password.replace("s3cr3t-pw", "***") + "#my%20upload"

    unreachable = "postgresql://me:s3cr3t-pw@127.0.0.1:1/db#upload"
    with pytest.raises(JournalError) as refused:
        await open_postgres(unreachable, campaign=CAMPAIGN, chunk_size=100, total=None)
    assert "s3cr3t-pw" not in str(refused.value)
    assert "postgresql://me:***@127.0.0.1:1/db#upload" in str(refused.value)
