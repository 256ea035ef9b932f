"""The bulk upload journal's seam: what a journal store keeps, the calls it answers, and
the rules and messages every store shares (one definition each).

A chunk is recorded as *sent* (with a digest of what it holds) before its request leaves,
and as *done*, with the fate of every call in it, once the answer is in: committed before
the outcome is counted or reported. A call about to be sent again (it was refused before) is
recorded as *unknown* before it leaves. Only calls that were not accepted are stored one by
one; accepted calls are a count per chunk, so a journal stays small. No code is stored: the
campaign is kept as a hash, to recognise it.

One upload at a time per journal, held by a lease that its holder renews, in a thread of its
own, and with every write; each taking of the lease draws a new fencing token, and every write
carries the holder's: a holder whose lease ran out while it was stopped, and was taken over,
finds its next write refused (:func:`taken_over`). The rules of taking and renewing a lease
are here, for every store; the check that a holder whose lease may have lapsed sends nothing
is :mod:`._lease_clock`'s.

Stores: SQLite, one file (:mod:`._journal_sqlite`), and PostgreSQL for uploads that resume
on another machine (:mod:`._journal_postgres`); :mod:`._journal` opens the one a path or URL
names. :mod:`._resume` replays a journal.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from typing import Final, Protocol

import attrs

from ._exceptions import DialerError, JournalError, ValidationError
from ._lease_clock import LeaseClock
from ._models import LeadStatus

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "LEASE_POLL",
    "RENEW_EVERY",
    "ChunkRecord",
    "InUse",
    "JournalStore",
    "JournalSummary",
    "LeadRecord",
    "LeaseLost",
    "LeaseWait",
    "MissingJournal",
    "another_campaign",
    "another_input",
    "campaign_digest",
    "check_lease",
    "in_use",
    "lease_free",
    "no_such_journal",
    "not_a_journal",
    "nothing_to_reconcile",
    "renewing",
    "schema_version",
    "storable",
    "storable_code",
    "taken_over",
]

#: How long a lease (of a journal's upload, or of an idempotency key) lasts unless renewed.
DEFAULT_LEASE_SECONDS: Final = 30.0
#: How often an open journal renews its lease (a few times a lease at least, and often enough
#: that an opener sees a running holder renew it within a second), and how often an upload
#: waiting for another's lease looks at it.
RENEW_EVERY: Final = 1.0
LEASE_POLL: Final = 0.1


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
    """A call that was not accepted (see :data:`LeadStatus` for what each status means)."""

    index: int
    status: LeadStatus
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
    """What a journal holds (``voicenter-dialer journal``, :func:`summarise_journal`)."""

    #: Calls in the input, once known (the input was read to its end, or had a length).
    total: int | None
    #: Calls the service added.
    accepted: int
    #: Calls the service refused (a per-target ErrorCode); a rerun does not send them again.
    rejected: int
    #: Calls failed for good (invalid, or their campaign refused); a rerun does not send them.
    failed: int
    #: In flight when the upload stopped, or answered ambiguously: maybe added.
    unknown: int
    #: What a rerun sends: never sent, or refused by the service without being processed
    #: (None while the total is not known).
    remaining: int | None

    @property
    def done(self) -> int:
        """The calls whose fate is recorded: accepted, rejected or failed."""
        return self.accepted + self.rejected + self.failed

    @classmethod
    def count(
        cls,
        total: int | None,
        accepted: int,
        in_flight: int,
        recorded: int,
        interrupted_failed: int,
        by_status: Mapping[str, int],
    ) -> JournalSummary:
        """The summary of a store's counts: *accepted* in done chunks, *in_flight* calls of
        chunks still marked sent (of which *interrupted_failed* failed validation), *recorded*
        calls of every chunk, and leads *by_status*. One rule for every store."""
        return cls(
            total=total,
            accepted=accepted,
            rejected=by_status.get("rejected", 0),
            failed=by_status.get("failed", 0),
            unknown=by_status.get("unknown", 0) + in_flight - interrupted_failed,
            remaining=None if total is None else total - recorded + by_status.get("refused", 0),
        )


def campaign_digest(campaign: str) -> str:
    """How a journal recognises its campaign without storing the code."""
    return hashlib.sha256(campaign.encode()).hexdigest()


class JournalStore(Protocol):
    """An open journal, written by one upload at a time."""

    #: The chunk size the journal was started with: a rerun must cut the input the same way.
    chunk_size: int
    #: Where it is, safe to show (a path, or a URL without password, with its upload name).
    description: str
    #: When the holder's lease was last confirmed: asked just before each send.
    lease: LeaseClock

    async def chunk(self, start: int) -> ChunkRecord | None: ...

    async def leads(self, start: int, size: int) -> dict[int, LeadRecord]: ...

    async def has_unknown(self) -> bool:
        """True when some call may have been added unseen (to reconcile)."""

    async def sent(self, start: int, size: int, digest: bytes, leads: list[LeadRecord]) -> None:
        """Record that a chunk is about to be sent, with the calls of it that failed locally."""

    async def resending(self, leads: list[LeadRecord]) -> None:
        """Replace these calls' records (status ``unknown``) before they are sent again."""

    async def done(self, start: int, size: int, accepted: int, leads: list[LeadRecord]) -> None:
        """Record the whole outcome of a chunk, replacing what was known of it."""

    async def finished(self, total: int) -> None:
        """Record that the whole input was read: it held *total* calls."""

    async def aclose(self) -> None: ...


