"""Bulk upload: AddCallsBulk in chunks, streaming, with the fate of every call accounted for.

The input is read one chunk at a time: at most ``concurrency`` chunks are in flight, plus
one read and encoded ahead, waiting for a free slot. Each chunk's answer is merged
back to input positions; whatever goes wrong, every position ends in exactly one of accepted,
rejected or failed.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import logging
import os
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Iterable, Sized
from contextlib import aclosing, asynccontextmanager
from typing import TYPE_CHECKING, Any, Final

import anyio
import attrs
import orjson
from anyio.streams.memory import MemoryObjectSendStream

from ._converter import structure, wire_int
from ._exceptions import (
    DialerError,
    InvalidCampaignError,
    ResponseError,
    TransportError,
    ValidationError,
)
from ._journal import Journal, JournalError, LeadRecord
from ._models import AddResult, BulkReport, Call, FailedCall, RejectedCall
from ._validation import integer

if TYPE_CHECKING:
    from ._client import AsyncDialer

__all__ = ["MAX_CHUNK_SIZE", "BulkProgress", "ChunkOutcome", "stream", "upload"]

#: The largest AddCallsBulk request that still gets a per-target AddResult.
MAX_CHUNK_SIZE: Final = 3000
_METHOD: Final = "AddCallsBulk"
_RECONCILE: Final = (
    "its outcome is unknown: the server may have added it. Check get_campaign_pending_calls "
    "before re-sending"
)

logger = logging.getLogger("voicenter_dialer")


@attrs.frozen
class ChunkOutcome:
    """The fate of one chunk of a bulk upload (see :meth:`AsyncDialer.stream_calls_bulk`).

    The chunk covers input positions ``start`` to ``start + size - 1``; each is counted in
    exactly one of ``accepted``, ``rejected`` or ``failed``.
    """

    start: int
    size: int
    accepted: int
    rejected: list[RejectedCall] = attrs.field(factory=list)
    failed: list[FailedCall] = attrs.field(factory=list)


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


@attrs.define
class _Chunk:
    """A chunk on its way: its input calls, what is sent of them, and their fates so far."""

    start: int
    calls: list[Any]
    #: Input offsets (within the chunk) of the calls to send, their numbers as sent, and the
    #: encoded request. The wire objects are dropped once encoded: held while the chunk is in
    #: flight, they made the garbage collector a quarter of the client's CPU.
    offsets: list[int] = attrs.Factory(list)
    targets: list[str] = attrs.Factory(list)
    body: bytes = b""
    accepted: int = 0
    rejected: list[RejectedCall] = attrs.Factory(list)
    failed: list[FailedCall] = attrs.Factory(list)

    def fail(self, offsets: Iterable[int], error: DialerError) -> None:
        calls, start = self.calls, self.start
        self.failed.extend(FailedCall(start + offset, calls[offset], error) for offset in offsets)

    def outcome(self) -> ChunkOutcome:
        return ChunkOutcome(self.start, len(self.calls), self.accepted, self.rejected, self.failed)

    def load(self, offsets: list[int], wires: list[dict[str, Any]]) -> None:
        """Make the calls at *offsets* (as *wires*) the ones to send."""
        self.offsets = offsets
        self.targets = [wire["Target"] for wire in wires]
        self.body = orjson.dumps(wires)

    def digest(self) -> bytes:
        """A fingerprint of the chunk's calls, to recognise the same input on a rerun."""
        hashed = hashlib.blake2b(self.body, digest_size=16)
        for failed in self.failed:  # calls that failed validation have no wire object
            hashed.update(f"{failed.index}:{failed.call!r}".encode())
        return hashed.digest()

    def records(self) -> list[LeadRecord]:
        """The calls that were not accepted, as the journal keeps them."""
        rejected = [
            LeadRecord(r.index, "rejected", str(r.result.target), r.result.error_code,
                       "AddResult", r.result.description)
            for r in self.rejected
        ]  # fmt: skip
        failed = [
            LeadRecord(f.index, _journal_status(f.error), str(getattr(f.call, "target", f.call)),
                       None, type(f.error).__name__, f.error.message)
            for f in self.failed
        ]  # fmt: skip
        return rejected + failed

    def merge(self, envelope: dict[str, Any], status: int) -> None:
        """Match the answer's AddResult items to the calls sent.

        Results come in request order. Anything missing, short or mismatched leaves a call's
        outcome unknown, so it goes to ``failed``, never to ``accepted``.
        """
        results = envelope.get("AddResult")
        if not isinstance(results, list):
            self.fail(self.offsets, _unknown(status, "the answer has no AddResult list"))
            return
        if len(results) == len(self.targets):
            # The common case in one pass: every result in place, and (mostly) OK.
            accepted, others = 0, []
            for offset, target, result in zip(self.offsets, self.targets, results, strict=True):
                if type(result) is not dict or result.get("Target") != target:
                    break
                code = result.get("ErrorCode")
                if type(code) is int and code == 0:
                    accepted += 1
                else:
                    others.append((offset, result))
            else:
                self.accepted += accepted
                self._settle(others, status)
                return
        self._settle(self._match_by_target(results), status)

    def _settle(self, pairs: Iterable[tuple[int, Any]], status: int) -> None:
        unknown: ResponseError | None = None
        for offset, result in pairs:
            code = wire_int(result.get("ErrorCode")) if isinstance(result, dict) else None
            if code == 0:
                self.accepted += 1
                continue
            call, index = self.calls[offset], self.start + offset
            if code is not None:
                try:
                    parsed = structure(result, AddResult, method=_METHOD, status_code=status)
                except ResponseError as exc:
                    self.failed.append(FailedCall(index, call, exc))
                else:
                    self.rejected.append(RejectedCall(index, call, parsed))
                continue
            unknown = unknown or _unknown(status, "no usable AddResult came back for this call")
            self.failed.append(FailedCall(index, call, unknown))

    def _match_by_target(self, results: list[Any]) -> Iterable[tuple[int, Any]]:
        """Pair results with sent calls by Target when the order does not line up.

        A target sent n times must have exactly n results, taken in order; otherwise which of
        its calls a result belongs to is unknown, and all of them get ``None``.
        """
        by_target: dict[object, list[Any]] = collections.defaultdict(list)
        for result in results:
            target = result.get("Target") if isinstance(result, dict) else None
            # Only a string can match a number sent (and anything else may be unhashable).
            by_target[target if isinstance(target, str) else None].append(result)
        sent_count = collections.Counter(self.targets)
        taken: collections.Counter[str] = collections.Counter()
        for offset, target in zip(self.offsets, self.targets, strict=True):
            matches = by_target.get(target, [])
            if len(matches) != sent_count[target]:
                yield offset, None
            else:
                yield offset, matches[taken[target]]
                taken[target] += 1


