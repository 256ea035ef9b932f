"""One bulk session: the options of a bulk upload or writer, checked once; the limiter, the
journal and the chunk runner built from them; the tally that makes every report; and the one
place errors leave a bulk path's task groups.

``add_calls_bulk``, ``stream_calls_bulk`` and ``bulk_writer`` (the sync ``Dialer``'s too) all
run through :func:`open_session`. The :class:`ChunkRunner` takes each chunk through one step:
a place in flight, recorded as sent, sent, recorded as done, the place released.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from typing import Any, Final

import anyio
import attrs
from anyio.abc import TaskGroup

from . import _telemetry as telemetry
from ._answer import Answer
from ._chunk import METHOD, Chunk, ChunkOutcome, ChunkSender, fits, too_large, wire_size
from ._concurrency import Limiter, Slot, check_concurrency
from ._converter import wires_body
from ._exceptions import DialerError, InvalidCampaignError, ValidationError
from ._idempotent_call import KeyedChunks, KeyFunction, KeyStore
from ._journal_records import DEFAULT_LEASE_SECONDS
from ._lease_clock import check_leases
from ._models import BulkReport, FailedCall, RejectedCall
from ._outcome import overloaded
from ._resume import JournalReplay, JournalSpec, open_replay
from ._validation import integer, shown

if sys.version_info < (3, 11):  # pragma: no cover - the backport anyio depends on
    from exceptiongroup import BaseExceptionGroup

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_CONCURRENCY",
    "MAX_CHUNK_SIZE",
    "BulkOptions",
    "BulkProgress",
    "ChunkRunner",
    "Tally",
    "open_session",
    "single_error",
    "tell",
]

MAX_CHUNK_SIZE: Final = 3000
"""The largest AddCallsBulk request that still gets a per-target AddResult."""
DEFAULT_CHUNK_SIZE: Final = 1000
"""Calls per AddCallsBulk request when ``chunk_size`` is not given."""
DEFAULT_CONCURRENCY: Final = 4
"""Bulk chunks in flight at once when ``concurrency`` is not given."""

#: What ``on_progress`` may be: a plain function, or a coroutine function (awaited).
ProgressCallback = Callable[["BulkProgress"], object]


@attrs.frozen
class BulkProgress:
    """Passed to ``on_progress`` each time a chunk completes."""

    #: Calls whose fate is known so far.
    done: int
    #: Calls in the input, when it has a length.
    total: int | None
    #: Calls the service accepted so far.
    accepted: int
    #: Calls the service refused with a per-target ErrorCode so far.
    rejected: int
    #: Calls with no per-target answer so far (see :attr:`BulkReport.failed`).
    failed: int
    #: Chunks allowed in flight now (with ``concurrency="auto"``, where the limit stands);
    #: not compared, like :attr:`BulkReport.concurrency`.
    concurrency: int | None = attrs.field(default=None, eq=False)


@attrs.frozen
class BulkOptions:
    """The options of one bulk upload or writer, each checked by :meth:`build`."""

    chunk_size: int
    #: Chunks in flight at once; None: "auto", between 1 and :attr:`max_concurrency`.
    concurrency: int | None
    max_concurrency: int
    flush_after: float | None
    journal: JournalSpec | None
    reconcile: bool
    on_progress: ProgressCallback | None
    #: No request body larger than this many bytes (a chunk is split); None: no bound.
    max_chunk_bytes: int | None = None
    #: Each call's idempotency key (or None); None: no call has one.
    idempotency_key: KeyFunction | None = None
    #: The dialer's idempotency store (opened when a key is first used).
    keys: KeyStore | None = attrs.field(default=None, eq=False)

    @classmethod
    def build(
        cls,
        *,
        chunk_size: object,
        concurrency: object,
        max_concurrency: object,
        flush_after: object,
        journal: object = None,
        reconcile: object = False,
        on_progress: object = None,
        max_chunk_bytes: object = None,
        idempotency_key: object = None,
        keys: KeyStore | None = None,
    ) -> BulkOptions:
        """Check every option before anything is read or sent: a :class:`ValidationError`
        names the first one that is wrong."""
        size = integer(chunk_size, "chunk_size")
        if not 1 <= size <= MAX_CHUNK_SIZE:
            raise ValidationError(
                f"chunk_size must be between 1 and {MAX_CHUNK_SIZE} (the service gives "
                f"per-target results only up to {MAX_CHUNK_SIZE}), got {size}"
            )
        workers, maximum = check_concurrency(concurrency, max_concurrency)
        if journal is not None and not isinstance(journal, str | os.PathLike):
            raise ValidationError(
                f"journal must be a path or a postgresql:// URL, got {type(journal).__name__}"
            )
        if not isinstance(reconcile, bool):
            raise ValidationError(f"reconcile must be True or False, got {shown(reconcile)}")
        if reconcile and journal is None:
            raise ValidationError(
                "reconcile needs a journal: it settles what a journal left unknown"
            )
        if on_progress is not None and not callable(on_progress):
            raise ValidationError(
                f"on_progress must be a function or None, got {type(on_progress).__name__}"
            )
        if idempotency_key is not None and not callable(idempotency_key):
            raise ValidationError(
                "idempotency_key must be a function of each call giving its key (or None), "
                f"got {type(idempotency_key).__name__}"
            )
        return cls(
            idempotency_key=idempotency_key,
            keys=keys,
            chunk_size=size,
            concurrency=workers,
            max_concurrency=maximum,
            flush_after=_flush_after(flush_after),
            journal=journal,
            reconcile=reconcile,
            on_progress=on_progress,
            max_chunk_bytes=_max_chunk_bytes(max_chunk_bytes),
        )

    @property
    def in_flight(self) -> int:
        """The most chunks that may be in flight at once."""
        return self.concurrency or self.max_concurrency


def _flush_after(flush_after: object) -> float | None:
    if flush_after is None:
        return None
    if isinstance(flush_after, bool) or not isinstance(flush_after, int | float):
        raise ValidationError(f"flush_after must be seconds or None, got {shown(flush_after)}")
    if not flush_after > 0:
        raise ValidationError(f"flush_after must be > 0 seconds, got {flush_after}")
    return float(flush_after)


def _max_chunk_bytes(max_chunk_bytes: object) -> int | None:
    if max_chunk_bytes is None:
        return None
    size = integer(max_chunk_bytes, "max_chunk_bytes")
    if size < _SMALLEST_BODY:
        raise ValidationError(
            f"max_chunk_bytes must be at least {_SMALLEST_BODY} (one call's request), got {size}"
        )
    return size


#: No AddCallsBulk body of one call is smaller than this.
_SMALLEST_BODY: Final = 64


class Tally:
    """The running count of one upload or writer: what builds every :class:`BulkReport`
    and :class:`BulkProgress`. Only calls that were not accepted are kept."""

    def __init__(self) -> None:
        self._limiter: Limiter | None = None
        self._total: int | None = None
        self.done = 0
        self.accepted = 0
        self._rejected: list[RejectedCall] = []
        self._failed: list[FailedCall] = []

    def bind(self, limiter: Limiter, total: int | None) -> None:
        """Count for the session of *limiter*, whose input holds *total* calls if known."""
        self._limiter = limiter
        self._total = total

    def add(self, chunk: ChunkOutcome | Chunk) -> None:
        """Count the calls of a settled chunk."""
        self.done += len(chunk.calls) if isinstance(chunk, Chunk) else chunk.size
        self.accepted += chunk.accepted
        self._rejected.extend(chunk.rejected)
        self._failed.extend(chunk.failed)

    def progress(self) -> BulkProgress:
        return BulkProgress(
            self.done,
            self._total,
            self.accepted,
            len(self._rejected),
            len(self._failed),
            None if self._limiter is None else self._limiter.limit,
        )

    def report(self) -> BulkReport:
        """The report of what is counted so far: entries in input order."""
        return BulkReport(
            total=self.done,
            accepted=self.accepted,
            rejected=sorted(self._rejected, key=_index),
            failed=sorted(self._failed, key=_index),
            concurrency=None if self._limiter is None else self._limiter.settled,
        )


def _index(entry: RejectedCall | FailedCall) -> int:
    return entry.index


async def tell(on_progress: ProgressCallback | None, progress: BulkProgress) -> None:
    """Hand *progress* to *on_progress*; a coroutine function's is awaited, not dropped."""
    if on_progress is not None and inspect.isawaitable(shown := on_progress(progress)):
        await shown


