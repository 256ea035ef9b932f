"""The request core: pace, admit, send, decode, and build every error a request can raise.

It knows no endpoint. :class:`AsyncDialer`'s methods (and the bulk uploader, through the
seam the dialer gives it) call :meth:`RequestCore.send` and read the :class:`Answer`.

The flow of one request::

    send(method, body) ─ retry policy ─┬─ attempt 1 ─ pacer ─ admission ─ httpx ─ decode ─┐
                                       ├─ attempt 2 ...                                     │
                                       └─ (deadline over all attempts)                      ▼
                                                         Answer(method, envelope, status)
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import logging
import re
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Final, TypeVar

import anyio
import httpx
import orjson

from . import _telemetry as telemetry
from ._converter import structure, structure_list, wire_int
from ._exceptions import DialerError, ResponseError, TransportError, ValidationError, api_error
from ._exceptions import unknown_outcome_hint as hint
from ._pacing import Pacer
from ._retry import (
    RetryPolicy,
    overloaded,
    retry_after_seconds,
    status_outcome_unknown,
    transport_refused,
)
from ._secrets import mask, redact
from ._watchdog import Watchdog

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "NOT_GIVEN",
    "Admission",
    "Answer",
    "NotGiven",
    "RequestCore",
    "check_base_url",
    "longest",
]

T = TypeVar("T")
E = TypeVar("E", bound=DialerError)

_SNIPPET_LENGTH: Final = 200
#: The largest answer (decoded) read: far above any documented answer (a 3,000-call bulk
#: answer is about 300 KB), far below what would exhaust a service's memory.
DEFAULT_MAX_RESPONSE_BYTES: Final = 64 * 1024 * 1024
_WHITESPACE: Final = re.compile(r"\s+")

logger = logging.getLogger("voicenter_dialer")


class NotGiven(enum.Enum):
    """An option left as it is (``None`` has a meaning of its own: no bound)."""

    NOT_GIVEN = "NOT_GIVEN"

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven.NOT_GIVEN


class Answer:
    """A checked answer (ErrorCode 0) of one API method.

    A plain slotted class: one is made per request, and a frozen attrs class took a fifth of
    the request core's own CPU to build.
    """

    __slots__ = ("envelope", "method", "secrets", "status")

    def __init__(
        self,
        method: str,
        envelope: dict[str, Any],
        status: int,
        secrets: tuple[str | None, ...] = (),
    ) -> None:
        self.method = method
        #: The decoded JSON object.
        self.envelope = envelope
        #: Its HTTP status.
        self.status = status
        #: The codes the request carried, masked in any text taken from the answer.
        self.secrets = secrets

    def __repr__(self) -> str:
        return f"Answer({self.method!r}, status={self.status})"

    def redact(self, text: str) -> str:
        """*text* from the answer, with any code it echoes masked."""
        return redact(text, self.secrets)

    def data(self) -> object:
        """``Data``, or None when the answer has none."""
        return self.envelope.get("Data")

    def required_data(self) -> object:
        data = self.envelope.get("Data")
        if data is None:
            raise self.error("the answer has no Data", outcome_unknown=False)
        return data

    def structure(self, cls: type[T]) -> T:
        """``Data`` as *cls*; :class:`ResponseError` when it is absent or misshapen."""
        return structure(self.required_data(), cls, method=self.method, status_code=self.status)

    def structure_list(self, cls: type[T]) -> list[T]:
        """``Data`` as a list of *cls* (absent means empty)."""
        data = self.data()
        return structure_list(
            [] if data is None else data, cls, method=self.method, status_code=self.status
        )

    def total(self, key: str) -> int:
        """The integer ``Data[key]`` (TotalAdded, TotalRemoved)."""
        data = self.data()
        value = wire_int(data.get(key)) if isinstance(data, dict) else None
        if value is None:
            raise self.error(f"the answer has no integer Data.{key}", outcome_unknown=True)
        return value

    def error(self, what: str, *, outcome_unknown: bool) -> ResponseError:
        """A :class:`ResponseError` about this answer's content."""
        return ResponseError(
            f"{self.method}: {what}",
            method=self.method,
            status_code=self.status,
            outcome_unknown=outcome_unknown,
        )


