"""The event loop thread behind :class:`Dialer`, and waiting for it from other threads.

:class:`LoopThread` runs an event loop in a daemon thread. A :class:`Task` is one coroutine
on it, waited for by a thread that may be interrupted at any moment (Ctrl-C, an exception
raised into it): the task is then cancelled and settled before the interrupt propagates. A
:class:`Block` holds an async context manager open on the loop for a sync ``with`` block.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import functools
import os
import queue
import sys
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from contextvars import Context
from types import TracebackType
from typing import Any, Generic, TypeVar

import anyio
from anyio.abc import TaskGroup

from ._exceptions import DialerError

__all__ = ["CLOSED", "OWN_THREAD", "Block", "LoopThread", "Task"]

T = TypeVar("T")
V = TypeVar("V")

CLOSED = "the dialer is closed; nothing was sent"
OWN_THREAD = (
    "a Dialer method was called on the dialer's own event loop thread (from a coroutine "
    "callback, or an input iterable read there): it would wait for itself. Await the "
    "AsyncDialer's method there instead, or use a plain on_progress function (it runs in "
    "the calling thread)"
)


class LoopThread:
    """The event loop thread of a dialer and of those :meth:`Dialer.with_options` made.

    A daemon thread: a dialer never closed does not keep the interpreter alive.
    """

    def __init__(self, closing: Callable[[], Awaitable[None]]) -> None:
        self.pid = os.getpid()
        self.closed = False
        #: Run once every task has finished (the client closes after the calls using it).
        self._closing = closing
        self.close_error: Exception | None = None
        #: Threads inside with blocks open on this loop, with how many each.
        self._blocks: collections.Counter[int] = collections.Counter()
        self._blocks_lock = threading.Lock()
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
    def in_block(self) -> bool:
        """True when the calling thread is inside a with block open on this loop."""
        with self._blocks_lock:
            return self._blocks[threading.get_ident()] > 0

    def count_block(self, step: int) -> None:
        """The calling thread entered (+1) or left (-1) a with block on this loop."""
        with self._blocks_lock:
            self._blocks[threading.get_ident()] += step

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


class Task(Generic[T]):
    """A coroutine on the dialer's loop, waited for by a thread that may be interrupted.

    The waiting thread also runs the callbacks the coroutine hands it (:meth:`in_caller`).
    Whatever the coroutine raises, KeyboardInterrupt included, is the waiting thread's to
    raise: nothing but cancellation reaches the loop.
    """

    def __init__(self, loop: LoopThread) -> None:
        self._loop = loop
        self._settled = threading.Event()
        #: Callbacks for the waiting thread to run; None once the task has settled.
        self._inbox: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._value: T | None = None
        self._error: BaseException | None = None
        self._scope: anyio.CancelScope | None = None
        # Both set once only: _cancelled by the waiting thread, _spawned by the loop.
        self._cancelled = self._spawned = False

    def start(self, func: Callable[[], Awaitable[T]]) -> Task[T]:
        self._func = func
        try:
            handed = self._loop.call_soon(self._spawn)
        except BaseException:  # interrupted while handing it over: it may run all the same
            self.cancel()
            raise
        if not handed:
            raise DialerError(CLOSED)
        return self

    def _spawn(self) -> None:
        self._spawned = True
        try:
            self._loop.tasks.start_soon(self._run)
        except RuntimeError:  # the loop is ending: its task group takes no more
            self._settle(error=DialerError(CLOSED))

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

    def wait_for(self, future: Future[V]) -> V:
        """*future*'s result, which the task sets as it runs; why the task ended, if it
        ended without setting it. Interrupted, the caller cancels the task."""
        while True:
            try:
                return future.result(timeout=1.0)
            except FutureTimeout:  # the timeout only rechecks that the task still runs
                if self._settled.is_set() and not future.done():
                    self.result()  # raises why it ended
                    raise DialerError("the with block ended before it began") from None
                if not self._loop.alive:
                    raise DialerError("the dialer's thread has ended") from None

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
        while True:
            try:
                # Asked again after each interrupt: this one may have cut the asking short.
                if not self._loop.call_soon(self._cancel_on_loop):
                    return  # the loop has ended, and everything on it
                while not self._settled.is_set() and self._loop.alive:
                    self._settled.wait(1.0)  # the timeout only rechecks that the loop lives
                return
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
            # Counted as a block: closing the dialer from in here would wait for this task.
            self._loop.count_block(1)
            try:
                answer.append(func())
            except Exception as exc:  # handed to the task, which raises it
                error.append(exc)
            finally:
                self._loop.count_block(-1)
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


class Block(AbstractContextManager[V]):
    """An async context manager held open on the dialer's loop for a sync ``with`` block.

    Entered and left in one task, as anyio's task groups require. The body's exceptions are
    passed in; an interrupt (not an :class:`Exception`) cancels the task instead, and the
    work is settled before the interrupt propagates.
    """

    def __init__(self, loop: LoopThread, manager: AbstractAsyncContextManager[V]) -> None:
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
            raise DialerError(OWN_THREAD)
        try:
            return Task[T](self._loop).start(func).result()
        except anyio.ClosedResourceError:  # another thread ended the block meanwhile
            raise DialerError("this with block has ended") from None

    def read(self, func: Callable[[], T]) -> T:
        """``func()`` on the loop, between two of its steps: a consistent snapshot."""

        async def snapshot() -> T:
            return func()

        return self.run(snapshot)

    def __enter__(self) -> V:
        entered: Future[V] = Future()
        self._task = Task[Any](self._loop).start(functools.partial(self._hold, entered))
        self._loop.count_block(+1)
        try:
            return self._task.wait_for(entered)
        except BaseException:
            self._left = True
            self._task.cancel()
            self._loop.count_block(-1)
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
            self._loop.count_block(-1)

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
