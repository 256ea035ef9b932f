"""The bulk upload journal in PostgreSQL: an upload killed on one machine resumes on another.

``postgresql://USER@HOST:PORT/DB#UPLOAD_NAME`` names a database and, as its fragment, an
upload. Many uploads share one database side by side, each under its name, in the tables of
the ``voicenter_dialer`` schema, created on first use. What is kept, and when it is
committed, is what the SQLite journal keeps (see :mod:`._journal_records`); the campaign only as a
hash, no code at all.

One upload at a time per name, held by a lease (``lease_seconds``, default 30) with fencing
tokens, by the rules every journal follows (:mod:`._journal_records`). Opening an upload
whose lease is held waits, at most one lease period: refused as in use if the holder renews
it, taken over if it runs out, or at once if the holder's database session has ended (its
process died). TCP keepalives bound how long a vanished peer keeps a connection open.

psycopg's async API runs under asyncio only, so the synchronous one runs in a worker thread:
the event loop never waits on a round trip, under asyncio and trio alike; a cancelled task
does not wait for its thread either (see :class:`Session`). Connecting and every statement
are bounded (:data:`CONNECT_TIMEOUT`, :data:`STATEMENT_TIMEOUT`). Each write is a
single statement (one round trip, atomic on its own in autocommit mode); looking a chunk up
takes none.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import unquote, unquote_plus

import anyio
import anyio.to_thread
import attrs

from ._exceptions import DialerError, JournalError, ValidationError
from ._journal_records import (
    DEFAULT_LEASE_SECONDS,
    LEASE_POLL,
    ChunkRecord,
    JournalStore,
    JournalSummary,
    LeadRecord,
    LeaseWait,
    another_campaign,
    campaign_digest,
    check_lease,
    lease_free,
    no_such_journal,
    nothing_to_reconcile,
    renewing,
    schema_version,
    storable,
    storable_code,
    taken_over,
)
from ._lease_clock import LeaseClock
from ._secrets import mask_url, scrub, split_url

if TYPE_CHECKING:
    import psycopg
    from typing_extensions import LiteralString

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_LEASE_SECONDS",
    "STATEMENT_TIMEOUT",
    "Location",
    "Session",
    "connect",
    "in_thread",
    "is_postgres_url",
    "open_postgres",
    "summarise_postgres",
]

T = TypeVar("T")

#: Seconds to wait for the server to answer a connection, unless the URL says
#: (``?connect_timeout=SECONDS``).
CONNECT_TIMEOUT: Final = 10
#: How long one statement may run, unless the URL (``?options=-c%20statement_timeout%3D5s``)
#: or the server's settings say.
STATEMENT_TIMEOUT: Final = "30s"
# How long an abandoned statement may run on before it is cancelled, and how long the
# request to cancel it may take (both in a thread of their own).
_SETTLE_WAIT: Final = 1.0
_CANCEL_WAIT: Final = 5.0

#: The version of the tables below; a database with a higher one was set up by a newer
#: release, whose journal this one cannot be trusted to read or write.
SCHEMA_VERSION: Final = 2
# Versions whose tables this release upgrades to its own (1: before leases).
_UPGRADABLE: Final = (1,)
# TCP keepalives, unless the URL says: a peer gone without a word (a machine switched off, a
# network cut) ends the connection within about a minute, on both sides.
_KEEPALIVES: Final = {
    "keepalives": "1",
    "keepalives_idle": "15",
    "keepalives_interval": "5",
    "keepalives_count": "3",
    "tcp_user_timeout": "45000",
}
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
    created timestamptz NOT NULL DEFAULT now(),
    lease_token bigint NOT NULL DEFAULT 0,
    lease_until double precision,
    lease_pid integer
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
_UPGRADE_FROM_1: Final = """
ALTER TABLE voicenter_dialer.uploads
    ADD COLUMN lease_token bigint NOT NULL DEFAULT 0,
    ADD COLUMN lease_until double precision,
    ADD COLUMN lease_pid integer;
