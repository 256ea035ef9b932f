"""Bulk upload: AddCallsBulk in chunks, streaming, with the fate of every call accounted for.

The input is read one chunk at a time: at most ``concurrency`` chunks are in flight, plus
one read and encoded ahead, waiting for a free slot. The uploader talks to the dialer only
through a :class:`ChunkSender` bound to the campaign, and to a journal through
:class:`._resume.Resume`.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Iterable, Sized
from contextlib import AsyncExitStack, aclosing, asynccontextmanager
from typing import Any, Final

import anyio
import attrs
from anyio.streams.memory import MemoryObjectSendStream

from ._chunk import METHOD, Chunk, ChunkOutcome, ChunkSender
from ._exceptions import DialerError, InvalidCampaignError, ValidationError
from ._models import BulkReport, Call, FailedCall, RejectedCall
from ._resume import JournalSpec, Resume, open_resume
from ._validation import integer

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_CONCURRENCY",
    "MAX_CHUNK_SIZE",
    "BulkProgress",
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


def _check_sizes(chunk_size: object, concurrency: object) -> tuple[int, int]:
    size = integer(chunk_size, "chunk_size")
    if not 1 <= size <= MAX_CHUNK_SIZE:
        raise ValidationError(
            f"chunk_size must be between 1 and {MAX_CHUNK_SIZE} (the service gives per-target "
            f"results only up to {MAX_CHUNK_SIZE}), got {size}"
        )
    workers = integer(concurrency, "concurrency")
    if workers < 1:
        raise ValidationError(f"concurrency must be at least 1, got {workers}")
    return size, workers


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


class _Uploader:
    """One bulk upload: reads the input, sends chunks, merges answers into outcomes."""

    def __init__(
        self,
        sender: ChunkSender,
        chunk_size: int,
        concurrency: int,
        send: MemoryObjectSendStream[ChunkOutcome],
        resume: Resume | None,
    ) -> None:
        self._sender = sender
        self._chunk_size = chunk_size
        self._resume = resume
        self._slots = anyio.Semaphore(concurrency)
        self._send = send
        # Set when the campaign is refused: later chunks are not sent.
        self._stopped_by: InvalidCampaignError | None = None
        #: What the caller's input raised, once the chunks read before it are done.
        self.input_error: Exception | None = None

    async def run(self, calls: Iterable[Any] | AsyncIterable[Any]) -> None:
        """Send every chunk; never raises but for cancellation (see :attr:`input_error`)."""
        resume = self._resume
        async with self._send, anyio.create_task_group() as tasks:
            start = 0
            try:
                async with aclosing(_chunks(calls, self._chunk_size)) as chunks:
                    async for calls_read in chunks:
                        # Validated and encoded while earlier chunks are in flight, so it
                        # leaves the moment a slot frees up...
                        chunk = self._prepare(start, calls_read)
                        start += len(calls_read)
                        if resume is not None:
                            chunk = await resume.replay(chunk)
                            if not chunk.offsets:  # settled by the journal: nothing to send
                                await self._send.send(chunk.outcome())
                                continue
                        # ...and no further chunk is read until then: that back-pressure
                        # keeps a huge input out of memory.
                        await self._slots.acquire()
                        tasks.start_soon(self._process, chunk)
                if resume is not None:
                    await resume.finished(total=start)
            except Exception as exc:  # the caller's input failed: finish what is in flight
                self.input_error = exc

    def _prepare(self, start: int, calls: list[Any]) -> Chunk:
        chunk = Chunk(start, calls)
        encode = self._sender.encode
        try:
            # The common case, every call valid, with no try, enumerate or append per call.
            wires = [encode(call) for call in calls]
            offsets = list(range(len(calls)))
        except ValidationError:  # then call by call, to know which calls fail and why
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

    async def _process(self, chunk: Chunk) -> None:
        try:
            if chunk.offsets:
                await self._send_chunk(chunk)
            if self._resume is not None:
                await self._resume.done(chunk)
            await self._send.send(chunk.outcome())
        finally:
            self._slots.release()

    async def _send_chunk(self, chunk: Chunk) -> None:
        if self._stopped_by is not None:
            error = DialerError(
                f"{METHOD}: not sent, because the campaign was refused: {self._stopped_by.message}",
                method=METHOD,
            )
            error.__cause__ = self._stopped_by
            chunk.fail(chunk.offsets, error)
            return
        try:
            answer = await self._sender.send(chunk.body)
        except InvalidCampaignError as exc:
            self._stopped_by = self._stopped_by or exc
            chunk.fail(chunk.offsets, exc)
        except DialerError as exc:
            chunk.fail(chunk.offsets, exc)
        else:
            chunk.merge(answer)


@asynccontextmanager
async def stream(
    sender: ChunkSender,
    calls: Iterable[Call] | AsyncIterable[Call],
    *,
    chunk_size: int,
    concurrency: int,
    journal: JournalSpec | None = None,
    reconcile: bool = False,
) -> AsyncIterator[AsyncIterator[ChunkOutcome]]:
    """Run an upload; yield an async iterator of :class:`ChunkOutcome` as chunks complete.

    Leaving the block early cancels the chunks still in flight. An exception raised by the
    input is raised when the block exits, after the outcomes of the chunks read before it.
    With a *journal*, see :mod:`._resume`; *reconcile* settles unknown outcomes against
    the campaign's pending calls.
    """
    size, workers = _check_sizes(chunk_size, concurrency)
    if reconcile and journal is None:
        raise ValidationError("reconcile needs a journal: it settles what a journal left unknown")
    async with AsyncExitStack() as stack:
        resume = None
        if journal is not None:
            total = len(calls) if isinstance(calls, Sized) else None
            resume = await stack.enter_async_context(
                open_resume(journal, sender, chunk_size=size, total=total, reconcile=reconcile)
            )
            size = resume.chunk_size
        async with _run(sender, calls, size, workers, resume) as outcomes:
            yield outcomes


@asynccontextmanager
async def _run(
    sender: ChunkSender,
    calls: Iterable[Call] | AsyncIterable[Call],
    size: int,
    workers: int,
    resume: Resume | None,
) -> AsyncIterator[AsyncIterator[ChunkOutcome]]:
    send, receive = anyio.create_memory_object_stream[ChunkOutcome](workers)
    run = _Uploader(sender, size, workers, send, resume)
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
    concurrency: int,
    on_progress: Callable[[BulkProgress], object] | None,
    journal: JournalSpec | None = None,
    reconcile: bool = False,
) -> BulkReport:
    """Run an upload to the end and gather every chunk's outcome into a :class:`BulkReport`."""
    total_known = len(calls) if isinstance(calls, Sized) else None
    done = accepted = 0
    rejected: list[RejectedCall] = []
    failed: list[FailedCall] = []
    async with stream(
        sender,
        calls,
        chunk_size=chunk_size,
        concurrency=concurrency,
        journal=journal,
        reconcile=reconcile,
    ) as outcomes:
        async for chunk in outcomes:
            done += chunk.size
            accepted += chunk.accepted
            rejected.extend(chunk.rejected)
            failed.extend(chunk.failed)
            if on_progress is not None:
                on_progress(BulkProgress(done, total_known, accepted, len(rejected), len(failed)))
    rejected.sort(key=lambda entry: entry.index)
    failed.sort(key=lambda entry: entry.index)
    report = BulkReport(total=done, accepted=accepted, rejected=rejected, failed=failed)
    logger.info(
        "%s: %d calls, %d accepted, %d rejected, %d failed",
        METHOD,
        report.total,
        report.accepted,
        len(rejected),
        len(failed),
    )
    return report
