"""Idempotency keys on the bulk paths (add_calls_bulk, stream_calls_bulk, BulkWriter): a key
answered before is replayed, not sent; one in doubt is reconciled; a conflict fails only its
lead; every lead is counted exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from voicenter_dialer import Call, Dialer, IdempotencyConflict, ValidationError
from voicenter_dialer.testing import FakeCampaign, FakeDialer, FakeServer, Faults


@pytest.fixture
def fake() -> FakeDialer:
    return FakeDialer()


@pytest.fixture
def campaign(fake: FakeDialer) -> FakeCampaign:
    return fake.add_campaign("Keys")


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "keys.sqlite")
    database: str = request.getfixturevalue("postgres_database")
    return database + "#keys"


def leads(count: int) -> list[Call]:
    return [Call(f"9725{i:08d}") for i in range(count)]


def by_target(call: Any) -> str:
    return f"lead-{call.target}"


def bulk_sent(fake: FakeDialer) -> int:
    return fake.requests.count("AddCallsBulk")


async def test_a_rerun_of_a_keyed_upload_sends_nothing(
    fake: FakeDialer, campaign: FakeCampaign, store: str
) -> None:
    async with fake.client(idempotency_store=store) as dialer:
        first = await dialer.add_calls_bulk(
            campaign.code, leads(25), chunk_size=10, idempotency_key=by_target
        )
        sent = bulk_sent(fake)
        again = await dialer.add_calls_bulk(
            campaign.code, leads(25), chunk_size=10, idempotency_key=by_target
        )
    assert first.accepted == again.accepted == 25
    assert bulk_sent(fake) == sent == 3
    assert len(campaign.calls) == 25


async def test_replayed_leads_are_not_sent_and_say_so(
    fake: FakeDialer, campaign: FakeCampaign, store: str
) -> None:
    async with fake.client(idempotency_store=store) as dialer:
        await dialer.add_calls_bulk(campaign.code, leads(5), idempotency_key=by_target)
        # Five keyed before, five new: only the new ones are sent.
        async with dialer.stream_calls_bulk(
            campaign.code, leads(10), idempotency_key=by_target
        ) as outcomes:
            chunks = [chunk async for chunk in outcomes]
    assert len(campaign.calls) == 10
    flags = [outcome.replayed for chunk in chunks for outcome in chunk.outcomes()]
    assert flags == [True] * 5 + [False] * 5
    assert fake.requests.count("AddCallsBulk") == 2


async def test_unkeyed_calls_of_a_keyed_upload_are_sent(
    fake: FakeDialer, campaign: FakeCampaign, store: str
) -> None:
    def odd_only(call: Any) -> str | None:
        return f"k{call.target}" if int(call.target) % 2 else None

    async with fake.client(idempotency_store=store) as dialer:
        for _ in range(2):
            report = await dialer.add_calls_bulk(campaign.code, leads(10), idempotency_key=odd_only)
            assert report.accepted == 10
    assert len(campaign.calls) == 15


async def test_a_conflict_fails_only_its_lead(
    fake: FakeDialer, campaign: FakeCampaign, store: str
) -> None:
    async with fake.client(idempotency_store=store) as dialer:
        await dialer.add_calls_bulk(campaign.code, leads(1), idempotency_key=lambda _: "same")
        report = await dialer.add_calls_bulk(
            campaign.code,
            leads(4),
            idempotency_key=lambda c: "same" if c.target.endswith("3") else None,
        )
    assert report.total == 4
    assert report.accepted == 3
    [failed] = report.failed
    assert failed.index == 3
    assert isinstance(failed.error, IdempotencyConflict)
    assert len(campaign.calls) == 4


async def test_a_key_in_doubt_is_reconciled_not_sent_again(
    fake: FakeDialer, campaign: FakeCampaign, store: str
) -> None:
    async with fake.client(idempotency_store=store) as dialer:
        fake.faults = Faults(rates={"500": 1.0}, methods=frozenset({"AddCallsBulk"}))
        lost = await dialer.add_calls_bulk(campaign.code, leads(3), idempotency_key=by_target)
        assert all(entry.error.outcome_unknown for entry in lost.failed)
        fake.faults = Faults()
        # The fake applied the request before losing its answer: the leads are pending.
        assert len(campaign.calls) == 3
        sent = bulk_sent(fake)
        again = await dialer.add_calls_bulk(campaign.code, leads(3), idempotency_key=by_target)
    assert again.accepted == 3
    assert [outcome.replayed for outcome in again.outcomes()] == [False] * 3  # a report's
    assert bulk_sent(fake) == sent  # found among the pending calls: nothing sent again
    assert len(campaign.calls) == 3


async def test_a_key_without_a_store_sends_nothing(
    fake: FakeDialer, campaign: FakeCampaign
) -> None:
    async with fake.client() as dialer:
        with pytest.raises(ValidationError):
            await dialer.add_calls_bulk(campaign.code, leads(3), idempotency_key=by_target)
    assert bulk_sent(fake) == 0


async def test_a_key_function_that_raises_fails_its_lead(
    fake: FakeDialer, campaign: FakeCampaign, store: str
) -> None:
    def broken(call: Any) -> str:
        raise KeyError("no key")

    async with fake.client(idempotency_store=store) as dialer:
        report = await dialer.add_calls_bulk(campaign.code, leads(2), idempotency_key=broken)
    assert report.accepted == 0
    assert [type(entry.error) for entry in report.failed] == [ValidationError] * 2
    assert bulk_sent(fake) == 0


async def test_unkeyed_uploads_never_open_the_store(
    fake: FakeDialer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    spec = tmp_path / "never.sqlite"
    async with fake.client(idempotency_store=str(spec)) as dialer:
        report = await dialer.add_calls_bulk(campaign.code, leads(3))
    assert report.accepted == 3
    assert not spec.exists()


async def test_the_writer_replays_a_key_at_once_without_sending(
    fake: FakeDialer, campaign: FakeCampaign, store: str
) -> None:
    async with fake.client(idempotency_store=store) as dialer:
        async with dialer.bulk_writer(campaign.code, chunk_size=1) as writer:
            first = await writer.add(Call("972501234567"), idempotency_key="o-1")
        sent = bulk_sent(fake)
        # flush_after=None: a call that waited for a chunk would wait for the block's end.
        async with dialer.bulk_writer(campaign.code, flush_after=None) as writer:
            again = await writer.add(Call("972501234567"), idempotency_key="o-1")
            other = await writer.add(Call("972501234568"), idempotency_key="o-1")
            assert writer.report.total == 2
    assert (first.status, first.replayed) == ("accepted", False)
    assert (again.status, again.replayed) == ("accepted", True)
    assert other.status == "failed"
    assert isinstance(other.error, IdempotencyConflict)
    assert bulk_sent(fake) == sent == 1
    assert len(campaign.calls) == 1


async def test_the_writer_sends_each_key_once_across_writers(
    fake: FakeDialer, campaign: FakeCampaign, store: str
) -> None:
    async with fake.client(idempotency_store=store) as dialer:
        for _ in range(2):
            async with dialer.bulk_writer(campaign.code, chunk_size=1) as writer:
                outcomes = [
                    await writer.add(call, idempotency_key=by_target(call)) for call in leads(3)
                ]
                outcomes += [await writer.add(call) for call in leads(2)]
            assert [outcome.status for outcome in outcomes] == ["accepted"] * 5
    # The keyed three once, the unkeyed two twice.
    assert len(campaign.calls) == 3 + 2 * 2


async def test_a_writer_key_without_a_store_is_refused(
    fake: FakeDialer, campaign: FakeCampaign
) -> None:
    async with fake.client() as dialer, dialer.bulk_writer(campaign.code) as writer:
        with pytest.raises(ValidationError):
            await writer.add(Call("972501234567"), idempotency_key="o-1")
    assert bulk_sent(fake) == 0


async def test_a_writer_key_in_doubt_is_reconciled(
    fake: FakeDialer, campaign: FakeCampaign, store: str
) -> None:
    async with fake.client(idempotency_store=store) as dialer:
        fake.faults = Faults(rates={"500": 1.0}, methods=frozenset({"AddCallsBulk"}))
        async with dialer.bulk_writer(campaign.code, chunk_size=1) as writer:
            lost = await writer.add(Call("972501234567"), idempotency_key="o-1")
        assert lost.error is not None
        assert lost.error.outcome_unknown
        fake.faults = Faults()
        async with dialer.bulk_writer(campaign.code, chunk_size=1) as writer:
            again = await writer.add(Call("972501234567"), idempotency_key="o-1")
    assert again.status == "accepted"
    assert len(campaign.calls) == 1


async def test_a_rejection_is_replayed_as_a_rejection(
    fake: FakeDialer, campaign: FakeCampaign, store: str
) -> None:
    calls = [Call("123456"), Call("972501234567")]  # the fake refuses 6-digit numbers
    async with fake.client(idempotency_store=store) as dialer:
        first = await dialer.add_calls_bulk(campaign.code, calls, idempotency_key=by_target)
        async with dialer.stream_calls_bulk(
            campaign.code, calls, idempotency_key=by_target
        ) as outcomes:
            [chunk] = [chunk async for chunk in outcomes]
    [rejected] = first.rejected
    [again] = chunk.rejected
    assert (again.index, again.result.error_code) == (0, rejected.result.error_code)
    assert [outcome.replayed for outcome in chunk.outcomes()] == [True, True]
    assert bulk_sent(fake) == 1


def test_the_sync_writer_takes_keys(server: FakeServer, store: str) -> None:
    campaign = server.fake.add_campaign("Sync keys")
    with Dialer(
        server.fake.account_code, base_url=server.base_url, idempotency_store=store
    ) as dialer:
        outcomes = []
        for _ in range(2):
            with dialer.bulk_writer(campaign.code, chunk_size=1) as writer:
                outcomes.append(writer.add(Call("972501234567"), idempotency_key="o-1"))
    assert [outcome.replayed for outcome in outcomes] == [False, True]
    assert len(campaign.calls) == 1


async def test_a_key_repeated_in_one_upload_is_sent_once(
    fake: FakeDialer, campaign: FakeCampaign, store: str
) -> None:
    # Lead i and lead i + 6 share a key: in one chunk (size 12), and across chunks (size 4).
    calls = leads(6) * 2
    for chunk_size in (12, 4):
        campaign.calls.clear()
        async with fake.client(idempotency_store=f"{store}{chunk_size}") as dialer:
            report = await dialer.add_calls_bulk(
                campaign.code, calls, chunk_size=chunk_size, idempotency_key=by_target
            )
        assert report.total == 12
        assert len(campaign.calls) == 6
        assert report.accepted + len(report.failed) == 12
        assert all(isinstance(entry.error, IdempotencyConflict) for entry in report.failed)