UPDATE voicenter_dialer.schema_version SET version = 2;
"""
# Each write below is one round trip, atomic on its own; the leads go as one array per
# column. A data-modifying WITH runs to completion even though nothing reads it. Each is
# fenced: its first part renews the lease if the token is still the holder's, and every other
# part writes only if it did (what it returns says so); a takeover committed meanwhile is seen
# (READ COMMITTED re-reads the row it waited for).
_FENCE: Final = """
WITH fence AS (
    UPDATE voicenter_dialer.uploads
    SET lease_until = extract(epoch FROM clock_timestamp()) + %(lease)s
    WHERE name = %(upload)s AND lease_token = %(token)s
    RETURNING 1
)"""
# Leads, inserted (or, with _UPSERT_LEADS, replacing the rows of the same index).
_INSERT_LEADS: Final = """
INSERT INTO voicenter_dialer.leads (upload, idx, status, target, error_code, kind, reason)
SELECT %(upload)s, u.* FROM unnest(
    %(idx)s::bigint[], %(status)s::text[], %(target)s::text[], %(error_code)s::integer[],
    %(kind)s::text[], %(reason)s::text[]
) AS u, fence
"""
_UPSERT_LEADS: Final = (
    _INSERT_LEADS
    + """
ON CONFLICT (upload, idx) DO UPDATE SET
    status = excluded.status, target = excluded.target, error_code = excluded.error_code,
    kind = excluded.kind, reason = excluded.reason
