"""The core cases under both event loops anyio supports: asyncio and trio."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest

from voicenter_dialer import AsyncDialer, Call, InvalidTargetError, ResponseError
from voicenter_dialer.testing import FakeDialer, FakeServer, Faults

Scenario = Callable[[FakeDialer, AsyncDialer], Awaitable[None]]


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def in_process(backend: str, scenario: Scenario) -> None:
    fake = FakeDialer()

    async def main() -> None:
        async with fake.client() as dialer:
            await scenario(fake, dialer)

    anyio.run(main, backend=backend)


async def calls_and_campaigns(fake: FakeDialer, dialer: AsyncDialer) -> None:
    campaign = fake.add_campaign("Sales", kind="agent")
    await dialer.add_call(campaign.code, Call("972501234567", priority=3))
    await dialer.update_call(campaign.code, Call("972501234567", customer_name="Dana"))
    pending = await dialer.get_campaign_pending_calls(campaign.code)
    assert [(c.phone, c.customer_name, c.priority) for c in pending.calls] == [
        ("972501234567", "Dana", 3)
    ]
    await dialer.stop_campaign(campaign.code)
    assert not (await dialer.get_campaign_list())[0].enabled
    assert await dialer.add_member(campaign.code, "SIP1") == 1
    with pytest.raises(InvalidTargetError):
        await dialer.add_call(campaign.code, Call("123456"))


async def retries(fake: FakeDialer, dialer: AsyncDialer) -> None:
    campaign = fake.add_campaign("Busy")
    fake.faults = Faults({"503": 1.0})
    with pytest.raises(ResponseError):
        await dialer.start_campaign(campaign.code)
    assert fake.requests.count("StartCampaign") == 3


async def bulk_under_faults(fake: FakeDialer, dialer: AsyncDialer) -> None:
    campaign = fake.add_campaign("Bulk")
    fake.faults = Faults({"503": 0.1, "500": 0.05, "reset": 0.05}, seed=5)
    calls = [Call(f"9725{i:08d}") for i in range(3000)]
    report = await dialer.add_calls_bulk(campaign.code, calls, chunk_size=100, concurrency=4)
    held = campaign.targets()
    assert report.total == 3000 == report.accepted + len(report.failed)
    assert len(held) == len(set(held))
    assert {c.target for c in calls} - {f.target for f in report.failed} <= set(held)


async def cancelled_bulk(fake: FakeDialer, dialer: AsyncDialer) -> None:
    campaign = fake.add_campaign("Cancelled")
    fake.faults = Faults(latency=0.001)
    with anyio.move_on_after(0.05) as scope:
        await dialer.add_calls_bulk(
            campaign.code, (Call(f"9725{i:08d}") for i in range(10**7)), chunk_size=10
        )
    assert scope.cancelled_caught
    fake.faults = Faults()
    assert (await dialer.add_calls_bulk(campaign.code, [Call("972501234567")])).ok


@pytest.mark.parametrize(
    "scenario",
    [calls_and_campaigns, retries, bulk_under_faults, cancelled_bulk],
    ids=lambda scenario: scenario.__name__,
)
def test_in_process(backend: str, scenario: Scenario) -> None:
    in_process(backend, scenario)


def test_bulk_over_loopback_http(backend: str, server: FakeServer) -> None:
    campaign = server.fake.add_campaign("Loopback")

    async def main() -> None:
        async with AsyncDialer(server.fake.account_code, base_url=server.base_url) as dialer:
            report = await dialer.add_calls_bulk(
                campaign.code, (Call(f"9725{i:08d}") for i in range(5000)), concurrency=3
            )
            assert report.ok
            assert (await dialer.get_campaign_details(campaign.code)).total_pending_calls == 5000

    anyio.run(main, backend=backend)


def test_a_dialer_made_outside_any_event_loop(backend: str) -> None:
    """As at a web app's module level: made before a loop runs, used in one later."""
    fake = FakeDialer()
    campaign = fake.add_campaign("Module level")
    dialer = fake.client(max_concurrent_requests=2)

    async def main() -> None:
        async with anyio.create_task_group() as tasks:
            for i in range(10):  # more than the admission limit: some wait their turn
                tasks.start_soon(dialer.add_call, campaign.code, Call(f"9725{i:08d}"))

    anyio.run(main, backend=backend)
    anyio.run(main, backend=backend)  # and in a second loop, as a new test would
    assert len(campaign.calls) == 20
