"""The bulk upload journal: resuming, refusing the wrong input, reconciling."""

from __future__ import annotations

import collections
import contextlib
import sqlite3
from pathlib import Path

import anyio
import pytest

from voicenter_dialer import (
    BulkReport,
    Call,
    JournalError,
    ValidationError,
    summarise_journal,
)
from voicenter_dialer.testing import FakeCampaign, FakeDialer, Faults

LEADS = 5000


def leads(count: int = LEADS) -> list[Call]:
    return [Call(f"9725{i:08d}", custom_data={"lead": i}) for i in range(count)]


@pytest.fixture
def fake() -> FakeDialer:
    return FakeDialer()


@pytest.fixture
def campaign(fake: FakeDialer) -> FakeCampaign:
    return fake.add_campaign("Journal")


@pytest.fixture
async def stopped_half_way(fake: FakeDialer, campaign: FakeCampaign, tmp_path: Path) -> Path:
    """A journal of an upload of :data:`LEADS` calls stopped half way, with chunks in flight
    (the fake answers slowly)."""
    path = tmp_path / "upload.journal"
    calls = leads()
    fake.faults = Faults(latency=0.01)
    async with fake.client() as dialer:
        with anyio.CancelScope() as scope:
            async with dialer.stream_calls_bulk(
                campaign.code, calls, chunk_size=100, concurrency=4, journal=path
            ) as outcomes:
                async for _ in outcomes:
                    if len(campaign.calls) >= LEADS // 2:
                        scope.cancel()
    return path


def counts(campaign: FakeCampaign) -> collections.Counter[str]:
    return collections.Counter(campaign.targets())


async def test_a_rerun_skips_what_is_done_and_reports_what_was_in_flight(
    fake: FakeDialer, campaign: FakeCampaign, stopped_half_way: Path
) -> None:
    journal, calls = stopped_half_way, leads()
    async with fake.client() as dialer:
        first = summarise_journal(journal)
        assert first.total == LEADS
        assert 0 < first.accepted < LEADS
        assert first.unknown > 0  # chunks were in flight when it stopped
        assert first.remaining is not None
        assert first.remaining > 0
        held_before = len(campaign.calls)

        report = await dialer.add_calls_bulk(campaign.code, calls, journal=journal)

    assert report.total == LEADS == report.accepted + len(report.failed)
    unknown = [f for f in report.failed if f.error.outcome_unknown]
    assert len(unknown) == first.unknown  # reported, not re-sent
    assert "in flight" in str(unknown[0].error)
    # Nothing was sent twice: what was added before plus what was never sent.
    assert len(campaign.calls) == held_before + first.remaining
    assert max(counts(campaign).values()) == 1


async def test_reconciling_sends_only_what_the_campaign_does_not_hold(
    fake: FakeDialer, campaign: FakeCampaign, stopped_half_way: Path
) -> None:
    journal, calls = stopped_half_way, leads()
    async with fake.client() as dialer:
        report = await dialer.add_calls_bulk(campaign.code, calls, journal=journal, reconcile=True)
        again = await dialer.add_calls_bulk(campaign.code, calls, journal=journal)

    assert report.ok
    assert report.accepted == LEADS
    assert counts(campaign) == {call.target: 1 for call in calls}  # each lead exactly once
    assert again == BulkReport(total=LEADS, accepted=LEADS)  # a finished journal sends nothing
    summary = summarise_journal(journal)
    assert (summary.accepted, summary.unknown, summary.remaining) == (LEADS, 0, 0)


