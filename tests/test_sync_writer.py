"""Dialer.bulk_writer: threads add calls, each waits for its own outcome, calls share chunks."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from voicenter_dialer import Call, Dialer, DialerError, LeadOutcome, summarise_journal
from voicenter_dialer.testing import FakeServer, Faults

LIMIT = 30.0


def bulk_requests(server: FakeServer) -> int:
    """AddCallsBulk requests received, once those already written have reached the server."""
    time.sleep(0.2)
    return server.fake.requests.count("AddCallsBulk")


def test_threads_adding_at_once_share_chunks(server: FakeServer, tmp_path: Path) -> None:
    code = server.fake.add_campaign().code
    journal = tmp_path / "writer.journal"
    before = bulk_requests(server)
    with (
        Dialer(base_url=server.base_url) as dialer,
        dialer.bulk_writer(code, chunk_size=25, flush_after=None, journal=journal) as writer,
        ThreadPoolExecutor(max_workers=50) as pool,
    ):
        outcomes = list(pool.map(lambda i: writer.add(Call(f"9725{i:08d}")), range(50)))
        assert writer.concurrency == 4
        report = writer.report
    assert [outcome.status for outcome in outcomes] == ["accepted"] * 50
    assert sorted(outcome.index for outcome in outcomes) == list(range(50))
    assert (report.total, report.accepted) == (50, 50)
    assert bulk_requests(server) - before == 2  # two full chunks, 25 threads each
    assert summarise_journal(journal).accepted == 50


def test_an_invalid_call_is_settled_at_once(server: FakeServer) -> None:
    code = server.fake.add_campaign().code
    with Dialer(base_url=server.base_url) as dialer, dialer.bulk_writer(code) as writer:
        outcome = writer.add(Call("not a number"))
    assert outcome.status == "failed"
    assert isinstance(outcome.error, DialerError)


def test_an_error_in_the_block_still_sends_what_was_added(server: FakeServer) -> None:
    campaign = server.fake.add_campaign()
    added: list[LeadOutcome] = []
    with Dialer(base_url=server.base_url) as dialer:
        with (
            pytest.raises(LookupError, match="the caller's own"),
            dialer.bulk_writer(campaign.code) as writer,
        ):
            added.append(writer.add(Call("972500000001")))
            raise LookupError("the caller's own")
        assert added[0].accepted
        with pytest.raises(DialerError, match="ended"):
            writer.add(Call("972500000002"))  # after its block
    assert campaign.targets() == ["972500000001"]


def test_an_interrupt_in_the_block_cancels_the_writer(server: FakeServer) -> None:
    server.fake.faults = Faults(latency=0.02)
    code = server.fake.add_campaign().code
    stop = threading.Event()
    seen: list[object] = []

    def producer(writer: object, worker: int) -> None:
        i = 0
        while not stop.is_set():
            try:
                seen.append(writer.add(Call(f"9725{worker:02d}{i:06d}")))  # type: ignore[attr-defined]
            except DialerError as exc:  # the writer was cancelled
                seen.append(exc)
                return
            i += 1

    def interrupted() -> BaseException | None:
        with dialer.bulk_writer(code, chunk_size=5, flush_after=0.01, concurrency=8) as writer:
            threads = [
                threading.Thread(target=producer, args=(writer, n), daemon=True) for n in range(20)
            ]
            for thread in threads:
                thread.start()
            while len(seen) < 20:
                time.sleep(0.01)
            raise KeyboardInterrupt

    raised: list[BaseException] = []

    def run() -> None:
        try:
            interrupted()
        except BaseException as exc:  # what the caller's thread sees
            raised.append(exc)

    dialer = Dialer(base_url=server.base_url)
    try:
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(LIMIT)
        assert not thread.is_alive(), "the writer hung"
        assert isinstance(raised[0], KeyboardInterrupt)
        sent = bulk_requests(server)
        time.sleep(0.5)  # a writer still running would send more meanwhile
        assert bulk_requests(server) == sent
    finally:
        stop.set()
        dialer.close()
