"""Bulk upload: AddCallsBulk in chunks, streaming, with the fate of every call accounted for.

The input is read one chunk at a time: at most ``concurrency`` chunks are in flight, plus
one read and encoded ahead, waiting for a free slot. The uploader talks to the dialer only
through a :class:`ChunkSender` bound to the campaign, and to a journal through
:class:`._resume.Resume`.
"""

from __future__ import annotations

import inspect
import itertools
import logging
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Iterable, Sized
from contextlib import AsyncExitStack, aclosing, asynccontextmanager
from typing import Any, Final

import anyio
import attrs
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from . import _telemetry as telemetry
from ._chunk import METHOD, Chunk, ChunkOutcome, ChunkSender
from ._concurrency import DEFAULT_MAX_CONCURRENCY, Concurrency, Limiter, Slot, check_concurrency
from ._exceptions import DialerError, InvalidCampaignError, ValidationError
from ._models import BulkReport, Call, FailedCall, RejectedCall
from ._resume import JournalSpec, Resume, open_resume
from ._validation import integer, shown

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_CONCURRENCY",
    "MAX_CHUNK_SIZE",
    "BulkProgress",
    "ChunkRunner",
    "check_chunk_size",
    "check_flush_after",
    "stream",
    "upload",
]

MAX_CHUNK_SIZE: Final = 3000
"""The largest AddCallsBulk request that still gets a per-target AddResult."""
DEFAULT_CHUNK_SIZE: Final = 1000
"""Calls per AddCallsBulk request when ``chunk_size`` is not given."""
DEFAULT_CONCURRENCY: Final = 4
"""Bulk chunks in flight at once when ``concurrency`` is not given."""

logger = logging.getLogger("voicenter_dialer")


@attrs.frozen
class BulkProgress:
    """Passed to ``on_progress`` each time a chunk completes."""

    #: Calls whose fate is known so far.
    done: int
    #: Calls in the input, when it has a length.
    total: int | None
    accepted: int
    rejected: int
    failed: int
    #: Chunks allowed in flight now (with ``concurrency="auto"``, where the limit stands);
    #: not compared, like :attr:`BulkReport.concurrency`.
    concurrency: int | None = attrs.field(default=None, eq=False)


def check_chunk_size(chunk_size: object) -> int:
    size = integer(chunk_size, "chunk_size")
    if not 1 <= size <= MAX_CHUNK_SIZE:
        raise ValidationError(
            f"chunk_size must be between 1 and {MAX_CHUNK_SIZE} (the service gives per-target "
            f"results only up to {MAX_CHUNK_SIZE}), got {size}"
        )
    return size


def check_flush_after(flush_after: object) -> float | None:
    if flush_after is None:
        return None
    if isinstance(flush_after, bool) or not isinstance(flush_after, int | float):
        raise ValidationError(f"flush_after must be seconds or None, got {shown(flush_after)}")
    if not flush_after > 0:
        raise ValidationError(f"flush_after must be > 0 seconds, got {flush_after}")
    return float(flush_after)


async def _chunks(
    calls: Iterable[Any] | AsyncIterable[Any], size: int
) -> AsyncGenerator[list[Any], None]:
    if isinstance(calls, AsyncIterable):
        chunk: list[Any] = []
        async for call in calls:
            chunk.append(call)
            if len(chunk) == size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk
    else:
        iterator = iter(calls)
        while chunk := list(itertools.islice(iterator, size)):
            yield chunk


async def _timed_chunks(
    calls: MemoryObjectReceiveStream[Any], size: int, flush_after: float
) -> AsyncGenerator[list[Any], None]:
    """Chunks of *calls*, a partial one once its oldest call has waited *flush_after*."""
    with calls:
        async for first in calls:
            chunk = [first]
            with anyio.move_on_after(flush_after):
                while len(chunk) < size:
                    try:
                        chunk.append(await calls.receive())
                    except anyio.EndOfStream:
                        break
            yield chunk