class ChunkRunner:
    """Takes the chunks of one upload (or writer) through their one step each: a place in
    flight, recorded as sent, sent, recorded as done, the place released; no chunk is sent
    once the campaign is refused."""

    def __init__(
        self,
        sender: ChunkSender,
        limiter: Limiter,
        journal: JournalReplay | None,
        chunk_size: int,
        max_chunk_bytes: int | None = None,
        keyed: KeyedChunks | None = None,
    ) -> None:
        self.sender = sender
        #: The session's idempotency keys (None: no call may have one).
        self.keyed = keyed
        self.limiter = limiter
        self.journal = journal
        #: The size to cut the input by: the journal's own, on a rerun.
        self.chunk_size = chunk_size
        #: No request body larger than this (None: no bound).
        self.max_chunk_bytes = max_chunk_bytes
        # Set when the campaign is refused: later chunks are not sent.
        self._stopped_by: InvalidCampaignError | None = None
        # Chunks of this session the service answered, and those being sent (with an event
        # fired as each send ends): while it answers some, the service is alive, and a chunk
        # it refuses for load waits for room rather than failing.
        self._answered = 0
        self._sending = 0
        self._send_ended = anyio.Event()

    @property
    def stopped(self) -> bool:
        """True once the campaign was refused: chunks are no longer sent."""
        return self._stopped_by is not None

    def prepare(self, start: int, calls: list[Any]) -> list[Chunk]:
        """The chunk of *calls*, validated and encoded (those that fail validation failed);
        split into several when its request would be larger than :attr:`max_chunk_bytes`."""
        chunk = Chunk(start, calls)
        try:  # the common case: every call valid
            chunk.load(range(len(calls)), self.sender.encode_chunk(calls))
        except ValidationError:  # then call by call, to know which calls fail and why
            self._load_each(chunk)
        limit = self.max_chunk_bytes
        if limit is None or len(chunk.body) <= limit:
            return [chunk]
        return self._split(chunk, limit)

    def _load_each(self, chunk: Chunk, max_bytes: int | None = None) -> None:
        """Load *chunk*'s calls one by one: those that fail validation (or that alone are
        larger than *max_bytes*) fail."""
        encode = self.sender.encode
        offsets, wires = [], []
        for offset, call in enumerate(chunk.calls):
            try:
                wire = encode(call)
                if max_bytes is not None and not fits(size := wire_size(wire), max_bytes):
                    raise too_large(size, max_bytes)
            except ValidationError as exc:
                chunk.failed.append(FailedCall(chunk.start + offset, call, exc))
            else:
                offsets.append(offset)
                wires.append(wire)
        chunk.load(offsets, wires_body(wires))

    def _split(self, chunk: Chunk, max_bytes: int) -> list[Chunk]:
        """*chunk* cut into runs of calls whose requests fit *max_bytes* (positions stay
        contiguous: a call that failed validation stays where it is)."""
        encode = self.sender.encode
        pieces: list[Chunk] = []
        first = size = 0
        sent = set(chunk.offsets)
        for offset, call in enumerate(chunk.calls):
            added = wire_size(encode(call)) if offset in sent else 0
            if offset > first and not fits(size + added, max_bytes):
                pieces.append(Chunk(chunk.start + first, chunk.calls[first:offset]))
                first, size = offset, 0
            size += added
        pieces.append(Chunk(chunk.start + first, chunk.calls[first:]))
        for piece in pieces:
            self._load_each(piece, max_bytes)
        return pieces

    async def submit(
        self,
        chunk: Chunk,
        tasks: TaskGroup,
        deliver: Callable[[Chunk], Awaitable[None]],
        slot: Slot | None = None,
    ) -> None:
        """Take *chunk* through its step; *deliver* gets it settled.

        Waits for a place in flight (unless given *slot*, which the runner then owns): that
        wait is the back-pressure that keeps a huge input out of memory. The journal is asked
        here, in submission order (reconciling depends on it); the sending runs in *tasks*.
        """
        try:
            if self.journal is not None:
                chunk = await self.journal.replay(chunk)
            if not chunk.offsets:  # settled already: nothing to send
                if slot is not None:
                    self.limiter.release(slot)
                await deliver(chunk)
                return
            if slot is None:
                slot = await self.limiter.acquire()
        except BaseException:
            if slot is not None:
                self.limiter.release(slot)
            raise
        tasks.start_soon(self._run, chunk, slot, deliver)

    async def _run(
        self, chunk: Chunk, slot: Slot, deliver: Callable[[Chunk], Awaitable[None]]
    ) -> None:
        try:
            with telemetry.chunk_span(chunk):
                slot = await self._keyed_send(chunk, slot)
            if self.journal is not None:
                await self.journal.done(chunk)
        finally:
            self.limiter.release(slot)
        await deliver(chunk)

    async def _keyed_send(self, chunk: Chunk, slot: Slot) -> Slot:
        """Send *chunk*, its keyed calls claimed before (those settled before, conflicting,
        or found in the campaign are not sent) and settled after."""
        keyed = self.keyed
        if keyed is None or not (keyed.per_call or chunk.claims):  # no key: as it always was
            return await self._send(chunk, slot)
        await keyed.claim(chunk)
        if not chunk.offsets:  # every call replayed or failed: nothing to send
            return slot
        return await keyed.sent(chunk, lambda: self._send(chunk, slot))

    async def _send(self, chunk: Chunk, slot: Slot) -> Slot:
        """Send *chunk* and merge its answer; the slot it holds at the end."""
        while True:
            if self._stopped_by is not None:
                error = DialerError(
                    f"{METHOD}: not sent, because the campaign was refused: "
                    f"{self._stopped_by.message}",
                    method=METHOD,
                )
                error.__cause__ = self._stopped_by
                chunk.fail(chunk.offsets, error)
                return slot
            # A holder whose lease may have lapsed (it was stopped, or stalled) sends nothing.
            journal = self.journal.lease if self.journal is not None else None
            check_leases(journal, *(claim.lease for claim in chunk.claims.values()))
            started = anyio.current_time()
            answered_before = self._answered
            try:
                answer = await self._sent(chunk.body, slot)
            except InvalidCampaignError as exc:
                self._stopped_by = self._stopped_by or exc
                chunk.fail(chunk.offsets, exc)
                return slot
            except DialerError as exc:
                if overloaded(exc) and await self._answered_since(answered_before):
                    # Refused for load (certainly not processed) while the service answered
                    # other chunks: it is busy, not down. Wait for room (the limiter has
                    # stepped back) and send it again.
                    self.limiter.release(slot)
                    slot = await self.limiter.acquire()
                    continue
                chunk.fail(chunk.offsets, exc)
                return slot
            self.limiter.answered(slot, anyio.current_time() - started)
            chunk.merge(answer)
            return slot

    async def _sent(self, body: bytes, slot: Slot) -> Answer:
        """The answer to *body*, counted among those being sent until it ends."""
        self._sending += 1
        try:
            answer = await self.sender.send(body, slot.on_refused)
        except BaseException:
            self._ended()
            raise
        self._answered += 1
        self._ended()
        return answer

    def _ended(self) -> None:
        self._sending -= 1
        ended, self._send_ended = self._send_ended, anyio.Event()
        ended.set()

    async def _answered_since(self, before: int) -> bool:
        """Whether the service answered a chunk since *before*: waits while other chunks
        are being sent, as long as none of them was answered (or they all ended)."""
        while self._answered == before and self._sending > 0:
            await self._send_ended.wait()
        return self._answered > before


