"""AsyncDialer: the API's methods. Each validates its input, asks the request core, converts."""

from __future__ import annotations

import base64
import collections
import copy
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Any

import httpx

from . import _telemetry as telemetry
from . import _validation as check
from ._answer import Answer
from ._bulk import check_journal, stream, upload
from ._chunk import METHOD as BULK_METHOD
from ._chunk import ChunkOutcome
from ._concurrency import DEFAULT_MAX_CONCURRENCY, Concurrency
from ._converter import BulkEncoder, ChunkBody, call_to_wire
from ._core import Admission, RequestCore, longest
from ._exceptions import DialerError, MemberError, ValidationError
from ._idempotency import (
    DEFAULT_IDEMPOTENCY_TTL,
    DEFAULT_IDEMPOTENCY_WAIT,
    DEFAULT_LEASE_SECONDS,
    IdempotencySpec,
)
from ._idempotent_call import KeyStore, add_once
from ._models import BulkReport, Call, CallInput, Campaign, Member, PendingCalls
from ._options import (
    DEFAULT_LIMITS,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUT,
    USER_AGENT,
    ClientOptions,
    Timeout,
    default_http_client,
)
from ._pacing import Pacer
from ._raw import raw
from ._resume import JournalSpec
from ._retry import RetryPolicy
from ._secrets import mask, mask_url
from ._session import DEFAULT_CHUNK_SIZE, DEFAULT_CONCURRENCY, BulkOptions, BulkProgress
from ._types import NOT_GIVEN, NotGiven
from ._writer import BulkWriter, open_writer

__all__ = ["AsyncDialer", "AsyncRawResponses"]


class _CampaignSender:
    """The bulk uploader's view of a dialer: one campaign, encode a call, send a chunk."""

    def __init__(
        self, dialer: AsyncDialer, core: RequestCore, campaign: str, account_code: str | None
    ) -> None:
        self.campaign = campaign
        self._dialer = dialer
        self._core = core
        self._account_code = account_code
        self._encoder = BulkEncoder(campaign, account_code)

    def encode(self, call: object) -> dict[str, Any]:
        return call_to_wire(self.campaign, call, self._account_code)

    def encode_chunk(self, calls: Sequence[object]) -> ChunkBody:
        return self._encoder.encode(calls)

    async def send(self, body: bytes, on_refused: Callable[[], object] | None = None) -> Answer:
        return await self._core.send(BULK_METHOD, body, False, self.campaign, on_refused)

    async def held_targets(self) -> collections.Counter[str]:
        pending = await self._dialer.get_campaign_pending_calls(self.campaign)
        return collections.Counter(call.phone for call in pending.calls)


class AsyncRawResponses:
    """:attr:`AsyncDialer.with_raw_response`: each method of one request, returning a
    :class:`RawResponse` (the bulk methods send many requests, and have no one answer)."""

    def __init__(self, dialer: AsyncDialer) -> None:
        self.get_campaign_list = raw(dialer.get_campaign_list)
        self.get_campaign_details = raw(dialer.get_campaign_details)
        self.get_campaign_pending_calls = raw(dialer.get_campaign_pending_calls)
        self.start_campaign = raw(dialer.start_campaign)
        self.stop_campaign = raw(dialer.stop_campaign)
        self.update_campaign_strategy = raw(dialer.update_campaign_strategy)
        self.add_call = raw(dialer.add_call)
        self.update_call = raw(dialer.update_call)
        self.remove_call = raw(dialer.remove_call)
        self.clear_campaign_calls = raw(dialer.clear_campaign_calls)
        self.get_members_list = raw(dialer.get_members_list)
        self.add_member = raw(dialer.add_member)
        self.remove_member = raw(dialer.remove_member)


