"""AsyncDialer against the fake dialer, in-process and over real loopback HTTP."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest

from voicenter_dialer import (
    AsyncDialer,
    Call,
    InvalidCampaignError,
    InvalidTargetError,
    MemberError,
)
from voicenter_dialer.testing import FakeDialer, FakeServer, Faults


@pytest.fixture(params=["in-process", "loopback"])
async def setup(
    request: pytest.FixtureRequest, server: FakeServer
) -> AsyncIterator[tuple[FakeDialer, AsyncDialer]]:
    if request.param == "in-process":
        fake = FakeDialer()
        dialer = fake.client()
    else:
        fake = server.fake
        dialer = AsyncDialer(fake.account_code, base_url=server.base_url)
    async with dialer:
        yield fake, dialer


async def test_a_day_in_the_life(setup: tuple[FakeDialer, AsyncDialer]) -> None:
    fake, dialer = setup
    sales = fake.add_campaign("Sales", kind="agent", enabled=False)
    fake.add_campaign("Survey", kind="ivr")

    campaigns = await dialer.get_campaign_list()
    assert [(c.name, c.enabled) for c in campaigns] == [("Sales", False), ("Survey", True)]
    campaign = campaigns[0]

    await dialer.add_call(campaign, Call("+972501234567", priority=5, custom_data={"id": 7}))
    await dialer.add_call(
        campaign.code, Call("0501234568", originate_time=dt.datetime(2030, 1, 1, 9, 0))
    )
    await dialer.update_call(campaign, Call("972501234567", customer_name="Dana"))
    pending = await dialer.get_campaign_pending_calls(campaign)
    assert [(c.phone, c.customer_name, c.priority) for c in pending.calls] == [
        ("972501234567", "Dana", 5),
        ("0501234568", "", 0),
    ]
    assert pending.calls[0].custom_data == {"id": "7"}
    assert pending.campaign.total_pending_calls == 2
    assert pending.campaign.max_priority == 5

    await dialer.remove_call(campaign, "0501234568")
    assert (await dialer.get_campaign_details(campaign)).total_pending_calls == 1
    await dialer.clear_campaign_calls(campaign)
    assert sales.calls == []

    await dialer.start_campaign(campaign)
    assert (await dialer.get_campaign_details(campaign)).enabled
    await dialer.stop_campaign(campaign)
    assert not sales.enabled

    assert await dialer.add_member(campaign, "SIP1") == 1
    assert [m.member for m in await dialer.get_members_list(campaign)] == ["SIP1"]
    assert await dialer.remove_member(campaign, "SIP1") == 1
    assert await dialer.remove_member(campaign, "SIP1") == 0
    await dialer.update_campaign_strategy(
        campaign, queue_for_monitoring=5, queue_maximum_callers=2, coefficient=3
    )
    assert sales.strategy["setCoefficient"] == 3


async def test_errors_end_to_end(setup: tuple[FakeDialer, AsyncDialer]) -> None:
    fake, dialer = setup
    ivr = fake.add_campaign("IVR", kind="ivr")

    with pytest.raises(InvalidCampaignError):
        await dialer.add_call("no-such-campaign", Call("0501234567"))
    with pytest.raises(InvalidCampaignError):
        await dialer.clear_campaign_calls("no-such-campaign")
    with pytest.raises(InvalidCampaignError):
        await dialer.get_campaign_pending_calls("no-such-campaign")
    with pytest.raises(InvalidTargetError):
        await dialer.add_call(ivr.code, Call("123456"))  # valid for the client, not the service
    with pytest.raises(MemberError):
        await dialer.add_member(ivr.code, "SIP1")  # members belong to agent campaigns


async def test_bulk_end_to_end(setup: tuple[FakeDialer, AsyncDialer]) -> None:
    fake, dialer = setup
    campaign = fake.add_campaign("Bulk")
    calls = [Call(f"9725{i:08d}") for i in range(7000)] + [Call("123456"), Call("x")]

    report = await dialer.add_calls_bulk(campaign.code, calls, chunk_size=3000, concurrency=3)

    assert (report.total, report.accepted, len(report.rejected), len(report.failed)) == (
        7002,
        7000,
        1,
        1,
    )
    assert len(campaign.calls) == 7000
    assert len(set(campaign.targets())) == 7000


async def test_bulk_under_faults_loses_nothing_and_adds_nothing_twice(
    setup: tuple[FakeDialer, AsyncDialer],
) -> None:
    fake, dialer = setup
    campaign = fake.add_campaign("Faulty")
    fake.faults = Faults(
        {"503": 0.1, "429": 0.05, "500": 0.05, "reset": 0.05, "truncated": 0.05, "html": 0.05},
        seed=7,
    )
    calls = [Call(f"9725{i:08d}") for i in range(5000)]

    report = await dialer.add_calls_bulk(campaign.code, calls, chunk_size=100, concurrency=4)

    held = campaign.targets()
    assert len(held) == len(set(held))  # nobody is dialled twice
    assert report.total == report.accepted + len(report.failed)
    accepted = {c.target for i, c in enumerate(calls)} - {f.target for f in report.failed}
    assert accepted <= set(held)  # accepted means added
    for failed in report.failed:  # failed and certainly not added means not added
        if not failed.error.outcome_unknown:
            assert failed.target not in held
    assert sum(fake.faults.injected.values()) > 0