class ChunkRunner:
    """Sends the chunks of one upload (or writer): at most ``limiter.limit`` in flight, the
    journal told before and after each, and no chunk sent once the campaign is refused."""

    def __init__(self, sender: ChunkSender, limiter: Limiter, resume: Resume | None) -> None:
        self.sender = sender
        self.limiter = limiter
        self.resume = resume
        # Set when the campaign is refused: later chunks are not sent.
        self._stopped_by: InvalidCampaignError | None = None

    @property
    def stopped(self) -> bool:
        """True once the campaign was refused: chunks are no longer sent."""
        return self._stopped_by is not None

    def prepare(self, start: int, calls: list[Any]) -> Chunk:
        """A chunk of *calls*: validated and encoded, those that fail validation failed."""
        chunk = Chunk(start, calls)
        try:
            wires = self.sender.encode_all(calls)  # the common case: every call valid
            offsets = list(range(len(calls)))
        except ValidationError:  # then call by call, to know which calls fail and why
            encode = self.sender.encode
            offsets, wires = [], []
            for offset, call in enumerate(calls):
                try:
                    wires.append(encode(call))
                except ValidationError as exc:
                    chunk.failed.append(FailedCall(start + offset, call, exc))
                else:
                    offsets.append(offset)
        chunk.load(offsets, wires)
        return chunk

    async def record(self, chunk: Chunk) -> Chunk:
        """*chunk* as the journal knows it (what is left to send); recorded as sent."""
        return chunk if self.resume is None else await self.resume.replay(chunk)

    async def settle(self, chunk: Chunk, slot: Slot) -> None:
        """Send *chunk* in *slot* (freed after), merge its answer and journal its outcome."""
        try:
            if chunk.offsets:
                with telemetry.chunk_span(chunk):
                    await self._send(chunk, slot)
            if self.resume is not None:
                await self.resume.done(chunk)
        finally:
            self.limiter.release(slot)

    async def _send(self, chunk: Chunk, slot: Slot) -> None:
        if self._stopped_by is not None:
            error = DialerError(
                f"{METHOD}: not sent, because the campaign was refused: {self._stopped_by.message}",
                method=METHOD,
            )
            error.__cause__ = self._stopped_by
            chunk.fail(chunk.offsets, error)
            return
        started = anyio.current_time()
        try:
            answer = await self.sender.send(chunk.body, slot.on_refused)
        except InvalidCampaignError as exc:
            self._stopped_by = self._stopped_by or exc
            chunk.fail(chunk.offsets, exc)
        except DialerError as exc:
            chunk.fail(chunk.offsets, exc)
        else:
            self.limiter.answered(slot, anyio.current_time() - started)
            chunk.merge(answer)


class _Uploader:
    """One bulk upload: reads the input, sends chunks, merges answers into outcomes."""

    def __init__(
        self,
        runner: ChunkRunner,
        chunk_size: int,
        flush_after: float | None,
        send: MemoryObjectSendStream[ChunkOutcome],
    ) -> None:
        self._runner = runner
        self._chunk_size = chunk_size
        self._flush_after = flush_after
        self._send = send
        #: What the caller's input raised, once the chunks read before it are done.
        self.input_error: Exception | None = None

    async def run(self, calls: Iterable[Any] | AsyncIterable[Any]) -> None:
        """Send every chunk; never raises but for cancellation (see :attr:`input_error`)."""
        runner = self._runner
        async with self._send, anyio.create_task_group() as tasks:
            start = 0
            try:
                async with aclosing(self._read(calls, tasks)) as chunks:
                    async for calls_read in chunks:
                        # Validated and encoded while earlier chunks are in flight, so it
                        # leaves the moment a slot frees up...
                        chunk = await runner.record(runner.prepare(start, calls_read))
                        start += len(calls_read)
                        if not chunk.offsets:  # settled already: nothing to send
                            await self._send.send(chunk.outcome())
                            continue
                        # ...and no further chunk is read until then: that back-pressure
                        # keeps a huge input out of memory.
                        slot = await runner.limiter.acquire()
                        tasks.start_soon(self._process, chunk, slot)
                if runner.resume is not None and self.input_error is None:
                    await runner.resume.finished(total=start)
            except Exception as exc:  # the caller's input failed: finish what is in flight
                self.input_error = exc

    def _read(
        self, calls: Iterable[Any] | AsyncIterable[Any], tasks: TaskGroup
    ) -> AsyncGenerator[list[Any], None]:
        if self._flush_after is None or not isinstance(calls, AsyncIterable):
            return _chunks(calls, self._chunk_size)
        # A slow source is read by a task of its own, so a partial chunk can leave on time.
        send, receive = anyio.create_memory_object_stream[Any](self._chunk_size)
        tasks.start_soon(self._pump, calls, send)
        return _timed_chunks(receive, self._chunk_size, self._flush_after)

    async def _pump(self, calls: AsyncIterable[Any], send: MemoryObjectSendStream[Any]) -> None:
        async with send:
            try:
                async for call in calls:
                    await send.send(call)
            except Exception as exc:  # the caller's input failed: end the chunks there
                self.input_error = exc

    async def _process(self, chunk: Chunk, slot: Slot) -> None:
        await self._runner.settle(chunk, slot)
        await self._send.send(chunk.outcome())


