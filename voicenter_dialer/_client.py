"""AsyncDialer: the request core and the API's methods."""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Final

import anyio
import httpx
import orjson

from . import _validation as check
from ._bulk import BulkProgress, ChunkOutcome, stream, upload
from ._converter import call_to_wire, structure, structure_list, wire_int
from ._exceptions import MemberError, ResponseError, TransportError, ValidationError, api_error
from ._models import BulkReport, Call, Campaign, Member, PendingCalls
from ._pacing import Pacer
from ._retry import RetryPolicy, retry_after_seconds, status_outcome_unknown, transport_refused
from ._secrets import mask, redact
from ._version import __version__

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "AsyncDialer",
]

DEFAULT_BASE_URL: Final = "https://api.voicenter.com/ForwardDialer/Dialer/"
#: Connect quickly or fail over to a retry; answers (a 3,000-call bulk chunk) may take longer.
DEFAULT_TIMEOUT: Final = httpx.Timeout(30.0, connect=5.0)
#: Room for bulk concurrency and busy request handlers alike; connections are kept alive
#: for bursts rather than closed and opened again.
DEFAULT_LIMITS: Final = httpx.Limits(max_connections=100, max_keepalive_connections=100)
DEFAULT_MAX_RETRIES: Final = 2

_USER_AGENT: Final = f"voicenter-dialer/{__version__} httpx/{httpx.__version__}"
_SNIPPET_LENGTH: Final = 200
_WHITESPACE: Final = re.compile(r"\s+")

logger = logging.getLogger("voicenter_dialer")


class _UseClientTimeout:
    """Sentinel: keep the caller's http_client timeout."""


_USE_CLIENT_TIMEOUT: Final = _UseClientTimeout()

Envelope = dict[str, Any]


