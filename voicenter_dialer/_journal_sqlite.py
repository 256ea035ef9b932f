"""The journal in one SQLite file: the default store.

One file, whatever happens to the process: a rollback journal (not WAL), so every commit is in
the main file once it returns, and a copy of that file alone (after ``kill -9``, for a backup,
or to resume elsewhere) holds every committed chunk. Commits run in a worker thread: with
``synchronous = NORMAL`` each one waits for the disk, and the event loop must not.

One upload at a time, held by a lease (``lease_seconds``) by the rules every journal follows
(:mod:`._journal_records`): kept in the file with its fencing token, and the process id and
host of its holder. One machine is the scope, so a holder whose process is gone frees it at
once (a reused process id only makes an opener wait for the lease to run out, the safe
direction). The file is locked only while a transaction runs, never for the upload's life: a
stopped holder keeps no lock, but for a commit it was stopped in the middle of (that lock is
SQLite's, held until the process runs again).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final, TypeVar

import anyio
import anyio.to_thread
import attrs

from ._exceptions import JournalError
from ._journal_records import (
    DEFAULT_LEASE_SECONDS,
    LEASE_POLL,
    ChunkRecord,
    InUse,
    JournalSummary,
    LeadRecord,
    LeaseWait,
    another_campaign,
    campaign_digest,
    check_lease,
    in_use,
    lease_free,
    no_such_journal,
    not_a_journal,
    nothing_to_reconcile,
    renewing,
    schema_version,
    storable,
    storable_code,
    taken_over,
)
from ._lease_clock import LeaseClock

__all__ = ["SqliteJournal", "summarise_sqlite"]

T = TypeVar("T")

_FORMAT: Final = "voicenter-dialer bulk journal"
# How long opening waits for another process's transaction before saying the journal is in
# use (sqlite3 would wait 5 s); once open, how long a write waits for one (they are short:
# a commit, or a renewal).
_LOCK_WAIT: Final = 0.5
_BUSY_WAIT: Final = 10.0
_VERSION: Final = 2
# Versions this release reads; a journal of version 1 (before leases) gets its lease table
# when it is opened for an upload.
_READS: Final = ("1", str(_VERSION))
# Run statement by statement inside the transaction that starts the journal.
_SCHEMA: Final = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE chunks (
    start INTEGER PRIMARY KEY,
    size INTEGER NOT NULL,
    digest BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('sent', 'done')),
    accepted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE leads (
    idx INTEGER PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('rejected', 'failed', 'refused', 'unknown')),
    target TEXT NOT NULL,
    error_code INTEGER,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES
    ('format', '{format}'), ('version', '{version}'),
    ('campaign', '{campaign}'), ('chunk_size', '{chunk_size}')
"""
# The lease: one row. *until* is by the machine's clock, which its processes share.
_LEASE: Final = (
    "CREATE TABLE lease (id INTEGER PRIMARY KEY CHECK (id = 0), token INTEGER NOT NULL,"
    " until REAL, pid INTEGER, host TEXT)",
    "INSERT INTO lease (id, token) VALUES (0, 0)",
)


def _connect(path: Path, *, existing: bool) -> sqlite3.Connection:
    # An existing journal is opened read-write all the same: after a kill in mid-commit,
    # SQLite must roll back the interrupted commit (from the ``-journal`` file) to read it.
    if existing:
        target, uri = f"{path.resolve().as_uri()}?mode=rw", True
    else:
        target, uri = str(path), False
    try:
        connection = sqlite3.connect(
            target, uri=uri, isolation_level=None, check_same_thread=False, timeout=_LOCK_WAIT
        )
    except sqlite3.Error as exc:
        raise JournalError(f"{path}: the journal cannot be opened ({exc})") from None
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
    except sqlite3.Error as exc:
        connection.close()
        if _busy(exc):
            raise in_use(str(path)) from None
        if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
            raise not_a_journal(str(path), str(exc)) from None
        raise JournalError(f"{path}: the journal cannot be opened ({exc})") from None
    return connection


def _busy(exc: sqlite3.Error) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _meta(connection: sqlite3.Connection, path: Path) -> dict[str, str]:
    try:
        meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.OperationalError as exc:
        if _busy(exc):
            raise in_use(str(path)) from None
        raise not_a_journal(str(path)) from None
    if meta.get("format") != _FORMAT:
        raise not_a_journal(str(path))
    if meta.get("version") not in _READS:
        found = meta.get("version")
        raise schema_version(str(path), _as_int(found), _VERSION)
    return meta