def check_base_url(base_url: str, allow_insecure_http: bool) -> None:
    """Codes travel in request bodies: refuse clear text unless it stays on this machine."""
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL as exc:
        raise ValidationError(f"base_url is not a URL: {exc}") from None
    if url.scheme == "https":
        return
    if url.scheme != "http":
        raise ValidationError(f"base_url must be an https:// URL, got {url.scheme or 'no'} scheme")
    if allow_insecure_http or _is_loopback(url.host):
        return
    raise ValidationError(
        f"base_url {base_url!r} is plain http:// off this machine: account and campaign codes "
        "would travel in clear text. Use https://, or pass allow_insecure_http=True"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Admission:
    """Requests on the wire at once, the rest waiting their turn in FIFO order.

    They wait here, in a queue that costs O(1), rather than in httpcore's pool, whose queue is
    quadratic in its length (encode/httpcore#1035): 1,000 concurrent calls to the loopback
    fake took 12 s queued there, 6 s queued here.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        # Made on first use, by the event loop that uses it (asyncio's or trio's).
        self._semaphore: anyio.Semaphore | None = None

    @property
    def slot(self) -> anyio.Semaphore:
        if self._semaphore is None:
            self._semaphore = anyio.Semaphore(self._limit, fast_acquire=True)
        return self._semaphore


class RequestCore:
    """Sends the API's requests for one dialer (and the dialers derived from it).

    Owns the HTTP client (unless the caller does), the pacing, the admission queue, the retry
    policy and the deadline. Every error a request can end in is built here.
    """

    def __init__(
        self,
        *,
        http_client: httpx.AsyncClient,
        owns_client: bool,
        base_url: str,
        code: str | None,
        httpx_options: dict[str, Any],
        headers: dict[str, str],
        retry: RetryPolicy,
        pacer: Pacer | None,
        admission: Admission,
        deadline: float | None,
        attempt_timeout: float | None,
        max_response_bytes: int,
    ) -> None:
        self.http_client = http_client
        self.owns_client = owns_client
        self.base_url = base_url
        #: The account code, masked in anything the server echoes.
        self.code = code
        #: Per-request options for httpx (a timeout the caller set).
        self._httpx_options = httpx_options
        self._headers = headers
        self._retry = retry
        self._pacer = pacer
        self._admission = admission
        self._deadline = deadline
        # httpx bounds each read, not the whole answer: a server trickling a byte at a time
        # would hold an attempt forever.
        self._attempt_timeout = attempt_timeout
        self._watchdog = None if attempt_timeout is None else Watchdog(attempt_timeout)
        self._max_response_bytes = max_response_bytes

    async def aclose(self) -> None:
        if self.owns_client:
            await self.http_client.aclose()

    def derive(
        self,
        *,
        retry: RetryPolicy,
        deadline: float | NotGiven | None,
        timeout: httpx.Timeout | float | NotGiven | None,
    ) -> RequestCore:
        """A core with these settings that shares this one's HTTP client (without owning it),
        pacing and admission queue: the rate limit and the queue stay one."""
        httpx_options = dict(self._httpx_options)
        attempt_timeout = self._attempt_timeout
        if not isinstance(timeout, NotGiven):
            httpx_options["timeout"] = timeout
            attempt_timeout = longest(timeout)
        derived = RequestCore(
            http_client=self.http_client,
            owns_client=False,
            base_url=self.base_url,
            code=self.code,
            httpx_options=httpx_options,
            headers=self._headers,
            retry=retry,
            pacer=self._pacer,
            admission=self._admission,
            deadline=self._deadline if isinstance(deadline, NotGiven) else deadline,
            attempt_timeout=attempt_timeout,
            max_response_bytes=self._max_response_bytes,
        )
        if attempt_timeout == self._attempt_timeout:
            derived._watchdog = self._watchdog  # one timer per loop, not one per derived dialer
        return derived

    @property
    def retry(self) -> RetryPolicy:
        return self._retry

    @property
    def deadline(self) -> float | None:
        return self._deadline

    async def call(
        self, method: str, payload: dict[str, Any], *, idempotent: bool, campaign: str | None
    ) -> Answer:
        """:meth:`send` *payload*, encoded as JSON."""
        return await self.send(method, orjson.dumps(payload), idempotent, campaign)

    async def send(
        self,
        method: str,
        body: bytes,
        idempotent: bool,
        campaign: str | None,
        on_refused: Callable[[], object] | None = None,
        record: telemetry.Record | None = None,
    ) -> Answer:
        """POST *body* (JSON) to *method* under the retry policy and the deadline.

        *campaign* is the code the body carries: it is masked in anything the server echoes.
        *on_refused* is called each time an attempt is refused (429/503), retried or not.
        Raises :class:`APIError` for a non-zero ErrorCode, :class:`TransportError` or
        :class:`ResponseError` when no usable answer came back after the retries. *record*:
        where the request is traced (given by :meth:`_traced` only).
        """
        if record is None:
            traced = telemetry.request(method)
            if traced is not None:  # traced: this again, inside its span
                return await self._traced(traced, method, body, idempotent, campaign, on_refused)
        url = self.base_url + method
        secrets = (self.code, campaign)
        in_flight = False

        async def attempt(number: int) -> Answer:
            nonlocal in_flight
            if record is not None:
                record.attempt(number)
            if self._pacer is not None:
                await self._pacer.wait()
            in_flight = True
            try:
                answer = await self._send_once(method, url, body, number, secrets, idempotent)
            except Exception as exc:
                in_flight = False
                if on_refused is not None and overloaded(exc):
                    on_refused()
                raise
            # A cancellation (the deadline) leaves in_flight set: that request's fate is open.
            in_flight = False
            return answer

        if self._deadline is None:
            return await self._retry.run(attempt, idempotent=idempotent, method=method)
        with anyio.move_on_after(self._deadline):
            return await self._retry.run(attempt, idempotent=idempotent, method=method)
        # Cut short while a request was out: the server may have processed it.
        raise _error(
            TransportError,
            f"{method}: no answer within the {self._deadline:g} s deadline",
            method=method,
            idempotent=idempotent,
            outcome_unknown=in_flight,
        )

    async def _traced(
        self,
        traced: tuple[telemetry.Record, AbstractContextManager[object]],
        method: str,
        body: bytes,
        idempotent: bool,
        campaign: str | None,
        on_refused: Callable[[], object] | None,
    ) -> Answer:
        record, current = traced
        with current:
            try:
                answer = await self.send(method, body, idempotent, campaign, on_refused, record)
            except DialerError as exc:
                record.failed(exc)
                raise
            record.answered(answer.status)
            return answer

    async def _send_once(
        self,
        method: str,
        url: str,
        body: bytes,
        attempt: int,
        secrets: tuple[str | None, ...],
        idempotent: bool,
    ) -> Answer:
        if self.http_client.is_closed:
            raise DialerError(f"{method}: the dialer is closed; nothing was sent", method=method)
        started = time.perf_counter()
        try:
            async with self._admission.slot:
                response, content = await self._post(url, body)
        except httpx.TransportError as exc:
            elapsed = (time.perf_counter() - started) * 1000
            logger.debug(
                "%s attempt %d: %s after %.1f ms", method, attempt, type(exc).__name__, elapsed
            )
            refused = transport_refused(exc)
            raise _error(
                TransportError,
                f"{method}: {type(exc).__name__} ({str(exc) or 'no detail'})",
                method=method,
                idempotent=idempotent,
                outcome_unknown=not refused,
            ) from exc
        except RuntimeError as exc:
            # httpx's connections belong to the event loop that opened them: used from another
            # (a second asyncio.run(), another thread) they fail mid-request, perhaps after the
            # server acted.
            raise _error(
                TransportError,
                f"{method}: the HTTP client failed ({exc}): was this dialer used in another "
                "event loop? Make one dialer per event loop (per asyncio.run(), per thread)",
                method=method,
                idempotent=idempotent,
                outcome_unknown=True,
            ) from exc
        except _TooLarge as exc:
            raise _error(
                ResponseError,
                f"{method}: the answer is larger than {self._max_response_bytes:,} bytes "
                f"({exc}); it was not read further",
                method=method,
                idempotent=idempotent,
                outcome_unknown=True,
                status_code=exc.response.status_code,
                response=_kept(exc.response, exc.content, secrets),
            ) from None
        elapsed = (time.perf_counter() - started) * 1000
        logger.debug(
            "%s attempt %d: HTTP %d in %.1f ms", method, attempt, response.status_code, elapsed
        )
        envelope = _decode(method, response, content, secrets, idempotent)
        return Answer(method, envelope, response.status_code, secrets)

    async def _post(self, url: str, body: bytes) -> tuple[httpx.Response, bytes]:
        """POST and read the answer within the attempt's time and size bounds.

        Redirects are never followed, whatever the client says: a request body holds codes,
        and must not travel to another origin or over clear text.
        """
        client = self.http_client
        request = client.build_request(
            "POST", url, content=body, headers=self._headers, **self._httpx_options
        )
        watchdog = self._watchdog
        if watchdog is None:
            return await self._read(client, request)
        task = watchdog.watch()
        if task is None:
            with anyio.move_on_after(watchdog.seconds):
                return await self._read(client, request)
            raise self._too_slow(request)
        try:
            return await self._read(client, request)
        except asyncio.CancelledError:
            if watchdog.release(task):
                raise self._too_slow(request) from None
            raise
        finally:
            watchdog.release(task)

    def _too_slow(self, request: httpx.Request) -> httpx.ReadTimeout:
        return httpx.ReadTimeout(
            f"the answer did not complete within {self._attempt_timeout:g} s", request=request
        )

    async def _read(
        self, client: httpx.AsyncClient, request: httpx.Request
    ) -> tuple[httpx.Response, bytes]:
        limit = self._max_response_bytes
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            parts: list[bytes] = []
            size = 0
            async for part in response.aiter_bytes():
                size += len(part)
                parts.append(part)
                if size > limit:
                    raise _TooLarge(f"{size:,} bytes read", response, b"".join(parts))
        finally:
            await response.aclose()
        return response, b"".join(parts)


class _TooLarge(Exception):
    def __init__(self, what: str, response: httpx.Response, content: bytes) -> None:
        super().__init__(what)
        self.response = response
        self.content = content


def longest(timeout: httpx.Timeout | float | None) -> float | None:
    """The longest of *timeout*'s parts (None: no bound), which bounds an attempt as a whole."""
    if timeout is None or isinstance(timeout, int | float):
        return timeout
    parts = (timeout.connect, timeout.read, timeout.write, timeout.pool)
    return None if None in parts else max(p for p in parts if p is not None)


def _kept(
    response: httpx.Response, content: bytes, secrets: tuple[str | None, ...]
) -> httpx.Response:
    """*response*, kept on an error: its body readable (the bytes read, as received), and its
    request's body with the codes it carried masked.

    The answer was streamed and closed, so its body is set where ``Response.read()`` itself
    keeps it. Built only on the way to an error: a successful call pays nothing.
    """
    response._content = content
    request = response.request
    response.request = httpx.Request(
        request.method,
        request.url,
        headers=[(k, v) for k, v in request.headers.multi_items() if k.lower() != "content-length"],
        content=redact(request.content.decode("utf-8", "replace"), secrets).encode(),
    )
    return response


def _error(
    cls: type[E],
    message: str,
    *,
    method: str,
    idempotent: bool,
    outcome_unknown: bool,
    **fields: Any,
) -> E:
    """*cls* with *message*, and the outcome-unknown hint when an add may have gone through."""
    if outcome_unknown and not idempotent:
        message = f"{message}; {hint(method)}"
    return cls(message, method=method, outcome_unknown=outcome_unknown, **fields)


def _snippet(content: bytes, secrets: tuple[str | None, ...]) -> str:
    """The start of the body, for a message: redacted first, then cut (a code cut in half
    would escape redaction)."""
    longest = max((len(secret) for secret in secrets if secret), default=0)
    # Enough bytes for the snippet plus any code that straddles its end.
    raw = content[: (_SNIPPET_LENGTH + longest) * 4]
    text = redact(_WHITESPACE.sub(" ", raw.decode("utf-8", "replace")).strip(), secrets)
    if len(text) > _SNIPPET_LENGTH:
        text = text[:_SNIPPET_LENGTH] + "…"
    return text


def _undocumented(
    what: str,
    method: str,
    response: httpx.Response,
    content: bytes,
    secrets: tuple[str | None, ...],
    idempotent: bool,
) -> ResponseError:
    """A 2xx answer that is not the documented JSON: the server may have acted all the same."""
    return _error(
        ResponseError,
        f"{method}: {what}",
        method=method,
        idempotent=idempotent,
        outcome_unknown=True,
        status_code=response.status_code,
        response=_kept(response, content, secrets),
    )


def _decode(
    method: str,
    response: httpx.Response,
    content: bytes,
    secrets: tuple[str | None, ...],
    idempotent: bool,
) -> dict[str, Any]:
    """The JSON envelope of *response*, with ErrorCode 0; a typed DialerError otherwise."""
    status = response.status_code
    if not response.is_success:
        snippet = _snippet(content, secrets)
        message = f"{method}: HTTP {status} {response.reason_phrase}".rstrip()
        if response.is_redirect:
            message += " (a redirect, not followed: codes are never sent through one)"
        elif snippet:
            message += f": {snippet!r}"
        raise _error(
            ResponseError,
            message,
            method=method,
            idempotent=idempotent,
            outcome_unknown=status_outcome_unknown(status),
            status_code=status,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            response=_kept(response, content, secrets),
        )
    try:
        envelope = orjson.loads(content)
    except orjson.JSONDecodeError:
        raise _undocumented(
            f"HTTP {status} answer is not JSON "
            f"(Content-Type {response.headers.get('Content-Type', 'none')!r}, "
            f"body {_snippet(content, secrets)!r})",
            method, response, content, secrets, idempotent,
        ) from None  # fmt: skip
    if not isinstance(envelope, dict) or "ErrorCode" not in envelope:
        shape = (
            "an object without ErrorCode"
            if isinstance(envelope, dict)
            else f"a JSON {type(envelope).__name__}"
        )
        raise _undocumented(
            f"expected a JSON object with ErrorCode, got {shape}",
            method, response, content, secrets, idempotent,
        )  # fmt: skip
    error_code = wire_int(envelope["ErrorCode"])
    if error_code is None:
        raise _undocumented(
            f"ErrorCode is not an integer ({type(envelope['ErrorCode']).__name__})",
            method, response, content, secrets, idempotent,
        )  # fmt: skip
    if error_code != 0:
        description = envelope.get("Description")
        text = redact(description if isinstance(description, str) else "", secrets)
        campaign = secrets[1]
        raise api_error(
            method,
            error_code,
            text,
            context=f"campaign {mask(campaign)}" if campaign else "",
            response=_kept(response, content, secrets),
        )
    return envelope