async def test_ambiguous_failures_are_reconciled_too(
    fake: FakeDialer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    journal = tmp_path / "upload.journal"
    calls = leads()
    fake.faults = Faults({"500": 0.2, "reset": 0.1, "503": 0.1}, seed=4)
    async with fake.client() as dialer:
        first = await dialer.add_calls_bulk(campaign.code, calls, chunk_size=100, journal=journal)
        assert any(f.error.outcome_unknown for f in first.failed)
        fake.faults = Faults()
        second = await dialer.add_calls_bulk(
            campaign.code, calls, chunk_size=100, journal=journal, reconcile=True
        )

    # Refused chunks (503 after the retries) were certainly not added: sent again.
    # Ambiguous ones (500, reset) were settled against the campaign.
    assert second.ok
    assert second.accepted == LEADS
    assert counts(campaign) == {call.target: 1 for call in calls}


async def test_rejected_and_invalid_calls_are_replayed_as_they_were(
    fake: FakeDialer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    journal = tmp_path / "upload.journal"
    calls = [*leads(10), Call("123456"), Call("not a number")]
    async with fake.client() as dialer:
        first = await dialer.add_calls_bulk(campaign.code, calls, journal=journal)
        second = await dialer.add_calls_bulk(campaign.code, calls, journal=journal)

    assert [(r.index, r.result.error_code, r.result.description) for r in second.rejected] == [
        (10, -2, "Number is invalid")
    ]
    assert second.rejected[0].call is calls[10]
    assert [f.index for f in second.failed] == [11]
    assert isinstance(second.failed[0].error, ValidationError)
    assert str(second.failed[0].error) == str(first.failed[0].error)
    assert (second.total, second.accepted) == (first.total, first.accepted) == (12, 10)
    assert len(campaign.calls) == 10


async def test_another_input_is_refused_before_anything_is_sent(
    fake: FakeDialer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    journal = tmp_path / "upload.journal"
    async with fake.client() as dialer:
        await dialer.add_calls_bulk(campaign.code, leads(300), chunk_size=100, journal=journal)
        other = leads(300)
        other[150] = Call("972509999999")
        requests = len(fake.requests)
        with pytest.raises(JournalError, match="another input"):
            await dialer.add_calls_bulk(campaign.code, other, chunk_size=100, journal=journal)
    assert len(fake.requests) == requests


async def test_another_campaign_is_refused(fake: FakeDialer, tmp_path: Path) -> None:
    journal = tmp_path / "upload.journal"
    first, second = fake.add_campaign("One"), fake.add_campaign("Two")
    async with fake.client() as dialer:
        await dialer.add_calls_bulk(first.code, leads(10), journal=journal)
        with pytest.raises(JournalError, match="another campaign"):
            await dialer.add_calls_bulk(second.code, leads(10), journal=journal)


async def test_the_journals_chunk_size_is_kept(
    fake: FakeDialer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    journal = tmp_path / "upload.journal"
    async with fake.client() as dialer:
        await dialer.add_calls_bulk(campaign.code, leads(250), chunk_size=100, journal=journal)
        again = await dialer.add_calls_bulk(
            campaign.code, leads(250), chunk_size=50, journal=journal
        )
    assert again.accepted == 250
    assert len(campaign.calls) == 250


@pytest.mark.parametrize(
    "content",
    [
        b"phone,name\n0501234567,Dana\n",  # a lead file given by mistake
        b"SQLite format 3\x00" + bytes(range(256)) * 8,  # a corrupt database
    ],
)
async def test_foreign_or_corrupt_files_are_refused_and_left_alone(
    fake: FakeDialer, campaign: FakeCampaign, tmp_path: Path, content: bytes
) -> None:
    journal = tmp_path / "upload.journal"
    journal.write_bytes(content)
    async with fake.client() as dialer:
        with pytest.raises(JournalError, match=r"not a bulk upload journal|cannot be opened"):
            await dialer.add_calls_bulk(campaign.code, leads(10), journal=journal)
    assert journal.read_bytes() == content
    assert campaign.calls == []


async def test_another_sqlite_database_is_refused_and_left_alone(
    fake: FakeDialer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    journal = tmp_path / "app.db"
    # A connection's own `with` commits but does not close (a ResourceWarning on Python 3.13).
    with contextlib.closing(sqlite3.connect(journal)) as connection, connection:
        connection.execute("CREATE TABLE customers (id INTEGER)")
    before = journal.read_bytes()
    async with fake.client() as dialer:
        with pytest.raises(JournalError, match="not a bulk upload journal"):
            await dialer.add_calls_bulk(campaign.code, leads(10), journal=journal)
    assert journal.read_bytes() == before
    with pytest.raises(JournalError, match="not a bulk upload journal"):
        summarise_journal(journal)


async def test_reconcile_needs_a_journal(fake: FakeDialer, campaign: FakeCampaign) -> None:
    async with fake.client() as dialer:
        with pytest.raises(ValidationError, match="journal"):
            await dialer.add_calls_bulk(campaign.code, leads(10), reconcile=True)


def test_summary_of_a_missing_journal(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="no such journal"):
        summarise_journal(tmp_path / "nope.journal")


async def test_no_code_is_stored(fake: FakeDialer, campaign: FakeCampaign, tmp_path: Path) -> None:
    journal = tmp_path / "upload.journal"
    async with fake.client(send_code_with_every_request=True) as dialer:
        await dialer.add_calls_bulk(campaign.code, [*leads(10), Call("123456")], journal=journal)
    for name in ("upload.journal", "upload.journal-wal"):
        path = tmp_path / name
        if path.exists():
            data = path.read_bytes()
            assert campaign.code.encode() not in data
            assert fake.account_code.encode() not in data


async def test_a_chunk_of_only_invalid_calls_is_done_at_once(
    fake: FakeDialer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    journal = tmp_path / "upload.journal"
    calls = [Call("bad"), Call("worse"), *leads(2)]
    async with fake.client() as dialer:
        first = await dialer.add_calls_bulk(campaign.code, calls, chunk_size=2, journal=journal)
        summary = summarise_journal(journal)
        second = await dialer.add_calls_bulk(campaign.code, calls, chunk_size=2, journal=journal)

    assert (summary.accepted, summary.failed, summary.unknown, summary.remaining) == (2, 2, 0, 0)
    assert [f.index for f in first.failed] == [f.index for f in second.failed] == [0, 1]
    assert len(campaign.calls) == 2
