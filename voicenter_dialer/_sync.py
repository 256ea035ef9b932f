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

import asyncio
import contextvars
import functools
import inspect
import os
import queue
import sys
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from concurrent.futures import Future
from contextlib import AbstractAsyncContextManager, AbstractContextManager, contextmanager
from contextvars import Context
from types import TracebackType
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

import anyio
import httpx
from anyio.abc import TaskGroup

from ._bulk import DEFAULT_CHUNK_SIZE, DEFAULT_CONCURRENCY, BulkProgress
from ._chunk import ChunkOutcome
from ._client import DEFAULT_BASE_URL, DEFAULT_LIMITS, AsyncDialer
from ._concurrency import DEFAULT_MAX_CONCURRENCY, Concurrency
from ._core import DEFAULT_MAX_RESPONSE_BYTES, NOT_GIVEN, NotGiven
from ._exceptions import DialerError
from ._models import BulkReport, Call, Campaign, LeadOutcome, Member, PendingCalls
from ._resume import JournalSpec
from ._retry import RetryPolicy
from ._writer import BulkWriter

__all__ = ["Dialer", "SyncBulkWriter"]

P = ParamSpec("P")
T = TypeVar("T")
V = TypeVar("V")

_CLOSED = "the dialer is closed; nothing was sent"
_OWN_THREAD = (
    "a Dialer method was called on the dialer's own event loop thread (from a coroutine "
    "callback, or an input iterable read there): it would wait for itself. Await the "
    "AsyncDialer's method there instead, or use a plain on_progress function (it runs in "
    "the calling thread)"
)


class _Loop:
    """The event loop thread of a dialer and of those :meth:`Dialer.with_options` made.

    A daemon thread: a dialer never closed does not keep the interpreter alive.
    """

    def __init__(self, closing: Callable[[], Awaitable[None]]) -> None:
        self.pid = os.getpid()
        self.closed = False
        #: Run once every task has finished (the client closes after the calls using it).
        self._closing = closing
        self.close_error: Exception | None = None
        #: The with blocks open on this loop, and the thread of each.
        self.blocks: dict[_Block[Any], int] = {}
        started: Future[tuple[asyncio.AbstractEventLoop, Context, TaskGroup, anyio.Event]]
        started = Future()
        self._thread = threading.Thread(
            target=self._main, args=(started,), name="voicenter-dialer", daemon=True
        )
        self._thread.start()
        self._loop, self._context, self.tasks, self._stopping = started.result()

    def _main(self, started: Future[Any]) -> None:
        try:
            anyio.run(self._serve, started)
        except BaseException as exc:  # handed to the thread that waits
            if not started.done():
                started.set_exception(exc)

    async def _serve(self, started: Future[Any]) -> None:
        stopping = anyio.Event()
        async with anyio.create_task_group() as tasks:  # leaving it waits for the tasks left
            # Callbacks run in the loop's context: anyio knows there which loop it is on.
            loop_context = contextvars.copy_context()
            started.set_result((asyncio.get_running_loop(), loop_context, tasks, stopping))
            await stopping.wait()
        try:
            await self._closing()
        except Exception as exc:  # for close() to raise
            self.close_error = exc

    @property
    def here(self) -> bool:
        """True on the loop's own thread, where waiting for the loop would wait forever."""
        return threading.get_ident() == self._thread.ident

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def call_soon(self, func: Callable[[], object]) -> bool:
        """Run *func* on the loop soon, from any thread, without waiting (in the order
        asked); False when the loop has ended."""
        try:
            self._loop.call_soon_threadsafe(func, context=self._context)
        except RuntimeError:
            return False
        return True

    def stop(self, wait: bool = True) -> None:
        """Stop the loop once the tasks on it are done, and close (waiting unless *wait* is
        False)."""
        if self.closed or self.pid != os.getpid():  # a forked child's copy has no thread
            return
        self.closed = True
        self.call_soon(self._stopping.set)
        if wait and not self.here:
            self._thread.join()


