"""The request core: pace, admit, send, and bound each request; retries and deadline.

It knows no endpoint. :class:`AsyncDialer`'s methods (and the bulk uploader, through the
seam the dialer gives it) call :meth:`RequestCore.send` and read the :class:`.Answer` that
:mod:`._answer` decodes.

The flow of one request::

    send(method, body) ─ retry policy ─┬─ attempt 1 ─ pacer ─ admission ─ httpx ─ decode ─┐
                                       ├─ attempt 2 ...                                     │
                                       └─ (deadline over all attempts)                      ▼
                                                         Answer(method, envelope, status)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any

import anyio
import httpx
import orjson

from . import _telemetry as telemetry
from ._answer import Answer, decode, kept
from ._exceptions import DialerError, ResponseError, TransportError
from ._outcome import outcome, overloaded, unknown_outcome_note
from ._pacing import Pacer
from ._retry import RetryPolicy
from ._types import NotGiven
from ._watchdog import Watchdog

__all__ = [
    "Admission",
    "RequestCore",
    "longest",
]

logger = logging.getLogger("voicenter_dialer")


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
        # Closing a dialer closes the dialers derived from it (with_options), not the other
        # way round: a caller's client stays open, so the flag, not the client, says so.
        self._closed = False
        self._parent: RequestCore | None = None
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

    @property
    def closed(self) -> bool:
        """True once this core, or the one it was derived from, was closed (or its HTTP
        client was): nothing more is sent through it."""
        core: RequestCore | None = self
        while core is not None:
            if core._closed:
                return True
            core = core._parent
        return self.http_client.is_closed

    async def aclose(self) -> None:
        self._closed = True
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
        derived._parent = self
        return derived

    @property
    def retry(self) -> RetryPolicy:
        return self._retry

    @property
    def deadline(self) -> float | None:
        return self._deadline

    def send_json(
        self, method: str, payload: dict[str, Any], *, idempotent: bool, campaign: str | None
    ) -> Awaitable[Answer]:
        """:meth:`send` *payload*, encoded as JSON."""
        return self.send(method, orjson.dumps(payload), idempotent, campaign)

    def send(
        self,
        method: str,
        body: bytes,
        idempotent: bool,
        campaign: str | None,
        on_refused: Callable[[], object] | None = None,
    ) -> Awaitable[Answer]:
        """POST *body* (JSON) to *method* under the retry policy and the deadline.

        *campaign* is the code the body carries: it is masked in anything the server echoes.
        *on_refused* is called each time an attempt is refused (429/503), retried or not.
        Raises :class:`APIError` for a non-zero ErrorCode, :class:`TransportError` or
        :class:`ResponseError` when no usable answer came back after the retries.
        """
        # A plain function handing back the coroutine: an untraced request pays no frame.
        traced = telemetry.request(method)
        if traced is None:
            return self._attempts(method, body, idempotent, campaign, on_refused, None)
        return self._traced(traced, method, body, idempotent, campaign, on_refused)

    async def _traced(
        self,
        traced: tuple[telemetry.OperationSpan, AbstractContextManager[object]],
        method: str,
        body: bytes,
        idempotent: bool,
        campaign: str | None,
        on_refused: Callable[[], object] | None,
    ) -> Answer:
        span, current = traced
        with current:
            try:
                answer = await self._attempts(method, body, idempotent, campaign, on_refused, span)
            except DialerError as exc:
                span.failed(exc)
                raise
            span.answered(answer.status)
            return answer

    async def _attempts(
        self,
        method: str,
        body: bytes,
        idempotent: bool,
        campaign: str | None,
        on_refused: Callable[[], object] | None,
        span: telemetry.OperationSpan | None,
    ) -> Answer:
        url = self.base_url + method
        secrets = (self.code, campaign)
        in_flight = False
        #: Attempts that may have been processed: what an unknown outcome's message says.
        unknown = 0

        async def attempt(number: int) -> Answer:
            nonlocal in_flight, unknown
            if span is not None:
                span.attempt(number)
            if self._pacer is not None:
                await self._pacer.wait()
            in_flight = True
            try:
                answer = await self._send_once(method, url, body, number, secrets)
            except Exception as exc:
                in_flight = False
                if outcome(exc) == "unknown":
                    unknown += 1
                if on_refused is not None and overloaded(exc):
                    on_refused()
                raise
            # A cancellation (the deadline) leaves in_flight set: that request's fate is open.
            in_flight = False
            return answer

        try:
            if self._deadline is None:
                return await self._retry.run(attempt, idempotent=idempotent, method=method)
            with anyio.move_on_after(self._deadline):
                return await self._retry.run(attempt, idempotent=idempotent, method=method)
            # Cut short while a request was out: the server may have processed it.
            unknown += in_flight
            raise TransportError(
                f"{method}: no answer within the {self._deadline:g} s deadline",
                method=method,
                outcome_unknown=in_flight,
            )
        except DialerError as exc:
            if exc.outcome_unknown and not idempotent:  # say what happened, and what to do
                exc.args = (f"{exc.message}; {unknown_outcome_note(method, unknown)}",)
            raise

    async def _send_once(
        self,
        method: str,
        url: str,
        body: bytes,
        attempt: int,
        secrets: tuple[str | None, ...],
    ) -> Answer:
        if self.closed:
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
            raise TransportError(
                f"{method}: {type(exc).__name__} ({str(exc) or 'no detail'})",
                method=method,
                outcome_unknown=outcome(exc) == "unknown",
            ) from exc
        except RuntimeError as exc:
            # httpx's connections belong to the event loop that opened them: used from another
            # (a second asyncio.run(), another thread) they fail mid-request, perhaps after the
            # server acted.
            raise TransportError(
                f"{method}: the HTTP client failed ({exc}): was this dialer used in another "
                "event loop? Make one dialer per event loop (per asyncio.run(), per thread)",
                method=method,
                outcome_unknown=True,
            ) from exc
        except _TooLarge as exc:
            raise ResponseError(
                f"{method}: the answer is larger than {self._max_response_bytes:,} bytes "
                f"({exc}); it was not read further",
                method=method,
                outcome_unknown=True,
                status_code=exc.response.status_code,
                response=kept(exc.response, exc.content, secrets),
            ) from None
        if logger.isEnabledFor(logging.DEBUG):  # Logger.debug would ask it too: a frame fewer
            elapsed = (time.perf_counter() - started) * 1000
            logger.debug(
                "%s attempt %d: HTTP %d in %.1f ms", method, attempt, response.status_code, elapsed
            )
        return decode(method, response, content, secrets)

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
