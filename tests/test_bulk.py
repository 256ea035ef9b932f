"""Bulk upload: chunking, streaming, merging AddResult, failures, progress, cancellation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anyio
import httpx
import pytest

from voicenter_dialer import (
    AsyncDialer,
    BulkProgress,
    BulkReport,
    Call,
    ChunkOutcome,
    DialerError,
    InvalidCampaignError,
    ResponseError,
    TransportError,
    ValidationError,
)

from .bulk_server import BulkServer, lead
from .examples import CAMPAIGN_CODE


def assert_accounted(report: BulkReport, total: int) -> None:
    """Each input index exactly once, and the counts add up."""
    assert report.total == total
    assert report.total == report.accepted + len(report.rejected) + len(report.failed)
    indexes = [entry.index for entry in report.rejected] + [entry.index for entry in report.failed]
    assert len(indexes) == len(set(indexes))
    assert all(0 <= index < total for index in indexes)


async def test_chunks_and_accepts_everything() -> None:
    server = BulkServer()
    async with server.dialer() as dialer:
        report = await dialer.add_calls_bulk(
            CAMPAIGN_CODE, [lead(i) for i in range(2500)], chunk_size=1000
        )

    assert report == BulkReport(total=2500, accepted=2500)
    assert report.ok
    assert sorted(server.sizes) == [500, 1000, 1000]
    assert server.added == dict.fromkeys(range(2500), 1)


async def test_rejections_are_reported_with_index_call_and_result() -> None:
    server = BulkServer(reject={lead(3).target, lead(7).target})
    calls = [lead(i) for i in range(10)]
    async with server.dialer() as dialer:
        report = await dialer.add_calls_bulk(CAMPAIGN_CODE, calls, chunk_size=4)

    assert report.accepted == 8
    assert [(r.index, r.call) for r in report.rejected] == [(3, calls[3]), (7, calls[7])]
    assert report.rejected[0].result.error_code == -2
    assert report.rejected[0].result.description == "Number is invalid"
    assert report.rejected[0].result.target == calls[3].target
    assert not report.ok
    assert_accounted(report, 10)


async def test_invalid_calls_fail_locally_and_the_rest_of_their_chunk_is_sent() -> None:
    server = BulkServer()
    calls: list[object] = [lead(0), Call("not a phone"), lead(2), "0501234567", lead(4)]
    async with server.dialer() as dialer:
        report = await dialer.add_calls_bulk(CAMPAIGN_CODE, calls, chunk_size=5)  # type: ignore[arg-type]

    assert report.accepted == 3
    assert [f.index for f in report.failed] == [1, 3]
    assert all(isinstance(f.error, ValidationError) for f in report.failed)
    assert report.failed[1].call is calls[3]
    assert server.sizes == [3]
    assert_accounted(report, 5)


async def test_a_chunk_of_only_invalid_calls_is_not_sent() -> None:
    server = BulkServer()
    async with server.dialer() as dialer:
        report = await dialer.add_calls_bulk(CAMPAIGN_CODE, [Call("x"), Call("y")])

    assert server.requests == 0
    assert len(report.failed) == 2
    assert_accounted(report, 2)


@pytest.mark.parametrize("how", ["no_result", "short"])
async def test_missing_add_results_are_failed_never_accepted(how: str) -> None:
    server = BulkServer(script={0: how})  # type: ignore[dict-item]
    async with server.dialer() as dialer:
        report = await dialer.add_calls_bulk(CAMPAIGN_CODE, [lead(i) for i in range(6)])

    expected_failed = 6 if how == "no_result" else 1
    assert len(report.failed) == expected_failed
    assert report.accepted == 6 - expected_failed
    for failed in report.failed:
        assert isinstance(failed.error, ResponseError)
        assert failed.error.outcome_unknown
        assert "get_campaign_pending_calls" in str(failed.error)
    assert_accounted(report, 6)


def scripted(results: list[object]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"AddResult": results, "ErrorCode": 0})

    return httpx.MockTransport(handle)


async def bulk_with_answer(calls: list[Call], results: list[object]) -> BulkReport:
    async with (
        httpx.AsyncClient(transport=scripted(results)) as client,
        AsyncDialer(http_client=client) as dialer,
    ):
        return await dialer.add_calls_bulk(CAMPAIGN_CODE, calls)


def ok(target: str) -> dict[str, object]:
    return {"Target": target, "ErrorCode": 0, "Description": "OK"}


A, B, C = "972500000001", "972500000002", "972500000003"


async def test_mismatched_target_is_unknown() -> None:
    report = await bulk_with_answer([Call(A), Call(B)], [ok(A), ok(C)])

    assert report.accepted == 1
    assert [f.index for f in report.failed] == [1]
    assert report.failed[0].error.outcome_unknown


async def test_results_out_of_order_are_matched_by_target() -> None:
    rejected_b = {"Target": B, "ErrorCode": -2, "Description": "Number is invalid"}
    report = await bulk_with_answer([Call(A), Call(B), Call(C)], [ok(C), rejected_b, ok(A)])

    assert report.accepted == 2
    assert [r.index for r in report.rejected] == [1]


async def test_duplicate_targets_in_one_chunk() -> None:
    dup = {"Target": A, "ErrorCode": -3, "Description": "Duplicate"}
    report = await bulk_with_answer([Call(A), Call(B), Call(A)], [ok(A), ok(B), dup])

    assert report.accepted == 2
    assert [(r.index, r.result.error_code) for r in report.rejected] == [(2, -3)]


async def test_duplicate_targets_with_a_missing_result_are_all_unknown() -> None:
    # Which of the two A's the one result belongs to cannot be known.
    report = await bulk_with_answer([Call(A), Call(B), Call(A)], [ok(B), ok(A)])

    assert report.accepted == 1
    assert [f.index for f in report.failed] == [0, 2]
    assert_accounted(report, 3)


async def test_targets_that_are_not_strings_match_nothing() -> None:
    report = await bulk_with_answer([Call(A), Call(B)], [{"Target": [A], "ErrorCode": 0}, ok(B)])

    assert report.accepted == 1
    assert [f.index for f in report.failed] == [0]


async def test_result_items_of_the_wrong_shape_are_unknown() -> None:
    report = await bulk_with_answer(
        [Call(A), Call(B), Call(C)], [ok(A), "garbage", {"Target": C, "ErrorCode": "x"}]
    )

    assert report.accepted == 1
    assert [f.index for f in report.failed] == [1, 2]


async def test_refused_chunks_are_retried() -> None:
    server = BulkServer(script={0: "refuse", 1: "refuse"})
    async with server.dialer() as dialer:
        report = await dialer.add_calls_bulk(CAMPAIGN_CODE, [lead(i) for i in range(10)])

    assert report.accepted == 10
    assert server.requests == 3
    assert server.added == dict.fromkeys(range(10), 1)


@pytest.mark.parametrize(("how", "error"), [("lost", TransportError), ("crash", ResponseError)])
async def test_ambiguous_chunks_are_failed_not_resent(how: str, error: type[DialerError]) -> None:
    server = BulkServer(script={1: how})  # type: ignore[dict-item]
    async with server.dialer() as dialer:
        report = await dialer.add_calls_bulk(
            CAMPAIGN_CODE, [lead(i) for i in range(30)], chunk_size=10, concurrency=1
        )

    assert server.requests == 3
    assert report.accepted == 20
    assert [f.index for f in report.failed] == list(range(10, 20))
    assert all(isinstance(f.error, error) and f.error.outcome_unknown for f in report.failed)
    assert report.failed[0].error is report.failed[9].error  # one error object per chunk
    assert max(server.added.values()) == 1
    assert_accounted(report, 30)


async def test_invalid_campaign_stops_the_upload_early() -> None:
    server = BulkServer(behaviour=lambda n: "invalid_campaign")
    consumed = 0

    def leads() -> Iterator[Call]:
        nonlocal consumed
        for i in range(10_000):
            consumed += 1
            yield lead(i)

    async with server.dialer() as dialer:
        report = await dialer.add_calls_bulk(CAMPAIGN_CODE, leads(), chunk_size=100, concurrency=2)

    assert consumed == 10_000  # every lead is accounted for...
    assert server.requests <= 3  # ...but only those in flight when it was refused were sent
    assert len(report.failed) == 10_000
    assert report.accepted == 0
    sent_errors = [f for f in report.failed if isinstance(f.error, InvalidCampaignError)]
    not_sent = [f for f in report.failed if not isinstance(f.error, InvalidCampaignError)]
    assert len(sent_errors) == server.requests * 100
    assert "not sent" in str(not_sent[0].error)
    assert isinstance(not_sent[0].error.__cause__, InvalidCampaignError)
    assert not any(f.error.outcome_unknown for f in report.failed)
    assert_accounted(report, 10_000)


async def test_async_iterable_input() -> None:
    async def leads() -> AsyncIterator[Call]:
        for i in range(250):
            yield lead(i)

    server = BulkServer()
    async with server.dialer() as dialer:
        report = await dialer.add_calls_bulk(CAMPAIGN_CODE, leads(), chunk_size=100)

    assert report == BulkReport(total=250, accepted=250)
    assert sorted(server.sizes) == [50, 100, 100]


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_input_is_streamed_not_materialised(concurrency: int) -> None:
    chunk_size = 50
    consumed = 0
    consumed_at_request: list[int] = []

    def leads() -> Iterator[Call]:
        nonlocal consumed
        for i in range(100_000):
            consumed += 1
            yield lead(i)

    server = BulkServer(on_request=lambda n: consumed_at_request.append(consumed))
    async with server.dialer() as dialer:
        report = await dialer.add_calls_bulk(
            CAMPAIGN_CODE, leads(), chunk_size=chunk_size, concurrency=concurrency
        )

    # When the first request arrives, at most concurrency + 1 chunks have been read.
    assert consumed_at_request[0] <= (concurrency + 1) * chunk_size
    # And reading never runs ahead of sending by more than that.
    for number, seen in enumerate(consumed_at_request):
        assert seen <= (number + concurrency + 1) * chunk_size
    assert server.max_in_flight == concurrency
    assert report.accepted == 100_000


async def test_progress() -> None:
    seen: list[BulkProgress] = []
    server = BulkServer(reject={lead(0).target})
    async with server.dialer() as dialer:
        await dialer.add_calls_bulk(
            CAMPAIGN_CODE, [lead(i) for i in range(25)], chunk_size=10, on_progress=seen.append
        )
        await dialer.add_calls_bulk(
            CAMPAIGN_CODE, (lead(i) for i in range(5)), on_progress=seen.append
        )

    assert [p.done for p in seen[:3]] == sorted(p.done for p in seen[:3])
    assert seen[2] == BulkProgress(done=25, total=25, accepted=24, rejected=1, failed=0)
    assert seen[3] == BulkProgress(done=5, total=None, accepted=4, rejected=1, failed=0)


async def test_stream_of_chunk_outcomes() -> None:
    server = BulkServer(reject={lead(12).target})
    outcomes: list[ChunkOutcome] = []
    async with (
        server.dialer() as dialer,
        dialer.stream_calls_bulk(
            CAMPAIGN_CODE, (lead(i) for i in range(25)), chunk_size=10
        ) as chunks,
    ):
        async for chunk in chunks:
            outcomes.append(chunk)

    assert sorted((o.start, o.size) for o in outcomes) == [(0, 10), (10, 10), (20, 5)]
    assert sum(o.accepted for o in outcomes) == 24
    assert [r.index for o in outcomes for r in o.rejected] == [12]


async def test_leaving_the_stream_early_cancels_the_rest() -> None:
    server = BulkServer()
    async with server.dialer() as dialer:
        async with dialer.stream_calls_bulk(
            CAMPAIGN_CODE, (lead(i) for i in range(100_000)), chunk_size=10, concurrency=2
        ) as chunks:
            async for _ in chunks:
                break
        requests_then = server.requests
        assert requests_then < 10
        # The dialer still works.
        report = await dialer.add_calls_bulk(CAMPAIGN_CODE, [lead(0)])
    assert report.accepted == 1


async def test_cancellation_stops_cleanly_and_the_dialer_stays_usable() -> None:
    server = BulkServer()
    async with server.dialer() as dialer:
        with anyio.move_on_after(0.05) as scope:
            await dialer.add_calls_bulk(CAMPAIGN_CODE, map(lead, range(10**7)), chunk_size=10)
        assert scope.cancelled_caught
        await anyio.sleep(0.01)
        assert server.in_flight == 0
        report = await dialer.add_calls_bulk(CAMPAIGN_CODE, [lead(1), lead(2)])
    assert report.accepted == 2


async def test_an_input_error_is_raised_after_chunks_in_flight_complete() -> None:
    def leads() -> Iterator[Call]:
        for i in range(35):
            yield lead(i)
        raise OSError("disk gone")

    outcomes: list[ChunkOutcome] = []
    server = BulkServer()
    async with server.dialer() as dialer:
        with pytest.raises(OSError, match="disk gone"):
            async with dialer.stream_calls_bulk(
                CAMPAIGN_CODE, leads(), chunk_size=10, concurrency=4
            ) as chunks:
                async for chunk in chunks:
                    outcomes.append(chunk)

    assert sum(o.size for o in outcomes) == 30  # the partial fourth chunk was never complete
    assert sum(server.added.values()) == 30


async def test_a_callers_error_in_the_loop_is_raised_as_is() -> None:
    server = BulkServer()
    async with server.dialer() as dialer:
        with pytest.raises(KeyError):
            async with dialer.stream_calls_bulk(CAMPAIGN_CODE, [lead(0)]) as chunks:
                async for _ in chunks:
                    raise KeyError("mine")


async def test_report_lists_are_sorted_by_index() -> None:
    server = BulkServer(reject={lead(i).target for i in range(0, 100, 7)})
    async with server.dialer() as dialer:
        report = await dialer.add_calls_bulk(
            CAMPAIGN_CODE, [lead(i) for i in range(100)], chunk_size=3, concurrency=8
        )

    indexes = [r.index for r in report.rejected]
    assert indexes == sorted(indexes) == list(range(0, 100, 7))


async def test_empty_input() -> None:
    server = BulkServer()
    async with server.dialer() as dialer:
        report = await dialer.add_calls_bulk(CAMPAIGN_CODE, [])
    assert report == BulkReport(total=0, accepted=0)
    assert server.requests == 0