class _Task(Generic[T]):
    """A coroutine on the dialer's loop, waited for by a thread that may be interrupted.

    The waiting thread also runs the callbacks the coroutine hands it (:meth:`in_caller`).
    Whatever the coroutine raises, KeyboardInterrupt included, is the waiting thread's to
    raise: nothing but cancellation reaches the loop.
    """

    def __init__(self, loop: _Loop) -> None:
        self._loop = loop
        self._settled = threading.Event()
        #: Callbacks for the waiting thread to run; None once the task has settled.
        self._inbox: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._value: T | None = None
        self._error: BaseException | None = None
        self._scope: anyio.CancelScope | None = None
        # Both set once only: _cancelled by the waiting thread, _spawned by the loop.
        self._cancelled = self._spawned = False

    def start(self, func: Callable[[], Awaitable[T]]) -> _Task[T]:
        self._func = func
        try:
            handed = self._loop.call_soon(self._spawn)
        except BaseException:  # interrupted while handing it over: it may run all the same
            self.cancel()
            raise
        if not handed:
            raise DialerError(_CLOSED)
        return self

    def _spawn(self) -> None:
        self._spawned = True
        try:
            self._loop.tasks.start_soon(self._run)
        except RuntimeError:  # the loop is ending: its task group takes no more
            self._settle(error=DialerError(_CLOSED))

    async def _run(self) -> None:
        if self._cancelled:  # cancelled before it began: nothing of it runs
            self._settle(error=DialerError("cancelled before it began; nothing was sent"))
            return
        try:
            with anyio.CancelScope() as scope:
                self._scope = scope
                self._settle(value=await self._func())
        except anyio.get_cancelled_exc_class():  # the loop itself is being torn down
            self._settle(error=DialerError("the dialer was closed while this call ran"))
            raise
        except BaseException as exc:  # the caller's to raise, whatever it is
            self._settle(error=_as_raised(exc))
        if scope.cancelled_caught:
            self._settle(error=DialerError("cancelled"))

    def _settle(self, *, value: T | None = None, error: BaseException | None = None) -> None:
        if self._settled.is_set():
            return
        self._value, self._error = value, error
        self._settled.set()
        self._inbox.put(None)

    def result(self) -> T:
        """Wait for the task; whatever interrupts the wait cancels it first (see
        :meth:`cancel`) and then propagates."""
        try:
            while (callback := self._next()) is not None:
                callback()
        except BaseException:
            self.cancel()
            raise
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]  # set with the outcome

    def _next(self) -> Callable[[], None] | None:
        while True:
            try:
                return self._inbox.get(timeout=1.0)
            except queue.Empty:  # the timeout only rechecks that the loop lives
                if not self._loop.alive:
                    raise DialerError(
                        "the dialer's thread has ended: the outcome of this call is unknown"
                    ) from None

    def cancel(self) -> None:
        """Cancel the task, and wait until it has settled: the work it started is recorded
        and nothing more is sent. Further interrupts meanwhile do not cut that wait short."""
        self._cancelled = True
        if not self._loop.call_soon(self._cancel_on_loop):
            return  # the loop has ended, and everything on it
        while not self._settled.is_set() and self._loop.alive:
            try:
                self._settled.wait(1.0)  # the timeout only rechecks that the loop lives
            except BaseException:  # noqa: S112 - a second Ctrl-C: keep settling
                continue

    def _cancel_on_loop(self) -> None:
        if not self._spawned:  # never handed over: the loop runs callbacks in order
            self._settle(error=DialerError("cancelled before it began; nothing was sent"))
        elif self._scope is not None:
            self._scope.cancel()
        # else spawned, not begun: _run sees _cancelled

    async def in_caller(self, func: Callable[[], V]) -> V:
        """``func()`` run by the waiting thread; the task waits (cancellable) for it."""
        done = anyio.Event()
        answer: list[V] = []
        error: list[Exception] = []

        def callback() -> None:
            try:
                answer.append(func())
            except Exception as exc:  # handed to the task, which raises it
                error.append(exc)
            # Anything else (KeyboardInterrupt) propagates in the waiting thread, which
            # cancels this task.
            self._loop.call_soon(done.set)

        self._inbox.put(callback)
        await done.wait()
        if error:
            raise error[0]
        return answer[0]