@asynccontextmanager
async def stream(
    sender: ChunkSender,
    calls: Iterable[Call] | AsyncIterable[Call],
    *,
    chunk_size: int,
    concurrency: Concurrency,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    flush_after: float | None = None,
    journal: JournalSpec | None = None,
    reconcile: bool = False,
    limiter: Limiter | None = None,
) -> AsyncIterator[AsyncIterator[ChunkOutcome]]:
    """Run an upload; yield an async iterator of :class:`ChunkOutcome` as chunks complete.

    Leaving the block early cancels the chunks still in flight. An exception raised by the
    input is raised when the block exits, after the outcomes of the chunks read before it.
    With a *journal*, see :mod:`._resume`; *reconcile* settles unknown outcomes against
    the campaign's pending calls. *limiter* is made from *concurrency* unless given (to
    read what it settled on).
    """
    size = check_chunk_size(chunk_size)
    workers, maximum = check_concurrency(concurrency, max_concurrency)
    flush = check_flush_after(flush_after)
    if reconcile and journal is None:
        raise ValidationError("reconcile needs a journal: it settles what a journal left unknown")
    limiter = limiter or Limiter(workers, maximum)
    async with AsyncExitStack() as stack:
        resume = None
        if journal is not None:
            total = len(calls) if isinstance(calls, Sized) else None
            resume = await stack.enter_async_context(
                open_resume(journal, sender, chunk_size=size, total=total, reconcile=reconcile)
            )
            size = resume.chunk_size
        runner = ChunkRunner(sender, limiter, resume)
        async with _run(runner, calls, size, flush, workers or maximum) as outcomes:
            yield outcomes


@asynccontextmanager
async def _run(
    runner: ChunkRunner,
    calls: Iterable[Call] | AsyncIterable[Call],
    size: int,
    flush_after: float | None,
    buffer: int,
) -> AsyncIterator[AsyncIterator[ChunkOutcome]]:
    send, receive = anyio.create_memory_object_stream[ChunkOutcome](buffer)
    run = _Uploader(runner, size, flush_after, send)
    body_error: Exception | None = None
    # Errors are raised outside the task group, so callers see them as they are rather than
    # wrapped in an ExceptionGroup.
    with receive:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(run.run, calls)
            try:
                yield receive
            except Exception as exc:
                body_error = exc
            tasks.cancel_scope.cancel()
    if body_error is not None:
        raise body_error
    if run.input_error is not None:
        raise run.input_error


async def upload(
    sender: ChunkSender,
    calls: Iterable[Call] | AsyncIterable[Call],
    *,
    chunk_size: int,
    concurrency: Concurrency,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    flush_after: float | None = None,
    on_progress: Callable[[BulkProgress], object] | None,
    journal: JournalSpec | None = None,
    reconcile: bool = False,
) -> BulkReport:
    """Run an upload to the end and gather every chunk's outcome into a :class:`BulkReport`."""
    total_known = len(calls) if isinstance(calls, Sized) else None
    done = accepted = 0
    rejected: list[RejectedCall] = []
    failed: list[FailedCall] = []
    limiter = Limiter(*check_concurrency(concurrency, max_concurrency))
    async with stream(
        sender,
        calls,
        chunk_size=chunk_size,
        concurrency=concurrency,
        max_concurrency=max_concurrency,
        flush_after=flush_after,
        journal=journal,
        reconcile=reconcile,
        limiter=limiter,
    ) as outcomes:
        async for chunk in outcomes:
            done += chunk.size
            accepted += chunk.accepted
            rejected.extend(chunk.rejected)
            failed.extend(chunk.failed)
            if on_progress is not None:
                progress = BulkProgress(
                    done, total_known, accepted, len(rejected), len(failed), limiter.limit
                )
                # A coroutine function's progress is awaited, not dropped.
                if inspect.isawaitable(shown := on_progress(progress)):
                    await shown
    rejected.sort(key=lambda entry: entry.index)
    failed.sort(key=lambda entry: entry.index)
    report = BulkReport(
        total=done,
        accepted=accepted,
        rejected=rejected,
        failed=failed,
        concurrency=limiter.settled,
    )
    logger.info(
        "%s: %d calls, %d accepted, %d rejected, %d failed (concurrency %d)",
        METHOD,
        report.total,
        report.accepted,
        len(rejected),
        len(failed),
        limiter.settled,
    )
    return report