class AsyncDialer:
    """Asynchronous client of the ForwardDialer API.

    Args:
        code: the account's personal identifier (needed by :meth:`get_campaign_list`); read
            from ``VOICENTER_CODE`` when not given.
        base_url: where the methods live; a method's URL is ``base_url + MethodName``. When
            not given, the ``VOICENTER_BASE_URL`` environment variable, else
            :data:`DEFAULT_BASE_URL`.
        timeout: an :class:`httpx.Timeout` or seconds. By default 5 s to connect and 30 s for
            the rest; with a caller's ``http_client``, that client's timeout unless given.
        max_retries: retries after the first attempt (default 2; see the "Retries" guide).
        http_client: an :class:`httpx.AsyncClient` you own (proxies, transports, mocks); see
            :func:`default_http_client` for one with the library's defaults. The dialer never
            closes it.
        send_code_with_every_request: also send ``Code`` to every method (some accounts are set
            up that way), not only to GetCampaignList.
        resend_unknown_outcome: re-send AddCall, AddCallsBulk and AddMember after a failure in
            which the server may have processed them. Off by default: it may dial a person
            twice.
        retry_policy: the whole policy, for finer control (waits, ``Retry-After`` cap); give
            ``max_retries`` and ``resend_unknown_outcome`` inside it, not beside it.
        requests_per_second: pace all requests of this dialer (calls, retries and bulk chunks
            alike) to at most this rate.
        deadline: seconds one call may take in all, retries and waits included; past it the
            call raises :class:`TransportError`.
        allow_insecure_http: accept a plain ``http://`` base URL that is not on loopback.
            Off by default: codes would travel in clear text.
        max_concurrent_requests: requests of this dialer on the wire at once; the rest wait
            their turn. Keep it at most your ``http_client``'s ``max_connections``.
        max_response_bytes: the largest answer read (decoded); a larger one raises
            :class:`ResponseError` (default 64 MiB).
        idempotency_store: where ``idempotency_key`` calls are remembered: a path (SQLite)
            or ``postgresql://USER@HOST:PORT/DB#NAME`` (see the "Exactly once" guide).
        idempotency_ttl: seconds a key is remembered (7 days).
        idempotency_wait: seconds to wait for a key being added elsewhere, before
            :class:`IdempotencyConflict`.
        lease_seconds: how long a journal's upload, or a key being added, stays held by this
            dialer unless renewed (it renews while it works); another process takes it over
            after that. Keep it well above ``timeout`` (see the "Exactly once" guide).

    Each attempt as a whole (connecting, sending, the whole answer) must complete within the
    longest of its timeouts, not only each read: a server trickling bytes is cut off. Redirects
    are never followed, whatever ``http_client`` says: request bodies hold codes.
    """

    def __init__(
        self,
        code: str | None = None,
        *,
        base_url: str | NotGiven = NOT_GIVEN,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        max_retries: int | None = None,
        http_client: httpx.AsyncClient | None = None,
        send_code_with_every_request: bool = False,
        resend_unknown_outcome: bool | None = None,
        retry_policy: RetryPolicy | None = None,
        requests_per_second: float | None = None,
        deadline: float | None = None,
        allow_insecure_http: bool = False,
        max_concurrent_requests: int = DEFAULT_LIMITS.max_connections or 100,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        idempotency_store: IdempotencySpec | None = None,
        idempotency_ttl: float = DEFAULT_IDEMPOTENCY_TTL,
        idempotency_wait: float = DEFAULT_IDEMPOTENCY_WAIT,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        options = ClientOptions.build(
            code,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            http_client=http_client,
            send_code_with_every_request=send_code_with_every_request,
            resend_unknown_outcome=resend_unknown_outcome,
            retry_policy=retry_policy,
            requests_per_second=requests_per_second,
            deadline=deadline,
            allow_insecure_http=allow_insecure_http,
            max_concurrent_requests=max_concurrent_requests,
            max_response_bytes=max_response_bytes,
            idempotency_store=idempotency_store,
            idempotency_ttl=idempotency_ttl,
            idempotency_wait=idempotency_wait,
            lease_seconds=lease_seconds,
        )
        self._options = options
        self._code = options.code
        self._core = _request_core(options)
        self._keys = KeyStore(
            options.idempotency_store,
            ttl=options.idempotency_ttl,
            wait=options.idempotency_wait,
            lease=options.lease_seconds,
        )
        self._owns_keys = True

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
        """Close the HTTP client if the dialer created it; a caller's client stays open.

        A dialer from :meth:`with_options` never closes the client (or the idempotency store)
        it shares.
        """
        await self._core.aclose()
        if self._owns_keys:
            await self._keys.aclose()

    def with_options(
        self,
        *,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        deadline: float | NotGiven | None = NOT_GIVEN,
        resend_unknown_outcome: bool | NotGiven = NOT_GIVEN,
    ) -> AsyncDialer:
        """This dialer with some settings changed, for a call or a kind of call::

            await dialer.with_options(timeout=2, max_retries=0).get_campaign_details(c)

        The new dialer shares the HTTP client (its connection pool), the pacing and the
        admission queue: the rate limit and the queue stay one. Its settings apply to every
        method, bulk uploads included. Closing it leaves the shared client open; closing
        this dialer closes it for both. Options left out keep this dialer's values; ``None``
        means no bound (``timeout``, ``deadline``).
        """
        options = self._options.changed(
            timeout=timeout,
            max_retries=max_retries,
            deadline=deadline,
            resend_unknown_outcome=resend_unknown_outcome,
        )
        derived = copy.copy(self)
        derived._owns_keys = False
        derived._options = options
        derived._core = self._core.derive(
            retry=options.retry, deadline=options.deadline, timeout=timeout
        )
        return derived

    @property
    def with_raw_response(self) -> AsyncRawResponses:
        """This dialer's methods of one request, each returning a :class:`RawResponse`: the
        HTTP answer (status, headers, body as sent) and :meth:`RawResponse.parse`, what the
        method returns::

            raw = await dialer.with_raw_response.get_campaign_details(campaign)
            print(raw.status_code, raw.headers.get("Date"))
            details = raw.parse()
        """
        return AsyncRawResponses(self)

    def __repr__(self) -> str:
        base_url = mask_url(self._core.base_url)  # a proxy's user:password@ is not shown
        return f"AsyncDialer(code={mask(self._code)!r}, base_url={base_url!r})"

    def _code_for_every_request(self) -> str | None:
        return self._code if self._options.send_code_with_every_request else None

    def _payload(self, campaign: str, **fields: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {"Campaign": campaign, **fields}
        if self._options.send_code_with_every_request and self._code is not None:
            payload["Code"] = self._code
        return payload

    async def _call(
        self, method: str, campaign: str, *, idempotent: bool = True, **fields: Any
    ) -> Answer:
        """*method* on *campaign* with *fields*."""
        payload = self._payload(campaign, **fields)
        return await self._core.send_json(method, payload, idempotent=idempotent, campaign=campaign)

    # --- campaigns -----------------------------------------------------------------------

    async def get_campaign_list(self) -> list[Campaign]:
        """Every dialer campaign of the account, enabled or not."""
        if self._code is None:
            raise ValidationError(
                "get_campaign_list needs the account code: AsyncDialer(code=...) "
                "or the VOICENTER_CODE environment variable"
            )
        answer = await self._core.send_json(
            "GetCampaignList", {"Code": self._code}, idempotent=True, campaign=None
        )
        return answer.structure_list(Campaign)

    async def get_campaign_details(self, campaign: str | Campaign) -> Campaign:
        """A campaign's status, counts and priorities."""
        answer = await self._call("GetCampaignDetails", check.campaign_code(campaign))
        return answer.structure(Campaign)

    async def get_campaign_pending_calls(self, campaign: str | Campaign) -> PendingCalls:
        """The destinations waiting in a campaign, with the campaign's details."""
        answer = await self._call("GetCampaignPendingCalls", check.campaign_code(campaign))
        return answer.structure(PendingCalls)

    async def start_campaign(self, campaign: str | Campaign) -> None:
        """Resume dialling a paused campaign."""
        await self._call("StartCampaign", check.campaign_code(campaign))

    async def stop_campaign(self, campaign: str | Campaign) -> None:
        """Pause dialling."""
        await self._call("StopCampaign", check.campaign_code(campaign))

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
        code = check.campaign_code(campaign)
        queue, callers, coeff = check.strategy(
            queue_for_monitoring, queue_maximum_callers, coefficient
        )
        await self._call(
            "UpdateCampaignStrategy",
            code,
            setQueueForMonitoring=queue,
            setQueueMaximumCallers=callers,
            setCoefficient=coeff,
        )

    # --- calls ---------------------------------------------------------------------------

    async def _send_call(self, method: str, campaign: str | Campaign, call: Call) -> None:
        code = check.campaign_code(campaign)
        if not isinstance(call, Call):  # mappings are for bulk input
            raise ValidationError(f"expected a Call, got {type(call).__name__}")
        payload = call_to_wire(code, call, self._code_for_every_request())
        await self._core.send_json(method, payload, idempotent=method != "AddCall", campaign=code)

    async def add_call(
        self, campaign: str | Campaign, call: Call, *, idempotency_key: str | None = None
    ) -> None:
        """Add one destination. Not retried when the outcome is unknown (see "Retries").

        With an *idempotency_key* (and the dialer's ``idempotency_store``), a call whose key
        was answered before is not sent again: its outcome is returned (or raised) again.
        """
        if idempotency_key is None:
            await self._send_call("AddCall", campaign, call)
            return
        code = check.campaign_code(campaign)
        if not isinstance(call, Call):
            raise ValidationError(f"expected a Call, got {type(call).__name__}")
        wire = call_to_wire(code, call)
        await add_once(
            self._keys,
            idempotency_key,
            code,
            wire,
            lambda: self._send_call("AddCall", code, call),
            lambda: self._sender(code).held_targets(),
        )

    async def update_call(self, campaign: str | Campaign, call: Call) -> None:
        """Update a destination, or add it when the campaign does not hold it."""
        await self._send_call("UpdateCall", campaign, call)

    async def remove_call(self, campaign: str | Campaign, target: str) -> None:
        """Remove every destination with this number; an absent number is not an error."""
        code = check.campaign_code(campaign)
        await self._call("RemoveCall", code, Target=check.phone(target))

    async def clear_campaign_calls(self, campaign: str | Campaign) -> None:
        """Remove every destination of the campaign."""
        await self._call("ClearCampaignCalls", check.campaign_code(campaign))

    def _sender(self, campaign: str | Campaign) -> _CampaignSender:
        if self._core.closed:
            raise DialerError("the dialer is closed; nothing was sent")
        code = check.campaign_code(campaign)
        return _CampaignSender(self, self._core, code, self._code_for_every_request())

    async def add_calls_bulk(
        self,
        campaign: str | Campaign,
        calls: Iterable[CallInput] | AsyncIterable[CallInput],
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        concurrency: Concurrency = DEFAULT_CONCURRENCY,
        on_progress: Callable[[BulkProgress], object] | None = None,
        journal: JournalSpec | None = None,
        reconcile: bool = False,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        flush_after: float | None = None,
        max_chunk_bytes: int | None = None,
        idempotency_key: Callable[[Any], str | None] | None = None,
    ) -> BulkReport:
        """Upload *calls* in chunks, streaming, and account for every one of them.

        *concurrency* is the number of chunks in flight, or ``"auto"``: found from the
        service's answers, between 1 and *max_concurrency* (``report.concurrency`` tells
        where it settled). *on_progress* may be a plain or a coroutine function. With
        *flush_after* seconds, a slow async source's partial chunk leaves once its oldest
        call has waited that long. With *max_chunk_bytes*, no request body is larger than
        that: a chunk is split, and a call larger than it alone fails.

        *calls* are :class:`Call` objects or plain mappings of their fields
        (:class:`CallFields`, e.g. rows from a database cursor); reports carry each as given.

        With a *journal* (an SQLite file, or a ``postgresql://...#NAME`` URL), the fate of
        every chunk is recorded as it comes back, and a rerun with the same input sends only
        what was never sent; *reconcile* settles calls whose outcome was left unknown against
        the campaign's pending calls, re-sending only those it does not hold. See the guides
        "Bulk upload" and "Resuming an interrupted upload".

        With *idempotency_key* (a function of each call giving its key, or None; the dialer's
        ``idempotency_store`` needed), a call whose key was answered before is not sent: its
        outcome is counted again (see the guide "Exactly once across a fleet").
        """
        options = BulkOptions.build(
            idempotency_key=idempotency_key,
            keys=self._keys,
            chunk_size=chunk_size,
            concurrency=concurrency,
            max_concurrency=max_concurrency,
            flush_after=flush_after,
            journal=journal,
            reconcile=reconcile,
            on_progress=on_progress,
            max_chunk_bytes=max_chunk_bytes,
        )
        sender = self._sender(campaign)
        with telemetry.span(BULK_METHOD) as span:
            report = await upload(sender, calls, options)
            if span is not None:
                span.counts(report.total, report.accepted, len(report.rejected), len(report.failed))
        return report

    def stream_calls_bulk(
        self,
        campaign: str | Campaign,
        calls: Iterable[CallInput] | AsyncIterable[CallInput],
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        concurrency: Concurrency = DEFAULT_CONCURRENCY,
        journal: JournalSpec | None = None,
        reconcile: bool = False,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        flush_after: float | None = None,
        max_chunk_bytes: int | None = None,
        idempotency_key: Callable[[Any], str | None] | None = None,
    ) -> AbstractAsyncContextManager[AsyncIterator[ChunkOutcome]]:
        """The streaming form of :meth:`add_calls_bulk`: per-chunk outcomes as they complete.

        For callers who want every result without holding them all::

            async with dialer.stream_calls_bulk(campaign, leads) as outcomes:
                async for chunk in outcomes:
                    ...  # chunk.accepted, chunk.rejected, chunk.failed

        Leaving the block early cancels the chunks in flight. The other options are
        :meth:`add_calls_bulk`'s.
        """
        options = BulkOptions.build(
            idempotency_key=idempotency_key,
            keys=self._keys,
            chunk_size=chunk_size,
            concurrency=concurrency,
            max_concurrency=max_concurrency,
            flush_after=flush_after,
            journal=journal,
            reconcile=reconcile,
            max_chunk_bytes=max_chunk_bytes,
        )
        return _traced(stream(self._sender(campaign), calls, options))

    async def check_journal(
        self,
        campaign: str | Campaign,
        calls: Iterable[CallInput] | AsyncIterable[CallInput],
        *,
        journal: JournalSpec,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        max_chunk_bytes: int | None = None,
    ) -> None:
        """Compare all of *calls* with what *journal* recorded, sending nothing.

        Raises :class:`JournalError` naming the first chunk that differs (or another
        campaign); returns when every journalled chunk matches, or the journal holds no
        upload yet. An upload checks each chunk as it reads it, so a rerun whose third chunk
        changed replays the first two before it stops: a caller that can read its input twice
        (a file; the CLI does) checks it whole first. The other options are
        :meth:`add_calls_bulk`'s, and must be the same as the upload's.
        """
        options = BulkOptions.build(
            chunk_size=chunk_size,
            concurrency=1,
            max_concurrency=1,
            flush_after=None,
            journal=journal,
            max_chunk_bytes=max_chunk_bytes,
        )
        await check_journal(self._sender(campaign), calls, options)

    def bulk_writer(
        self,
        campaign: str | Campaign,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        concurrency: Concurrency = DEFAULT_CONCURRENCY,
        flush_after: float | None = 1.0,
        journal: JournalSpec | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        max_chunk_bytes: int | None = None,
    ) -> AbstractAsyncContextManager[BulkWriter]:
        """A :class:`BulkWriter` for push-style producers (web handlers, queue consumers).

        Many tasks may ``await writer.add(call)`` at once; their calls share AddCallsBulk
        requests, and each gets its own :class:`LeadOutcome`. A chunk leaves when it holds
        *chunk_size* calls or its oldest call has waited *flush_after* seconds (None: only
        when full, or at the end); when *concurrency* chunks are in flight and the next is
        full, ``add`` waits. ``writer.report`` is the running :class:`BulkReport`. Leaving
        the block sends what is left and waits for it. With a *journal*, every chunk is
        recorded as for :meth:`add_calls_bulk`, positions being the order calls were
        sealed into chunks; with *max_chunk_bytes*, a chunk also leaves when its request
        has no room for the next call. See the guide "Bulk from a web service"::

            async with dialer.bulk_writer(campaign) as writer:
                outcome = await writer.add(Call("972501234567"))
        """
        options = BulkOptions.build(
            chunk_size=chunk_size,
            concurrency=concurrency,
            max_concurrency=max_concurrency,
            flush_after=flush_after,
            journal=journal,
            max_chunk_bytes=max_chunk_bytes,
            keys=self._keys,
        )
        return open_writer(self._sender(campaign), options)

    # --- members -------------------------------------------------------------------------

    async def get_members_list(self, campaign: str | Campaign) -> list[Member]:
        """The agents (extensions) of an agent campaign."""
        answer = await self._call("GetMembersList", check.campaign_code(campaign))
        return answer.structure_list(Member)

    async def add_member(self, campaign: str | Campaign, member: str) -> int:
        """Add an agent; returns TotalAdded. Raises :class:`MemberError` when it is -1."""
        code = check.campaign_code(campaign)
        answer = await self._call("AddMember", code, idempotent=False, Member=check.member(member))
        added = answer.total("TotalAdded")
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
        code = check.campaign_code(campaign)
        answer = await self._call("RemoveMember", code, Member=check.member(member))
        return answer.total("TotalRemoved")


@asynccontextmanager
async def _traced(
    outcomes: AbstractAsyncContextManager[AsyncIterator[ChunkOutcome]],
) -> AsyncIterator[AsyncIterator[ChunkOutcome]]:
    """A streamed upload as one span (its chunks are its children)."""
    with telemetry.span(BULK_METHOD):
        async with outcomes as iterator:
            yield iterator


def _request_core(options: ClientOptions) -> RequestCore:
    """The request core *options* describe, with an HTTP client of its own unless given one."""
    http_client = options.http_client
    timeout = options.timeout
    httpx_options: dict[str, Any] = {}
    if http_client is None:
        http_client = default_http_client(
            timeout=DEFAULT_TIMEOUT if isinstance(timeout, NotGiven) else timeout
        )
    elif not isinstance(timeout, NotGiven):
        httpx_options["timeout"] = timeout
    effective = http_client.timeout if isinstance(timeout, NotGiven) else timeout
    headers = {"Content-Type": "application/json"}
    if options.base_auth is not None:  # the base URL's user:password@, as httpx would send it
        user, password = options.base_auth
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    if http_client.headers.get("User-Agent", "").startswith("python-httpx/"):
        headers["User-Agent"] = USER_AGENT
    return RequestCore(
        http_client=http_client,
        owns_client=options.http_client is None,
        base_url=options.base_url,
        code=options.code,
        httpx_options=httpx_options,
        headers=headers,
        retry=options.retry,
        pacer=None if options.requests_per_second is None else Pacer(options.requests_per_second),
        admission=Admission(options.max_concurrent_requests),
        deadline=options.deadline,
        attempt_timeout=longest(effective),
        max_response_bytes=options.max_response_bytes,
    )
