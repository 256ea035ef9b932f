"""The PostgreSQL stores' one thread hop (`in_thread`): a caller cancelled before its work
began never runs it and leaves the statement running (another caller's) alone; one cancelled
once its work began has its own statement cancelled, never the one after it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import cast

import anyio
import pytest

from voicenter_dialer._exceptions import JournalError
from voicenter_dialer._journal_postgres import Location, Session, in_thread

LIMIT = 10.0


class Recorder:
    """A session that only records being asked to cancel its statement."""

    def __init__(self) -> None:
        self.interrupts = 0

    def interrupt(self, marks: object) -> None:
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


# --- against a real server: which statement a cancel request reaches ---------------------


def statement(
    session: Session, sql: str, errors: list[BaseException], ended: threading.Event
) -> Callable[[], object]:
    """A caller's work: *sql* on *session*; its error (if any) recorded, *ended* set."""

    def work() -> object:
        try:
            return session.run(lambda db: db.execute(sql).fetchall())
        except JournalError as exc:
            errors.append(exc)
            raise
        finally:
            ended.set()

    return work


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize(
    ("first_sql", "first_cancelled"),
    [
        # The cancelled caller's statement ends by itself within the moment it is given:
        # the statement after it, which was running when the moment ran out, is left alone.
        ("SELECT 1 FROM pg_sleep(0.3)", False),
        # It does not: it is cancelled, and the statement after it runs once it has ended.
        ("SELECT 1 FROM pg_sleep(60)", True),
    ],
    ids=["ends-by-itself", "hangs"],
)
def test_a_cancel_reaches_the_cancelled_callers_statement_only(
    postgres_database: str, backend: str, first_sql: str, first_cancelled: bool
) -> None:
    session = Session(Location.parse(postgres_database + "#hop"))
    first_errors: list[BaseException] = []
    second_errors: list[BaseException] = []
    first_ended, second_ended = threading.Event(), threading.Event()
    limiter = anyio.CapacityLimiter(2)

    async def main() -> object:
        await anyio.to_thread.run_sync(session.connect)
        try:
            with anyio.fail_after(LIMIT * 3):
                async with anyio.create_task_group() as tasks:
                    first = anyio.CancelScope()

                    async def run_first() -> None:
                        with first:
                            work = statement(session, first_sql, first_errors, first_ended)
                            await in_thread(work, session, limiter)

                    tasks.start_soon(run_first)
                    await anyio.sleep(0.1)  # the first statement is running
                    first.cancel()
                    # Runs past the moment a cancelled caller's statement is given to end.
                    second = statement(
                        session, "SELECT 2 FROM pg_sleep(1.5)", second_errors, second_ended
                    )
                    answer = await in_thread(second, session, limiter)
                # The first caller's thread was abandoned: its work ends by itself.
                await anyio.to_thread.run_sync(first_ended.wait, LIMIT)
            return answer
        finally:
            session.close()

    assert anyio.run(main, backend=backend) == [(2,)]
    assert second_errors == []
    if first_cancelled:
        assert "canceling statement due to user request" in str(first_errors[0])
    else:
        assert first_errors == []
