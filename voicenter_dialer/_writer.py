"""Bulk for push-style producers: many tasks add one call each, their calls share chunks.

Each :meth:`BulkWriter.add` waits in the *open* chunk. One task, the flusher, seals it when
it holds ``chunk_size`` calls, when its oldest call has waited ``flush_after`` seconds, or
when the writer closes; it first waits for a free place in flight, and while it waits the
open chunk fills up and further adds wait for room: that is the back-pressure. Sealed chunks
go through the same bulk session as an upload's (:mod:`._session`: concurrency, journal,
invalid-campaign stop, the tally), and every call's :class:`LeadOutcome` is handed to its
producer.

Positions (``index``) are given as calls enter a sealed chunk, so a call withdrawn before
(its ``add`` cancelled) leaves no gap: the journal's chunks stay contiguous.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.abc import TaskGroup

from ._chunk import METHOD, Chunk, ChunkSender, fits, too_large, unknown_outcome, wire_size
from ._concurrency import Slot
from ._converter import wires_body
from ._exceptions import DialerError, IdempotencyConflict, ValidationError
from ._idempotency import Claim, Outcome, Settled
from ._idempotent_call import KeyedChunks, replay
from ._models import BulkReport, CallInput, FailedCall, LeadOutcome
from ._session import BulkOptions, ChunkRunner, Tally, open_session, single_error

__all__ = ["BulkWriter", "open_writer"]


class _Entry:
    """One call waiting in a writer, and then its outcome."""

    __slots__ = ("call", "claim", "done", "outcome", "size", "wire")
    #: Set before :attr:`done` is.
    outcome: LeadOutcome

    def __init__(
        self, call: Any, wire: dict[str, Any] | None, size: int = 0, claim: Claim | None = None
    ) -> None:
        self.call = call
        self.wire = wire
        #: Its idempotency key's claim, when it was added with one.
        self.claim = claim
        #: The bytes it adds to a request (counted with ``max_chunk_bytes`` only).
        self.size = size
        self.done = anyio.Event()

    def settle(self, outcome: LeadOutcome) -> None:
        self.outcome = outcome
        self.done.set()


class BulkWriter:
    """Collects calls from many producers into AddCallsBulk chunks (see
    :meth:`AsyncDialer.bulk_writer`)."""

    def __init__(self, runner: ChunkRunner, flush_after: float | None, start: int) -> None:
        self._runner = runner
        self._size = runner.chunk_size
        self._flush_after = flush_after
        #: The open chunk's calls, in arrival order (a dict: a withdrawn call leaves in O(1)),
        #: and the bytes of their request with ``max_chunk_bytes``.
        self._open: dict[_Entry, None] = {}
        self._open_bytes = 0
        self._max_bytes = runner.max_chunk_bytes
        #: An add is waiting because the open chunk's request has no room for its bytes.
        self._overflow = False
        self._opened_at = 0.0
        #: The position the next sealed call takes.
        self._next = start
        # Replaced each time they fire: the flusher's wake-up, and room in the open chunk.
        self._changed = anyio.Event()
        self._room = anyio.Event()
        self._closing = False
        #: Set when the writer was cancelled: adds still waiting for room are not sent.
        self._abandoned = False
        #: Adds waiting for room in the open chunk: the flusher stays for them when closing.
        self._waiting = 0
        #: Sealed chunks not yet accounted for, by start.
        self._in_flight: dict[int, list[_Entry]] = {}
        self._tally = Tally()
        self._tally.bind(runner.limiter, None)
        # The event loop's thread: an add awaited in another thread's loop would wait on
        # events this loop never sets.
        self._thread = threading.get_ident()

    @property
    def report(self) -> BulkReport:
        """What the writer has settled so far (``total`` counts settled calls only)."""
        return self._tally.report()

    @property
    def concurrency(self) -> int:
        """Chunks allowed in flight now (with ``concurrency="auto"``, where the limit stands)."""
        return self._runner.limiter.limit

    async def add(self, call: CallInput, *, idempotency_key: str | None = None) -> LeadOutcome:
        """Hand *call* over and wait for its fate.

        A call that fails validation is settled at once (``"failed"``, a ValidationError).
        With an *idempotency_key* (and the dialer's ``idempotency_store``), the key is
        claimed first: a key answered before gives its outcome again at once, nothing sent
        (``replayed``); a key in doubt found in the campaign's pending calls is accepted; a
        key used for another call, or still being added elsewhere, fails with
        IdempotencyConflict.
        Cancelling ``add`` before the call's chunk leaves withdraws the call; once the chunk
        has left, the call's fate is still recorded in :attr:`report` (and the journal).
        """
        if threading.get_ident() != self._thread:
            raise DialerError(
                f"{METHOD}: BulkWriter.add was awaited in another thread's event loop; await "
                "it in the loop that opened the writer (from another thread, hand it over with "
                "asyncio.run_coroutine_threadsafe or anyio.from_thread)"
            )
        if self._closing:
            raise DialerError(f"{METHOD}: this bulk writer is closed; add calls inside its block")
        size = 0
        try:
            wire = self._runner.sender.encode(call)
            if self._max_bytes is not None and not fits(size := wire_size(wire), self._max_bytes):
                raise too_large(size, self._max_bytes)
        except ValidationError as exc:
            return await self._settle_alone(call, exc)
        claim = None
        if idempotency_key is not None:
            keyed = self._runner.keyed
            if keyed is None:  # pragma: no cover - a dialer's writer always has its keys
                raise ValidationError("this bulk writer takes no idempotency keys")
            try:
                claimed = await keyed.claim_one(idempotency_key, wire)
            except IdempotencyConflict as exc:
                return await self._settle_alone(call, exc)
            if isinstance(claimed, Settled):
                return await self._settle_alone(call, claimed.outcome)
            claim = claimed
        entry = _Entry(call, wire, size, claim)
        try:
            return await self._enter(entry)
        finally:
            if entry.claim is not None and self._runner.keyed is not None:
                # Never sealed into a chunk (withdrawn, or the writer cancelled): not sent.
                await self._runner.keyed.release([entry.claim])

    async def _enter(self, entry: _Entry) -> LeadOutcome:
        """Wait for room in the open chunk, enter it, and wait for the call's fate."""
        call, size = entry.call, entry.size
        self._waiting += 1
        try:
            while not self._room_for(size):  # full, waiting for a place in flight
                await self._room.wait()
                if self._abandoned:  # the writer was cancelled meanwhile: never sent
                    return await self._settle_alone(call, _not_sent())
        finally:
            self._waiting -= 1
            if self._closing:
                self._wake()
        if not self._open:
            self._opened_at = anyio.current_time()
            self._wake()
        self._open[entry] = None
        self._open_bytes += size
        if len(self._open) >= self._size:
            self._wake()
        try:
            await entry.done.wait()
        except BaseException:
            # Cancelled: still unsent, it is withdrawn; sent, its fate is recorded anyway.
            if self._open.pop(entry, False) is None:
                self._open_bytes -= size
                self._make_room()
            raise
        return entry.outcome

    def _room_for(self, size: int) -> bool:
        """Whether the open chunk has room for a call of *size* bytes; if its request has
        not, the chunk is due (see :meth:`_due`)."""
        if len(self._open) >= self._size:
            return False
        if self._max_bytes is None or not self._open:
            return True
        if fits(self._open_bytes + size, self._max_bytes):
            return True
        self._overflow = True
        self._wake()
        return False

    async def _settle_alone(self, call: Any, fate: DialerError | Outcome) -> LeadOutcome:
        """*call* failed before any chunk took it, or its key's outcome is replayed: a chunk
        of its own, so its position is final now, journalled as sent and done at once
        (nothing is sent)."""
        chunk = Chunk(self._next, [call])
        self._next += 1
        if isinstance(fate, Outcome):
            replay(chunk, 0, fate)
        else:
            chunk.failed.append(FailedCall(chunk.start, call, fate))
        entry = _Entry(call, None)
        self._in_flight[chunk.start] = [entry]
        if self._runner.journal is not None and not self._abandoned:
            chunk = await self._runner.journal.replay(chunk)
        self._account(chunk)
        return entry.outcome

    def _make_room(self) -> None:
        room, self._room = self._room, anyio.Event()
        room.set()

    def _wake(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    async def _flush(self, tasks: TaskGroup) -> None:
        """Seal and send the open chunk whenever it is due, until the writer closes; the
        leases of the keys claimed meanwhile are kept until their chunk leaves."""
        keeping = anyio.CancelScope()
        if self._runner.keyed is not None:
            tasks.start_soon(_keep_leases, self._runner.keyed, keeping)
        try:
            await self._seal_when_due(tasks)
        finally:
            keeping.cancel()

    async def _seal_when_due(self, tasks: TaskGroup) -> None:
        while True:
            while not self._open:
                if self._closing and not self._waiting:
                    return
                await self._changed.wait()
            if self._flush_after is not None:
                deadline = self._opened_at + self._flush_after
                # A scope with a deadline: anyio.move_on_at is newer than our anyio floor.
                with anyio.CancelScope(deadline=deadline):
                    while not self._due():
                        await self._changed.wait()
            else:
                while not self._due():
                    await self._changed.wait()
            slot = await self._runner.limiter.acquire()
            if not self._open:  # every call of it was withdrawn meanwhile
                self._runner.limiter.release(slot)
                continue
            await self._seal(tasks, slot)

    async def _seal(self, tasks: TaskGroup, slot: Slot) -> None:
        """Send the open chunk, in *slot*."""
        entries = list(self._open)
        self._open = {}
        self._open_bytes = 0
        self._overflow = False
        self._make_room()
        chunk = Chunk(self._next, [entry.call for entry in entries])
        self._next += len(entries)
        chunk.load(range(len(entries)), wires_body([entry.wire or {} for entry in entries]))
        for offset, entry in enumerate(entries):
            entry.wire = None  # encoded into the chunk's body
            if entry.claim is not None:  # the chunk's step settles it from now on
                chunk.claims[offset], entry.claim = entry.claim, None
        self._in_flight[chunk.start] = entries
        await self._runner.submit(chunk, tasks, self._delivered, slot)

    def _due(self) -> bool:
        return (
            len(self._open) >= self._size or self._overflow or self._closing or self._runner.stopped
        )

    async def _delivered(self, chunk: Chunk) -> None:
        self._account(chunk)

    def _account(self, chunk: Chunk) -> None:
        """Hand each call of *chunk* its outcome, and count them."""
        entries = self._in_flight.pop(chunk.start)
        self._tally.add(chunk)
        outcomes = chunk.outcomes([entry.call for entry in entries])
        for entry, outcome in zip(entries, outcomes, strict=True):
            entry.settle(outcome)

    def _close(self) -> None:
        self._closing = True
        self._wake()

    def _abandon(self) -> None:
        """The writer was cancelled: settle every call left, so no producer waits forever."""
        self._closing = self._abandoned = True
        cut_short = unknown_outcome("the bulk writer was cancelled while this call was in flight")
        for start, entries in list(self._in_flight.items()):
            chunk = Chunk(start, [entry.call for entry in entries])
            chunk.fail(range(len(entries)), cut_short)
            self._account(chunk)
        if self._open:  # certainly not added: counted, with positions of their own
            entries, self._open, self._open_bytes = list(self._open), {}, 0
            chunk = Chunk(self._next, [entry.call for entry in entries])
            self._next += len(entries)
            chunk.fail(range(len(entries)), _not_sent())
            self._in_flight[chunk.start] = entries
            self._account(chunk)
        self._make_room()  # adds waiting for room settle themselves (see add)

    @property
    def end(self) -> int:
        """The position after the last call sealed."""
        return self._next


async def _keep_leases(keyed: KeyedChunks, scope: anyio.CancelScope) -> None:
    with scope:
        await keyed.keep_leases()


def _not_sent() -> DialerError:
    return DialerError(
        f"{METHOD}: not sent: the bulk writer was cancelled before its chunk left", method=METHOD
    )


@asynccontextmanager
async def open_writer(sender: ChunkSender, options: BulkOptions) -> AsyncIterator[BulkWriter]:
    """A :class:`BulkWriter` for the block; leaving it sends what is left and waits."""
    body_error: Exception | None = None
    with single_error():
        async with open_session(sender, options, total=None) as runner:
            # A journal records a writer's calls in arrival order; a new writer continues it.
            start = 0 if runner.journal is None else await runner.journal.end()
            writer = BulkWriter(runner, options.flush_after, start)
            try:
                # The block's own errors are raised outside the task group, as they are.
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(writer._flush, tasks)
                    try:
                        yield writer
                    except Exception as exc:  # the calls handed over are still sent
                        body_error = exc
                    writer._close()
            finally:
                writer._abandon()
            if runner.journal is not None:
                await runner.journal.finished(total=writer.end)
    if body_error is not None:
        raise body_error
