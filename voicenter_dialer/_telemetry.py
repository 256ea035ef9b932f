"""OpenTelemetry spans, when the ``otel`` extra (``opentelemetry-api``) is installed.

Each method call is a span named ``voicenter_dialer <MethodName>``; a bulk upload's span has a
child span per chunk (``voicenter_dialer AddCallsBulk chunk``), and the chunk's request is
recorded on it. Attributes: the method, the attempt count, the HTTP status, ``outcome_unknown``,
the error's type, and for chunks and uploads the call counts. Never a code, a phone number or a
message (server text may quote either).

Without opentelemetry, or with no tracer provider set up (the API alone records nothing),
nothing is done: a request pays one check.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Final, Protocol

from ._exceptions import DialerError, ResponseError
from ._version import __version__

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer, TracerProvider

try:
    from opentelemetry import trace
except ImportError:  # the otel extra is not installed
    trace = None  # type: ignore[assignment]

__all__ = ["Record", "Settled", "chunk_span", "request_span", "span"]

_PREFIX: Final = "voicenter_dialer"
_BULK: Final = "AddCallsBulk"


class Record:
    """The span of one operation, with what this library records on it."""

    def __init__(self, span: Span) -> None:
        self._span = span

    def set(self, key: str, value: int | str | bool) -> None:
        self._span.set_attribute(f"{_PREFIX}.{key}", value)

    def attempt(self, number: int) -> None:
        self.set("attempts", number)

    def answered(self, status: int) -> None:
        self._span.set_attribute("http.response.status_code", status)

    def failed(self, error: BaseException) -> None:
        """Mark the span failed: the error's type and outcome, never its message."""
        kind = type(error).__name__
        self._span.set_attribute("error.type", kind)
        if isinstance(error, DialerError):
            self.set("outcome_unknown", error.outcome_unknown)
        if isinstance(error, ResponseError):
            self.answered(error.status_code)
        assert trace is not None  # a Record exists only with opentelemetry
        self._span.set_status(trace.StatusCode.ERROR, kind)

    def counts(self, total: int, accepted: int, rejected: int, failed: int) -> None:
        self.set("calls", total)
        self.set("accepted", accepted)
        self.set("rejected", rejected)
        self.set("failed", failed)


class Settled(Protocol):
    """A bulk chunk as its span sees it (:class:`._chunk.Chunk`, which imports the core)."""

    @property
    def calls(self) -> Sequence[object]: ...

    @property
    def accepted(self) -> int: ...

    @property
    def rejected(self) -> Sequence[object]: ...

    @property
    def failed(self) -> Sequence[object]: ...


_NO_RECORD: Final[AbstractContextManager[Record | None]] = nullcontext(None)
# The chunk span a bulk chunk's request is recorded on, rather than a span of its own.
_CHUNK: Final = contextvars.ContextVar[Record | None]("voicenter_dialer_chunk", default=None)
_tracers: dict[int, Tracer] = {}


def _tracer() -> Tracer | None:
    """The tracer of the provider set up now; None when nothing would be recorded."""
    if trace is None:
        return None
    provider: TracerProvider = trace.get_tracer_provider()
    # The API's own providers record nothing: skip the span machinery altogether.
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    tracer = _tracers.get(id(provider))
    if tracer is None:
        tracer = _tracers[id(provider)] = provider.get_tracer(_PREFIX, __version__)
    return tracer


@contextmanager
def _started(tracer: Tracer, method: str, name: str) -> Iterator[Record]:
    with tracer.start_as_current_span(
        f"{_PREFIX} {name}",
        kind=trace.SpanKind.CLIENT,
        attributes={f"{_PREFIX}.method": method},
        record_exception=False,  # an exception's message may quote a number or a code
        set_status_on_exception=False,
    ) as started:
        record = Record(started)
        try:
            yield record
        except BaseException as exc:
            record.failed(exc)
            raise


def span(method: str) -> AbstractContextManager[Record | None]:
    """A span for a call of *method*; its record is None when nothing is recorded."""
    tracer = _tracer()
    return _NO_RECORD if tracer is None else _started(tracer, method, method)


def request_span(method: str) -> AbstractContextManager[Record | None]:
    """The span of one request: its bulk chunk's, or one of its own."""
    tracer = _tracer()
    if tracer is None:
        return _NO_RECORD
    chunk = _CHUNK.get()
    return nullcontext(chunk) if chunk is not None else _started(tracer, method, method)


@contextmanager
def _chunk(tracer: Tracer, chunk: Settled) -> Iterator[None]:
    with _started(tracer, _BULK, f"{_BULK} chunk") as record:
        record.set("chunk_size", len(chunk.calls))
        token = _CHUNK.set(record)
        try:
            yield
        finally:
            _CHUNK.reset(token)
        record.counts(len(chunk.calls), chunk.accepted, len(chunk.rejected), len(chunk.failed))


def chunk_span(chunk: Settled) -> AbstractContextManager[None]:
    """A child span of the upload's for one bulk chunk, with its counts once it is settled."""
    tracer = _tracer()
    return nullcontext() if tracer is None else _chunk(tracer, chunk)
