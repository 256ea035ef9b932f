"""The bulk upload journal in PostgreSQL: an upload killed on one machine resumes on another.

``postgresql://USER@HOST:PORT/DB#UPLOAD_NAME`` names a database and, as its fragment, an
upload. Many uploads share one database side by side, each under its name, in the tables of
the ``voicenter_dialer`` schema, created on first use. What is kept, and when it is
committed, is what the SQLite journal keeps (see :mod:`._journal`); the campaign only as a
hash, no code at all.

One upload at a time per name: its connection holds a session-level advisory lock on the
name, which the server releases when that connection ends, however its process died.

psycopg's async API runs under asyncio only, so the synchronous one runs in a worker thread:
the event loop never waits on a round trip, under asyncio and trio alike. Each write is a
single statement (one round trip, atomic on its own in autocommit mode); looking a chunk up
takes none.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote, urlsplit, urlunsplit

import anyio
import anyio.to_thread
import attrs

from ._exceptions import JournalError, ValidationError
from ._journal import ChunkRecord, JournalStore, JournalSummary, LeadRecord, campaign_digest

if TYPE_CHECKING:
    import psycopg
    from typing_extensions import LiteralString

__all__ = ["is_postgres_url", "open_postgres", "summarise_postgres"]

#: The version of the tables below; a database with a higher one was set up by a newer
#: release, whose journal this one cannot be trusted to read or write.
SCHEMA_VERSION: Final = 1
# How long to wait for another upload's lock before saying the journal is in use.
_LOCK_WAIT: Final = 0.5
_LOCK_POLL: Final = 0.05
# Keys of advisory locks, in the one key space that every client of the database shares:
# derived from a name unlikely to be anyone else's.
_KEY_PREFIX: Final = b"voicenter-dialer bulk journal\0"
_SCHEMA: Final = """
CREATE SCHEMA IF NOT EXISTS voicenter_dialer;
CREATE TABLE voicenter_dialer.schema_version (version integer NOT NULL);
CREATE TABLE voicenter_dialer.uploads (
    name text PRIMARY KEY,
    campaign text NOT NULL,
    chunk_size integer NOT NULL,
    total bigint,
    created timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE voicenter_dialer.chunks (
    upload text NOT NULL REFERENCES voicenter_dialer.uploads ON DELETE CASCADE,
    start bigint NOT NULL,
    size integer NOT NULL,
    digest bytea NOT NULL,
    state text NOT NULL CHECK (state IN ('sent', 'done')),
    accepted integer NOT NULL DEFAULT 0,
    PRIMARY KEY (upload, start)
);
CREATE TABLE voicenter_dialer.leads (
    upload text NOT NULL REFERENCES voicenter_dialer.uploads ON DELETE CASCADE,
    idx bigint NOT NULL,
    status text NOT NULL CHECK (status IN ('rejected', 'failed', 'refused', 'unknown')),
    target text NOT NULL,
    error_code integer,
    kind text NOT NULL,
    reason text NOT NULL,
    PRIMARY KEY (upload, idx)
);
"""
# Each statement below is one round trip, atomic on its own; the leads go as one array per
# column. A data-modifying WITH runs to completion even though nothing reads it.
# Leads, inserted (or, with _UPSERT_LEADS, replacing the rows of the same index).
_INSERT_LEADS: Final = """
INSERT INTO voicenter_dialer.leads (upload, idx, status, target, error_code, kind, reason)
SELECT %(upload)s, * FROM unnest(
    %(idx)s::bigint[], %(status)s::text[], %(target)s::text[], %(error_code)s::integer[],
    %(kind)s::text[], %(reason)s::text[]
)
"""
_UPSERT_LEADS: Final = (
    _INSERT_LEADS
    + """
ON CONFLICT (upload, idx) DO UPDATE SET
    status = excluded.status, target = excluded.target, error_code = excluded.error_code,
    kind = excluded.kind, reason = excluded.reason
"""
)
_SENT: Final = (
    """
WITH chunk AS (
    INSERT INTO voicenter_dialer.chunks (upload, start, size, digest, state)
    VALUES (%(upload)s, %(start)s, %(size)s, %(digest)s, 'sent')
)
"""  # noqa: S608 - constant SQL joined to constant SQL: nothing from input
    + _INSERT_LEADS
)
# The sub-statements of one statement run in no set order, so the DELETE spares the rows
# that the INSERT replaces rather than racing it for them.
_DONE: Final = (
    """
WITH chunk AS (
    UPDATE voicenter_dialer.chunks SET state = 'done', accepted = %(accepted)s
    WHERE upload = %(upload)s AND start = %(start)s
), stale AS (
    DELETE FROM voicenter_dialer.leads
    WHERE upload = %(upload)s AND idx >= %(start)s AND idx < %(end)s
        AND idx <> ALL (%(idx)s::bigint[])
)
"""  # noqa: S608 - constant SQL joined to constant SQL: nothing from input
    + _UPSERT_LEADS
)
_RESENDING: Final = _UPSERT_LEADS
_CHUNKS: Final = """
SELECT start, size, digest, state, accepted FROM voicenter_dialer.chunks
WHERE upload = %(upload)s
"""
_LEADS: Final = """
SELECT idx, status, target, error_code, kind, reason FROM voicenter_dialer.leads
WHERE upload = %(upload)s AND idx >= %(start)s AND idx < %(end)s
"""
_HAS_UNKNOWN: Final = """
SELECT EXISTS (
    SELECT 1 FROM voicenter_dialer.chunks WHERE upload = %(upload)s AND state = 'sent'
) OR EXISTS (
    SELECT 1 FROM voicenter_dialer.leads WHERE upload = %(upload)s AND status = 'unknown'
)
"""
_FINISHED: Final = "UPDATE voicenter_dialer.uploads SET total = %(total)s WHERE name = %(upload)s"
_SUMMARY: Final = """
SELECT
    (SELECT total FROM voicenter_dialer.uploads WHERE name = %(upload)s),
    coalesce(sum(CASE state WHEN 'done' THEN accepted ELSE 0 END), 0),
    coalesce(sum(CASE state WHEN 'sent' THEN size ELSE 0 END), 0),
    coalesce(sum(size), 0),
    (SELECT count(*) FROM voicenter_dialer.leads AS l JOIN voicenter_dialer.chunks AS c
        ON c.upload = l.upload AND l.idx >= c.start AND l.idx < c.start + c.size
        WHERE l.upload = %(upload)s AND c.state = 'sent')
FROM voicenter_dialer.chunks WHERE upload = %(upload)s
"""


def is_postgres_url(journal: object) -> bool:
    """Whether a ``journal=`` argument names a PostgreSQL journal rather than a file."""
    return isinstance(journal, str) and journal.startswith(("postgresql://", "postgres://"))


@attrs.frozen
class _Location:
    #: What libpq connects to: the URL without its fragment.
    conninfo: str
    upload: str
    #: The URL without password, query or anything else that may hold a secret.
    description: str

    @classmethod
    def parse(cls, url: str) -> _Location:
        if not is_postgres_url(url):
            raise ValidationError("a PostgreSQL journal is a postgresql://...#UPLOAD_NAME URL")
        parts = urlsplit(url)
        userinfo, at, hostport = parts.netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        description = urlunsplit(
            (parts.scheme, f"{user}{at}{hostport}", parts.path, "", parts.fragment)
        )
        upload = unquote(parts.fragment)
        if not upload:
            raise ValidationError(
                f"{description}: name the upload after '#' (postgresql://...#UPLOAD_NAME): "
                "each upload in the database has its own journal"
            )
        connect_to = urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
        return cls(connect_to, upload, description)

    def lock_key(self) -> int:
        digest = hashlib.blake2b(_KEY_PREFIX + self.upload.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big", signed=True)


@contextmanager
def _errors(location: _Location) -> Iterator[None]:
    """Any database failure as a JournalError naming the journal (libpq never puts the
    password in its messages; the description has none)."""
    import psycopg

    try:
        yield
    except psycopg.Error as exc:
        raise JournalError(f"{location.description}: {str(exc).strip()}") from None


def _connect(location: _Location) -> psycopg.Connection[tuple[Any, ...]]:
    # Imported here, on first use: psycopg comes with the `postgres` extra, which a journal
    # in a file does not need.
    try:
        import psycopg
    except ImportError:
        raise ValidationError(
            "a PostgreSQL journal needs psycopg: pip install 'voicenter-dialer[postgres]'"
        ) from None
    try:
        connection: psycopg.Connection[tuple[Any, ...]] = psycopg.connect(
            location.conninfo, autocommit=True, application_name="voicenter-dialer"
        )
    except psycopg.Error as exc:
        raise JournalError(f"{location.description}: cannot connect ({str(exc).strip()})") from None
    return connection


def _check_schema(db: psycopg.Connection[tuple[Any, ...]], location: _Location) -> bool:
    """Whether the tables are there (and of a version this release reads)."""
    # Read from the catalog with this statement's snapshot (to_regclass may answer from a
    # cache that has not yet seen tables another upload just created).
    row = db.execute(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_tables "
        "WHERE schemaname = 'voicenter_dialer' AND tablename = 'schema_version')"
    ).fetchone()
    if row is None or not row[0]:
        return False
    found = db.execute("SELECT max(version) FROM voicenter_dialer.schema_version").fetchone()
    version = None if found is None else found[0]
    if version != SCHEMA_VERSION:
        newer = isinstance(version, int) and version > SCHEMA_VERSION
        raise JournalError(
            f"{location.description}: the journal tables are of schema version {version}; "
            f"this voicenter-dialer reads version {SCHEMA_VERSION}"
            + (": upgrade voicenter-dialer" if newer else "")
        )
    return True


def _create_schema(db: psycopg.Connection[tuple[Any, ...]], location: _Location) -> None:
    # Two uploads starting at once on a new database must not both create the tables.
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (_schema_key(),))
        if not _check_schema(db, location):
            db.execute(_SCHEMA)
            db.execute(
                "INSERT INTO voicenter_dialer.schema_version (version) VALUES (%s)",
                (SCHEMA_VERSION,),
            )


def _schema_key() -> int:
    digest = hashlib.blake2b(_KEY_PREFIX + b"schema", digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _lock(db: psycopg.Connection[tuple[Any, ...]], location: _Location) -> None:
    """Take the upload's lock for as long as the connection lives, or refuse."""
    deadline = time.monotonic() + _LOCK_WAIT
    while True:
        row = db.execute("SELECT pg_try_advisory_lock(%s)", (location.lock_key(),)).fetchone()
        if row is not None and row[0]:
            return
        if time.monotonic() >= deadline:
            raise JournalError(f"{location.description} is in use by a running upload")
        time.sleep(_LOCK_POLL)


class PostgresJournal:
    """An open PostgreSQL journal: one connection, holding the upload's lock."""

    def __init__(
        self,
        db: psycopg.Connection[tuple[Any, ...]],
        location: _Location,
        chunk_size: int,
        chunks: dict[int, ChunkRecord],
    ) -> None:
        self._db = db
        # Every chunk record, read once: while the lock is held nobody else writes them, so
        # looking a chunk up before it is sent costs no round trip.
        self._chunks = chunks
        self._location = location
        self.description = location.description
        self.chunk_size = chunk_size
        # One statement at a time on the one connection; the others wait here, not in a
        # thread each.
        self._limiter = anyio.CapacityLimiter(1)

    @classmethod
    def _open(
        cls, location: _Location, campaign: str, chunk_size: int, total: int | None
    ) -> PostgresJournal:
        db = _connect(location)
        try:
            with _errors(location):
                if not _check_schema(db, location):
                    _create_schema(db, location)
                _lock(db, location)
                digest = campaign_digest(campaign)
                found = db.execute(
                    "SELECT campaign, chunk_size FROM voicenter_dialer.uploads WHERE name = %s",
                    (location.upload,),
                ).fetchone()
                if found is None:  # a new upload (the lock keeps any other from starting it)
                    db.execute(
                        "INSERT INTO voicenter_dialer.uploads (name, campaign, chunk_size) "
                        "VALUES (%s, %s, %s)",
                        (location.upload, digest, chunk_size),
                    )
                    found = (digest, chunk_size)
                if found[0] != digest:
                    raise JournalError(
                        f"{location.description} is the journal of an upload to another campaign"
                    )
                if total is not None:
                    db.execute(_FINISHED, {"total": total, "upload": location.upload})
                rows = db.execute(_CHUNKS, {"upload": location.upload}).fetchall()
        except BaseException:
            db.close()
            raise
        return cls(db, location, found[1], {row[0]: ChunkRecord(*row) for row in rows})

    async def _run(
        self, query: LiteralString, params: Mapping[str, object]
    ) -> list[tuple[Any, ...]]:
        # Not abandoned on cancellation: the statement commits or not before the task ends,
        # so what the journal says is settled when the upload stops.
        return await anyio.to_thread.run_sync(self._execute, query, params, limiter=self._limiter)

    def _execute(self, query: LiteralString, params: Mapping[str, object]) -> list[tuple[Any, ...]]:
        with _errors(self._location):
            cursor = self._db.execute(query, {"upload": self._location.upload, **params})
            return cursor.fetchall() if cursor.description is not None else []

    async def chunk(self, start: int) -> ChunkRecord | None:
        return self._chunks.get(start)

    async def leads(self, start: int, size: int) -> dict[int, LeadRecord]:
        rows = await self._run(_LEADS, {"start": start, "end": start + size})
        return {row[0]: LeadRecord(*row) for row in rows}

    async def has_unknown(self) -> bool:
        rows = await self._run(_HAS_UNKNOWN, {})
        return bool(rows[0][0])

    async def sent(self, start: int, size: int, digest: bytes, leads: list[LeadRecord]) -> None:
        await self._run(_SENT, {"start": start, "size": size, "digest": digest, **_columns(leads)})
        self._chunks[start] = ChunkRecord(start, size, digest, "sent", 0)

    async def resending(self, leads: list[LeadRecord]) -> None:
        await self._run(_RESENDING, _columns(leads))

    async def done(self, start: int, size: int, accepted: int, leads: list[LeadRecord]) -> None:
        await self._run(
            _DONE, {"start": start, "end": start + size, "accepted": accepted, **_columns(leads)}
        )
        if start in self._chunks:  # as the UPDATE found it, or not
            self._chunks[start] = attrs.evolve(self._chunks[start], state="done", accepted=accepted)

    async def finished(self, total: int) -> None:
        await self._run(_FINISHED, {"total": total})

    async def aclose(self) -> None:
        # Ending the session releases the upload's lock.
        await anyio.to_thread.run_sync(self._db.close, limiter=self._limiter)


def _columns(leads: list[LeadRecord]) -> dict[str, list[Any]]:
    return {
        "idx": [lead.index for lead in leads],
        "status": [lead.status for lead in leads],
        "target": [lead.target for lead in leads],
        "error_code": [lead.error_code for lead in leads],
        "kind": [lead.kind for lead in leads],
        "reason": [lead.reason for lead in leads],
    }


async def open_postgres(
    url: str, *, campaign: str, chunk_size: int, total: int | None
) -> JournalStore:
    """Open the journal of the upload named in *url*, or start it; refuse one for another
    campaign, or one that a running upload holds."""
    location = _Location.parse(url)
    return await anyio.to_thread.run_sync(
        PostgresJournal._open, location, campaign, chunk_size, total
    )


def summarise_postgres(url: str) -> JournalSummary:
    """Count what the journal of the upload named in *url* holds, without changing it (and
    while its upload runs, if it does)."""
    location = _Location.parse(url)
    with _connect(location) as db, _errors(location):
        from psycopg import IsolationLevel  # importable: _connect imported it

        # One read-only snapshot for all the counts, even while the upload writes.
        db.read_only = True
        db.isolation_level = IsolationLevel.REPEATABLE_READ
        with db.transaction():
            if not _check_schema(db, location):
                raise JournalError(f"{location.description}: no such journal")
            upload = {"upload": location.upload}
            exists = db.execute(
                "SELECT 1 FROM voicenter_dialer.uploads WHERE name = %(upload)s", upload
            ).fetchone()
            found = db.execute(_SUMMARY, upload).fetchone()
            counts = dict(
                db.execute(
                    "SELECT status, count(*) FROM voicenter_dialer.leads "
                    "WHERE upload = %(upload)s GROUP BY status",
                    upload,
                ).fetchall()
            )
    if exists is None or found is None:
        raise JournalError(f"{location.description}: no such journal")
    total, accepted, in_flight, recorded, interrupted_failed = found
    return JournalSummary.count(total, accepted, in_flight, recorded, interrupted_failed, counts)
