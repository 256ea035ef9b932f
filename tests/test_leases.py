"""Leases with fencing (issue 24): a holder that stops renewing loses its upload to another
process, and its next write is refused; a holder that renews keeps it; a dead holder's upload
is free at once; a holder whose lease may have lapsed (stopped, then woken) sends nothing."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest

from voicenter_dialer import Call, JournalError, _journal_records, _lease_clock
from voicenter_dialer._idempotency import Claimed, open_idempotency_store
from voicenter_dialer._idempotency_postgres import PostgresKeys
from voicenter_dialer._idempotency_sqlite import SqliteKeys
from voicenter_dialer._journal import open_store, summarise_journal
from voicenter_dialer._journal_postgres import PostgresJournal, open_postgres
from voicenter_dialer._journal_records import DEFAULT_LEASE_SECONDS, ChunkRecord
from voicenter_dialer._journal_sqlite import SqliteJournal
from voicenter_dialer._lease_clock import check_leases
from voicenter_dialer.testing import FakeDialer

from .stopping import CAN_STOP, stop

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGN = "C" * 20


@pytest.fixture(params=["sqlite", "postgres"])
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


def spec(kind: str, request: pytest.FixtureRequest, tmp_path: Path, name: str) -> str:
    if kind == "sqlite":
        return str(tmp_path / name)
    url: str = request.getfixturevalue("postgres_database")
    return f"{url}#{name}"


@pytest.fixture
def journal(store_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return spec(store_kind, request, tmp_path, "upload")


def holder(journal: str, lease: float) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.lease_worker", journal, str(lease)],
        cwd=ROOT,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


@pytest.mark.skipif(not CAN_STOP, reason="reads /proc (Linux)")
def test_a_stopped_holder_loses_its_upload_and_its_next_write_is_refused(journal: str) -> None:
    with holder(journal, 1.0) as first:
        assert first.stdin is not None
        assert first.stdout is not None
        stop(first, lambda: True, 30)

        async def take_over() -> None:
            with anyio.fail_after(30):
                store = await open_store(journal, campaign=CAMPAIGN, chunk_size=10, total=None)
            try:
                await store.sent(0, 10, b"mine", [])
            finally:
                await store.aclose()

        try:
            anyio.run(take_over)
        finally:
            first.send_signal(signal.SIGCONT)
        first.stdin.write("go\n")
        first.stdin.flush()
        said = first.stdout.readline()
        assert said.startswith("JournalError"), said
        assert "took this upload over" in said
        assert first.wait(timeout=30) == 3

    async def chunks() -> list[ChunkRecord | None]:
        store = await open_store(journal, campaign=CAMPAIGN, chunk_size=10, total=None)
        try:
            return [await store.chunk(0), await store.chunk(100)]
        finally:
            await store.aclose()

    mine, late = anyio.run(chunks)
    assert mine is not None
    assert late is None  # nothing of the stopped holder's late write


async def test_a_holder_that_renews_keeps_its_upload(journal: str) -> None:
    first = await open_store(journal, campaign=CAMPAIGN, chunk_size=10, total=None, lease_seconds=1)
    try:
        await anyio.sleep(1.5)  # longer than the lease: renewed meanwhile, while idle
        # Waited for at most one lease period (30 s): refused once the holder was seen renewing.
        with anyio.fail_after(30), pytest.raises(JournalError, match="in use"):
            await open_store(journal, campaign=CAMPAIGN, chunk_size=10, total=None)
        await first.sent(0, 10, b"still mine", [])
    finally:
        await first.aclose()


async def test_a_closed_upload_is_free_at_once(journal: str) -> None:
    first = await open_store(journal, campaign=CAMPAIGN, chunk_size=10, total=None)
    await first.aclose()
    with anyio.fail_after(5):  # not a lease period
        second = await open_store(journal, campaign=CAMPAIGN, chunk_size=10, total=None)
    await second.aclose()


# --- SQLite: the holder's process, by its id ---------------------------------------------


def set_lease(path: Path, until: float, pid: int, host: str = socket.gethostname()) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE lease SET until = ?, pid = ?, host = ?", (until, pid, host))


def gone_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", ""])
    process.wait(timeout=30)
    return process.pid


async def closed_journal(path: Path) -> None:
    store = await open_store(path, campaign=CAMPAIGN, chunk_size=10, total=None)
    await store.sent(0, 10, b"first", [])
    await store.aclose()


async def test_a_sqlite_lease_of_a_process_gone_is_free_at_once(tmp_path: Path) -> None:
    path = tmp_path / "upload.journal"
    await closed_journal(path)
    set_lease(path, time.time() + 3600, gone_pid())  # as a killed holder left it
    with anyio.fail_after(5):  # not a lease period
        store = await open_store(path, campaign=CAMPAIGN, chunk_size=10, total=None)
    await store.aclose()


async def test_a_sqlite_lease_of_a_live_process_is_waited_for(tmp_path: Path) -> None:
    """A process id of a live process (the holder's, or a reused one) is waited for: until
    the lease runs out (then taken over), or one lease period (then in use)."""
    path = tmp_path / "upload.journal"
    await closed_journal(path)
    set_lease(path, time.time() + 3600, os.getppid())
    with pytest.raises(JournalError, match="in use"):
        await open_store(path, campaign=CAMPAIGN, chunk_size=10, total=None, lease_seconds=0.3)
    set_lease(path, time.time() + 0.3, os.getppid())
    store = await open_store(path, campaign=CAMPAIGN, chunk_size=10, total=None)
    await store.aclose()
    # On another host its process cannot be asked about: waited for as well.
    set_lease(path, time.time() + 3600, gone_pid(), host="elsewhere")
    with pytest.raises(JournalError, match="in use"):
        await open_store(path, campaign=CAMPAIGN, chunk_size=10, total=None, lease_seconds=0.3)


async def test_a_sqlite_journal_of_the_first_format_is_read_and_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.journal"
    await closed_journal(path)
    with contextlib.closing(sqlite3.connect(path)) as db, db:  # as the first release left it
        db.execute("DROP TABLE lease")
        db.execute("UPDATE meta SET value = '1' WHERE key = 'version'")
    assert summarise_journal(path).unknown == 10  # read as it is
    again = await open_store(path, campaign=CAMPAIGN, chunk_size=10, total=None)
    try:
        chunk = await again.chunk(0)
        assert chunk is not None
        assert chunk.digest == b"first"
        await again.done(0, 10, 10, [])
    finally:
        await again.aclose()
    assert summarise_journal(path).accepted == 10


async def test_connections_are_bounded_by_keepalives(postgres_database: str) -> None:
    store = await open_postgres(
        postgres_database + "#upload", campaign=CAMPAIGN, chunk_size=10, total=None
    )
    try:
        run: Any = store._run  # type: ignore[attr-defined]
        rows = await run(
            "SELECT current_setting('tcp_keepalives_idle'), current_setting('tcp_user_timeout')",
            {},
        )
    finally:
        await store.aclose()
    idle, user_timeout = rows[0]
    assert idle not in ("0", "")
    assert user_timeout not in ("0", "")


async def test_a_journal_of_the_first_schema_is_upgraded(postgres_database: str) -> None:
    url = postgres_database + "#old"
    store = await open_postgres(url, campaign=CAMPAIGN, chunk_size=10, total=None)
    await store.sent(0, 10, b"old", [])
    await store.aclose()
    with psycopg.connect(postgres_database) as db:  # as the first release left it
        db.execute(
            "ALTER TABLE voicenter_dialer.uploads DROP COLUMN lease_token, "
            "DROP COLUMN lease_until, DROP COLUMN lease_pid"
        )
        db.execute("UPDATE voicenter_dialer.schema_version SET version = 1")
    again = await open_postgres(url, campaign=CAMPAIGN, chunk_size=10, total=None)
    try:
        chunk = await again.chunk(0)
        assert chunk is not None
        assert chunk.digest == b"old"
        await again.done(0, 10, 10, [])
    finally:
        await again.aclose()


# --- a holder whose lease may have lapsed sends nothing -----------------------------------


class Clock:
    """This process's monotonic clock, moved on at will: as a stopped process finds it."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.skipped

    def stop_longer_than_a_lease(self) -> None:
        self.skipped += DEFAULT_LEASE_SECONDS + 1


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(_lease_clock, "now", clock)
    # Woken, the holder reaches its send before its renewing thread runs (one that ran and
    # found the lease still its own would let it send, rightly).
    monkeypatch.setattr(_journal_records, "RENEW_EVERY", 3600.0)
    return clock


def leads(count: int) -> list[Call]:
    return [Call(f"9725{index:08d}") for index in range(count)]


async def test_a_holder_stopped_between_its_sent_record_and_its_send_sends_nothing(
    store_kind: str,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    journal = spec(store_kind, request, tmp_path, "upload")
    store: Any = SqliteJournal if store_kind == "sqlite" else PostgresJournal
    record = store.sent

    async def sent_then_stopped(self: object, *args: object) -> None:
        await record(self, *args)
        clock.stop_longer_than_a_lease()

    monkeypatch.setattr(store, "sent", sent_then_stopped)
    fake = FakeDialer()
    campaign = fake.add_campaign()
    async with fake.client() as dialer:
        with pytest.raises(JournalError, match="took this upload over"):
            await dialer.add_calls_bulk(campaign.code, leads(10), journal=journal)

    assert "AddCallsBulk" not in fake.requests
    assert campaign.calls == []
    assert summarise_journal(journal).unknown == 10  # recorded as sent: a rerun reconciles it


def stopped_after(step: Any, clock: Clock) -> Any:
    async def stepped_then_stopped(self: object, *args: object) -> object:
        result = await step(self, *args)
        clock.stop_longer_than_a_lease()
        return result

    return stepped_then_stopped


async def test_keyed_calls_whose_lease_may_have_lapsed_are_not_sent(
    store_kind: str,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    keys = spec(store_kind, request, tmp_path, "keys")
    store: Any = SqliteKeys if store_kind == "sqlite" else PostgresKeys
    # Stopped after every claim and every renewal: whichever a send path does last.
    for step in ("_attempt", "_renew"):
        monkeypatch.setattr(store, step, stopped_after(getattr(store, step), clock))
    fake = FakeDialer()
    campaign = fake.add_campaign()
    async with fake.client(idempotency_store=keys) as dialer:
        with pytest.raises(JournalError, match="taken over"):
            await dialer.add_call(campaign.code, leads(1)[0], idempotency_key="lead-0")
        with pytest.raises(JournalError, match="taken over"):
            await dialer.add_calls_bulk(
                campaign.code, leads(10), idempotency_key=lambda call: call.target
            )
        with pytest.raises(JournalError, match="taken over"):
            async with dialer.bulk_writer(campaign.code) as writer:
                await writer.add(leads(1)[0], idempotency_key="lead-w")

    assert not {"AddCall", "AddCallsBulk"} & set(fake.requests)
    assert campaign.calls == []


async def test_the_dialer_s_lease_seconds_holds_its_journal(tmp_path: Path) -> None:
    fake = FakeDialer()
    campaign = fake.add_campaign("Leased")
    journal = tmp_path / "upload.journal"
    leads = [Call(f"9725{i:08d}") for i in range(20)]
    async with (
        fake.client(lease_seconds=7.5) as dialer,
        dialer.stream_calls_bulk(campaign.code, leads, chunk_size=10, journal=journal) as chunks,
    ):
        async for _ in chunks:
            with contextlib.closing(sqlite3.connect(journal)) as db:
                (until,) = db.execute("SELECT until FROM lease").fetchone()
            assert 0 < until - time.time() <= 7.5  # the dialer's lease, not the default 30 s
            break


async def test_a_key_s_lease_clock_is_its_own_even_when_claimed_with_others(
    store_kind: str, clock: Clock, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # Keys claimed in one transaction, then renewed apart: renewing one says nothing of the
    # other's lease, which must be found lapsed (a keyed add_call sends on its clock alone).
    store = await open_idempotency_store(spec(store_kind, request, tmp_path, "keys"))
    try:
        first, second = await store.claim_many([("key-1", "f" * 64), ("key-2", "f" * 64)])
        assert isinstance(first, Claimed)
        assert isinstance(second, Claimed)
        clock.stop_longer_than_a_lease()
        await store.renew([first])
        check_leases(first.lease)
        with pytest.raises(JournalError, match="taken over"):
            check_leases(second.lease)
    finally:
        await store.aclose()


@pytest.mark.parametrize(
    ("lost", "renewals"),
    [(_journal_records.taken_over("a journal"), 1), (JournalError("connection lost"), 3)],
    ids=["taken-over", "a-failure-passes"],
)
def test_a_journal_s_renewals_stop_when_taken_over_and_go_on_after_a_failure(
    monkeypatch: pytest.MonkeyPatch, lost: JournalError, renewals: int
) -> None:
    monkeypatch.setattr(_journal_records, "RENEW_EVERY", 0.01)
    stop = threading.Event()
    calls: list[int] = []
    clock = _lease_clock.LeaseClock(30.0, lambda: _journal_records.taken_over("a journal"))

    def renew() -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise lost
        if len(calls) == 3:
            stop.set()
        return True

    thread = threading.Thread(target=_journal_records.renewing, args=(renew, clock, stop))
    thread.start()
    thread.join(10)
    stop.set()
    assert not thread.is_alive()
    assert len(calls) == renewals
