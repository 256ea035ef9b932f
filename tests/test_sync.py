"""Dialer, the synchronous facade: the same methods without await, on a private loop thread."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from voicenter_dialer import (
    BulkProgress,
    Call,
    Dialer,
    DialerError,
    InvalidCampaignError,
    ResponseError,
    ValidationError,
    summarise_journal,
)
from voicenter_dialer.testing import FakeDialer, FakeServer, Faults
from voicenter_dialer.testing._http import FakeTransport


def test_the_methods_without_await(server: FakeServer) -> None:
    fake = server.fake
    code = fake.add_campaign("Sales", kind="agent").code
    with Dialer(fake.account_code, base_url=server.base_url) as dialer:
        assert [c.code for c in dialer.get_campaign_list()] == [code]
        assert dialer.get_campaign_details(code).name == "Sales"
        dialer.add_call(code, Call("972501234567", customer_name="Dana"))
        dialer.update_call(code, Call("972501234567", customer_name="Dan"))
        assert [c.customer_name for c in dialer.get_campaign_pending_calls(code).calls] == ["Dan"]
        dialer.remove_call(code, "972501234567")
        dialer.clear_campaign_calls(code)
        dialer.stop_campaign(code)
        dialer.start_campaign(code)
        assert dialer.add_member(code, "201") == 1
        assert [m.member for m in dialer.get_members_list(code)] == ["201"]
        assert dialer.remove_member(code, "201") == 1
        dialer.update_campaign_strategy(
            code, queue_for_monitoring=1, queue_maximum_callers=2, coefficient=3
        )
        assert repr(dialer).startswith("Dialer(")


def test_errors_are_the_same_classes(server: FakeServer) -> None:
    with Dialer(server.fake.account_code, base_url=server.base_url) as dialer:
        with pytest.raises(InvalidCampaignError):
            dialer.start_campaign("NO-SUCH-CAMPAIGN-0123")
        with pytest.raises(ValidationError):
            dialer.add_call("NO-SUCH-CAMPAIGN-0123", Call("not a number"))
    with pytest.raises(ValidationError):
        Dialer(base_url="ftp://example.com/")  # bad arguments: no thread started


def test_bulk_with_progress_and_a_journal(server: FakeServer, tmp_path: Path) -> None:
    code = server.fake.add_campaign().code
    calls = [Call(f"9725{i:08d}") for i in range(250)]
    seen: list[BulkProgress] = []
    journal = tmp_path / "upload.journal"
    sent_before = server.fake.requests.count("AddCallsBulk")  # the server serves the session
    with Dialer(base_url=server.base_url) as dialer:
        report = dialer.add_calls_bulk(
            code, calls, chunk_size=100, on_progress=seen.append, journal=journal
        )
        assert (report.total, report.accepted, report.ok) == (250, 250, True)
        assert seen[-1].done == 250
        again = dialer.add_calls_bulk(code, calls, chunk_size=100, journal=journal)
    assert again.accepted == 250  # settled by the journal: nothing sent twice
    assert server.fake.requests.count("AddCallsBulk") - sent_before == 3
    assert summarise_journal(journal).accepted == 250


def test_a_streamed_upload(server: FakeServer) -> None:
    code = server.fake.add_campaign().code
    calls = [Call(f"9725{i:08d}") for i in range(25)]
    with (
        Dialer(base_url=server.base_url) as dialer,
        dialer.stream_calls_bulk(code, calls, chunk_size=10) as outcomes,
    ):
        sizes = sorted(chunk.size for chunk in outcomes)
    assert sizes == [5, 10, 10]


def test_many_threads_share_one_dialer(server: FakeServer) -> None:
    code = server.fake.add_campaign().code
    progress_threads: set[int] = set()
    loop_threads: set[int] = set()

    async def on_the_loop(_: BulkProgress) -> None:
        loop_threads.add(threading.get_ident())

    def work(worker: int) -> int:
        for i in range(20):
            dialer.add_call(code, Call(f"97250{worker:02d}{i:05d}"))
        return len(dialer.get_campaign_pending_calls(code).calls)

    with Dialer(base_url=server.base_url) as dialer:
        on_progress = lambda _: progress_threads.add(threading.get_ident())  # noqa: E731
        dialer.add_calls_bulk(code, [Call("972599999999")], on_progress=on_progress)
        dialer.add_calls_bulk(code, [Call("972599999998")], on_progress=on_the_loop)
        with ThreadPoolExecutor(max_workers=8) as pool:
            seen = list(pool.map(work, range(8)))
    assert len(server.fake.campaigns[code].calls) == 8 * 20 + 2
    assert max(seen) == 8 * 20 + 2
    assert progress_threads == {threading.get_ident()}  # a plain on_progress: this thread
    assert threading.get_ident() not in loop_threads  # the loop runs on a thread of its own


def test_closed_means_closed(server: FakeServer) -> None:
    code = server.fake.add_campaign().code
    dialer = Dialer(base_url=server.base_url)
    derived = dialer.with_options(max_retries=0)
    derived.start_campaign(code)
    derived.close()  # shares the parent's thread and client: closes nothing
    dialer.start_campaign(code)
    dialer.close()
    dialer.close()  # twice is fine
    for closed in (dialer, derived):
        with pytest.raises(DialerError, match="closed"):
            closed.start_campaign(code)


def test_with_options_applies() -> None:
    fake = FakeDialer(faults=Faults(rates={"503": 1.0}))
    code = fake.add_campaign().code
    client = httpx.AsyncClient(transport=FakeTransport(fake))
    with Dialer(http_client=client, max_retries=2) as dialer:
        with pytest.raises(ResponseError):
            dialer.with_options(max_retries=0).start_campaign(code)
        assert fake.requests.count("StartCampaign") == 1
        with pytest.raises(ResponseError):
            dialer.start_campaign(code)
        assert fake.requests.count("StartCampaign") == 1 + 3
    assert not client.is_closed  # a caller's client is the caller's to close


def test_an_error_in_a_stream_block_cancels_the_rest(server: FakeServer) -> None:
    server.fake.faults = Faults(latency=0.02)
    code = server.fake.add_campaign().code
    calls = [Call(f"9725{i:08d}") for i in range(2000)]
    with Dialer(base_url=server.base_url) as dialer:
        with (
            pytest.raises(LookupError, match="the caller's own"),
            dialer.stream_calls_bulk(code, calls, chunk_size=10) as outcomes,
        ):
            for _ in outcomes:
                raise LookupError("the caller's own")
        held = len(server.fake.campaigns[code].calls)
        dialer.start_campaign(code)
    assert held < len(calls)


def test_an_error_raised_by_on_progress_is_raised_by_the_upload(server: FakeServer) -> None:
    code = server.fake.add_campaign().code

    def on_progress(_: BulkProgress) -> None:
        raise LookupError("the caller's own")

    calls = [Call(f"9725{i:08d}") for i in range(30)]
    with Dialer(base_url=server.base_url) as dialer:
        with pytest.raises(LookupError, match="the caller's own"):
            dialer.add_calls_bulk(code, calls, chunk_size=10, on_progress=on_progress)
        dialer.start_campaign(code)  # still working


def dialer_threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name == "voicenter-dialer"}


def test_a_dialer_dropped_without_close_stops_its_thread(server: FakeServer) -> None:
    code = server.fake.add_campaign().code
    before = dialer_threads()
    dialer = Dialer(base_url=server.base_url)
    dialer.start_campaign(code)
    (thread,) = dialer_threads() - before
    del dialer  # no gc.collect(): nothing keeps it alive
    thread.join(30)
    assert not thread.is_alive()


def test_close_lets_the_calls_running_finish(server: FakeServer) -> None:
    server.fake.faults = Faults(latency=0.3)
    code = server.fake.add_campaign().code
    dialer = Dialer(base_url=server.base_url)
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(dialer.add_call, code, Call("972500000001"))
        while server.fake.requests.count("AddCall") == 0:  # it is on the wire
            time.sleep(0.01)
        dialer.close()
        running.result(timeout=30)  # answered, not cut off
    assert server.fake.campaigns[code].targets() == ["972500000001"]