@asynccontextmanager
async def open_session(
    sender: ChunkSender, options: BulkOptions, *, total: int | None
) -> AsyncIterator[ChunkRunner]:
    """The chunk runner of one upload or writer: its limiter from *options*, and its journal
    open (and closed at the end, even when cancelled)."""
    limiter = Limiter(options.concurrency, options.max_concurrency)
    keyed = None
    if options.keys is not None:
        if options.idempotency_key is not None:
            await options.keys.get()  # no store: a ValidationError before anything is sent
        keyed = KeyedChunks(options.keys, options.idempotency_key, sender)
    async with AsyncExitStack() as stack:
        replay = None
        size = options.chunk_size
        if options.journal is not None:
            replay = await stack.enter_async_context(
                open_replay(
                    options.journal,
                    sender,
                    chunk_size=size,
                    total=total,
                    reconcile=options.reconcile,
                    # The dialer's lease_seconds, which its key store holds too.
                    lease_seconds=options.keys.lease if options.keys else DEFAULT_LEASE_SECONDS,
                )
            )
            size = replay.chunk_size
        yield ChunkRunner(sender, limiter, replay, size, options.max_chunk_bytes, keyed)


@contextmanager
def single_error() -> Iterator[None]:
    """Let one error out of a bulk path's task groups as itself, never an exception group.

    An interrupt wins over everything; then the first :class:`DialerError`; then the first
    other error (a caller's callback that raised, say).
    """
    try:
        yield
    except BaseExceptionGroup as group:
        leaf = _chosen(group)
        raise leaf from leaf.__cause__


def _chosen(group: BaseExceptionGroup[BaseException]) -> BaseException:
    leaves = list(_leaves(group))
    for kind in (KeyboardInterrupt, SystemExit, DialerError, Exception):
        for leaf in leaves:
            if isinstance(leaf, kind):
                return leaf
    return leaves[0]


def _leaves(error: BaseException) -> Iterator[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner)
    else:
        yield error