def _as_raised(error: BaseException) -> BaseException:
    """An interrupt (KeyboardInterrupt, SystemExit) as it was raised, rather than in the
    BaseExceptionGroup of each task group it went through."""
    while not isinstance(error, Exception):
        inner: tuple[BaseException, ...] = getattr(error, "exceptions", ())
        if len(inner) != 1:
            break
        error = inner[0]
    return error


class _Block(AbstractContextManager[V]):
    """An async context manager held open on the dialer's loop for a sync ``with`` block.

    Entered and left in one task, as anyio's task groups require. The body's exceptions are
    passed in; an interrupt (not an :class:`Exception`) cancels the task instead, and the
    work is settled before the interrupt propagates.
    """

    def __init__(self, loop: _Loop, manager: AbstractAsyncContextManager[V]) -> None:
        self._loop = loop
        self._manager = manager
        self._exit: tuple[Any, Any, Any] = (None, None, None)
        self._left = False

    def run(self, func: Callable[[], Awaitable[T]]) -> T:
        """``await func()`` on the loop, for the block's value (reading outcomes, adding)."""
        if self._left or self._loop.pid != os.getpid():
            raise DialerError(
                "this with block has ended (or the process forked since it began): use the "
                "bulk writer, or the stream's outcomes, inside their with block"
            )
        if self._loop.here:
            raise DialerError(_OWN_THREAD)
        try:
            return _Task[T](self._loop).start(func).result()
        except anyio.ClosedResourceError:  # another thread ended the block meanwhile
            raise DialerError("this with block has ended") from None

    def read(self, func: Callable[[], T]) -> T:
        """``func()`` on the loop, between two of its steps: a consistent snapshot."""

        async def snapshot() -> T:
            return func()

        return self.run(snapshot)

    def __enter__(self) -> V:
        self._loop.blocks[self] = threading.get_ident()
        entered: Future[V] = Future()
        self._task = _Task[Any](self._loop).start(functools.partial(self._hold, entered))
        try:
            return entered.result()
        except BaseException:
            self._left = True
            self._task.cancel()
            del self._loop.blocks[self]
            raise

    async def _hold(self, entered: Future[V]) -> bool | None:
        self._leave = anyio.Event()
        try:
            value = await self._manager.__aenter__()
        except BaseException as exc:
            entered.set_exception(exc)
            raise
        entered.set_result(value)
        try:
            await self._leave.wait()
        except BaseException:  # cancelled: the block was left by an interrupt
            if not await self._manager.__aexit__(*sys.exc_info()):
                raise
            return True
        return await self._manager.__aexit__(*self._exit)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        self._left = True
        try:
            return self._leave_block(exc_type, exc, tb)
        finally:
            del self._loop.blocks[self]

    def _leave_block(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is not None and not isinstance(exc, Exception):
            self._task.cancel()  # Ctrl-C and the like: the work stops, settled, first
            return False
        self._exit = (exc_type, exc, tb)
        self._loop.call_soon(self._leave.set)
        try:
            return bool(self._task.result())
        except BaseException as error:
            if error is exc:  # the body's own error, raised again by the manager
                return False
            raise


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
        self._async = AsyncDialer(code, **options)
        # Kept to build the same dialer again in a forked child.
        self._settings = (code, options)
        self._root = self
        self._overrides: dict[str, Any] = {}
        self._start()

    def _start(self) -> None:
        self._pid = os.getpid()
        self._thread = _Loop(self._async.aclose)
        # Stops the thread of a dialer dropped without close() (never waiting on it).
        weakref.finalize(self, self._thread.stop, False)

    # --- the loop thread -----------------------------------------------------------------

    def _loop(self) -> _Loop:
        """The loop to run on now: checks that this dialer can be used from here."""
        root = self._root
        loop = root._thread
        if loop.closed:
            raise DialerError(_CLOSED)
        if self._pid != os.getpid():
            with _fork_lock:
                if root._pid != os.getpid():
                    root._after_fork()
                if self is not root and self._pid != os.getpid():
                    self._async = root._async.with_options(**self._overrides)
                    self._pid = root._pid
            loop = root._thread
        if loop.here:
            raise DialerError(_OWN_THREAD)
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
        return _Task[T](loop).start(call).result()

    # --- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP client (if the dialer created it) and stop the dialer's thread,
        once the calls running on it have finished.

        A dialer from :meth:`with_options` closes nothing it shares.
        """
        if self is not self._root or self._thread.closed:
            return
        if self._pid != os.getpid():  # a forked child: the parent's thread is not here
            self._thread.closed = True
            return
        loop = self._loop()  # on the dialer's own thread: a DialerError, nothing closed
        if threading.get_ident() in loop.blocks.values():
            raise DialerError(
                "close() inside a bulk_writer or stream_calls_bulk block of this dialer would "
                "wait for the block: close the dialer after the block"
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
        timeout: httpx.Timeout | float | NotGiven | None = NOT_GIVEN,
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
        derived._root = self._root
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

    def add_call(self, campaign: str | Campaign, call: Call) -> None:
        """Add one destination. Not retried when the outcome is unknown (see the README)."""
        self._run(AsyncDialer.add_call, campaign, call)

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
        calls: Iterable[Call],
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        concurrency: Concurrency = DEFAULT_CONCURRENCY,
        on_progress: Callable[[BulkProgress], object] | None = None,
        journal: JournalSpec | None = None,
        reconcile: bool = False,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        flush_after: float | None = None,
    ) -> BulkReport:
        """See :meth:`AsyncDialer.add_calls_bulk`. *calls* is read on the dialer's thread,
        one chunk at a time; *on_progress* runs in the calling thread (a coroutine
        function's progress is awaited on the dialer's thread).

        Interrupted (Ctrl-C), the upload is cancelled and its journal settled before the
        interrupt propagates."""
        task = _Task[BulkReport](self._loop())
        progress = None if on_progress is None else functools.partial(_show, task, on_progress)
        task.start(
            functools.partial(
                self._async.add_calls_bulk,
                campaign,
                calls,
                chunk_size=chunk_size,
                concurrency=concurrency,
                on_progress=progress,
                journal=journal,
                reconcile=reconcile,
                max_concurrency=max_concurrency,
                flush_after=flush_after,
            )
        )
        return task.result()

    def stream_calls_bulk(
        self,
        campaign: str | Campaign,
        calls: Iterable[Call],
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        concurrency: Concurrency = DEFAULT_CONCURRENCY,
        journal: JournalSpec | None = None,
        reconcile: bool = False,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        flush_after: float | None = None,
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
        )
        return _streamed(_Block(loop, upload))

    def bulk_writer(
        self,
        campaign: str | Campaign,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        concurrency: Concurrency = DEFAULT_CONCURRENCY,
        flush_after: float | None = 1.0,
        journal: JournalSpec | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
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
        )
        return _writing(_Block(loop, opened))

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


async def _show(
    task: _Task[Any], on_progress: Callable[[BulkProgress], object], update: BulkProgress
) -> None:
    """*on_progress* run in the thread waiting for *task*; a coroutine it returns, awaited."""
    shown = await task.in_caller(functools.partial(on_progress, update))
    if inspect.isawaitable(shown):
        await shown


@contextmanager
def _streamed(block: _Block[AsyncIterator[ChunkOutcome]]) -> Iterator[Iterator[ChunkOutcome]]:
    with block as outcomes:
        yield _outcomes(block, outcomes)


def _outcomes(
    block: _Block[AsyncIterator[ChunkOutcome]], outcomes: AsyncIterator[ChunkOutcome]
) -> Iterator[ChunkOutcome]:
    while True:
        try:
            outcome = block.run(outcomes.__anext__)
        except StopAsyncIteration:
            return
        yield outcome


@contextmanager
def _writing(block: _Block[BulkWriter]) -> Iterator[SyncBulkWriter]:
    with block as writer:
        yield SyncBulkWriter(block, writer)


class SyncBulkWriter:
    """A :class:`BulkWriter` for threads (see :meth:`Dialer.bulk_writer`)."""

    def __init__(self, block: _Block[BulkWriter], writer: BulkWriter) -> None:
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

    def add(self, call: Call) -> LeadOutcome:
        """Hand *call* over and wait for its fate: see :meth:`BulkWriter.add`.

        Interrupted before the call's chunk leaves, the call is withdrawn; once it has
        left, its fate is still recorded in :attr:`report` (and the journal).
        """
        return self._block.run(functools.partial(self._writer.add, call))