"""
)
_FENCED: Final = "SELECT count(*) FROM fence"
_SENT: Final = (
    _FENCE  # noqa: S608 - constant SQL joined to constant SQL: nothing from input
    + """, chunk AS (
    INSERT INTO voicenter_dialer.chunks (upload, start, size, digest, state)
    SELECT %(upload)s, %(start)s, %(size)s, %(digest)s, 'sent' FROM fence
), leads AS ("""
    + _INSERT_LEADS
    + ")"
    + _FENCED
)
# The sub-statements of one statement run in no set order, so the DELETE spares the rows
# that the INSERT replaces rather than racing it for them.
_DONE: Final = (
    _FENCE  # noqa: S608 - constant SQL joined to constant SQL: nothing from input
    + """, chunk AS (
    UPDATE voicenter_dialer.chunks SET state = 'done', accepted = %(accepted)s
    WHERE upload = %(upload)s AND start = %(start)s AND EXISTS (SELECT FROM fence)
), stale AS (
    DELETE FROM voicenter_dialer.leads
    WHERE upload = %(upload)s AND idx >= %(start)s AND idx < %(end)s
        AND idx <> ALL (%(idx)s::bigint[]) AND EXISTS (SELECT FROM fence)
), leads AS ("""
    + _UPSERT_LEADS
    + ")"
    + _FENCED
)
_RESENDING: Final = _FENCE + ", leads AS (" + _UPSERT_LEADS + ")" + _FENCED
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
# The fence's own row: one UPDATE both renews and records (a row is changed once a statement).
_FINISHED: Final = """
WITH fence AS (
    UPDATE voicenter_dialer.uploads
    SET total = %(total)s, lease_until = extract(epoch FROM clock_timestamp()) + %(lease)s
    WHERE name = %(upload)s AND lease_token = %(token)s
    RETURNING 1
)
SELECT count(*) FROM fence"""
_RENEW: Final = _FENCE + _FENCED
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
    """Whether a ``journal=`` (or ``idempotency_store=``) argument names a PostgreSQL store
    rather than a file: ``postgresql://`` in any letter case (RFC 3986), ``postgres://``, or
    SQLAlchemy's ``postgresql+DRIVER://``, blanks around it ignored.

    Any other ``scheme://`` is a :class:`ValidationError`: taken for a file's path, its
    password would be shown in the "cannot open" message.
    """
    if not isinstance(journal, str) or (parts := split_url(journal)) is None:
        return False
    scheme = parts.scheme.lower().partition("+")[0]
    if scheme in ("postgresql", "postgres"):
        return True
    raise ValidationError(
        f"{mask_url(journal.strip())!r} is neither a file nor a postgresql:// URL"
    )


def _require_psycopg() -> None:
    # psycopg comes with the `postgres` extra, which a journal in a file does not need: it is
    # imported where it is used, once a URL was parsed (which checks it is there).
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise ValidationError(
            "a PostgreSQL journal needs psycopg: pip install 'voicenter-dialer[postgres]'"
        ) from None


@attrs.frozen
class Location:
    #: What libpq connects to: the URL without its credentials (given to libpq apart, so
    #: that it never parses, or quotes, the password) and without its fragment (its query
    #: may hold a password: not shown in a repr).
    conninfo: str = attrs.field(repr=False)
    #: The user, password and timeouts given to libpq beside the URL.
    options: Mapping[str, str] = attrs.field(repr=False)
    upload: str
    #: The URL safe to show (:func:`._secrets.mask_url`).
    description: str
    #: Every form of a password the URL holds, scrubbed from what libpq says.
    secrets: tuple[str, ...] = attrs.field(repr=False)

    @classmethod
    def parse(cls, url: str) -> Location:
        parts = split_url(url) if is_postgres_url(url) else None
        if parts is None:
            raise ValidationError("a PostgreSQL journal is a postgresql://...#UPLOAD_NAME URL")
        description = mask_url(url)
        address, _, fragment = parts.rest.partition("#")
        upload = unquote(fragment)
        if not upload:
            raise ValidationError(
                f"{description}: name the upload after '#' (postgresql://...#UPLOAD_NAME): "
                "each upload in the database has its own journal"
            )
        if "\x00" in upload:
            raise ValidationError(f"{description}: the upload's name holds a NUL character")
        hosts = re.split(r"[/?]", address, maxsplit=1)[0]
        _check_hosts(hosts, description)
        query = dict(_query(address.partition("?")[2]))
        secrets = {
            form
            for raw in (parts.password, query.get("password"))
            if raw
            for form in (raw, unquote(raw), unquote_plus(raw))
        }
        defaults = {"connect_timeout": str(CONNECT_TIMEOUT), **_KEEPALIVES}
        options = {key: value for key, value in defaults.items() if key not in query}
        if parts.user:
            options["user"] = unquote(parts.user)
        if parts.password is not None:
            options["password"] = unquote(parts.password)
        location = cls(f"{parts.scheme}://{address}", options, upload, description, tuple(secrets))
        _require_psycopg()
        from psycopg.conninfo import conninfo_to_dict

        with location.errors(ValidationError):  # a malformed URL: nothing is sent
            conninfo_to_dict(location.conninfo, **options)
        return location

    @contextmanager
    def errors(self, kind: type[DialerError] = JournalError, doing: str = "") -> Iterator[None]:
        """Any database failure as a *kind* error naming the journal, its message scrubbed
        of the password (libpq may quote it): the one place psycopg's errors are turned."""
        import psycopg

        try:
            yield
        except psycopg.Error as exc:
            said = scrub(str(exc).strip(), self.secrets)
            raise kind(f"{self.description}: {doing}{said}") from None


def _query(query: str) -> Iterator[tuple[str, str]]:
    """The URL's query as libpq reads it: ``key=value`` pairs, keys percent-decoded, values
    as written."""
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        yield unquote(key), value


_PORT = re.compile(r"[0-9]{1,5}")


def _check_hosts(hosts: str, description: str) -> None:
    """Refuse a host list libpq would misread (``[::1`` unclosed, ``[not-an-ip]``, a port
    that is no port) with a ValidationError, before anything connects."""
    for host in hosts.split(",") if hosts else ():
        port: str | None
        if host.startswith("["):
            inside, bracket, after = host[1:].partition("]")
            if not bracket:
                raise ValidationError(f"{description}: the host's '[' is not closed")
            try:
                ipaddress.IPv6Address(unquote(inside))
            except ValueError:
                raise ValidationError(f"{description}: [{inside}] is not an IPv6 address") from None
            if after and not after.startswith(":"):
                raise ValidationError(f"{description}: {after!r} follows the host's ']'")
            port = after[1:] if after else None
        else:
            if "[" in host or "]" in host:
                raise ValidationError(f"{description}: {host!r} is not a host")
            _, colon, port = host.partition(":")
            port = port if colon else None
        if port is not None and not (_PORT.fullmatch(port) and 0 < int(port) < 65536):
            raise ValidationError(f"{description}: port {port!r} is not from 1 to 65535")


def connect(location: Location) -> psycopg.Connection[tuple[Any, ...]]:
    import psycopg
    from psycopg.conninfo import make_conninfo

    with location.errors(doing="cannot connect: "):
        db: psycopg.Connection[tuple[Any, ...]] = psycopg.connect(
            make_conninfo(location.conninfo, **location.options),
            autocommit=True,
            application_name="voicenter-dialer",
        )
    try:
        with location.errors():
            # Bounded, unless the URL (options=-c statement_timeout=...) or the server says;
            # the server's side of the connection too, for a client gone without a word.
            db.execute(
                "SELECT CASE WHEN current_setting('statement_timeout') = '0' "
                "THEN set_config('statement_timeout', %s, false) END, "
                "CASE WHEN current_setting('tcp_keepalives_idle') = '0' "
                "THEN set_config('tcp_keepalives_idle', %s, false) END, "
                "CASE WHEN current_setting('tcp_keepalives_interval') = '0' "
                "THEN set_config('tcp_keepalives_interval', %s, false) END, "
                "CASE WHEN current_setting('tcp_keepalives_count') = '0' "
                "THEN set_config('tcp_keepalives_count', %s, false) END, "
                "CASE WHEN current_setting('tcp_user_timeout') = '0' "
                "THEN set_config('tcp_user_timeout', %s, false) END",
                (
                    STATEMENT_TIMEOUT,
                    _KEEPALIVES["keepalives_idle"],
                    _KEEPALIVES["keepalives_interval"],
                    _KEEPALIVES["keepalives_count"],
                    _KEEPALIVES["tcp_user_timeout"],
                ),
            )
    except BaseException:
        db.close()
        raise
    return db


def _check_schema(
    db: psycopg.Connection[tuple[Any, ...]],
    location: Location,
    accept: tuple[int, ...] = (*_UPGRADABLE, SCHEMA_VERSION),
) -> int | None:
    """The version of the tables, None when they are not there; one not in *accept* is
    refused."""
    # Read from the catalog with this statement's snapshot (to_regclass may answer from a
    # cache that has not yet seen tables another upload just created).
    row = db.execute(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_tables "
        "WHERE schemaname = 'voicenter_dialer' AND tablename = 'schema_version')"
    ).fetchone()
    if row is None or not row[0]:
        return None
    found = db.execute("SELECT max(version) FROM voicenter_dialer.schema_version").fetchone()
    version = None if found is None else found[0]
    if version not in accept:
        raise schema_version(location.description, version, SCHEMA_VERSION)
    return int(version)


def _create_schema(db: psycopg.Connection[tuple[Any, ...]], location: Location) -> None:
    # Two uploads starting at once on a new database must not both create the tables.
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (_schema_key(),))
        version = _check_schema(db, location)
        if version is None:
            db.execute(_SCHEMA)
            db.execute(
                "INSERT INTO voicenter_dialer.schema_version (version) VALUES (%s)",
                (SCHEMA_VERSION,),
            )
        elif version == 1:
            db.execute(_UPGRADE_FROM_1)


def _schema_key() -> int:
    digest = hashlib.blake2b(_KEY_PREFIX + b"schema", digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


_HOLDER: Final = """
SELECT campaign, chunk_size, lease_token, lease_until,
    extract(epoch FROM clock_timestamp())::float8,
    EXISTS (SELECT FROM pg_stat_activity WHERE pid = lease_pid)
FROM voicenter_dialer.uploads WHERE name = %(upload)s
FOR UPDATE
"""
_TAKE: Final = """
UPDATE voicenter_dialer.uploads
SET lease_token = lease_token + 1,
    lease_until = extract(epoch FROM clock_timestamp()) + %(lease)s,
    lease_pid = pg_backend_pid()
WHERE name = %(upload)s
RETURNING lease_token, chunk_size
"""


def _take_lease(
    db: psycopg.Connection[tuple[Any, ...]],
    location: Location,
    digest: str,
    chunk_size: int,
    create: bool,
    clock: LeaseClock,
    lease: float,
) -> tuple[int, int]:
    """Take the upload's lease (starting the upload if *create*): its fencing token and chunk
    size. A lease held by a live session is waited for (:class:`LeaseWait`)."""
    params = {"upload": location.upload, "lease": lease}
    waiting = LeaseWait(location.description, lease)
    while True:
        began = clock.begin()
        with db.transaction():
            found = db.execute(_HOLDER, params).fetchone()
            if found is None:
                if not create:
                    raise nothing_to_reconcile(location.description)
                db.execute(
                    "INSERT INTO voicenter_dialer.uploads (name, campaign, chunk_size) "
                    "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                    (location.upload, digest, chunk_size),
                )
                continue  # read it again, locked (another upload may have just started it)
            campaign, _, _, until, now, alive = found
            if campaign != digest:
                raise another_campaign(location.description)
            if lease_free(until, now, alive):
                taken = db.execute(_TAKE, params).fetchone()
                if taken is None:  # the row locked above cannot be gone
                    raise JournalError(f"{location.description}: the upload vanished")
                clock.confirm(began)
                return taken[0], taken[1]
        waiting.held(until)
        time.sleep(LEASE_POLL)


class Session:
    """A store's one connection, used from worker threads that a cancelled task abandons
    rather than waits for (a hung server must not hang the upload): it is closed once, by
    whichever thread stops using it last."""

    def __init__(self, location: Location) -> None:
        self._location = location
        self._db: psycopg.Connection[tuple[Any, ...]] | None = None
        self._state = threading.Condition()
        # Threads using the connection (statements, cancel requests), and of them statements.
        self._users = 0
        self._statements = 0
        self._closing = False
        # One statement at a time on the connection, and which caller's it is: a cancel
        # request is for one caller's statement, never for the one that follows it.
        self._connection = threading.Lock()
        self._executing: _Marks | None = None
        self._cancelling = False

    def connect(self) -> None:
        db = connect(self._location)
        with self._state:
            if not self._closing:
                self._db = db
                return
        db.close()  # the opener is gone
        raise JournalError(f"{self._location.description}: the journal was closed")

    def run(self, work: Callable[[psycopg.Connection[tuple[Any, ...]]], T]) -> T:
        with self._state:
            db = self._db
            if db is None or self._closing:
                raise JournalError(f"{self._location.description}: the journal was closed")
            self._users += 1
            self._statements += 1
        marks: _Marks | None = getattr(_caller, "marks", None)
        try:
            with self._connection:
                with self._state:
                    # A cancel request on its way is for the statement before this one.
                    self._state.wait_for(lambda: not self._cancelling)
                    if marks is not None and marks.gone:
                        raise JournalError("cancelled before it ran")
                    self._executing = marks
                try:
                    with self._location.errors():
                        return work(db)
                finally:
                    with self._state:
                        self._executing = None
        finally:
            if marks is not None:
                with self._state:
                    marks.ended = True
            self._release(statement=True)

    def _release(self, *, statement: bool = False) -> None:
        with self._state:
            self._users -= 1
            if statement:
                self._statements -= 1
            self._state.notify_all()
            db = self._db if self._closing and not self._users else None
            if db is not None:
                self._db = None
        if db is not None:
            db.close()  # ending the session releases the upload's lock

    def interrupt(self, marks: _Marks) -> None:
        """Ask the server to cancel the statement of the caller *marks* is of, unless it
        ends within a moment, from a thread of its own: that request may hang as long as the
        server does. Another caller's statement is never cancelled."""
        threading.Thread(target=self._cancel, args=(marks,), daemon=True).start()

    def _cancel(self, marks: _Marks) -> None:
        import psycopg

        with self._state:
            # A statement that a healthy server ends at once commits (or not) by itself: what
            # the journal says is then settled, as if the caller had waited.
            if self._state.wait_for(lambda: marks.ended, timeout=_SETTLE_WAIT):
                return
            db = self._db
            if self._executing is not marks or db is None:
                return  # still waiting for the connection: it will not run (marks.gone)
            self._users += 1
            self._cancelling = True
        try:
            db.cancel_safe(timeout=_CANCEL_WAIT)
        except psycopg.Error:
            pass  # the statement ends all the same, at its timeout
        finally:
            with self._state:
                self._cancelling = False
                self._state.notify_all()
            self._release()

    def close(self) -> None:
        with self._state:
            self._closing = True
            db = None if self._users else self._db
            self._db = None if db is not None else self._db
        if db is not None:
            db.close()


async def in_thread(
    work: Callable[[], T],
    session: Session,
    limiter: anyio.CapacityLimiter | None = None,
    turn: threading.Lock | None = None,
) -> T:
    """*work* in a worker thread (*limiter*'s), once the thread holds *turn* if given.

    On cancellation the caller returns at once. Work that had not begun never runs; work
    that had is left to end by itself, its statement cancelled if it does not end soon. A
    caller cancelled while it waited leaves alone the statement running, another caller's.
    What the journal records stays on the safe side: a chunk recorded as sent, or not,
    before it left.
    """
    marks = _Marks()

    def run() -> T:
        with turn or contextlib.nullcontext():
            with marks.lock:
                if marks.gone:
                    raise JournalError("cancelled before it ran")
                marks.started = True
            _caller.marks = marks  # for Session.run, in this thread
            try:
                return work()
            finally:
                _caller.marks = None

    try:
        return await anyio.to_thread.run_sync(run, abandon_on_cancel=True, limiter=limiter)
    except anyio.get_cancelled_exc_class():
        with marks.lock:
            marks.gone = True
            started = marks.started
        if started:
            session.interrupt(marks)
        raise


#: The :func:`in_thread` call a worker thread is running the work of.
_caller = threading.local()


@attrs.define
class _Marks:
    """One call of :func:`in_thread`: whether its work began, and whether its caller left
    (set under the lock, so that exactly one of them comes first); whether its statement
    has ended (set under its session's state)."""

    lock: threading.Lock = attrs.Factory(threading.Lock)
    started: bool = False
    gone: bool = False
    ended: bool = False


class PostgresJournal:
    """An open PostgreSQL journal: one connection, holding the upload's lock."""

    def __init__(
        self,
        session: Session,
        location: Location,
        chunk_size: int,
        chunks: dict[int, ChunkRecord],
        fence: Mapping[str, object],
        lease: LeaseClock,
    ) -> None:
        self._session = session
        self.lease = lease
        # What every write carries: the upload, its fencing token, the lease it renews.
        self._fence = fence
        # Every chunk record, read once: while the lease is held nobody else writes them, so
        # looking a chunk up before it is sent costs no round trip.
        self._chunks = chunks
        self._location = location
        self.description = location.description
        self.chunk_size = chunk_size
        # One statement at a time on the one connection; the others wait here, not in a
        # thread each.
        self._limiter = anyio.CapacityLimiter(1)
        self._stop = threading.Event()

        def renew() -> bool:
            return bool(session.run(lambda db: db.execute(_RENEW, fence).fetchall())[0][0])

        threading.Thread(target=renewing, args=(renew, lease, self._stop), daemon=True).start()

    @classmethod
    async def open(
        cls,
        location: Location,
        campaign: str,
        chunk_size: int,
        total: int | None,
        create: bool,
        lease: float,
    ) -> PostgresJournal:
        session = Session(location)
        clock = LeaseClock(lease, lambda: taken_over(location.description))

        def start() -> tuple[int, int, dict[int, ChunkRecord]]:
            try:
                session.connect()
                return session.run(
                    lambda db: _start(
                        db, location, campaign, chunk_size, total, create, clock, lease
                    )
                )
            except BaseException:
                session.close()
                raise

        try:
            token, size, chunks = await in_thread(start, session)
        except anyio.get_cancelled_exc_class():
            session.close()  # once the abandoned thread is done with it
            raise
        fence = {"upload": location.upload, "token": token, "lease": lease}
        return cls(session, location, size, chunks, fence, clock)

    async def _run(
        self, query: LiteralString, params: Mapping[str, object]
    ) -> list[tuple[Any, ...]]:
        def execute(db: psycopg.Connection[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
            cursor = db.execute(query, {**self._fence, **params})
            return cursor.fetchall() if cursor.description is not None else []

        return await in_thread(lambda: self._session.run(execute), self._session, self._limiter)

    async def chunk(self, start: int) -> ChunkRecord | None:
        return self._chunks.get(start)

    async def leads(self, start: int, size: int) -> dict[int, LeadRecord]:
        rows = await self._run(_LEADS, {"start": start, "end": start + size})
        return {row[0]: LeadRecord(*row) for row in rows}

    async def has_unknown(self) -> bool:
        rows = await self._run(_HAS_UNKNOWN, {})
        return bool(rows[0][0])

    async def _write(self, query: LiteralString, params: Mapping[str, object]) -> None:
        """A fenced write: refused when another upload took this one over."""
        began = self.lease.begin()
        rows = await self._run(query, params)
        if not rows[0][0]:
            self._stop.set()
            raise taken_over(self.description)
        self.lease.confirm(began)

    async def sent(self, start: int, size: int, digest: bytes, leads: list[LeadRecord]) -> None:
        await self._write(
            _SENT, {"start": start, "size": size, "digest": digest, **_columns(leads)}
        )
        self._chunks[start] = ChunkRecord(start, size, digest, "sent", 0)

    async def resending(self, leads: list[LeadRecord]) -> None:
        await self._write(_RESENDING, _columns(leads))

    async def done(self, start: int, size: int, accepted: int, leads: list[LeadRecord]) -> None:
        await self._write(
            _DONE, {"start": start, "end": start + size, "accepted": accepted, **_columns(leads)}
        )
        if start in self._chunks:  # as the UPDATE found it, or not
            self._chunks[start] = attrs.evolve(self._chunks[start], state="done", accepted=accepted)

    async def finished(self, total: int) -> None:
        await self._write(_FINISHED, {"total": total})

    async def aclose(self) -> None:
        # Ending the session frees the upload at once: the next one sees its holder's session
        # gone (at once, or when a statement a cancellation abandoned ends).
        self._stop.set()
        await anyio.to_thread.run_sync(self._session.close)


def _start(
    db: psycopg.Connection[tuple[Any, ...]],
    location: Location,
    campaign: str,
    chunk_size: int,
    total: int | None,
    create: bool,
    clock: LeaseClock,
    lease: float,
) -> tuple[int, int, dict[int, ChunkRecord]]:
    """Take the upload's journal (started if *create*): its fencing token, chunk size and
    chunk records."""
    version = _check_schema(db, location)
    if version is None and not create:
        raise nothing_to_reconcile(location.description)
    if version != SCHEMA_VERSION:
        _create_schema(db, location)  # created, or upgraded
    digest = campaign_digest(campaign)
    token, size = _take_lease(db, location, digest, chunk_size, create, clock, lease)
    fence = {"upload": location.upload, "token": token, "lease": lease}
    if total is not None:
        db.execute(_FINISHED, {"total": total, **fence})
    rows = db.execute(_CHUNKS, fence).fetchall()
    return token, size, {row[0]: ChunkRecord(*row) for row in rows}


def _columns(leads: list[LeadRecord]) -> dict[str, list[Any]]:
    return {
        "idx": [lead.index for lead in leads],
        "status": [lead.status for lead in leads],
        "target": [storable(lead.target) for lead in leads],
        "error_code": [storable_code(lead.error_code) for lead in leads],
        "kind": [storable(lead.kind) for lead in leads],
        "reason": [storable(lead.reason) for lead in leads],
    }


async def open_postgres(
    url: str,
    *,
    campaign: str,
    chunk_size: int,
    total: int | None,
    create: bool = True,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> JournalStore:
    """Open the journal of the upload named in *url*, or (if *create*) start it; refuse one
    for another campaign, or one that a running upload holds (its lease renewed)."""
    check_lease(lease_seconds)
    location = Location.parse(url)
    return await PostgresJournal.open(location, campaign, chunk_size, total, create, lease_seconds)


def summarise_postgres(url: str) -> JournalSummary:
    """Count what the journal of the upload named in *url* holds, without changing it (and
    while its upload runs, if it does)."""
    location = Location.parse(url)
    db = connect(location)
    try:
        with location.errors():
            found, counts = _summarise(db, location)
    finally:
        db.close()
    total, accepted, in_flight, recorded, interrupted_failed = found
    return JournalSummary.count(total, accepted, in_flight, recorded, interrupted_failed, counts)


def _summarise(
    db: psycopg.Connection[tuple[Any, ...]], location: Location
) -> tuple[tuple[Any, ...], dict[str, int]]:
    from psycopg import IsolationLevel  # importable: _connect imported psycopg

    # One read-only snapshot for all the counts, even while the upload writes.
    db.read_only = True
    db.isolation_level = IsolationLevel.REPEATABLE_READ
    with db.transaction():
        if not _check_schema(db, location):
            raise no_such_journal(location.description)
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
        raise no_such_journal(location.description)
    return found, counts
