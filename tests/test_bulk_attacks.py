"""Defects found by the second attack on the bulk paths (issue 21): each test failed before
its fix. Surrogates, a busy service, cancelled writers, another thread's loop, outcomes read
late, errors from inside task groups, and reports that stay small."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import anyio
import httpx
import pytest
import respx

from voicenter_dialer import (
    AsyncDialer,
    Call,
    DialerError,
    JournalError,
    ResponseError,
    ValidationError,
    to_dict,
)
from voicenter_dialer._resume import JournalReplay
from voicenter_dialer.testing import FakeDialer, Faults

from .bulk_server import BulkServer, lead
from .examples import BASE_URL, CAMPAIGN_CODE

# --- 14: a lone surrogate ---------------------------------------------------------------------


async def test_a_lone_surrogate_fails_its_lead_and_the_report_counts_all() -> None:
    calls = [lead(i) for i in range(30)]
    calls[25] = Call(lead(25).target, customer_name="Dana \ud83d")
    calls[26] = Call(lead(26).target, custom_data={"note": "\udc00"})
    calls[27] = Call(lead(27).target, custom_data={"\ud83d": "x"})
    server = BulkServer()
    async with server.dialer() as dialer:
        report = await dialer.add_calls_bulk(CAMPAIGN_CODE, calls, chunk_size=10)

    assert report.total == 30
    assert report.accepted == 27
    assert [entry.index for entry in report.failed] == [25, 26, 27]
    assert all(isinstance(entry.error, ValidationError) for entry in report.failed)
    assert "lone surrogate" in report.failed[0].error.message
    assert set(server.added) == set(range(30)) - {25, 26, 27}


async def test_a_lone_surrogate_in_add_call_is_refused_before_sending(
    api: respx.MockRouter, dialer: AsyncDialer
) -> None:
    with pytest.raises(ValidationError, match="customer_name holds a lone surrogate"):
        await dialer.add_call(CAMPAIGN_CODE, Call("972501234567", customer_name="Dana \ud83d"))
    assert not api.calls


async def test_a_writer_settles_a_lone_surrogate_as_failed() -> None:
    fake = FakeDialer()
    campaign = fake.add_campaign()
    async with fake.client() as dialer, dialer.bulk_writer(campaign.code) as writer:
        outcome = await writer.add(Call("972501234567", customer_name="\ud83d"))
        fine = await writer.add(Call("972501234568"))
    assert outcome.status == "failed"
    assert isinstance(outcome.error, ValidationError)
    assert fine.accepted


# --- 19: to_dict of what a failed lead was given --------------------------------------------


async def test_to_dict_of_a_report_is_always_json() -> None:
    from decimal import Decimal

    odd: list[object] = [
        Call("972501234567", custom_data={"price": Decimal("1.5")}),  # type: ignore[dict-item]
        Call("972501234568", custom_data={"raw": b"\x00\xff"}),  # type: ignore[dict-item]
        Call("972501234569", custom_data={"tags": {"a", "b"}}),  # type: ignore[dict-item]
        Call("972501234560", custom_data={"ratio": float("nan")}),
        {"phone": "972501234561", "priority": Decimal("1")},
    ]
    async with BulkServer().dialer() as dialer:
        report = await dialer.add_calls_bulk(CAMPAIGN_CODE, odd)  # type: ignore[arg-type]

    assert len(report.failed) == 5
    text = json.dumps(to_dict(report), allow_nan=False)
    assert "Decimal('1.5')" in text


# --- 20: a report stays small whatever the error pages weigh -------------------------------


async def test_a_failed_chunk_keeps_a_bounded_part_of_its_answer(api: respx.MockRouter) -> None:
    page = b"<html>" + b"x" * (2 * 1024 * 1024) + b"</html>"
    api.post(BASE_URL + "AddCallsBulk").mock(return_value=httpx.Response(400, content=page))
    async with AsyncDialer("account-code-1234") as dialer:
        report = await dialer.add_calls_bulk(
            CAMPAIGN_CODE, [lead(i) for i in range(40)], chunk_size=10
        )

    errors = {id(entry.error): entry.error for entry in report.failed}
    assert len(errors) == 4
    for error in errors.values():
        assert isinstance(error, ResponseError)
        assert error.response is not None
        assert 0 < len(error.response.content) <= 16 * 1024
        assert len(error.response.request.content) <= 16 * 1024
        assert len(error.message) < 500


# --- the busy service: refused for load is not failed ----------------------------------------


@pytest.mark.parametrize("concurrency", [8, "auto"])
async def test_a_busy_service_fails_no_lead(concurrency: int | str) -> None:
    # Room for 2 at once; 8 chunks in flight means most attempts are refused at first.
    fake = FakeDialer(faults=Faults(latency=0.01, capacity=2, retry_after=0.001))
    campaign = fake.add_campaign()
    async with fake.client() as dialer:
        report = await dialer.add_calls_bulk(
            campaign.code,
            [Call(f"9725{i:08d}") for i in range(600)],
            chunk_size=20,
            concurrency=concurrency,  # type: ignore[arg-type]
        )
    assert fake.faults.over_capacity > 0  # it was busy...
    assert report.ok  # ...and no lead failed for it
    assert sorted(campaign.targets()) == [f"9725{i:08d}" for i in range(600)]


async def test_a_service_refusing_everything_still_ends_the_upload() -> None:
    fake = FakeDialer(faults=Faults({"503": 1.0}))
    campaign = fake.add_campaign()
    async with fake.client() as dialer:
        report = await dialer.add_calls_bulk(
            campaign.code, [Call(f"9725{i:08d}") for i in range(100)], chunk_size=10
        )
    assert report.total == len(report.failed) == 100
    assert campaign.targets() == []


# --- 9: a writer cancelled while producers wait for room -----------------------------------


async def test_cancelling_a_writer_settles_producers_waiting_for_room() -> None:
    fake = FakeDialer(faults=Faults(latency=30))  # every chunk hangs in the service
    campaign = fake.add_campaign()
    outcomes: list[str] = []

    async def produce(writer: object, i: int) -> None:
        outcome = await writer.add(Call(f"9725{i:08d}"))  # type: ignore[attr-defined]
        outcomes.append(outcome.status)

    # Every producer settles (none hangs): the task group waits for them all.
    with anyio.fail_after(10):
        async with fake.client() as dialer, anyio.create_task_group() as producers:
            with anyio.move_on_after(0.5):
                async with dialer.bulk_writer(
                    campaign.code, chunk_size=5, concurrency=1, flush_after=None
                ) as writer:
                    for i in range(100):
                        producers.start_soon(produce, writer, i)
                    await anyio.sleep(30)
    assert len(outcomes) == 100
    assert set(outcomes) == {"failed"}
    assert writer.report.total == 100


# --- 10: writer.add from another thread's event loop ----------------------------------------


async def test_a_writer_add_from_another_thread_s_loop_is_a_dialer_error() -> None:
    fake = FakeDialer()
    campaign = fake.add_campaign()
    raised: list[BaseException] = []
    async with fake.client() as dialer, dialer.bulk_writer(campaign.code) as writer:

        def other_thread() -> None:
            try:
                asyncio.run(writer.add(Call("972501234567")))
            except BaseException as exc:
                raised.append(exc)

        thread = threading.Thread(target=other_thread)
        thread.start()
        await anyio.to_thread.run_sync(thread.join, 10)
    assert len(raised) == 1
    assert isinstance(raised[0], DialerError)
    assert "another thread" in str(raised[0])


# --- 24: outcomes read after the block -------------------------------------------------------


async def test_outcomes_read_after_the_block_end_or_raise_a_dialer_error() -> None:
    server = BulkServer()
    async with server.dialer() as dialer:
        async with dialer.stream_calls_bulk(
            CAMPAIGN_CODE, [lead(i) for i in range(30)], chunk_size=10
        ) as all_read:
            read = [chunk async for chunk in all_read]
        assert [chunk async for chunk in all_read] == []  # read to the end: it just ends
        assert sum(chunk.size for chunk in read) == 30

        async with dialer.stream_calls_bulk(
            CAMPAIGN_CODE, [lead(i) for i in range(30)], chunk_size=10, concurrency=1
        ) as unread:
            pass
        with pytest.raises(DialerError, match="read inside its block"):
            await unread.__anext__()


# --- one error out of the task groups -------------------------------------------------------


@pytest.mark.parametrize("entry", ["add_calls_bulk", "stream_calls_bulk", "bulk_writer"])
async def test_a_journal_failing_inside_a_chunk_s_task_is_raised_as_itself(
    entry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def lost(self: JournalReplay, chunk: object) -> None:
        raise JournalError("the journal's database connection was lost")

    monkeypatch.setattr(JournalReplay, "done", lost)  # in the task that sent the chunk
    fake = FakeDialer()
    campaign = fake.add_campaign()
    journal = tmp_path / "upload.journal"
    calls = [Call(f"9725{i:08d}") for i in range(30)]
    async with fake.client() as dialer:
        with pytest.raises(JournalError, match="connection was lost"):
            if entry == "add_calls_bulk":
                await dialer.add_calls_bulk(campaign.code, calls, chunk_size=10, journal=journal)
            elif entry == "stream_calls_bulk":
                async with dialer.stream_calls_bulk(
                    campaign.code, calls, chunk_size=10, journal=journal
                ) as outcomes:
                    async for _ in outcomes:
                        pass
            else:
                async with dialer.bulk_writer(
                    campaign.code, chunk_size=10, journal=journal
                ) as writer:
                    for call in calls:
                        await writer.add(call)
