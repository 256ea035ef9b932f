"""Dialer: the synchronous facade, for Django, Celery and scripts.

One :class:`AsyncDialer` runs on a private event loop in a daemon thread of its own; each
method hands its coroutine to that loop and waits for the result. Threads may share one
``Dialer``: their calls run concurrently on the loop, through the same connection pool, pacing
and admission queue.

What the waiting thread can count on (docs/sync.md; each has a test):

- interrupted while it waits (Ctrl-C, or any exception raised into it), the work it waited
  for is cancelled on the loop and settled (journalled) before the interrupt propagates;
- ``on_progress`` runs in the thread that called :meth:`Dialer.add_calls_bulk`;
- in a forked child, the dialer starts a loop and an HTTP client of its own;
- a dialer never closed does not keep the interpreter from exiting.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import os
import threading
import weakref
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sized,
)
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import httpx

from ._chunk import ChunkOutcome
from ._client import AsyncDialer
from ._concurrency import DEFAULT_MAX_CONCURRENCY, Concurrency
from ._exceptions import DialerError
from ._idempotency import DEFAULT_IDEMPOTENCY_TTL, DEFAULT_IDEMPOTENCY_WAIT, IdempotencySpec
from ._journal_records import DEFAULT_LEASE_SECONDS
from ._loop_thread import CLOSED, OWN_THREAD, Block, LoopThread, Task
from ._models import BulkReport, Call, CallInput, Campaign, LeadOutcome, Member, PendingCalls
from ._options import DEFAULT_LIMITS, DEFAULT_MAX_RESPONSE_BYTES, Timeout
from ._raw import RawResponse, raw
from ._resume import JournalSpec
from ._retry import RetryPolicy
from ._session import DEFAULT_CHUNK_SIZE, DEFAULT_CONCURRENCY, BulkProgress
from ._types import NOT_GIVEN, NotGiven
from ._writer import BulkWriter

__all__ = ["Dialer", "SyncBulkWriter", "SyncRawResponses"]

P = ParamSpec("P")
T = TypeVar("T")

_fork_lock = threading.Lock()


def _new_fork_lock() -> None:
    global _fork_lock  # a lock held at fork time must not outlive it
    _fork_lock = threading.Lock()


os.register_at_fork(after_in_child=_new_fork_lock)


class Dialer:
    """Synchronous client of the ForwardDialer API: :class:`AsyncDialer`'s methods, without
    ``await``.

    The same constructor arguments as :class:`AsyncDialer` (``http_client`` must be an
    :class:`httpx.AsyncClient`, used on the private loop). Errors are the same classes.
    Thread-safe: create one per process (or per worker) and share it; close it with
    :meth:`close` or a ``with`` block, which also stops its thread.

    Interrupted (Ctrl-C) while it waits, a method cancels its work and lets it settle before
    the interrupt propagates. ``on_progress`` runs in the calling thread. In a forked child,
    the dialer starts a thread and an HTTP client of its own (not with a caller's
    ``http_client``: that raises :class:`DialerError`). See the guide "Synchronous use".
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
        options: dict[str, Any] = {
            "base_url": base_url,
            "timeout": timeout,
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
            "idempotency_store": idempotency_store,
            "idempotency_ttl": idempotency_ttl,
            "idempotency_wait": idempotency_wait,
            "lease_seconds": lease_seconds,
        }
        # Built here, in the caller's thread, so bad arguments raise before a thread starts.
        self._async = AsyncDialer(code, **options)
        # Kept to build the same dialer again in a forked child.
        self._settings = (code, options)
        #: The dialer whose thread this one uses: None for itself (no cycle: a dialer
        #: dropped without close() is collected, and its thread stopped, at once).
        self._root: Dialer | None = None
        self._overrides: dict[str, Any] = {}
        self._start()

    def _start(self) -> None:
        self._pid = os.getpid()
        self._thread = LoopThread(self._async.aclose)
        # Stops the thread of a dialer dropped without close() (never waiting on it).
        weakref.finalize(self, self._thread.stop, False)

    # --- the loop thread -----------------------------------------------------------------

    def _loop(self) -> LoopThread:
        """The loop to run on now: checks that this dialer can be used from here."""
        root = self._root or self
        loop = root._thread
        if loop.closed:
            raise DialerError(CLOSED)
        if self._pid != os.getpid():
            with _fork_lock:
                if root._pid != os.getpid():
                    root._after_fork()
                if self is not root and self._pid != os.getpid():
                    self._async = root._async.with_options(**self._overrides)
                    self._pid = root._pid
            loop = root._thread
        if loop.here:
            raise DialerError(OWN_THREAD)
        return loop

    def _after_fork(self) -> None:
        """In a forked child: the parent's loop thread and connections are not ours."""
        code, options = self._settings
        if options["http_client"] is not None:
            raise DialerError(
                "this Dialer was given an http_client and the process has forked since: "
                "its connections belong to the parent. Create the Dialer in the child "
                "(Celery's worker_process_init, gunicorn's post_fork)"
            )
        self._async = AsyncDialer(code, **options)
        self._start()

    @property
    def with_raw_response(self) -> SyncRawResponses:
        """See :attr:`AsyncDialer.with_raw_response`: each method of one request, returning
        a :class:`RawResponse`."""
        return SyncRawResponses(self)

    def _raw(
        self, method: Callable[Concatenate[AsyncDialer, P], Awaitable[T]]
    ) -> Callable[P, RawResponse[T]]:
        """*method* of AsyncDialer, run on the dialer's thread, returning its raw response."""

        def call(*args: P.args, **kwargs: P.kwargs) -> RawResponse[T]:
            async def on_loop(dialer: AsyncDialer) -> RawResponse[T]:
                return await raw(functools.partial(method, dialer))(*args, **kwargs)

            return self._run(on_loop)

        return call

    def _run(
        self,
        method: Callable[Concatenate[AsyncDialer, P], Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``await method(dialer, *args, **kwargs)`` on the dialer's thread, *dialer* being
        the AsyncDialer of this process (see :meth:`_loop`); its result, or its error."""
        loop = self._loop()
        call = functools.partial(method, self._async, *args, **kwargs)
        return Task[T](loop).start(call).result()

    # --- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP client (if the dialer created it) and stop the dialer's thread,
        once the calls running on it have finished.

        A dialer from :meth:`with_options` closes nothing it shares.
        """
        if self._root is not None or self._thread.closed:
            return
        if self._pid != os.getpid():  # a forked child: the parent's thread is not here
            self._thread.closed = True
            return
        loop = self._loop()  # on the dialer's own thread: a DialerError, nothing closed
        if loop.in_block:
            raise DialerError(
                "close() inside a bulk_writer or stream_calls_bulk block, or a callback, of a "
                "call of this dialer would wait for that call: close the dialer after it"
            )
        loop.stop()  # new calls are refused; those running finish first
        if loop.close_error is not None:
            raise DialerError(
                f"closing the dialer's HTTP client failed: {type(loop.close_error).__name__}"
            ) from loop.close_error

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
        timeout: Timeout | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        deadline: float | NotGiven | None = NOT_GIVEN,
        resend_unknown_outcome: bool | NotGiven = NOT_GIVEN,
    ) -> Dialer:
        """This dialer with some settings changed: see :meth:`AsyncDialer.with_options`.
        It shares this dialer's thread too."""
        given = {
            "timeout": timeout,
            "max_retries": max_retries,
            "deadline": deadline,
            "resend_unknown_outcome": resend_unknown_outcome,
        }
        overrides = {
            **self._overrides,
            **{name: value for name, value in given.items() if value is not NOT_GIVEN},
        }
        derived = Dialer.__new__(Dialer)
        derived._async = self._async.with_options(**overrides)
        derived._root = self._root or self
        derived._overrides = overrides
        derived._pid = self._pid
        return derived

    # --- campaigns -----------------------------------------------------------------------

    def get_campaign_list(self) -> list[Campaign]:
        """Every dialer campaign of the account, enabled or not."""
        return self._run(AsyncDialer.get_campaign_list)

    def get_campaign_details(self, campaign: str | Campaign) -> Campaign:
        """A campaign's status, counts and priorities."""
        return self._run(AsyncDialer.get_campaign_details, campaign)

    def get_campaign_pending_calls(self, campaign: str | Campaign) -> PendingCalls:
        """The destinations waiting in a campaign, with the campaign's details."""
        return self._run(AsyncDialer.get_campaign_pending_calls, campaign)

    def start_campaign(self, campaign: str | Campaign) -> None:
        """Resume dialling a paused campaign."""
        self._run(AsyncDialer.start_campaign, campaign)

    def stop_campaign(self, campaign: str | Campaign) -> None:
        """Pause dialling."""
        self._run(AsyncDialer.stop_campaign, campaign)

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
            AsyncDialer.update_campaign_strategy,
            campaign,
            queue_for_monitoring=queue_for_monitoring,
            queue_maximum_callers=queue_maximum_callers,
            coefficient=coefficient,
        )

    # --- calls ---------------------------------------------------------------------------

    def add_call(
        self, campaign: str | Campaign, call: Call, *, idempotency_key: str | None = None
    ) -> None:
        """See :meth:`AsyncDialer.add_call`: one destination, at most once per
        *idempotency_key*."""
        self._run(AsyncDialer.add_call, campaign, call, idempotency_key=idempotency_key)

    def update_call(self, campaign: str | Campaign, call: Call) -> None:
        """Update a destination, or add it when the campaign does not hold it."""
        self._run(AsyncDialer.update_call, campaign, call)

    def remove_call(self, campaign: str | Campaign, target: str) -> None:
        """Remove every destination with this number; an absent number is not an error."""
        self._run(AsyncDialer.remove_call, campaign, target)

    def clear_campaign_calls(self, campaign: str | Campaign) -> None:
        """Remove every destination of the campaign."""
        self._run(AsyncDialer.clear_campaign_calls, campaign)

    def add_calls_bulk(
        self,
        campaign: str | Campaign,
        calls: Iterable[CallInput],
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
        """See :meth:`AsyncDialer.add_calls_bulk`. *calls* is read in the calling thread, a
        chunk at a time (a Django QuerySet refuses to run on an event loop's thread);
        *idempotency_key* is called on the dialer's thread; *on_progress* runs in the
        calling thread (a coroutine function's progress is awaited on the dialer's thread).

        Interrupted (Ctrl-C), the upload is cancelled and its journal settled before the
        interrupt propagates."""
        task = Task[BulkReport](self._loop())
        progress = None if on_progress is None else functools.partial(_show, task, on_progress)
        task.start(
            functools.partial(
                self._async.add_calls_bulk,
                campaign,
                _read_in_caller(task, calls, chunk_size),
                chunk_size=chunk_size,
                concurrency=concurrency,
                on_progress=progress,
                journal=journal,
                reconcile=reconcile,
                max_concurrency=max_concurrency,
                flush_after=flush_after,
                max_chunk_bytes=max_chunk_bytes,
                idempotency_key=idempotency_key,
            )
        )
        return task.result()

    def stream_calls_bulk(
        self,
        campaign: str | Campaign,
        calls: Iterable[CallInput],
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        concurrency: Concurrency = DEFAULT_CONCURRENCY,
        journal: JournalSpec | None = None,
        reconcile: bool = False,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        flush_after: float | None = None,
        max_chunk_bytes: int | None = None,
        idempotency_key: Callable[[Any], str | None] | None = None,
    ) -> AbstractContextManager[Iterator[ChunkOutcome]]:
        """See :meth:`AsyncDialer.stream_calls_bulk`: per-chunk outcomes as they complete::

            with dialer.stream_calls_bulk(campaign, leads) as outcomes:
                for chunk in outcomes:
                    ...

        Leaving the block early cancels the chunks in flight; the outcomes cannot be read
        after it (:class:`DialerError`).
        """
        loop = self._loop()
        upload = self._async.stream_calls_bulk(
            campaign,
            calls,
            chunk_size=chunk_size,
            concurrency=concurrency,
            journal=journal,
            reconcile=reconcile,
            max_concurrency=max_concurrency,
            flush_after=flush_after,
            max_chunk_bytes=max_chunk_bytes,
            idempotency_key=idempotency_key,
        )
        return _streamed(Block(loop, upload))

    def check_journal(
        self,
        campaign: str | Campaign,
        calls: Iterable[CallInput],
        *,
        journal: JournalSpec,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        max_chunk_bytes: int | None = None,
    ) -> None:
        """See :meth:`AsyncDialer.check_journal`: compare *calls* with *journal*, sending
        nothing."""
        self._run(
            AsyncDialer.check_journal,
            campaign,
            calls,
            journal=journal,
            chunk_size=chunk_size,
            max_chunk_bytes=max_chunk_bytes,
        )

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
    ) -> AbstractContextManager[SyncBulkWriter]:
        """A :class:`SyncBulkWriter` for push-style producers (web request threads, queue
        consumers): see :meth:`AsyncDialer.bulk_writer`. Many threads may call
        ``writer.add(call)`` at once; each blocks until its call's :class:`LeadOutcome`,
        and their calls share AddCallsBulk requests::

            with dialer.bulk_writer(campaign) as writer:
                outcome = writer.add(Call("972501234567"))

        Leaving the block sends what is left and waits for it; an interrupt (Ctrl-C)
        cancels the writer instead, settling every call before it propagates.
        """
        loop = self._loop()
        opened = self._async.bulk_writer(
            campaign,
            chunk_size=chunk_size,
            concurrency=concurrency,
            flush_after=flush_after,
            journal=journal,
            max_concurrency=max_concurrency,
            max_chunk_bytes=max_chunk_bytes,
        )
        return _writing(Block(loop, opened))

    # --- members -------------------------------------------------------------------------

    def get_members_list(self, campaign: str | Campaign) -> list[Member]:
        """The agents (extensions) of an agent campaign."""
        return self._run(AsyncDialer.get_members_list, campaign)

    def add_member(self, campaign: str | Campaign, member: str) -> int:
        """Add an agent; returns TotalAdded. Raises :class:`MemberError` when it is -1."""
        return self._run(AsyncDialer.add_member, campaign, member)

    def remove_member(self, campaign: str | Campaign, member: str) -> int:
        """Remove an agent; returns TotalRemoved (0: nothing was removed)."""
        return self._run(AsyncDialer.remove_member, campaign, member)


