"""Dialer methods called from code the dialer runs: on_progress, the input iterable.

A plain on_progress runs in the calling thread, so it may use the dialer; code that runs on
the dialer's own loop thread (a coroutine on_progress, the input read there) gets a
DialerError rather than a raw RuntimeError or a deadlock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from voicenter_dialer import BulkProgress, BulkReport, Call, Dialer, DialerError
from voicenter_dialer.testing import FakeServer

LIMIT = 30.0


def bounded(work: object) -> object:
    """*work*'s result (or what it raised) from a thread of its own; a hang fails the test."""
    box: list[object] = []

    def run() -> None:
        try:
            box.append(work())  # type: ignore[operator]
        except BaseException as exc:  # what the caller would see
            box.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(LIMIT)
    assert not thread.is_alive(), "deadlock"
    return box[0]


def test_a_plain_on_progress_may_call_the_dialer(server: FakeServer) -> None:
    code = server.fake.add_campaign().code
    held: list[int] = []
    with Dialer(base_url=server.base_url) as dialer:

        def on_progress(_: BulkProgress) -> None:
            held.append(len(dialer.get_campaign_pending_calls(code).calls))

        calls = [Call(f"9725{i:08d}") for i in range(30)]
        report = bounded(
            lambda: dialer.add_calls_bulk(
                code, calls, chunk_size=10, concurrency=1, on_progress=on_progress
            )
        )
    assert not isinstance(report, BaseException), report
    # Each progress saw at least the chunks done so far (the next may be on its way).
    assert [n >= 10 * done for done, n in enumerate(held, 1)] == [True, True, True]


def test_a_coroutine_on_progress_calling_the_dialer_gets_a_dialer_error(
    server: FakeServer,
) -> None:
    code = server.fake.add_campaign().code
    with Dialer(base_url=server.base_url) as dialer:

        async def on_progress(_: BulkProgress) -> None:
            dialer.start_campaign(code)  # blocking, on the loop it would wait for

        raised = bounded(
            lambda: dialer.add_calls_bulk(code, [Call("972500000001")], on_progress=on_progress)
        )
        assert isinstance(raised, DialerError), raised
        assert "own event loop thread" in str(raised)
        dialer.start_campaign(code)  # and the dialer still works


def test_an_input_calling_the_dialer_works(server: FakeServer) -> None:
    """The input is read in the calling thread (a chunk at a time), so it may use the dialer,
    as an ORM's query set uses its connection."""
    code = server.fake.add_campaign().code
    with Dialer(base_url=server.base_url) as dialer:

        def leads() -> Iterator[Call]:
            yield Call("972500000001")
            dialer.get_campaign_details(code)
            yield Call("972500000002")

        report = bounded(lambda: dialer.add_calls_bulk(code, leads(), chunk_size=1))
    assert isinstance(report, BulkReport), report
    assert report.accepted == 2


def test_a_stream_read_after_its_block_ends_with_a_dialer_error(server: FakeServer) -> None:
    code = server.fake.add_campaign().code
    calls = [Call(f"9725{i:08d}") for i in range(30)]
    with Dialer(base_url=server.base_url) as dialer:
        with dialer.stream_calls_bulk(code, calls, chunk_size=10) as outcomes:
            next(outcomes)
        with pytest.raises(DialerError, match="block has ended"):
            next(outcomes)
        with dialer.stream_calls_bulk(code, calls[:10], chunk_size=10) as outcomes:
            assert [chunk.accepted for chunk in outcomes] == [10]
        with pytest.raises(StopIteration):  # read to its end: an ended iterator
            next(outcomes)