def _journal_status(error: DialerError) -> str:
    if error.outcome_unknown:
        return "unknown"
    # Refused in transit (429/503, no connection): not processed, so safe to send again.
    return "refused" if isinstance(error, TransportError | ResponseError) else "failed"


def _unknown(status: int, what: str) -> ResponseError:
    return ResponseError(
        f"{_METHOD}: {what}, so {_RECONCILE}",
        method=_METHOD,
        status_code=status,
        outcome_unknown=True,
    )


class _Upload:
    """One bulk upload: reads the input, sends chunks, merges answers into outcomes."""

    def __init__(
        self,
        dialer: AsyncDialer,
        campaign: str,
        chunk_size: int,
        concurrency: int,
        send: MemoryObjectSendStream[ChunkOutcome],
        journal: Journal | None = None,
        held: frozenset[str] | None = None,
    ) -> None:
        self._dialer = dialer
        self._campaign = campaign
        self._chunk_size = chunk_size
        self._journal = journal
        # With reconciliation: the targets the campaign holds, to settle unknown outcomes.
        self._held = held
        self._slots = anyio.Semaphore(concurrency)
        self._send = send
        # Set when the campaign is refused: later chunks are not sent.
        self._stopped_by: InvalidCampaignError | None = None
        #: What the caller's input raised, once the chunks read before it are done.
        self.input_error: Exception | None = None

    async def run(self, calls: Iterable[Any] | AsyncIterable[Any]) -> None:
        """Send every chunk; never raises but for cancellation (see :attr:`input_error`)."""
        async with self._send, anyio.create_task_group() as tasks:
            start = 0
            try:
                async with aclosing(_chunks(calls, self._chunk_size)) as chunks:
                    async for calls_read in chunks:
                        # Validated and encoded while earlier chunks are in flight, so it
                        # leaves the moment a slot frees up...
                        chunk = self._prepare(start, calls_read)
                        start += len(calls_read)
                        if self._journal is not None:
                            chunk = self._replay(chunk, self._journal)
                            if not chunk.offsets:  # settled by the journal: nothing to send
                                await self._send.send(chunk.outcome())
                                continue
                        # ...and no further chunk is read until then: that back-pressure
                        # keeps a huge input out of memory.
                        await self._slots.acquire()
                        tasks.start_soon(self._process, chunk)
                if self._journal is not None:
                    self._journal.finished(total=start)
            except Exception as exc:  # the caller's input failed: finish what is in flight
                self.input_error = exc

    def _prepare(self, start: int, calls: list[Any]) -> _Chunk:
        chunk = _Chunk(start, calls)
        to_wire, campaign = self._dialer._call_payload, self._campaign
        offsets: list[int] = []
        wires: list[dict[str, Any]] = []
        for offset, call in enumerate(calls):
            try:
                wires.append(to_wire(campaign, call))
            except ValidationError as exc:
                chunk.failed.append(FailedCall(start + offset, call, exc))
            else:
                offsets.append(offset)
        chunk.load(offsets, wires)
        return chunk

    async def _process(self, chunk: _Chunk) -> None:
        try:
            if chunk.offsets:
                await self._send_chunk(chunk)
            if self._journal is not None:
                # Committed before the outcome is counted or reported.
                self._journal.done(chunk.start, len(chunk.calls), chunk.accepted, chunk.records())
            await self._send.send(chunk.outcome())
        finally:
            self._slots.release()

    def _replay(self, chunk: _Chunk, journal: Journal) -> _Chunk:
        """*chunk* as the journal knows it: what is left to send, and the fates known.

        A chunk the journal has never seen is recorded as sent, and returned to be sent.
        """
        digest = chunk.digest()
        record = journal.chunk(chunk.start)
        if record is None:
            journal.sent(chunk.start, len(chunk.calls), digest, chunk.records())
            if not chunk.offsets:  # every call failed validation: its outcome is whole already
                journal.done(chunk.start, len(chunk.calls), 0, chunk.records())
            return chunk
        if record.size != len(chunk.calls) or record.digest != digest:
            raise JournalError(
                f"{journal.path} was written for another input: the calls at positions "
                f"{chunk.start} to {chunk.start + len(chunk.calls) - 1} differ from those "
                "journalled. Use a new journal for a new input"
            )
        known = journal.leads(chunk.start, len(chunk.calls))
        sent = dict(zip(chunk.offsets, chunk.targets, strict=True))
        resend: list[int] = []
        replayed = _Chunk(chunk.start, chunk.calls)
        replayed.accepted = record.accepted if record.state == "done" else 0
        interrupted = DialerError(
            f"{_METHOD}: the upload stopped while this call was in flight, so {_RECONCILE} "
            "(or rerun with reconciliation)",
            method=_METHOD,
            outcome_unknown=True,
        )
        settled = False
        for offset, call in enumerate(chunk.calls):
            index = chunk.start + offset
            lead = known.get(index)
            if lead is None and (record.state == "done" or offset not in sent):
                continue  # accepted (counted in the record), or never sent
            if lead is not None and lead.status == "rejected":
                result = AddResult(lead.target, lead.error_code, lead.reason)
                replayed.rejected.append(RejectedCall(index, call, result))
            elif lead is not None and lead.status == "failed":
                replayed.failed.append(FailedCall(index, call, lead.error()))
            elif lead is not None and lead.status == "refused":
                resend.append(offset)  # certainly not added: send it again
            elif self._held is None:  # unknown, and not to be reconciled
                error = lead.error() if lead is not None else interrupted
                replayed.failed.append(FailedCall(index, call, error))
            elif sent[offset] in self._held:
                replayed.accepted += 1  # the campaign holds it: it was added
                settled = True
            else:
                resend.append(offset)  # certainly not added: send it (again)
        if resend:
            to_wire, campaign = self._dialer._call_payload, self._campaign
            replayed.load(resend, [to_wire(campaign, chunk.calls[offset]) for offset in resend])
        elif settled:
            journal.done(chunk.start, len(chunk.calls), replayed.accepted, replayed.records())
        return replayed

    async def _send_chunk(self, chunk: _Chunk) -> None:
        if self._stopped_by is not None:
            error = DialerError(
                f"{_METHOD}: not sent, because the campaign was refused: "
                f"{self._stopped_by.message}",
                method=_METHOD,
            )
            error.__cause__ = self._stopped_by
            chunk.fail(chunk.offsets, error)
            return
        try:
            envelope, status = await self._dialer._request(
                _METHOD, chunk.body, idempotent=False, campaign=self._campaign
            )
        except InvalidCampaignError as exc:
            self._stopped_by = self._stopped_by or exc
            chunk.fail(chunk.offsets, exc)
        except DialerError as exc:
            chunk.fail(chunk.offsets, exc)
        else:
            chunk.merge(envelope, status)