def _read_in_caller(
    task: Task[Any], calls: Iterable[CallInput], batch: int
) -> AsyncIterable[CallInput]:
    """*calls* read by the thread waiting for *task*, *batch* at a time: an ORM's query set
    (Django's refuses to run on an event loop's thread) or a generator keeps to the thread it
    belongs to. Sized when *calls* is, so reports and journals know the total."""
    if isinstance(calls, Sized):
        return _SizedRead(task, calls, batch)
    return _Read(task, calls, batch)


class _Read(AsyncIterable[CallInput]):
    def __init__(self, task: Task[Any], calls: Iterable[CallInput], batch: int) -> None:
        self._task = task
        self._calls = calls
        # A bad chunk_size is refused by the upload itself, with its message.
        self._batch = batch if isinstance(batch, int) and batch > 0 else 1

    async def __aiter__(self) -> AsyncIterator[CallInput]:
        iterator = await self._task.in_caller(lambda: iter(self._calls))
        while batch := await self._task.in_caller(
            lambda: list(itertools.islice(iterator, self._batch))
        ):
            for call in batch:
                yield call


class _SizedRead(_Read):
    def __init__(self, task: Task[Any], calls: Iterable[CallInput], batch: int) -> None:
        super().__init__(task, calls, batch)
        self._size = len(calls)  # type: ignore[arg-type]  # Sized: see _read_in_caller

    def __len__(self) -> int:
        return self._size


