"""The bulk upload journal: what the service answered for each chunk, in an SQLite file.

A chunk is recorded as *sent* (with a digest of what it holds) before its request leaves,
and as *done*, with the fate of every call in it, once the answer is in: committed before
the outcome is counted or reported. A rerun with the same input and journal replays done
chunks instead of sending them, so nobody is dialled twice. Chunks that were in flight when
the upload died are *unknown*: reported as such, or reconciled against the campaign.

Only what is not accepted is stored call by call; accepted calls are a count per chunk, so a
journal stays small. No code is stored: the campaign is kept as a hash, to recognise it.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Final

import attrs

from ._exceptions import DialerError, ValidationError

__all__ = ["ChunkRecord", "Journal", "JournalError", "JournalSummary", "LeadRecord", "summarise"]

_FORMAT: Final = "voicenter-dialer bulk journal"
_VERSION: Final = "1"
# How long to wait for another upload's lock before saying the journal is in use.
_LOCK_WAIT: Final = 0.5
_SCHEMA: Final = """
BEGIN IMMEDIATE;
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
    ('campaign', '{campaign}'), ('chunk_size', '{chunk_size}');
COMMIT;
"""


class JournalError(DialerError):
    """The journal cannot be used: another input or campaign, a foreign or corrupt file."""


@attrs.frozen
class ChunkRecord:
    start: int
    size: int
    digest: bytes
    #: "sent" (in flight, or interrupted) or "done".
    state: str
    accepted: int


@attrs.frozen
class LeadRecord:
    """A call that was not accepted.

    ``status`` is "rejected" (a per-target ErrorCode), "failed" (for good: it failed
    validation, or its campaign was refused), "refused" (not processed, e.g. 503 after the
    retries: certainly not added, so a rerun sends it again) or "unknown" (maybe added).
    """

    index: int
    status: str
    target: str
    error_code: int | None
    #: The error's class name (``ValidationError``, ``TransportError``...).
    kind: str
    reason: str

    def error(self) -> DialerError:
        """The recorded failure, as an error again."""
        if self.kind == "ValidationError":
            return ValidationError(self.reason)
        return DialerError(
            self.reason, method="AddCallsBulk", outcome_unknown=self.status == "unknown"
        )


@attrs.frozen
class JournalSummary:
    #: Calls in the input, once known (the input was read to its end, or had a length).
    total: int | None
    accepted: int
    rejected: int
    failed: int
    #: In flight when the upload stopped, or answered ambiguously: maybe added.
    unknown: int
    #: What a rerun sends: never sent, or refused by the service without being processed
    #: (None while the total is not known).
    remaining: int | None

    @property
    def done(self) -> int:
        return self.accepted + self.rejected + self.failed


def campaign_digest(campaign: str) -> str:
    return hashlib.sha256(campaign.encode()).hexdigest()


def _connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    try:
        if read_only:
            connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        else:
            connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise JournalError(
            f"{path} is not a bulk upload journal ({exc}); it was not changed"
        ) from None
    return connection


def _meta(connection: sqlite3.Connection, path: Path) -> dict[str, str]:
    try:
        meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc):
            raise JournalError(f"{path} is in use by a running upload") from None
        raise JournalError(f"{path} is not a bulk upload journal; it was not changed") from None
    if meta.get("format") != _FORMAT:
        raise JournalError(f"{path} is not a bulk upload journal; it was not changed")
    if meta.get("version") != _VERSION:
        found = meta.get("version")
        raise JournalError(f"{path} is a journal of format {found!r}; this one reads {_VERSION!r}")
    return meta


class Journal:
    """An open journal, written by one upload at a time (the file is locked meanwhile)."""

    def __init__(self, connection: sqlite3.Connection, path: Path, chunk_size: int) -> None:
        self._db = connection
        self.path = path
        #: The chunk size the journal was started with: a rerun must cut the input the same way.
        self.chunk_size = chunk_size

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, campaign: str, chunk_size: int, total: int | None
    ) -> Journal:
        """Open the journal at *path*, or start one there; refuse any other file."""
        path = Path(path)
        is_new = not path.exists() or path.stat().st_size == 0
        connection = _connect(path, read_only=False)
        try:
            # A foreign file is recognised before anything (even a pragma) can change it.
            meta = None if is_new else _meta(connection, path)
            # One upload at a time; WAL keeps commits cheap. NORMAL: a commit survives the
            # process being killed (not a power cut, which may lose the last few).
            connection.execute("PRAGMA locking_mode = EXCLUSIVE")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            if meta is None:
                journal = cls._create(connection, path, campaign, chunk_size)
            else:
                journal = cls._reopen(connection, path, campaign, meta)
            if total is not None:
                journal._set_meta("total", str(total))
        except BaseException:
            connection.close()
            raise
        return journal

    @classmethod
    def _create(
        cls, connection: sqlite3.Connection, path: Path, campaign: str, chunk_size: int
    ) -> Journal:
        # One transaction, so that a journal is never left without its meta. The values are
        # a hex digest and an int: nothing to quote.
        connection.executescript(
            _SCHEMA.format(
                format=_FORMAT,
                version=_VERSION,
                campaign=campaign_digest(campaign),
                chunk_size=int(chunk_size),
            )
        )
        return cls(connection, path, chunk_size)

    @classmethod
    def _reopen(
        cls, connection: sqlite3.Connection, path: Path, campaign: str, meta: dict[str, str]
    ) -> Journal:
        if meta.get("campaign") != campaign_digest(campaign):
            raise JournalError(f"{path} is the journal of an upload to another campaign")
        return cls(connection, path, int(meta["chunk_size"]))

    def close(self) -> None:
        self._db.close()

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # --- chunks --------------------------------------------------------------------------

    def chunk(self, start: int) -> ChunkRecord | None:
        row = self._db.execute(
            "SELECT start, size, digest, state, accepted FROM chunks WHERE start = ?", (start,)
        ).fetchone()
        return None if row is None else ChunkRecord(*row)

    def leads(self, start: int, size: int) -> dict[int, LeadRecord]:
        rows = self._db.execute(
            "SELECT idx, status, target, error_code, kind, reason FROM leads "
            "WHERE idx >= ? AND idx < ?",
            (start, start + size),
        )
        return {row[0]: LeadRecord(*row) for row in rows}

    def has_unknown(self) -> bool:
        query = (
            "SELECT EXISTS (SELECT 1 FROM chunks WHERE state = 'sent') "
            "OR EXISTS (SELECT 1 FROM leads WHERE status = 'unknown')"
        )
        return bool(self._db.execute(query).fetchone()[0])

    def sent(self, start: int, size: int, digest: bytes, leads: list[LeadRecord]) -> None:
        """Record that a chunk is about to be sent, with the calls of it that failed locally:
        committed before it leaves."""
        with _transaction(self._db):
            self._db.execute(
                "INSERT INTO chunks (start, size, digest, state) VALUES (?, ?, ?, 'sent')",
                (start, size, digest),
            )
            self._insert(leads)

    def _insert(self, leads: list[LeadRecord]) -> None:
        self._db.executemany(
            "INSERT INTO leads (idx, status, target, error_code, kind, reason) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [attrs.astuple(lead) for lead in leads],
        )

    def done(self, start: int, size: int, accepted: int, leads: list[LeadRecord]) -> None:
        """Record the whole outcome of a chunk, replacing what was known of it."""
        with _transaction(self._db):
            self._db.execute(
                "UPDATE chunks SET state = 'done', accepted = ? WHERE start = ?",
                (accepted, start),
            )
            self._db.execute("DELETE FROM leads WHERE idx >= ? AND idx < ?", (start, start + size))
            self._insert(leads)

    def finished(self, total: int) -> None:
        """Record that the whole input was read: it held *total* calls."""
        self._set_meta("total", str(total))


class _transaction:
    """BEGIN ... COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def summarise(path: str | os.PathLike[str]) -> JournalSummary:
    """Count what a journal holds, without changing it."""
    path = Path(path)
    if not path.exists():
        raise JournalError(f"{path}: no such journal")
    connection = _connect(path, read_only=True)
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
    finally:
        connection.close()
    total = int(meta["total"]) if "total" in meta else None
    return JournalSummary(
        total=total,
        accepted=accepted,
        rejected=counts.get("rejected", 0),
        failed=counts.get("failed", 0),
        unknown=counts.get("unknown", 0) + in_flight - interrupted_failed,
        remaining=None if total is None else total - recorded + counts.get("refused", 0),
    )
