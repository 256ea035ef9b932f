"""One chunk of a bulk upload: its input calls, what is sent of them, and their fates.

Each chunk's answer is merged back to input positions here; whatever goes wrong, every
position ends in exactly one of accepted, rejected or failed.
"""

from __future__ import annotations

import collections
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import compress
from typing import Any, Final, Protocol

import attrs
import orjson

from ._answer import Answer
from ._converter import ChunkBody, structure, wire_int
from ._exceptions import DialerError, ResponseError, ValidationError
from ._idempotency_records import Claim
from ._models import AddResult, FailedCall, LeadOutcome, RejectedCall, lead_outcomes
from ._outcome import unknown_outcome_note
from ._validation import all_exactly

__all__ = [
    "METHOD",
    "Chunk",
    "ChunkOutcome",
    "ChunkSender",
    "fits",
    "too_large",
    "unknown_outcome",
    "wire_size",
]

#: The API method a chunk is sent with.
METHOD: Final = "AddCallsBulk"
_TARGET = operator.itemgetter("Target")
_ERROR_CODE = operator.itemgetter("ErrorCode")


class ChunkSender(Protocol):
    """What a bulk upload needs of the dialer, bound to one campaign."""

    #: The campaign's code (a journal keeps only its hash).
    campaign: str

    def encode(self, call: object) -> dict[str, Any]:
        """*call*'s wire object; :class:`ValidationError` when it is not a valid Call."""

    def encode_chunk(self, calls: Sequence[object]) -> ChunkBody:
        """``wires_body([encode(call) for call in calls])``, cheaper: a chunk at a time."""

    async def send(self, body: bytes, on_refused: Callable[[], object] | None = None) -> Answer:
        """Send one encoded chunk; never re-sent when its outcome is unknown.

        *on_refused* hears of each attempt the service refuses for load (429/503).
        """

    async def held_targets(self) -> collections.Counter[str]:
        """How many times the campaign holds each number (to reconcile unknown outcomes)."""


@attrs.frozen
class ChunkOutcome:
    """The fate of one chunk of a bulk upload (see :meth:`AsyncDialer.stream_calls_bulk`).

    The chunk covers input positions ``start`` to ``start + size - 1``; each is counted in
    exactly one of ``accepted``, ``rejected`` or ``failed``.
    """

    #: Input position (0-based) of the chunk's first call.
    start: int
    #: Calls in the chunk.
    size: int
    #: Calls of the chunk the service added; only counted, not listed.
    accepted: int
    #: Calls of the chunk the service refused, with its per-target answers.
    rejected: list[RejectedCall] = attrs.field(factory=list)
    #: Calls of the chunk with no per-target answer, with their errors.
    failed: list[FailedCall] = attrs.field(factory=list)
    #: Input positions whose outcome came from the idempotency store (nothing was sent).
    replayed: frozenset[int] = frozenset()

    def outcomes(self, calls: list[Any] | None = None) -> Iterator[LeadOutcome]:
        """One :class:`LeadOutcome` per call of the chunk, in input order (an accepted
        call's ``call`` is None unless *calls*, the chunk's, are given: see
        :meth:`BulkReport.outcomes`)."""
        outcomes = lead_outcomes(self.start, self.size, self.rejected, self.failed, calls)
        if not self.replayed:
            return outcomes
        replayed = self.replayed
        return (
            attrs.evolve(outcome, replayed=True) if outcome.index in replayed else outcome
            for outcome in outcomes
        )


def wire_size(wire: dict[str, Any]) -> int:
    """The bytes *wire* adds to a chunk's request body (its JSON and a comma)."""
    return len(orjson.dumps(wire)) + 1


def fits(size: int, max_bytes: int) -> bool:
    """Whether calls whose :func:`wire_size` add up to *size* fit a body of *max_bytes*
    (the brackets of the list, less the comma the last one does not need)."""
    return size + 1 <= max_bytes


def too_large(size: int, max_bytes: int) -> ValidationError:
    """The error of a call that alone makes a request larger than *max_bytes*."""
    return ValidationError(
        f"this call alone makes a request of {size + 1:,} bytes, more than max_chunk_bytes "
        f"({max_bytes:,})"
    )


def unknown_outcome(what: str, status: int | None = None) -> DialerError:
    """The error of a call that may have been added although no answer says so."""
    message = f"{METHOD}: {what}; {unknown_outcome_note(METHOD)}"
    if status is None:
        return DialerError(message, method=METHOD, outcome_unknown=True)
    return ResponseError(message, method=METHOD, status_code=status, outcome_unknown=True)