async def _show(
    task: Task[Any], on_progress: Callable[[BulkProgress], object], update: BulkProgress
) -> None:
    """*on_progress* run in the thread waiting for *task*; a coroutine it returns, awaited."""
    shown = await task.in_caller(functools.partial(on_progress, update))
    if inspect.isawaitable(shown):
        await shown


@contextmanager
def _streamed(block: Block[AsyncIterator[ChunkOutcome]]) -> Iterator[Iterator[ChunkOutcome]]:
    with block as outcomes:
        yield _outcomes(block, outcomes)


def _outcomes(
    block: Block[AsyncIterator[ChunkOutcome]], outcomes: AsyncIterator[ChunkOutcome]
) -> Iterator[ChunkOutcome]:
    while True:
        try:
            outcome = block.run(outcomes.__anext__)
        except StopAsyncIteration:
            return
        yield outcome


@contextmanager
def _writing(block: Block[BulkWriter]) -> Iterator[SyncBulkWriter]:
    with block as writer:
        yield SyncBulkWriter(block, writer)


class SyncRawResponses:
    """:attr:`Dialer.with_raw_response`: :class:`AsyncRawResponses`' methods, without
    ``await``."""

    def __init__(self, dialer: Dialer) -> None:
        self.get_campaign_list = dialer._raw(AsyncDialer.get_campaign_list)
        self.get_campaign_details = dialer._raw(AsyncDialer.get_campaign_details)
        self.get_campaign_pending_calls = dialer._raw(AsyncDialer.get_campaign_pending_calls)
        self.start_campaign = dialer._raw(AsyncDialer.start_campaign)
        self.stop_campaign = dialer._raw(AsyncDialer.stop_campaign)
        self.update_campaign_strategy = dialer._raw(AsyncDialer.update_campaign_strategy)
        self.add_call = dialer._raw(AsyncDialer.add_call)
        self.update_call = dialer._raw(AsyncDialer.update_call)
        self.remove_call = dialer._raw(AsyncDialer.remove_call)
        self.clear_campaign_calls = dialer._raw(AsyncDialer.clear_campaign_calls)
        self.get_members_list = dialer._raw(AsyncDialer.get_members_list)
        self.add_member = dialer._raw(AsyncDialer.add_member)
        self.remove_member = dialer._raw(AsyncDialer.remove_member)


class SyncBulkWriter:
    """A :class:`BulkWriter` for threads (see :meth:`Dialer.bulk_writer`)."""

    def __init__(self, block: Block[BulkWriter], writer: BulkWriter) -> None:
        self._block = block
        self._writer = writer

    @property
    def report(self) -> BulkReport:
        """What the writer has settled so far (``total`` counts settled calls only)."""
        return self._block.read(lambda: self._writer.report)

    @property
    def concurrency(self) -> int:
        """Chunks allowed in flight now (with ``concurrency="auto"``, where the limit stands)."""
        return self._block.read(lambda: self._writer.concurrency)

    def add(self, call: CallInput, *, idempotency_key: str | None = None) -> LeadOutcome:
        """Hand *call* over and wait for its fate: see :meth:`BulkWriter.add`.

        Interrupted before the call's chunk leaves, the call is withdrawn; once it has
        left, its fate is still recorded in :attr:`report` (and the journal).
        """
        return self._block.run(
            functools.partial(self._writer.add, call, idempotency_key=idempotency_key)
        )
