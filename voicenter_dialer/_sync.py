"""Dialer: the synchronous facade, for Django, Celery and scripts.

One :class:`AsyncDialer` runs on a private event loop in a thread of its own (anyio's
blocking portal); each method hands its coroutine to that loop and waits for the result.
Threads may share one ``Dialer``: their calls run concurrently on the loop, through the
same connection pool, pacing and admission queue.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

from ._bulk import DEFAULT_CHUNK_SIZE, DEFAULT_CONCURRENCY, BulkProgress
from ._chunk import ChunkOutcome
from ._client import AsyncDialer
from ._exceptions import DialerError
from ._models import BulkReport, Call, Campaign, Member, PendingCalls
from ._options import DEFAULT_BASE_URL, DEFAULT_LIMITS, DEFAULT_MAX_RESPONSE_BYTES
from ._resume import JournalSpec
from ._retry import RetryPolicy
from ._types import NOT_GIVEN, NotGiven

__all__ = ["Dialer"]

P = ParamSpec("P")
T = TypeVar("T")


class _Thread:
    """The event loop thread, shared by a dialer and those :meth:`Dialer.with_options` made."""

    def __init__(self) -> None:
        self._exit = ExitStack()
        self.portal: BlockingPortal = self._exit.enter_context(start_blocking_portal())
        self.closed = False

    def stop(self) -> None:
        self.closed = True
        self._exit.close()


class Dialer:
    """Synchronous client of the ForwardDialer API: :class:`AsyncDialer`'s methods, without
    ``await``.

    The same constructor arguments as :class:`AsyncDialer` (``timeout`` given or the client's
    default; ``http_client`` must be an :class:`httpx.AsyncClient`, used on the private loop).
    Errors are the same classes. Thread-safe: create one per process (or per worker) and
    share it; close it with :meth:`close` or a ``with`` block, which also stops its thread.

    ``on_progress`` callbacks of bulk uploads run on the dialer's thread.
    """

    def __init__(
        self,
        code: str | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: httpx.Timeout | float | NotGiven | None = NOT_GIVEN,
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
    ) -> None:
        options: dict[str, Any] = {
            "base_url": base_url,
            "max_retries": max_retries,
            "http_client": http_client,
            "send_code_with_every_request": send_code_with_every_request,
            "resend_unknown_outcome": resend_unknown_outcome,
            "retry_policy": retry_policy,
            "requests_per_second": requests_per_second,
            "deadline": deadline,
            "allow_insecure_http": allow_insecure_http,
            "max_concurrent_requests": max_concurrent_requests,
            "max_response_bytes": max_response_bytes,
        }
        if not isinstance(timeout, NotGiven):
            options["timeout"] = timeout
        # Built here, in the caller's thread, so bad arguments raise before a thread starts.
        dialer = AsyncDialer(code, **options)
        self._thread = _Thread()
        self._async = dialer
        self._owner = True

    @classmethod
    def _sharing(cls, thread: _Thread, dialer: AsyncDialer) -> Dialer:
        """A facade over *dialer* on an existing thread, which it does not stop."""
        facade = cls.__new__(cls)
        facade._thread = thread
        facade._async = dialer
        facade._owner = False
        return facade

    # --- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP client (if the dialer created it) and stop the dialer's thread.

        A dialer from :meth:`with_options` closes nothing it shares.
        """
        if not self._owner or self._thread.closed:
            return
        try:
            self._thread.portal.call(self._async.aclose)
        finally:
            self._thread.stop()

    def __enter__(self) -> Dialer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return repr(self._async).replace("AsyncDialer", "Dialer", 1)

    def with_options(
        self,
        *,
        timeout: httpx.Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        deadline: float | NotGiven | None = NOT_GIVEN,
        resend_unknown_outcome: bool | NotGiven = NOT_GIVEN,
    ) -> Dialer:
        """This dialer with some settings changed: see :meth:`AsyncDialer.with_options`.
        It shares this dialer's thread too."""
        derived = self._async.with_options(
            timeout=timeout,
            max_retries=max_retries,
            deadline=deadline,
            resend_unknown_outcome=resend_unknown_outcome,
        )
        return Dialer._sharing(self._thread, derived)

    def _run(self, call: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """``await call(*args, **kwargs)`` on the dialer's thread; its result, or its error."""
        if self._thread.closed:
            # Rather than the portal's "This portal is not running".
            raise DialerError("the dialer is closed; nothing was sent")
        return self._thread.portal.call(functools.partial(call, *args, **kwargs))

    # --- campaigns -----------------------------------------------------------------------

    def get_campaign_list(self) -> list[Campaign]:
        """Every dialer campaign of the account, enabled or not."""
        return self._run(self._async.get_campaign_list)

    def get_campaign_details(self, campaign: str | Campaign) -> Campaign:
        """A campaign's status, counts and priorities."""
        return self._run(self._async.get_campaign_details, campaign)

    def get_campaign_pending_calls(self, campaign: str | Campaign) -> PendingCalls:
        """The destinations waiting in a campaign, with the campaign's details."""
        return self._run(self._async.get_campaign_pending_calls, campaign)

    def start_campaign(self, campaign: str | Campaign) -> None:
        """JournalReplay dialling a paused campaign."""
        self._run(self._async.start_campaign, campaign)

    def stop_campaign(self, campaign: str | Campaign) -> None:
        """Pause dialling."""
        self._run(self._async.stop_campaign, campaign)

    def update_campaign_strategy(
        self,
        campaign: str | Campaign,
        *,
        queue_for_monitoring: int,
        queue_maximum_callers: int,
        coefficient: int,
    ) -> None:
        """See :meth:`AsyncDialer.update_campaign_strategy`."""
        self._run(
            self._async.update_campaign_strategy,
            campaign,
            queue_for_monitoring=queue_for_monitoring,
            queue_maximum_callers=queue_maximum_callers,
            coefficient=coefficient,
        )

    # --- calls ---------------------------------------------------------------------------

    def add_call(self, campaign: str | Campaign, call: Call) -> None:
        """Add one destination. Not retried when the outcome is unknown (see the README)."""
        self._run(self._async.add_call, campaign, call)

    def update_call(self, campaign: str | Campaign, call: Call) -> None:
        """Update a destination, or add it when the campaign does not hold it."""
        self._run(self._async.update_call, campaign, call)

    def remove_call(self, campaign: str | Campaign, target: str) -> None:
        """Remove every destination with this number; an absent number is not an error."""
        self._run(self._async.remove_call, campaign, target)

    def clear_campaign_calls(self, campaign: str | Campaign) -> None:
        """Remove every destination of the campaign."""
        self._run(self._async.clear_campaign_calls, campaign)

    def add_calls_bulk(
        self,
        campaign: str | Campaign,
        calls: Iterable[Call],
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        concurrency: int = DEFAULT_CONCURRENCY,
        on_progress: Callable[[BulkProgress], object] | None = None,
        journal: JournalSpec | None = None,
        reconcile: bool = False,
    ) -> BulkReport:
        """See :meth:`AsyncDialer.add_calls_bulk`. *calls* is read on the dialer's thread,
        one chunk at a time."""
        return self._run(
            self._async.add_calls_bulk,
            campaign,
            calls,
            chunk_size=chunk_size,
            concurrency=concurrency,
            on_progress=on_progress,
            journal=journal,
            reconcile=reconcile,
        )

    @contextmanager
    def stream_calls_bulk(
        self,
        campaign: str | Campaign,
        calls: Iterable[Call],
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        concurrency: int = DEFAULT_CONCURRENCY,
        journal: JournalSpec | None = None,
        reconcile: bool = False,
    ) -> Iterator[Iterator[ChunkOutcome]]:
        """See :meth:`AsyncDialer.stream_calls_bulk`: per-chunk outcomes as they complete::

        with dialer.stream_calls_bulk(campaign, leads) as outcomes:
            for chunk in outcomes:
                ...
        """
        upload = self._async.stream_calls_bulk(
            campaign,
            calls,
            chunk_size=chunk_size,
            concurrency=concurrency,
            journal=journal,
            reconcile=reconcile,
        )
        if self._thread.closed:
            raise DialerError("the dialer is closed; nothing was sent")
        with self._thread.portal.wrap_async_context_manager(upload) as outcomes:
            yield self._iterate(outcomes.__anext__)

    def _iterate(
        self, next_outcome: Callable[[], Awaitable[ChunkOutcome]]
    ) -> Iterator[ChunkOutcome]:
        while True:
            try:
                outcome = self._thread.portal.call(next_outcome)
            except StopAsyncIteration:
                return
            yield outcome

    # --- members -------------------------------------------------------------------------

    def get_members_list(self, campaign: str | Campaign) -> list[Member]:
        """The agents (extensions) of an agent campaign."""
        return self._run(self._async.get_members_list, campaign)

    def add_member(self, campaign: str | Campaign, member: str) -> int:
        """Add an agent; returns TotalAdded. Raises :class:`MemberError` when it is -1."""
        return self._run(self._async.add_member, campaign, member)

    def remove_member(self, campaign: str | Campaign, member: str) -> int:
        """Remove an agent; returns TotalRemoved (0: nothing was removed)."""
        return self._run(self._async.remove_member, campaign, member)
