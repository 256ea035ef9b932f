"""Strict bulk: raise_for_failures (BulkError) and max_chunk_bytes (no request body larger)."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import pytest

from voicenter_dialer import (
    AsyncDialer,
    BulkError,
    BulkReport,
    Call,
    DialerError,
    ValidationError,
    summarise_journal,
)
from voicenter_dialer.testing import FakeDialer
from voicenter_dialer.testing._http import FakeTransport

from .bulk_server import BulkServer, lead
from .examples import CAMPAIGN_CODE


async def test_raise_for_failures_returns_a_clean_report() -> None:
    async with BulkServer().dialer() as dialer:
        report = await dialer.add_calls_bulk(CAMPAIGN_CODE, [lead(i) for i in range(5)])
    assert report.raise_for_failures() is report


async def test_raise_for_failures_raises_with_the_report() -> None:
    calls = [lead(i) for i in range(6)]
    calls[2] = Call("12")
    async with BulkServer(reject={lead(4).target}).dialer() as dialer:
        report = await dialer.add_calls_bulk(CAMPAIGN_CODE, calls)
    with pytest.raises(
        BulkError, match="2 of 6 leads were not accepted: 1 rejected, 1 failed"
    ) as caught:
        report.raise_for_failures()
    assert caught.value.report is report
    assert isinstance(caught.value, DialerError)


def test_raise_for_failures_names_leads_that_may_have_been_added() -> None:
    from voicenter_dialer import FailedCall

    unknown = DialerError("lost", outcome_unknown=True)
    report = BulkReport(total=2, accepted=1, failed=[FailedCall(1, Call("972501234567"), unknown)])
    with pytest.raises(BulkError, match=r"\(1 of them may have been added\)"):
        report.raise_for_failures()


class Recording(httpx.AsyncBaseTransport):
    """The fake in-process, keeping the size of every AddCallsBulk body."""

    def __init__(self, fake: FakeDialer) -> None:
        self.inner = FakeTransport(fake)
        self.sizes: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("AddCallsBulk"):
            self.sizes.append(len(request.content))
        return await self.inner.handle_async_request(request)


def big(i: int, note: int = 400) -> Call:
    return Call(f"9725{i:08d}", custom_data={"note": "x" * note})


@pytest.mark.parametrize("entry", ["add_calls_bulk", "bulk_writer"])
async def test_no_request_is_larger_than_max_chunk_bytes(entry: str) -> None:
    fake = FakeDialer()
    campaign = fake.add_campaign()
    transport = Recording(fake)
    calls: list[Call] = [big(i) for i in range(50)]
    calls[7] = big(7, note=5000)  # alone larger than the bound
    calls[9] = Call("12")  # invalid: fails where it stands
    async with (
        httpx.AsyncClient(transport=transport) as client,
        AsyncDialer(fake.account_code, http_client=client) as dialer,
    ):
        if entry == "add_calls_bulk":
            report = await dialer.add_calls_bulk(
                campaign.code, calls, chunk_size=50, max_chunk_bytes=2000
            )
        else:
            async with (
                dialer.bulk_writer(
                    campaign.code, chunk_size=50, max_chunk_bytes=2000, flush_after=0.05
                ) as writer,
                anyio.create_task_group() as producers,
            ):
                for call in calls:
                    producers.start_soon(writer.add, call)
            report = writer.report
    assert transport.sizes
    assert max(transport.sizes) <= 2000
    assert len(transport.sizes) > 1
    assert report.total == 50
    assert report.accepted == 48
    # (a writer's positions are its arrival order: the calls say which failed)
    assert sorted(calls.index(entry.call) for entry in report.failed) == [7, 9]  # type: ignore[arg-type]
    too_large = next(entry for entry in report.failed if entry.call is calls[7])
    assert isinstance(too_large.error, ValidationError)
    assert "max_chunk_bytes" in too_large.error.message
    assert len(campaign.calls) == 48


async def test_split_chunks_resume_from_their_journal(tmp_path: Path) -> None:
    fake = FakeDialer()
    campaign = fake.add_campaign()
    journal = tmp_path / "upload.journal"
    calls = [big(i) for i in range(30)]
    async with fake.client() as dialer:
        first = await dialer.add_calls_bulk(
            campaign.code, calls, chunk_size=10, max_chunk_bytes=2000, journal=journal
        )
        again = await dialer.add_calls_bulk(
            campaign.code, calls, chunk_size=10, max_chunk_bytes=2000, journal=journal
        )
    assert first.accepted == again.accepted == 30
    assert len(campaign.calls) == 30  # the rerun sent nothing
    assert summarise_journal(journal).accepted == 30


@pytest.mark.parametrize("value", [0, 10, "2000", 1.5, True])
async def test_a_bad_max_chunk_bytes_is_refused(value: object) -> None:
    async with BulkServer().dialer() as dialer:
        with pytest.raises(ValidationError, match="max_chunk_bytes"):
            await dialer.add_calls_bulk(CAMPAIGN_CODE, [lead(0)], max_chunk_bytes=value)  # type: ignore[arg-type]