@asynccontextmanager
async def stream(
    dialer: AsyncDialer,
    campaign: str,
    calls: Iterable[Call] | AsyncIterable[Call],
    *,
    chunk_size: int,
    concurrency: int,
    journal: str | os.PathLike[str] | None = None,
    reconcile: bool = False,
) -> AsyncIterator[AsyncIterator[ChunkOutcome]]:
    """Run an upload; yield an async iterator of :class:`ChunkOutcome` as chunks complete.

    Leaving the block early cancels the chunks still in flight. An exception raised by the
    input is raised when the block exits, after the outcomes of the chunks read before it.
    With a *journal*, see :mod:`._journal`; *reconcile* settles unknown outcomes against
    the campaign's pending calls.
    """
    size, workers = _check_sizes(chunk_size, concurrency)
    if reconcile and journal is None:
        raise ValidationError("reconcile needs a journal: it settles what a journal left unknown")
    opened: Journal | None = None
    if journal is not None:
        total = len(calls) if isinstance(calls, Sized) else None
        opened = Journal.open(journal, campaign=campaign, chunk_size=size, total=total)
    try:
        held = None
        if opened is not None:
            if opened.chunk_size != size:
                logger.info("%s: the journal's chunk size, %d, is used", _METHOD, opened.chunk_size)
                size = opened.chunk_size
            if reconcile and opened.has_unknown():
                pending = await dialer.get_campaign_pending_calls(campaign)
                held = frozenset(call.phone for call in pending.calls)
        async with _run(dialer, campaign, calls, size, workers, opened, held) as outcomes:
            yield outcomes
    finally:
        if opened is not None:
            opened.close()


@asynccontextmanager
async def _run(
    dialer: AsyncDialer,
    campaign: str,
    calls: Iterable[Call] | AsyncIterable[Call],
    size: int,
    workers: int,
    journal: Journal | None,
    held: frozenset[str] | None,
) -> AsyncIterator[AsyncIterator[ChunkOutcome]]:
    send, receive = anyio.create_memory_object_stream[ChunkOutcome](workers)
    run = _Upload(dialer, campaign, size, workers, send, journal, held)
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
    dialer: AsyncDialer,
    campaign: str,
    calls: Iterable[Call] | AsyncIterable[Call],
    *,
    chunk_size: int,
    concurrency: int,
    on_progress: Callable[[BulkProgress], object] | None,
    journal: str | os.PathLike[str] | None = None,
    reconcile: bool = False,
) -> BulkReport:
    """Run an upload to the end and gather every chunk's outcome into a :class:`BulkReport`."""
    total_known = len(calls) if isinstance(calls, Sized) else None
    done = accepted = 0
    rejected: list[RejectedCall] = []
    failed: list[FailedCall] = []
    async with stream(
        dialer,
        campaign,
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
        _METHOD,
        report.total,
        report.accepted,
        len(rejected),
        len(failed),
    )
    return report
