"""Dialer: an interrupt (Ctrl-C, any exception raised into the caller's thread) stops the work.

Whatever the caller was waiting for is cancelled on the dialer's thread and settled (what was
sent is journalled) before the interrupt propagates: nothing keeps sending in the background.
"""

from __future__ import annotations

import _thread
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from voicenter_dialer import BulkProgress, Call, Dialer, summarise_journal
from voicenter_dialer._loop_thread import LoopThread, Task
from voicenter_dialer.testing import FakeServer, Faults

#: Bounds every wait on a child process or a thread: a hang fails the test, never the run.
LIMIT = 30.0
CHUNK = 20


def endless() -> Iterator[Call]:
    i = 0
    while True:
        yield Call(f"9725{i:08d}")
        i += 1


def bulk_requests(server: FakeServer) -> int:
    """AddCallsBulk requests received, once those already written have reached the server."""
    time.sleep(0.2)
    return server.fake.requests.count("AddCallsBulk")


def quiet_period() -> None:
    """Long enough for a background upload (chunks every few ms) to send more if it could."""
    time.sleep(0.5)


UPLOAD_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from voicenter_dialer import Call, Dialer

    base_url, campaign, journal = sys.argv[1:4]

    def leads():
        i = 0
        while True:
            yield Call(f"9725{i:08d}")
            i += 1

    announced = False

    def progress(_):
        global announced
        if not announced:
            announced = True
            print("uploading", flush=True)

    dialer = Dialer(base_url=base_url)
    try:
        dialer.add_calls_bulk(
            campaign, leads(), chunk_size=CHUNK, concurrency=8,
            on_progress=progress, journal=journal,
        )
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        time.sleep(1.5)  # a broken dialer keeps sending meanwhile
        print("exiting", flush=True)
    dialer.close()
    """
).replace("CHUNK", str(CHUNK))


def test_ctrl_c_in_a_script_stops_the_upload(server: FakeServer, tmp_path: Path) -> None:
    server.fake.faults = Faults(latency=0.02)
    code = server.fake.add_campaign().code
    journal = tmp_path / "upload.journal"
    script = tmp_path / "upload.py"
    script.write_text(UPLOAD_SCRIPT)
    before = bulk_requests(server)  # the server serves the whole session
    child = subprocess.Popen(
        [sys.executable, str(script), server.base_url, code, str(journal)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killer = threading.Timer(LIMIT, child.kill)  # bounds the readlines below
    killer.start()
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "uploading\n"
        child.send_signal(signal.SIGINT)
        assert child.stdout.readline() == "interrupted\n"
        sent = bulk_requests(server)
        out, err = child.communicate(timeout=LIMIT)
    finally:
        killer.cancel()
        child.kill()
    assert (out, child.returncode) == ("exiting\n", 0), err
    assert bulk_requests(server) == sent  # nothing sent after the interrupt was reported
    summary = summarise_journal(journal)
    # Every chunk that left is journalled with its fate (accepted, or maybe added: a chunk
    # cancelled as it was leaving may not have reached the server).
    assert summary.accepted + summary.unknown >= (sent - before) * CHUNK
    held = len(server.fake.campaigns[code].calls)
    assert summary.accepted <= held <= summary.accepted + summary.unknown


def test_an_interrupt_of_the_main_thread_stops_the_upload(server: FakeServer) -> None:
    server.fake.faults = Faults(latency=0.02)
    code = server.fake.add_campaign().code
    interrupted = threading.Event()

    def interrupt_once(_: BulkProgress) -> None:
        if not interrupted.is_set():
            interrupted.set()
            # As a SIGINT would: KeyboardInterrupt in the main thread, from another thread.
            threading.Thread(target=_thread.interrupt_main).start()

    dialer = Dialer(base_url=server.base_url)
    try:
        with pytest.raises(KeyboardInterrupt):
            dialer.add_calls_bulk(
                code, endless(), chunk_size=CHUNK, concurrency=8, on_progress=interrupt_once
            )
        sent = bulk_requests(server)
        quiet_period()
        assert bulk_requests(server) == sent
    finally:
        in_a_thread(dialer.close)


def in_a_thread(work: object) -> BaseException | None:
    """What *work* raised in a thread of its own; fails the test rather than hang."""
    raised: list[BaseException | None] = []

    def run() -> None:
        try:
            work()  # type: ignore[operator]
        except BaseException as exc:  # what the caller's thread would see
            raised.append(exc)
        else:
            raised.append(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(LIMIT)
    assert not thread.is_alive(), "the call hung"
    return raised[0]


def test_an_interrupt_raised_by_on_progress_stops_the_upload(server: FakeServer) -> None:
    server.fake.faults = Faults(latency=0.02)
    code = server.fake.add_campaign().code

    def interrupt(_: BulkProgress) -> None:
        raise KeyboardInterrupt

    dialer = Dialer(base_url=server.base_url)
    try:
        raised = in_a_thread(
            lambda: dialer.add_calls_bulk(
                code, endless(), chunk_size=CHUNK, concurrency=8, on_progress=interrupt
            )
        )
        assert isinstance(raised, KeyboardInterrupt)
        sent = bulk_requests(server)
        quiet_period()
        assert bulk_requests(server) == sent
        # The dialer still works afterwards: its thread was not taken down.
        dialer.start_campaign(code)
    finally:
        in_a_thread(dialer.close)


def test_an_interrupt_while_reading_a_stream_stops_it(server: FakeServer) -> None:
    server.fake.faults = Faults(latency=0.02)
    code = server.fake.add_campaign().code

    def read() -> None:
        with dialer.stream_calls_bulk(code, endless(), chunk_size=CHUNK, concurrency=8) as out:
            for _ in out:
                raise KeyboardInterrupt

    dialer = Dialer(base_url=server.base_url)
    try:
        assert isinstance(in_a_thread(read), KeyboardInterrupt)
        sent = bulk_requests(server)
        quiet_period()
        assert bulk_requests(server) == sent
        dialer.start_campaign(code)
    finally:
        in_a_thread(dialer.close)


def test_an_interrupt_raised_by_a_coroutine_on_progress_reaches_the_caller(
    server: FakeServer,
) -> None:
    code = server.fake.add_campaign().code

    async def interrupt(_: BulkProgress) -> None:  # runs on the dialer's own thread
        raise KeyboardInterrupt

    dialer = Dialer(base_url=server.base_url)
    try:
        raised = in_a_thread(
            lambda: dialer.add_calls_bulk(code, endless(), chunk_size=CHUNK, on_progress=interrupt)
        )
        assert isinstance(raised, KeyboardInterrupt)
        sent = bulk_requests(server)
        quiet_period()
        assert bulk_requests(server) == sent
        dialer.start_campaign(code)  # its thread was not taken down
    finally:
        in_a_thread(dialer.close)


def ctrl_c() -> None:
    """SIGINT to the main thread, which wakes it from a blocking wait as Ctrl-C does."""
    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)


def test_a_second_interrupt_does_not_cut_settling_short() -> None:
    settled = threading.Event()

    async def slow_to_settle() -> None:
        try:
            await anyio.sleep(LIMIT)
        finally:
            with anyio.CancelScope(shield=True):  # e.g. a journal being written
                ctrl_c()  # again
                await anyio.sleep(0.3)
                settled.set()

    async def aclose() -> None:
        pass

    loop = LoopThread(aclose)
    try:
        task = Task[None](loop).start(slow_to_settle)
        threading.Timer(0.2, ctrl_c).start()
        with pytest.raises(KeyboardInterrupt):
            task.result()
        assert settled.is_set()  # the interrupt propagated only once the task had settled
    finally:
        loop.stop()