def check_lease(lease_seconds: object) -> None:
    """Refuse a lease that is not a finite number of seconds more than 0."""
    if not isinstance(lease_seconds, (int, float)) or not 0 < lease_seconds < float("inf"):
        raise ValidationError("lease_seconds must be a number of seconds more than 0")


def lease_free(until: float | None, now: float, alive: bool) -> bool:
    """Whether an upload's lease may be taken: nobody holds it (*until* None), it ran out by
    the store's clock (*now*), or its holder is known dead (not *alive*)."""
    return until is None or until <= now or not alive


class LeaseWait:
    """An opener's wait for an upload's lease that another holds: at most one lease period.
    A holder seen renewing it meanwhile is running, and the upload is in use; a lease that
    runs out is taken over (:func:`lease_free`)."""

    def __init__(self, where: str, lease: float) -> None:
        self._where = where
        self._deadline = time.monotonic() + lease
        self._seen: float | None = None

    def held(self, until: float, *, running: bool = False) -> None:
        """The lease was seen held until *until* (*running*: by a holder known to be running,
        such as this very process): raise :func:`in_use` when it is, else note it and let
        the opener look again in :data:`LEASE_POLL` seconds."""
        renewed = self._seen is not None and until > self._seen
        if running or renewed or time.monotonic() >= self._deadline:
            raise in_use(self._where)
        self._seen = until


def renewing(renew: Callable[[], bool], clock: LeaseClock, stop: threading.Event) -> None:
    """Renew a lease every :data:`RENEW_EVERY` seconds until *stop*, or until *renew()* says
    it was lost (False, or :class:`LeaseLost`: the writes say so). A renewal that fails
    otherwise (the connection, a cancelled statement) is tried again at the next; the lease's
    clock, not confirmed meanwhile, stops the sending if it runs out. Run in a thread of its
    own: it renews under asyncio and trio alike, and stops with its process (SIGSTOP), which
    is when the lease must run out."""
    while not stop.wait(RENEW_EVERY):
        began = clock.begin()
        try:
            if not renew():
                return
        except LeaseLost:
            return
        except JournalError:
            continue
        clock.confirm(began)


def storable(text: str) -> str:
    """*text* as every store can keep it: a lone surrogate (no UTF-8 for it) as ``\\udXXX``,
    NUL (which PostgreSQL text refuses) as ``\\x00``. Used for every text column."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


# What a PostgreSQL integer column holds (SQLite's hold more: one rule for both).
_CODE_RANGE: Final = range(-(2**31), 2**31)


def storable_code(code: int | None) -> int | None:
    """An error code as every store can keep it: one out of a 32-bit integer's range (the
    service may send any number) is kept as unknown, its description still telling."""
    return code if code is None or code in _CODE_RANGE else None


# The messages of every store, by what went wrong; *where* is the store's description (a
# path, or a URL without its password).


class InUse(JournalError):
    """Another upload holds the journal (a journal refused so is not this opener's to remove)."""


def in_use(where: str) -> InUse:
    return InUse(f"{where} is in use by a running upload")


class LeaseLost(JournalError):
    """A lease (an upload's, or idempotency keys') was taken over: its holder stops. Any
    other JournalError of a renewal may pass; the next renewal tries again."""


def taken_over(where: str) -> LeaseLost:
    return LeaseLost(
        f"{where}: another upload took this upload over (its lease ran out while this one was "
        "stopped or stalled); this one sends nothing more"
    )


def another_campaign(where: str) -> JournalError:
    return JournalError(f"{where} is the journal of an upload to another campaign")


def another_input(where: str, start: int, size: int) -> JournalError:
    return JournalError(
        f"{where} was written for another input: the calls at positions {start} to "
        f"{start + size - 1} differ from those journalled (or the same input was cut another "
        "way: give the max_chunk_bytes of the first run). Use a new journal for a new input"
    )


def no_such_journal(where: str) -> JournalError:
    return JournalError(f"{where}: no such journal")


class MissingJournal(JournalError):
    """Opened without creating (``create=False``), the journal holds no upload."""


def nothing_to_reconcile(where: str) -> MissingJournal:
    return MissingJournal(
        f"{where}: no such journal, so nothing to reconcile: reconciling settles what an "
        "earlier upload's journal left unknown. Check the path or URL (a relative path is "
        "relative to the current directory); nothing was sent and no journal was created"
    )


def not_a_journal(where: str, detail: str | None = None) -> JournalError:
    because = f" ({detail})" if detail else ""
    return JournalError(f"{where} is not a bulk upload journal{because}; it was not changed")


def schema_version(where: str, found: object, reads: object) -> JournalError:
    newer = isinstance(found, int) and isinstance(reads, int) and found > reads
    return JournalError(
        f"{where} is a journal of format version {found!r}; this voicenter-dialer reads "
        f"version {reads!r}" + (": upgrade voicenter-dialer" if newer else "")
    )