@attrs.define
class Chunk:
    """A chunk on its way."""

    start: int
    calls: list[Any]
    #: Input offsets (within the chunk) of the calls to send (a range when all of them are:
    #: no int object per call), their numbers as sent, and the encoded request. No wire
    #: object is held: held while the chunk is in flight, they made the garbage collector a
    #: quarter of the client's CPU.
    offsets: Sequence[int] = attrs.Factory(list)
    targets: Sequence[str] = ()
    body: bytes = b""
    accepted: int = 0
    rejected: list[RejectedCall] = attrs.Factory(list)
    failed: list[FailedCall] = attrs.Factory(list)
    #: Offsets of calls sent under an idempotency key, with their claims; offsets whose
    #: outcome was replayed from the idempotency store (nothing sent).
    claims: dict[int, Claim] = attrs.Factory(dict)
    replayed: list[int] = attrs.Factory(list)

    def fail(self, offsets: Iterable[int], error: DialerError) -> None:
        calls, start = self.calls, self.start
        self.failed.extend(FailedCall(start + offset, calls[offset], error) for offset in offsets)

    def outcome(self) -> ChunkOutcome:
        replayed = frozenset(self.start + offset for offset in self.replayed)
        return ChunkOutcome(
            self.start, len(self.calls), self.accepted, self.rejected, self.failed, replayed
        )

    def outcomes(self, calls: list[Any] | None = None) -> Iterator[LeadOutcome]:
        """Each call's :class:`LeadOutcome` (see :meth:`ChunkOutcome.outcomes`)."""
        return self.outcome().outcomes(calls)

    def load(self, offsets: Sequence[int], encoded: ChunkBody) -> None:
        """Make the calls at *offsets*, encoded as *encoded*, the ones to send."""
        self.offsets = offsets
        # A tuple of str: the garbage collector untracks it at its first pass, where a list
        # is traversed again at each collection while the chunk is in flight.
        self.body, self.targets = encoded

    def merge(self, answer: Answer) -> None:
        """Match the answer's AddResult items to the calls sent.

        Results come in request order. Anything missing, short or mismatched leaves a call's
        outcome unknown, so it goes to ``failed``, never to ``accepted``.
        """
        results = answer.envelope.get("AddResult")
        status = answer.status
        if not isinstance(results, list):
            self.fail(self.offsets, unknown_outcome("the answer has no AddResult list", status))
            return
        if len(results) == len(self.targets):
            # The common case, every result an object in place with an int ErrorCode, checked
            # by C loops (map, ==, count, compress): a Python loop over the results was most of
            # the merge's cost. Anything else is settled result by result below.
            try:
                echoed = tuple(map(_TARGET, results))
                codes = list(map(_ERROR_CODE, results))
            except (KeyError, TypeError):  # a result that is not an object, or lacks a key
                pass
            else:
                if echoed == self.targets and all_exactly(codes, int):
                    accepted = codes.count(0)
                    self.accepted += accepted
                    if accepted < len(codes):  # the refused: those with a non-zero code
                        refused = compress(zip(self.offsets, results, strict=True), codes)
                        self._settle(refused, answer)
                    return
        self._settle(self._match_by_target(results), answer)

    def _settle(self, pairs: Iterable[tuple[int, Any]], answer: Answer) -> None:
        status = answer.status
        unknown: DialerError | None = None
        for offset, result in pairs:
            code = wire_int(result.get("ErrorCode")) if isinstance(result, dict) else None
            if code == 0:
                self.accepted += 1
                continue
            call, index = self.calls[offset], self.start + offset
            if code is not None:
                try:
                    parsed = _redacted(
                        structure(result, AddResult, method=METHOD, status_code=status), answer
                    )
                except ResponseError as exc:
                    self.failed.append(FailedCall(index, call, exc))
                else:
                    self.rejected.append(RejectedCall(index, call, parsed))
                continue
            unknown = unknown or unknown_outcome(
                "no usable AddResult came back for this call", status
            )
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


def _redacted(result: AddResult, answer: Answer) -> AddResult:
    """*result* with any code its texts echo masked: they end up in reports, journals and
    rejects files."""
    return attrs.evolve(
        result,
        target=answer.redact(result.target),
        description=answer.redact(result.description),
        custom_data={key: answer.redact(value) for key, value in result.custom_data.items()},
    )
