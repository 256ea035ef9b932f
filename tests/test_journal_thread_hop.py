"""The PostgreSQL stores' one thread hop (`in_thread`): a caller cancelled before its work
began never runs it and leaves the statement running (another caller's) alone; one cancelled
once its work began has that statement cancelled."""

from __future__ import annotations

import threading
from typing import cast

import anyio
import pytest

from voicenter_dialer._journal_postgres import Session, in_thread

LIMIT = 10.0


class Recorder:
    """A session that only records being asked to cancel its statement."""

    def __init__(self) -> None:
        self.interrupts = 0

    def interrupt(self) -> None:
        self.interrupts += 1


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("wait_in", ["limiter", "turn"])
def test_a_caller_cancelled_while_waiting_never_runs_and_cancels_nothing(
    backend: str, wait_in: str
) -> None:
    session = Recorder()
    release, running = threading.Event(), threading.Event()
    ran: list[str] = []
    # The journal's callers wait on the event loop (a limiter of one), the key store's in
    # their threads (a lock taken in turn).
    limiter = anyio.CapacityLimiter(1 if wait_in == "limiter" else 2)
    turn = threading.Lock() if wait_in == "turn" else None

    def first() -> str:
        running.set()
        release.wait(LIMIT)
        ran.append("first")
        return "first's answer"

    async def main() -> str:
        hop = cast(Session, session)
        async with anyio.create_task_group() as tasks:
            answers: list[str] = []

            async def run_first() -> None:
                answers.append(await in_thread(first, hop, limiter, turn))

            tasks.start_soon(run_first)
            await anyio.to_thread.run_sync(running.wait, LIMIT)
            with anyio.move_on_after(0.2):  # cancelled while the first holds its place
                await in_thread(lambda: ran.append("second"), hop, limiter, turn)
            release.set()
        await anyio.to_thread.run_sync(lambda: None, limiter=limiter)  # the second's thread ended
        return answers[0]

    assert anyio.run(main, backend=backend) == "first's answer"
    assert ran == ["first"]
    assert session.interrupts == 0


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_caller_cancelled_once_its_work_began_has_it_cancelled(backend: str) -> None:
    session = Recorder()
    release, running = threading.Event(), threading.Event()

    def work() -> None:
        running.set()
        release.wait(LIMIT)

    async def main() -> None:
        with anyio.move_on_after(LIMIT):
            async with anyio.create_task_group() as tasks:

                async def run() -> None:
                    await in_thread(work, cast(Session, session))

                tasks.start_soon(run)
                await anyio.to_thread.run_sync(running.wait, LIMIT)
                tasks.cancel_scope.cancel()
        release.set()

    anyio.run(main, backend=backend)
    assert session.interrupts == 1
