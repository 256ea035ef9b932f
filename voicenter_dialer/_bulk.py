"""Bulk upload: AddCallsBulk in chunks, streaming, with the fate of every call accounted for.

The input is read one chunk at a time: at most ``concurrency`` chunks are in flight, plus
one read and encoded ahead, waiting for a free slot. Each chunk goes through the session's
:class:`._session.ChunkRunner`, which alone talks to the dialer (through a
:class:`ChunkSender` bound to the campaign) and to the journal.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Sized
from contextlib import aclosing, asynccontextmanager
from typing import Any

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._chunk import METHOD, Chunk, ChunkOutcome, ChunkSender
from ._concurrency import Limiter
from ._exceptions import DialerError
from ._journal import check_input, open_store
from ._journal_records import MissingJournal
from ._models import BulkReport, CallInput
from ._resume import digest
from ._session import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_CONCURRENCY,
    MAX_CHUNK_SIZE,
    BulkOptions,
    BulkProgress,
    ChunkRunner,
    Tally,
    open_session,
    single_error,
    tell,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_CONCURRENCY",
    "MAX_CHUNK_SIZE",
    "BulkProgress",
    "check_journal",
    "stream",
    "upload",
]

logger = logging.getLogger("voicenter_dialer")


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


class _Uploader:
    """One bulk upload: reads the input in chunks and hands them to the runner."""

    def __init__(
        self,
        runner: ChunkRunner,
        flush_after: float | None,
        send: MemoryObjectSendStream[ChunkOutcome],
    ) -> None:
        self._runner = runner
        self._flush_after = flush_after
        self._send = send
        #: What stopped the reading (the caller's input, or the journal), raised once the
        #: chunks read before it are done.
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
                        # leaves the moment a slot frees up; no further chunk is read until
                        # then.
                        prepared = runner.prepare(start, calls_read)
                        start += len(calls_read)
                        for chunk in prepared:
                            await runner.submit(chunk, tasks, self._deliver)
            except Exception as exc:  # the input or the journal failed: finish what is in flight
                self.input_error = exc
                return
        if runner.journal is not None and self.input_error is None:
            await runner.journal.finished(total=start)

    async def _deliver(self, chunk: Chunk) -> None:
        await self._send.send(chunk.outcome())

    def _read(
        self, calls: Iterable[Any] | AsyncIterable[Any], tasks: TaskGroup
    ) -> AsyncGenerator[list[Any], None]:
        size = self._runner.chunk_size
        if self._flush_after is None or not isinstance(calls, AsyncIterable):
            return _chunks(calls, size)
        # A slow source is read by a task of its own, so a partial chunk can leave on time.
        send, receive = anyio.create_memory_object_stream[Any](size)
        tasks.start_soon(self._pump, calls, send)
        return _timed_chunks(receive, size, self._flush_after)

    async def _pump(self, calls: AsyncIterable[Any], send: MemoryObjectSendStream[Any]) -> None:
        async with send:
            try:
                async for call in calls:
                    await send.send(call)
            except Exception as exc:  # the caller's input failed: end the chunks there
                self.input_error = exc


class _Outcomes:
    """The outcomes of a streamed upload, readable inside its block only."""

    def __init__(self, receive: MemoryObjectReceiveStream[ChunkOutcome]) -> None:
        self._receive = receive
        self._ended = False

    def __aiter__(self) -> _Outcomes:
        return self

    async def __anext__(self) -> ChunkOutcome:
        try:
            return await self._receive.receive()
        except anyio.EndOfStream:
            self._ended = True
            raise StopAsyncIteration from None
        except anyio.ClosedResourceError:
            if self._ended:
                raise StopAsyncIteration from None
            raise DialerError(
                f"{METHOD}: the outcomes of a streamed upload are read inside its block; "
                "it has ended, and the chunks not read were not kept"
            ) from None


@asynccontextmanager
async def stream(
    sender: ChunkSender,
    calls: Iterable[CallInput] | AsyncIterable[CallInput],
    options: BulkOptions,
    tally: Tally | None = None,
) -> AsyncIterator[AsyncIterator[ChunkOutcome]]:
    """Run an upload; yield an async iterator of :class:`ChunkOutcome` as chunks complete.

    Leaving the block early cancels the chunks still in flight. An exception raised by the
    input is raised when the block exits, after the outcomes of the chunks read before it.
    With a journal, see :mod:`._resume`. *tally*, when given, counts with the session's
    limiter (for :func:`upload`'s report).
    """
    total = len(calls) if isinstance(calls, Sized) else None
    with single_error():
        async with open_session(sender, options, total=total) as runner:
            if tally is not None:
                tally.bind(runner.limiter, total)
            send, receive = anyio.create_memory_object_stream[ChunkOutcome](options.in_flight)
            run = _Uploader(runner, options.flush_after, send)
            body_error: Exception | None = None
            # The block's own errors are raised outside the task group, as they are.
            with receive:
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(run.run, calls)
                    try:
                        yield _Outcomes(receive)
                    except Exception as exc:
                        body_error = exc
                    tasks.cancel_scope.cancel()
    if body_error is not None:
        raise body_error
    if run.input_error is not None:
        raise run.input_error


async def upload(
    sender: ChunkSender, calls: Iterable[CallInput] | AsyncIterable[CallInput], options: BulkOptions
) -> BulkReport:
    """Run an upload to the end and gather every chunk's outcome into a :class:`BulkReport`."""
    tally = Tally()
    async with stream(sender, calls, options, tally) as outcomes:
        async for chunk in outcomes:
            tally.add(chunk)
            await tell(options.on_progress, tally.progress())
    report = tally.report()
    logger.info(
        "%s: %d calls, %d accepted, %d rejected, %d failed (concurrency %s)",
        METHOD,
        report.total,
        report.accepted,
        len(report.rejected),
        len(report.failed),
        report.concurrency,
    )
    return report


async def check_journal(
    sender: ChunkSender, calls: Iterable[CallInput] | AsyncIterable[CallInput], options: BulkOptions
) -> None:
    """Compare all of *calls* with what the journal of *options* recorded, sending nothing:
    :class:`JournalError` names the first chunk that differs (or another campaign). A journal
    not started yet holds nothing to differ from.

    For a caller that can read its input twice (a file): an upload alone checks each chunk as
    it comes, so a changed third chunk is found after the first two were replayed.
    """
    assert options.journal is not None
    try:
        store = await open_store(
            options.journal,
            campaign=sender.campaign,
            chunk_size=options.chunk_size,
            total=None,
            create=False,
        )
    except MissingJournal:
        return  # nothing journalled yet: the upload will start the journal
    try:
        runner = ChunkRunner(sender, Limiter(1, 1), None, store.chunk_size, options.max_chunk_bytes)
        fingerprints: list[tuple[int, int, bytes]] = []
        start = 0
        async with aclosing(_chunks(calls, store.chunk_size)) as chunks:
            async for calls_read in chunks:
                for chunk in runner.prepare(start, calls_read):
                    fingerprints.append((chunk.start, len(chunk.calls), digest(chunk)))
                start += len(calls_read)
        await check_input(store, fingerprints)
    finally:
        with anyio.CancelScope(shield=True):
            await store.aclose()