class AsyncDialer:
    """Asynchronous client of the ForwardDialer API.

    Args:
        code: the account's personal identifier (needed by :meth:`get_campaign_list`); read
            from ``VOICENTER_CODE`` when not given.
        base_url: where the methods live; a method's URL is ``base_url + MethodName``.
        timeout: an :class:`httpx.Timeout` or seconds. By default 5 s to connect and 30 s for
            the rest; with a caller's ``http_client``, that client's timeout unless given.
        max_retries: retries after the first attempt (see the README's "Retries").
        http_client: an :class:`httpx.AsyncClient` you own (proxies, transports, mocks). The
            dialer never closes it.
        send_code_with_every_request: also send ``Code`` to every method (some accounts are set
            up that way), not only to GetCampaignList.
        resend_unknown_outcome: re-send AddCall, AddCallsBulk and AddMember after a failure in
            which the server may have processed them. Off by default: it may dial a person
            twice.
        retry_policy: replaces the whole policy (``max_retries`` and ``resend_unknown_outcome``
            are then ignored).
        requests_per_second: pace all requests of this dialer (calls, retries and bulk chunks
            alike) to at most this rate.
        deadline: seconds one call may take in all, retries and waits included; past it the
            call raises :class:`TransportError`.
        allow_insecure_http: accept a plain ``http://`` base URL that is not on loopback.
            Off by default: codes would travel in clear text.
        max_concurrent_requests: requests of this dialer on the wire at once; the rest wait
            their turn. Keep it at most your ``http_client``'s ``max_connections``.
    """

    def __init__(
        self,
        code: str | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: httpx.Timeout | float | _UseClientTimeout | None = _USE_CLIENT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.AsyncClient | None = None,
        send_code_with_every_request: bool = False,
        resend_unknown_outcome: bool = False,
        retry_policy: RetryPolicy | None = None,
        requests_per_second: float | None = None,
        deadline: float | None = None,
        allow_insecure_http: bool = False,
        max_concurrent_requests: int = DEFAULT_LIMITS.max_connections or 100,
    ) -> None:
        if code is None:
            code = os.environ.get("VOICENTER_CODE") or None
        if code is not None and (not isinstance(code, str) or not code.strip()):
            raise ValidationError("code must be a non-empty str (the account's code)")
        if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
            raise ValidationError(f"max_retries must be an int >= 0, got {max_retries!r}")
        if not base_url.endswith("/"):
            base_url += "/"
        _check_base_url(base_url, allow_insecure_http)
        if deadline is not None and not deadline > 0:
            raise ValidationError(f"deadline must be > 0 seconds, got {deadline}")
        if not isinstance(max_concurrent_requests, int) or max_concurrent_requests < 1:
            raise ValidationError(
                f"max_concurrent_requests must be an int >= 1, got {max_concurrent_requests!r}"
            )
        self._pacer = None if requests_per_second is None else Pacer(requests_per_second)
        # Requests beyond the pool's connections wait here, in a FIFO queue that costs O(1),
        # rather than in httpcore's pool, whose queue is quadratic in its length
        # (encode/httpcore#1035): 1,000 concurrent calls to the loopback fake took 12 s
        # queued there, 6 s queued here.
        self._max_in_flight = max_concurrent_requests
        # Made on first use, by the event loop that uses it (asyncio's or trio's).
        self._in_flight: anyio.Semaphore | None = None
        self._deadline = deadline
        self._code = code
        self._base_url = base_url
        self._send_code_always = send_code_with_every_request
        self._retry = retry_policy or RetryPolicy(
            max_retries=max_retries, resend_unknown_outcome=resend_unknown_outcome
        )
        self._owns_client = http_client is None
        if http_client is None:
            own_timeout = DEFAULT_TIMEOUT if isinstance(timeout, _UseClientTimeout) else timeout
            http_client = httpx.AsyncClient(
                timeout=own_timeout,
                limits=DEFAULT_LIMITS,
                headers={"User-Agent": _USER_AGENT},
            )
            self._request_timeout: dict[str, Any] = {}
        else:
            self._request_timeout = (
                {} if isinstance(timeout, _UseClientTimeout) else {"timeout": timeout}
            )
        self._client = http_client
        self._headers = {"Content-Type": "application/json"}
        if http_client.headers.get("User-Agent", "").startswith("python-httpx/"):
            self._headers["User-Agent"] = _USER_AGENT

    # --- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> AsyncDialer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if the dialer created it; a caller's client stays open."""
        if self._owns_client:
            await self._client.aclose()

    def __repr__(self) -> str:
        return f"AsyncDialer(code={mask(self._code)!r}, base_url={self._base_url!r})"

    # --- request core --------------------------------------------------------------------

    def _payload(self, campaign: str, **fields: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {"Campaign": campaign, **fields}
        if self._send_code_always and self._code is not None:
            payload["Code"] = self._code
        return payload

    async def _request(
        self, method: str, payload: Any, *, idempotent: bool, campaign: str | None = None
    ) -> tuple[Envelope, int]:
        """POST *payload* (or its JSON, already encoded) to *method* under the retry policy;
        the checked envelope and status.

        Raises :class:`APIError` for a non-zero ErrorCode, :class:`TransportError` or
        :class:`ResponseError` when no usable answer came back after the retries.
        """
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        url = self._base_url + method
        secrets = (self._code, campaign)

        in_flight = False

        async def attempt(number: int) -> tuple[Envelope, int]:
            nonlocal in_flight
            if self._pacer is not None:
                await self._pacer.wait()
            in_flight = True
            try:
                result = await self._send_once(method, url, body, number, secrets, idempotent)
            except Exception:
                in_flight = False
                raise
            # A cancellation (the deadline) leaves in_flight set: that request's fate is open.
            in_flight = False
            return result

        if self._deadline is None:
            return await self._retry.run(attempt, idempotent=idempotent)
        with anyio.move_on_after(self._deadline):
            return await self._retry.run(attempt, idempotent=idempotent)
        # Cut short while a request was out: the server may have processed it.
        message = f"{method}: no answer within the {self._deadline:g} s deadline"
        raise TransportError(
            message + (_unknown_outcome_hint(method, idempotent) if in_flight else ""),
            method=method,
            outcome_unknown=in_flight,
        )

    async def _send_once(
        self,
        method: str,
        url: str,
        body: bytes,
        attempt: int,
        secrets: tuple[str | None, ...],
        idempotent: bool,
    ) -> tuple[Envelope, int]:
        started = time.perf_counter()
        try:
            if self._in_flight is None:
                self._in_flight = anyio.Semaphore(self._max_in_flight, fast_acquire=True)
            async with self._in_flight:
                response = await self._client.post(
                    url, content=body, headers=self._headers, **self._request_timeout
                )
        except httpx.TransportError as exc:
            elapsed = (time.perf_counter() - started) * 1000
            logger.debug(
                "%s attempt %d: %s after %.1f ms", method, attempt, type(exc).__name__, elapsed
            )
            refused = transport_refused(exc)
            what = f"{method}: {type(exc).__name__} ({_describe_transport(exc)})"
            raise TransportError(
                what if refused else what + _unknown_outcome_hint(method, idempotent),
                method=method,
                outcome_unknown=not refused,
            ) from exc
        elapsed = (time.perf_counter() - started) * 1000
        logger.debug(
            "%s attempt %d: HTTP %d in %.1f ms", method, attempt, response.status_code, elapsed
        )
        return _decode(method, response, secrets, idempotent), response.status_code

    def _campaign(self, campaign: str | Campaign) -> str:
        return check.campaign_code(campaign)

    # --- campaigns -----------------------------------------------------------------------

    async def get_campaign_list(self) -> list[Campaign]:
        """Every dialer campaign of the account, enabled or not."""
        if self._code is None:
            raise ValidationError(
                "get_campaign_list needs the account code: AsyncDialer(code=...) "
                "or the VOICENTER_CODE environment variable"
            )
        envelope, status = await self._request(
            "GetCampaignList", {"Code": self._code}, idempotent=True
        )
        data = envelope.get("Data")
        return structure_list(
            [] if data is None else data, Campaign, method="GetCampaignList", status_code=status
        )

    async def get_campaign_details(self, campaign: str | Campaign) -> Campaign:
        code = self._campaign(campaign)
        envelope, status = await self._request(
            "GetCampaignDetails", self._payload(code), idempotent=True, campaign=code
        )
        data = _required_data("GetCampaignDetails", envelope, status)
        return structure(data, Campaign, method="GetCampaignDetails", status_code=status)

    async def get_campaign_pending_calls(self, campaign: str | Campaign) -> PendingCalls:
        code = self._campaign(campaign)
        method = "GetCampaignPendingCalls"
        envelope, status = await self._request(
            method, self._payload(code), idempotent=True, campaign=code
        )
        data = _required_data(method, envelope, status)
        return structure(data, PendingCalls, method=method, status_code=status)

    async def start_campaign(self, campaign: str | Campaign) -> None:
        """Resume dialling a paused campaign."""
        code = self._campaign(campaign)
        await self._request("StartCampaign", self._payload(code), idempotent=True, campaign=code)

    async def stop_campaign(self, campaign: str | Campaign) -> None:
        """Pause dialling."""
        code = self._campaign(campaign)
        await self._request("StopCampaign", self._payload(code), idempotent=True, campaign=code)

    async def update_campaign_strategy(
        self,
        campaign: str | Campaign,
        *,
        queue_for_monitoring: int,
        queue_maximum_callers: int,
        coefficient: int,
    ) -> None:
        """Set the queue an agent campaign watches, its maximum waiting callers (> 0) and its
        dialling coefficient (> 1)."""
        code = self._campaign(campaign)
        queue, callers, coeff = check.strategy(
            queue_for_monitoring, queue_maximum_callers, coefficient
        )
        payload = self._payload(
            code,
            setQueueForMonitoring=queue,
            setQueueMaximumCallers=callers,
            setCoefficient=coeff,
        )
        await self._request("UpdateCampaignStrategy", payload, idempotent=True, campaign=code)

    # --- calls ---------------------------------------------------------------------------

    def _call_payload(self, code: str, call: Call) -> dict[str, Any]:
        return call_to_wire(code, call, self._code if self._send_code_always else None)

    async def add_call(self, campaign: str | Campaign, call: Call) -> None:
        """Add one destination. Not retried when the outcome is unknown (see the README)."""
        code = self._campaign(campaign)
        payload = self._call_payload(code, call)
        await self._request("AddCall", payload, idempotent=False, campaign=code)

    async def update_call(self, campaign: str | Campaign, call: Call) -> None:
        """Update a destination, or add it when the campaign does not hold it."""
        code = self._campaign(campaign)
        payload = self._call_payload(code, call)
        await self._request("UpdateCall", payload, idempotent=True, campaign=code)

    async def remove_call(self, campaign: str | Campaign, target: str) -> None:
        """Remove every destination with this number; an absent number is not an error."""
        code = self._campaign(campaign)
        payload = self._payload(code, Target=check.phone(target))
        await self._request("RemoveCall", payload, idempotent=True, campaign=code)

    async def clear_campaign_calls(self, campaign: str | Campaign) -> None:
        """Remove every destination of the campaign."""
        code = self._campaign(campaign)
        await self._request(
            "ClearCampaignCalls", self._payload(code), idempotent=True, campaign=code
        )

    async def add_calls_bulk(
        self,
        campaign: str | Campaign,
        calls: Iterable[Call] | AsyncIterable[Call],
        *,
        chunk_size: int = 1000,
        concurrency: int = 4,
        on_progress: Callable[[BulkProgress], object] | None = None,
        journal: str | os.PathLike[str] | None = None,
        reconcile: bool = False,
    ) -> BulkReport:
        """Upload *calls* in chunks, streaming, and account for every one of them.

        With a *journal* (an SQLite file), the fate of every chunk is recorded as it comes
        back, and a rerun with the same input sends only what was never sent; *reconcile*
        settles calls whose outcome was left unknown against the campaign's pending calls,
        re-sending only those it does not hold. See the README's "Bulk upload" and
        "Resuming an interrupted upload".
        """
        code = self._campaign(campaign)
        return await upload(
            self,
            code,
            calls,
            chunk_size=chunk_size,
            concurrency=concurrency,
            on_progress=on_progress,
            journal=journal,
            reconcile=reconcile,
        )

    def stream_calls_bulk(
        self,
        campaign: str | Campaign,
        calls: Iterable[Call] | AsyncIterable[Call],
        *,
        chunk_size: int = 1000,
        concurrency: int = 4,
        journal: str | os.PathLike[str] | None = None,
        reconcile: bool = False,
    ) -> AbstractAsyncContextManager[AsyncIterator[ChunkOutcome]]:
        """The streaming form of :meth:`add_calls_bulk`: per-chunk outcomes as they complete.

        For callers who want every result without holding them all::

            async with dialer.stream_calls_bulk(campaign, leads) as outcomes:
                async for chunk in outcomes:
                    ...  # chunk.accepted, chunk.rejected, chunk.failed

        Leaving the block early cancels the chunks in flight.
        """
        code = self._campaign(campaign)
        return stream(
            self,
            code,
            calls,
            chunk_size=chunk_size,
            concurrency=concurrency,
            journal=journal,
            reconcile=reconcile,
        )

    # --- members -------------------------------------------------------------------------

    async def get_members_list(self, campaign: str | Campaign) -> list[Member]:
        code = self._campaign(campaign)
        envelope, status = await self._request(
            "GetMembersList", self._payload(code), idempotent=True, campaign=code
        )
        data = envelope.get("Data")
        return structure_list(
            [] if data is None else data, Member, method="GetMembersList", status_code=status
        )

    async def add_member(self, campaign: str | Campaign, member: str) -> int:
        """Add an agent; returns TotalAdded. Raises :class:`MemberError` when it is -1."""
        code = self._campaign(campaign)
        payload = self._payload(code, Member=check.member(member))
        envelope, status = await self._request(
            "AddMember", payload, idempotent=False, campaign=code
        )
        added = _total(envelope, "TotalAdded", "AddMember", status)
        if added == -1:
            raise MemberError(
                method="AddMember",
                error_code=0,
                description="TotalAdded is -1: the member was not added",
                message=f"AddMember: member {member!r} was not added (TotalAdded -1)",
            )
        return added

    async def remove_member(self, campaign: str | Campaign, member: str) -> int:
        """Remove an agent; returns TotalRemoved (0: nothing was removed)."""
        code = self._campaign(campaign)
        payload = self._payload(code, Member=check.member(member))
        envelope, status = await self._request(
            "RemoveMember", payload, idempotent=True, campaign=code
        )
        return _total(envelope, "TotalRemoved", "RemoveMember", status)


# --- answers ---------------------------------------------------------------------------------


def _check_base_url(base_url: str, allow_insecure_http: bool) -> None:
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


def _describe_transport(exc: httpx.TransportError) -> str:
    return str(exc) or "no detail"


def _unknown_outcome_hint(method: str, idempotent: bool) -> str:
    if idempotent:
        return ""
    return (
        f"; the outcome is unknown: the server may have processed the {method}, so it was "
        "not re-sent. Check get_campaign_pending_calls before sending it again"
    )


def _snippet(response: httpx.Response, secrets: tuple[str | None, ...]) -> str:
    text = _WHITESPACE.sub(" ", response.content[: _SNIPPET_LENGTH * 4].decode("utf-8", "replace"))
    text = text.strip()
    if len(text) > _SNIPPET_LENGTH:
        text = text[:_SNIPPET_LENGTH] + "…"
    return redact(text, secrets)


def _decode(
    method: str, response: httpx.Response, secrets: tuple[str | None, ...], idempotent: bool
) -> Envelope:
    """The JSON envelope of *response*, with ErrorCode 0; a typed DialerError otherwise."""
    status = response.status_code
    if not response.is_success:
        unknown = status_outcome_unknown(status)
        snippet = _snippet(response, secrets)
        message = f"{method}: HTTP {status} {response.reason_phrase}".rstrip()
        if snippet:
            message += f": {snippet!r}"
        if unknown:
            message += _unknown_outcome_hint(method, idempotent)
        raise ResponseError(
            message,
            method=method,
            status_code=status,
            outcome_unknown=unknown,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
    try:
        envelope = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise ResponseError(
            f"{method}: HTTP {status} answer is not JSON "
            f"(Content-Type {response.headers.get('Content-Type', 'none')!r}, "
            f"body {_snippet(response, secrets)!r})" + _unknown_outcome_hint(method, idempotent),
            method=method,
            status_code=status,
            outcome_unknown=True,
        ) from None
    if not isinstance(envelope, dict) or "ErrorCode" not in envelope:
        shape = (
            "an object without ErrorCode"
            if isinstance(envelope, dict)
            else (f"a JSON {type(envelope).__name__}")
        )
        raise ResponseError(
            f"{method}: expected a JSON object with ErrorCode, got {shape}"
            + _unknown_outcome_hint(method, idempotent),
            method=method,
            status_code=status,
            outcome_unknown=True,
        )
    error_code = wire_int(envelope["ErrorCode"])
    if error_code is None:
        raise ResponseError(
            f"{method}: ErrorCode is not an integer ({type(envelope['ErrorCode']).__name__})"
            + _unknown_outcome_hint(method, idempotent),
            method=method,
            status_code=status,
            outcome_unknown=True,
        )
    if error_code != 0:
        description = envelope.get("Description")
        text = redact(description if isinstance(description, str) else "", secrets)
        campaign = secrets[1]
        raise api_error(
            method, error_code, text, context=f"campaign {mask(campaign)}" if campaign else ""
        )
    return envelope


def _required_data(method: str, envelope: Envelope, status: int) -> object:
    data = envelope.get("Data")
    if data is None:
        raise ResponseError(f"{method}: the answer has no Data", method=method, status_code=status)
    return data


def _total(envelope: Envelope, key: str, method: str, status: int) -> int:
    data = envelope.get("Data")
    value = wire_int(data.get(key)) if isinstance(data, dict) else None
    if value is None:
        raise ResponseError(
            f"{method}: the answer has no integer Data.{key}",
            method=method,
            status_code=status,
            outcome_unknown=True,
        )
    return value
