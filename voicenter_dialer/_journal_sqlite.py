"""The journal in one SQLite file: the default store.

One file, whatever happens to the process: a rollback journal (not WAL), so every commit is in
the main file once it returns, and a copy of that file alone (after ``kill -9``, for a backup,
or to resume elsewhere) holds every committed chunk. The file is locked while an upload has
it open. Commits run in a worker thread: with ``synchronous = NORMAL`` each one waits for the
disk, and the event loop must not.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Final, TypeVar

import anyio
import anyio.to_thread

from ._exceptions import JournalError
from ._journal_records import (
    ChunkRecord,
    JournalSummary,
    LeadRecord,
    another_campaign,
    campaign_digest,
    in_use,
    no_such_journal,
    not_a_journal,
    nothing_to_reconcile,
    schema_version,
    storable,
    storable_code,
)

__all__ = ["SqliteJournal", "summarise_sqlite"]

T = TypeVar("T")

_FORMAT: Final = "voicenter-dialer bulk journal"
# How long to wait for another upload's lock before saying the journal is in use (sqlite3
# would wait 5 s); the PostgreSQL journal waits as long.
_LOCK_WAIT: Final = 0.5
_VERSION: Final = 1
# Run statement by statement inside the transaction that takes the journal's lock.
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
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
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
    if meta.get("version") != str(_VERSION):
        found = meta.get("version")
        raise schema_version(str(path), _as_int(found), _VERSION)
    return meta


def _as_int(text: str | None) -> int | str | None:
    return int(text) if text is not None and text.isdigit() else text


class SqliteJournal:
    """An open SQLite journal (see :class:`._journal.JournalStore`)."""

    def __init__(self, connection: sqlite3.Connection, path: Path, chunk_size: int) -> None:
        self._db = connection
        self.description = str(path)
        self.chunk_size = chunk_size
        # One statement at a time on the connection, whichever worker thread runs it.
        self._lock = anyio.Lock()

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        campaign: str,
        chunk_size: int,
        total: int | None,
        create: bool = True,
    ) -> SqliteJournal:
        """Open the journal at *path*, or (if *create*) start one there; refuse any other
        file. A journal this refuses to start is not left behind."""
        return await anyio.to_thread.run_sync(
            lambda: cls._open(Path(path), campaign, chunk_size, total, create)
        )

    @classmethod
    def _open(
        cls, path: Path, campaign: str, chunk_size: int, total: int | None, create: bool
    ) -> SqliteJournal:
        absent = not path.exists()
        is_new = absent or path.stat().st_size == 0
        if is_new and not create:
            raise nothing_to_reconcile(str(path))
        connection = _connect(path, existing=False)
        try:
            return cls._setup(connection, path, campaign, chunk_size, total, is_new)
        except BaseException:
            if absent:  # started here, and refused: no journal is left as if it were one
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
    ) -> SqliteJournal:
        try:
            # One upload at a time: the exclusive lock is taken before anything is read, and
            # kept until the journal is closed. Of two uploads starting a new journal at once
            # one starts it and the other is refused, rather than both reading it new (or
            # both refused, each holding a read lock that the other's write waits for).
            connection.execute("PRAGMA locking_mode = EXCLUSIVE")
            with _transaction(connection, exclusive=True):
                # A foreign file is recognised before anything can change it.
                empty = not connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
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
                    for statement in schema.split(";"):
                        connection.execute(statement)
                elif meta.get("campaign") != campaign_digest(campaign):
                    raise another_campaign(str(path))
                else:
                    chunk_size = int(meta["chunk_size"])
                journal = cls(connection, path, chunk_size)
                if total is not None:
                    journal._set_meta("total", str(total))
            # A rollback journal keeps the file whole by itself; NORMAL: a commit survives the
            # process being killed and, mostly, a power cut.
            mode = connection.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
            if mode != "delete":  # e.g. a WAL database left by another program
                raise not_a_journal(str(path))
            connection.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            connection.close()
            if _busy(exc):
                raise in_use(str(path)) from None
            raise JournalError(f"{path}: the journal cannot be used ({exc})") from None
        except BaseException:
            connection.close()
            raise
        return journal

    async def _run(self, work: Callable[[], T]) -> T:
        async with self._lock:
            try:
                return await anyio.to_thread.run_sync(work)
            except sqlite3.Error as exc:
                raise JournalError(f"{self.description}: the journal failed ({exc})") from exc

    async def aclose(self) -> None:
        await self._run(self._db.close)

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    async def chunk(self, start: int) -> ChunkRecord | None:
        def read() -> ChunkRecord | None:
            row = self._db.execute(
                "SELECT start, size, digest, state, accepted FROM chunks WHERE start = ?",
                (start,),
            ).fetchone()
            return None if row is None else ChunkRecord(*row)

        return await self._run(read)

    async def leads(self, start: int, size: int) -> dict[int, LeadRecord]:
        def read() -> dict[int, LeadRecord]:
            rows = self._db.execute(
                "SELECT idx, status, target, error_code, kind, reason FROM leads "
                "WHERE idx >= ? AND idx < ?",
                (start, start + size),
            )
            return {row[0]: LeadRecord(*row) for row in rows}

        return await self._run(read)

    async def has_unknown(self) -> bool:
        query = (
            "SELECT EXISTS (SELECT 1 FROM chunks WHERE state = 'sent') "
            "OR EXISTS (SELECT 1 FROM leads WHERE status = 'unknown')"
        )
        return await self._run(lambda: bool(self._db.execute(query).fetchone()[0]))

    async def sent(self, start: int, size: int, digest: bytes, leads: list[LeadRecord]) -> None:
        def write() -> None:
            with _transaction(self._db):
                self._db.execute(
                    "INSERT INTO chunks (start, size, digest, state) VALUES (?, ?, ?, 'sent')",
                    (start, size, digest),
                )
                self._insert(leads)

        await self._run(write)

    async def resending(self, leads: list[LeadRecord]) -> None:
        def write() -> None:
            with _transaction(self._db):
                self._db.executemany(
                    "DELETE FROM leads WHERE idx = ?", [(lead.index,) for lead in leads]
                )
                self._insert(leads)

        await self._run(write)

    async def done(self, start: int, size: int, accepted: int, leads: list[LeadRecord]) -> None:
        def write() -> None:
            with _transaction(self._db):
                self._db.execute(
                    "UPDATE chunks SET state = 'done', accepted = ? WHERE start = ?",
                    (accepted, start),
                )
                self._db.execute(
                    "DELETE FROM leads WHERE idx >= ? AND idx < ?", (start, start + size)
                )
                self._insert(leads)

        await self._run(write)

    async def finished(self, total: int) -> None:
        await self._run(lambda: self._set_meta("total", str(total)))

    def _insert(self, leads: list[LeadRecord]) -> None:
        self._db.executemany(
            "INSERT INTO leads (idx, status, target, error_code, kind, reason) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [_row(lead) for lead in leads],
        )


def _row(lead: LeadRecord) -> tuple[object, ...]:
    text = storable
    return (lead.index, lead.status, text(lead.target), storable_code(lead.error_code),
            text(lead.kind), text(lead.reason))  # fmt: skip


class _transaction:
    """BEGIN ... COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, connection: sqlite3.Connection, *, exclusive: bool = False) -> None:
        self._db = connection
        self._begin = "BEGIN EXCLUSIVE" if exclusive else "BEGIN IMMEDIATE"

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
        meta = _meta(connection, path)
        accepted, in_flight, recorded = connection.execute(
            "SELECT coalesce(sum(CASE state WHEN 'done' THEN accepted ELSE 0 END), 0), "
            "coalesce(sum(CASE state WHEN 'sent' THEN size ELSE 0 END), 0), "
            "coalesce(sum(size), 0) FROM chunks"
        ).fetchone()
        counts = dict(
            connection.execute("SELECT status, count(*) FROM leads GROUP BY status").fetchall()
        )
        # Calls of interrupted chunks are unknown, but for those that failed validation.
        interrupted_failed = connection.execute(
            "SELECT count(*) FROM leads JOIN chunks "
            "ON leads.idx >= chunks.start AND leads.idx < chunks.start + chunks.size "
            "WHERE chunks.state = 'sent'"
        ).fetchone()[0]
    except sqlite3.Error as exc:
        if _busy(exc):
            raise in_use(str(path)) from None
        raise JournalError(f"{path}: the journal cannot be read ({exc})") from None
    finally:
        connection.close()
    total = int(meta["total"]) if "total" in meta else None
    return JournalSummary.count(total, accepted, in_flight, recorded, interrupted_failed, counts)