def _as_int(text: str | None) -> int | str | None:
    return int(text) if text is not None and text.isdigit() else text


_HOST: Final = socket.gethostname()


def _alive(pid: int | None, host: str | None) -> bool:
    """Whether a lease's holder may be running: one on another host (a journal on a shared
    disk), or whose process may not be probed, may be; one here, unless its process is gone."""
    if pid is None or host != _HOST or sys.platform == "win32":  # os.kill would end it there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: it is there
        return True
    return True


def _renew(db: sqlite3.Connection, token: int, lease: float) -> bool:
    """In a write transaction: extend the lease if it is still *token*'s (else False)."""
    until = time.time() + lease
    cursor = db.execute("UPDATE lease SET until = ? WHERE id = 0 AND token = ?", (until, token))
    return cursor.rowcount == 1


@attrs.frozen
class _Held:
    """What taking the lease gave: the fencing token and every chunk record."""

    token: int
    chunks: dict[int, ChunkRecord]


class SqliteJournal:
    """An open SQLite journal (see :class:`._journal.JournalStore`)."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        renewer: sqlite3.Connection,
        path: Path,
        chunk_size: int,
        held: _Held,
        lease: float,
        clock: LeaseClock,
    ) -> None:
        self._db = connection
        self.description = str(path)
        self.chunk_size = chunk_size
        self.lease = clock
        self._token = held.token
        self._lease_seconds = lease
        # Every chunk record, read once: while the lease is held nobody else writes them, so
        # looking a chunk up before it is sent reads nothing (nor locks the file).
        self._chunks = held.chunks
        # One statement at a time on the connection, whichever worker thread runs it.
        self._lock = anyio.Lock()
        # The lease is renewed from a thread, on a connection, of its own.
        self._stop = threading.Event()
        self._renewer = threading.Thread(
            target=self._renewing, args=(renewer,), name="journal-lease", daemon=True
        )
        self._renewer.start()

    def _renewing(self, db: sqlite3.Connection) -> None:
        def renew() -> bool:
            try:
                with _transaction(db):
                    return _renew(db, self._token, self._lease_seconds)
            except sqlite3.Error as exc:
                raise JournalError(f"{self.description}: the journal failed ({exc})") from None

        try:
            renewing(renew, self.lease, self._stop)
        finally:
            db.close()

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        campaign: str,
        chunk_size: int,
        total: int | None,
        create: bool = True,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> SqliteJournal:
        """Open the journal at *path*, or (if *create*) start one there; refuse any other
        file, or one whose lease a running upload holds. A journal this refuses to start is
        not left behind."""
        check_lease(lease_seconds)
        return await anyio.to_thread.run_sync(
            lambda: cls._open(Path(path), campaign, chunk_size, total, create, lease_seconds)
        )

    @classmethod
    def _open(
        cls,
        path: Path,
        campaign: str,
        chunk_size: int,
        total: int | None,
        create: bool,
        lease: float,
    ) -> SqliteJournal:
        absent = not path.exists()
        is_new = absent or path.stat().st_size == 0
        if is_new and not create:
            raise nothing_to_reconcile(str(path))
        connection = _connect(path, existing=False)
        try:
            return cls._setup(connection, path, campaign, chunk_size, total, is_new, lease)
        except BaseException as exc:
            # Started here, and refused: no journal is left as if it were one. In use: it is
            # another upload's, which started it a moment ago.
            if absent and not isinstance(exc, InUse):
                path.unlink(missing_ok=True)
            raise

    @classmethod
    def _setup(
        cls,
        connection: sqlite3.Connection,
        path: Path,
        campaign: str,
        chunk_size: int,
        total: int | None,
        is_new: bool,
        lease: float,
    ) -> SqliteJournal:
        where = str(path)
        clock = LeaseClock(lease, lambda: taken_over(where))
        opened = [connection]
        try:
            with _transaction(connection):
                # A foreign file is recognised before anything can change it.
                ((tables,),) = connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
                empty = not tables
                meta = None if is_new and empty else _meta(connection, path)
                if meta is None:
                    # One transaction, so that a journal is never left without its meta. The
                    # values are a hex digest and an int: nothing to quote.
                    schema = _SCHEMA.format(
                        format=_FORMAT,
                        version=_VERSION,
                        campaign=campaign_digest(campaign),
                        chunk_size=int(chunk_size),
                    )
                    for statement in (*schema.split(";"), *_LEASE):
                        connection.execute(statement)
                elif meta.get("campaign") != campaign_digest(campaign):
                    raise another_campaign(where)
                else:
                    chunk_size = int(meta["chunk_size"])
                    if meta["version"] != str(_VERSION):  # before leases: add its table
                        for statement in _LEASE:
                            connection.execute(statement)
                        connection.execute(
                            "UPDATE meta SET value = ? WHERE key = 'version'", (str(_VERSION),)
                        )
            # A rollback journal keeps the file whole by itself; NORMAL: a commit survives the
            # process being killed and, mostly, a power cut.
            mode = connection.execute("PRAGMA journal_mode = DELETE").fetchall()[0][0]
            if mode != "delete":  # e.g. a WAL database left by another program
                raise not_a_journal(where)
            connection.execute("PRAGMA synchronous = NORMAL")
            renewer = _connect(path, existing=True)
            opened.append(renewer)
            renewer.execute("PRAGMA synchronous = NORMAL")
            held = _take_lease(connection, where, lease, clock, total)
            for db in opened:
                db.execute(f"PRAGMA busy_timeout = {int(_BUSY_WAIT * 1000)}")
        except BaseException as exc:
            for db in opened:
                db.close()
            if not isinstance(exc, sqlite3.Error):
                raise
            if _busy(exc):
                raise in_use(where) from None
            raise JournalError(f"{path}: the journal cannot be used ({exc})") from None
        return cls(connection, renewer, path, chunk_size, held, lease, clock)

    async def _run(self, work: Callable[[], T]) -> T:
        async with self._lock:
            try:
                return await anyio.to_thread.run_sync(work)
            except sqlite3.Error as exc:
                raise JournalError(f"{self.description}: the journal failed ({exc})") from exc

    async def _write(self, work: Callable[[], object]) -> None:
        """*work* in one transaction that first renews the lease: refused (nothing written)
        when another upload took this one over."""

        def write() -> bool:
            with _transaction(self._db):
                if not _renew(self._db, self._token, self._lease_seconds):
                    return False
                work()
                return True

        began = self.lease.begin()
        if not await self._run(write):
            self._stop.set()
            raise taken_over(self.description)
        self.lease.confirm(began)

    async def aclose(self) -> None:
        # The renewing thread ends first: a renewal after the release would hold the lease
        # again. Then the lease is let go at once (unless it was taken over).
        self._stop.set()
        await anyio.to_thread.run_sync(self._renewer.join)

        def release() -> None:
            try:
                with _transaction(self._db):
                    self._db.execute(
                        "UPDATE lease SET until = NULL WHERE id = 0 AND token = ?", (self._token,)
                    )
            except sqlite3.Error:
                pass  # not let go: it runs out by itself, its renewals having stopped
            finally:
                self._db.close()

        await self._run(release)

    async def chunk(self, start: int) -> ChunkRecord | None:
        return self._chunks.get(start)

    async def leads(self, start: int, size: int) -> dict[int, LeadRecord]:
        def read() -> dict[int, LeadRecord]:
            rows = self._db.execute(
                "SELECT idx, status, target, error_code, kind, reason FROM leads "
                "WHERE idx >= ? AND idx < ?",
                (start, start + size),
            ).fetchall()
            return {row[0]: LeadRecord(*row) for row in rows}

        return await self._run(read)

    async def has_unknown(self) -> bool:
        query = (
            "SELECT EXISTS (SELECT 1 FROM chunks WHERE state = 'sent') "
            "OR EXISTS (SELECT 1 FROM leads WHERE status = 'unknown')"
        )
        return await self._run(lambda: bool(self._db.execute(query).fetchall()[0][0]))

    async def sent(self, start: int, size: int, digest: bytes, leads: list[LeadRecord]) -> None:
        def write() -> None:
            self._db.execute(
                "INSERT INTO chunks (start, size, digest, state) VALUES (?, ?, ?, 'sent')",
                (start, size, digest),
            )
            self._insert(leads)

        await self._write(write)
        self._chunks[start] = ChunkRecord(start, size, digest, "sent", 0)

    async def resending(self, leads: list[LeadRecord]) -> None:
        def write() -> None:
            self._db.executemany(
                "DELETE FROM leads WHERE idx = ?", [(lead.index,) for lead in leads]
            )
            self._insert(leads)

        await self._write(write)

    async def done(self, start: int, size: int, accepted: int, leads: list[LeadRecord]) -> None:
        def write() -> None:
            self._db.execute(
                "UPDATE chunks SET state = 'done', accepted = ? WHERE start = ?",
                (accepted, start),
            )
            self._db.execute("DELETE FROM leads WHERE idx >= ? AND idx < ?", (start, start + size))
            self._insert(leads)

        await self._write(write)
        if start in self._chunks:  # as the UPDATE found it, or not
            self._chunks[start] = attrs.evolve(self._chunks[start], state="done", accepted=accepted)

    async def finished(self, total: int) -> None:
        await self._write(lambda: _set_meta(self._db, "total", str(total)))

    def _insert(self, leads: list[LeadRecord]) -> None:
        self._db.executemany(
            "INSERT INTO leads (idx, status, target, error_code, kind, reason) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [_row(lead) for lead in leads],
        )


def _set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def _take_lease(
    db: sqlite3.Connection, where: str, lease: float, clock: LeaseClock, total: int | None
) -> _Held:
    """Take the journal's lease: its new fencing token, and the chunk records (with *total*
    recorded, when known). A lease held by a holder that may be running is waited for
    (:class:`LeaseWait`); one held by this very process is in use at once."""
    waiting = LeaseWait(where, lease)
    while True:
        began = clock.begin()
        with _transaction(db):
            token, until, pid, host = db.execute(
                "SELECT token, until, pid, host FROM lease WHERE id = 0"
            ).fetchall()[0]
            if lease_free(until, time.time(), _alive(pid, host)):
                token += 1
                db.execute(
                    "UPDATE lease SET token = ?, until = ?, pid = ?, host = ? WHERE id = 0",
                    (token, time.time() + lease, os.getpid(), _HOST),
                )
                if total is not None:
                    _set_meta(db, "total", str(total))
                rows = db.execute(
                    "SELECT start, size, digest, state, accepted FROM chunks"
                ).fetchall()
                clock.confirm(began)
                return _Held(token, {row[0]: ChunkRecord(*row) for row in rows})
        waiting.held(until, running=pid == os.getpid() and host == _HOST)
        time.sleep(LEASE_POLL)


def _row(lead: LeadRecord) -> tuple[object, ...]:
    text = storable
    return (lead.index, lead.status, text(lead.target), storable_code(lead.error_code),
            text(lead.kind), text(lead.reason))  # fmt: skip


class _transaction:
    """BEGIN ... COMMIT (ROLLBACK on error) on an autocommit connection: a write transaction
    (IMMEDIATE: the write lock taken at once, so that two never deadlock), or a read one."""

    def __init__(self, connection: sqlite3.Connection, *, write: bool = True) -> None:
        self._db = connection
        self._begin = "BEGIN IMMEDIATE" if write else "BEGIN"

    def __enter__(self) -> None:
        self._db.execute(self._begin)

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def summarise_sqlite(path: Path) -> JournalSummary:
    """Count what a journal holds, without changing it (but for finishing the recovery of a
    commit a killed upload left half-written)."""
    if not path.exists():
        raise no_such_journal(str(path))
    connection = _connect(path, existing=True)
    try:
        # One read transaction: every count of one moment, even while an upload writes.
        with _transaction(connection, write=False):
            meta, found, counts, interrupted_failed = _counts(connection, path)
    except sqlite3.Error as exc:
        if _busy(exc):
            raise in_use(str(path)) from None
        raise JournalError(f"{path}: the journal cannot be read ({exc})") from None
    finally:
        connection.close()
    accepted, in_flight, recorded = found
    total = int(meta["total"]) if "total" in meta else None
    return JournalSummary.count(total, accepted, in_flight, recorded, interrupted_failed, counts)


def _counts(
    connection: sqlite3.Connection, path: Path
) -> tuple[dict[str, str], tuple[int, int, int], dict[str, int], int]:
    """The meta, the chunks' sums, the leads by status, and the failed calls of interrupted
    chunks."""
    meta = _meta(connection, path)
    accepted, in_flight, recorded = connection.execute(
        "SELECT coalesce(sum(CASE state WHEN 'done' THEN accepted ELSE 0 END), 0), "
        "coalesce(sum(CASE state WHEN 'sent' THEN size ELSE 0 END), 0), "
        "coalesce(sum(size), 0) FROM chunks"
    ).fetchall()[0]
    counts = dict(
        connection.execute("SELECT status, count(*) FROM leads GROUP BY status").fetchall()
    )
    # Calls of interrupted chunks are unknown, but for those that failed validation.
    interrupted_failed = connection.execute(
        "SELECT count(*) FROM leads JOIN chunks "
        "ON leads.idx >= chunks.start AND leads.idx < chunks.start + chunks.size "
        "WHERE chunks.state = 'sent'"
    ).fetchall()[0][0]
    return meta, (accepted, in_flight, recorded), counts, interrupted_failed
