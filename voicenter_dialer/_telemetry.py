"""OpenTelemetry spans, when the ``otel`` extra (``opentelemetry-api``) is installed.

Each method call is a span named ``voicenter_dialer <MethodName>``; a bulk upload's span has a
child span per chunk (``voicenter_dialer AddCallsBulk chunk``), and the chunk's request is
recorded on it. Attributes: the method, the attempt count, the HTTP status, ``outcome_unknown``,
the error's type, and for chunks and uploads the call counts. Never a code, a phone number or a
message (server text may quote either).

Without opentelemetry, or with no tracer provider set up (the API alone records nothing),
nothing is done: a request pays a context variable read and a no-op ``start_span``.
"""

from __future__ import annotations

import contextvars
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, Final, Protocol

from ._exceptions import DialerError, ResponseError
from ._exceptions import kind as error_kind
from ._version import __version__

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

#: ``opentelemetry.trace`` once loaded, else None (and always None without the otel extra).
#: A tracer provider cannot be set without that module, so until the application (or the
#: environment, :data:`_PROVIDER_FROM_ENVIRONMENT`) has loaded it nothing is recorded, and a
#: program that does not trace never imports it (:func:`_load`).
trace: Any = None

__all__ = ["ChunkCounts", "OperationSpan", "chunk_span", "request", "span"]

_PREFIX: Final = "voicenter_dialer"
_BULK: Final = "AddCallsBulk"


class OperationSpan:
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
        kind = error_kind(error)
        self._span.set_attribute("error.type", kind)
        if isinstance(error, DialerError):
            self.set("outcome_unknown", error.outcome_unknown)
        if isinstance(error, ResponseError):
            self.answered(error.status_code)
        assert trace is not None  # a OperationSpan exists only with opentelemetry
        self._span.set_status(trace.StatusCode.ERROR, kind)

    def counts(self, total: int, accepted: int, rejected: int, failed: int) -> None:
        self.set("calls", total)
        self.set("accepted", accepted)
        self.set("rejected", rejected)
        self.set("failed", failed)


class ChunkCounts(Protocol):
    """A bulk chunk as its span sees it (:class:`._chunk.Chunk`, which imports the core)."""

    @property
    def calls(self) -> Sequence[object]: ...

    @property
    def accepted(self) -> int: ...

    @property
    def rejected(self) -> Sequence[object]: ...

    @property
    def failed(self) -> Sequence[object]: ...


_NOT_TRACED: Final[AbstractContextManager[OperationSpan | None]] = nullcontext(None)
# The chunk span a bulk chunk's request is recorded on, rather than a span of its own.
_CHUNK: Final = contextvars.ContextVar[OperationSpan | None]("voicenter_dialer_chunk", default=None)
# A proxy, made with `trace`: it follows the tracer provider the application sets, whenever.
_TRACER: Tracer | None = None
# A provider named by the environment is made on first use (by get_tracer_provider).
_PROVIDER_FROM_ENVIRONMENT: Final = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ


def _load() -> bool:
    """Load `trace` and the library's tracer, once a provider may have been set up; whether
    `trace` is loaded."""
    global trace, _TRACER
    if not (_PROVIDER_FROM_ENVIRONMENT or "opentelemetry.trace" in sys.modules):
        return False
    try:
        from opentelemetry import trace as api
    except ImportError:  # the otel extra is not installed (or is blocked)
        return False
    trace = api
    if _TRACER is None:
        _TRACER = api.get_tracer(_PREFIX, __version__)
    return True


def _provider_set() -> bool:
    """True once the application set a tracer provider.

    Read from the API's global: get_tracer_provider() reads os.environ on every call, and a
    no-op start_span costs as much again, together a tenth of a call's own cost. Should the
    global ever be renamed, every call takes the (correct, slower) way through the proxy.
    """
    return _PROVIDER_FROM_ENVIRONMENT or getattr(trace, "_TRACER_PROVIDER", True) is not None


def _start(method: str, name: str) -> Span | None:
    """A span, not yet current; None when no tracer provider is set up (the API alone)."""
    if (trace is None and not _load()) or _TRACER is None or not _provider_set():
        return None
    started = _TRACER.start_span(
        f"{_PREFIX} {name}",
        kind=trace.SpanKind.CLIENT,
        attributes={f"{_PREFIX}.method": method},
    )
    return None if started is trace.INVALID_SPAN else started


@contextmanager
def _current(started: Span) -> Iterator[OperationSpan]:
    """*started* as the current span until the block ends, then ended."""
    operation = OperationSpan(started)
    # Not the exception's message or traceback: either may quote a number or a code.
    with trace.use_span(
        started, end_on_exit=True, record_exception=False, set_status_on_exception=False
    ):
        try:
            yield operation
        except BaseException as exc:
            operation.failed(exc)
            raise


def request(method: str) -> tuple[OperationSpan, AbstractContextManager[object]] | None:
    """Where one request of *method* is recorded, and the block it is current in: its bulk
    chunk's span, or one of its own. None when nothing is recorded (the common, cheap case).
    """
    # The common case first, written out: this runs once per request.
    if (
        (trace is None and not _load())
        or _TRACER is None
        or (not _PROVIDER_FROM_ENVIRONMENT and getattr(trace, "_TRACER_PROVIDER", True) is None)
    ):
        return None
    chunk = _CHUNK.get()  # a chunk span exists only while tracing
    if chunk is not None:
        return chunk, nullcontext()
    started = _start(method, method)
    if started is None:
        return None
    return OperationSpan(started), trace.use_span(
        started, end_on_exit=True, record_exception=False, set_status_on_exception=False
    )


def span(method: str) -> AbstractContextManager[OperationSpan | None]:
    """A span for a call of *method*; None when nothing is recorded."""
    started = _start(method, method)
    return _NOT_TRACED if started is None else _current(started)


@contextmanager
def _chunk(started: Span, chunk: ChunkCounts) -> Iterator[None]:
    with _current(started) as operation:
        operation.set("chunk_size", len(chunk.calls))
        token = _CHUNK.set(operation)
        try:
            yield
        finally:
            _CHUNK.reset(token)
        operation.counts(len(chunk.calls), chunk.accepted, len(chunk.rejected), len(chunk.failed))


def chunk_span(chunk: ChunkCounts) -> AbstractContextManager[None]:
    """A child span of the upload's for one bulk chunk, with its counts once it is settled."""
    started = _start(_BULK, f"{_BULK} chunk")
    return nullcontext() if started is None else _chunk(started, chunk)
