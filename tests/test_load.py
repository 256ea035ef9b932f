"""Load and cancellation over real loopback HTTP (asyncio)."""

from __future__ import annotations

import asyncio

import anyio

from voicenter_dialer import DEFAULT_LIMITS, AsyncDialer, Call
from voicenter_dialer.testing import FakeServer, Faults, spawn


async def test_a_thousand_concurrent_calls_through_one_dialer() -> None:
    # The server runs in its own process: in a thread it would share the GIL with the
    # thousand tasks and measure the GIL rather than the client.
    errors: list[BaseException] = []

    async def one(i: int) -> None:
        try:
            await dialer.add_call(server.campaign_code, Call(f"9725{i:08d}"))
        except Exception as exc:  # collected, so that every failure shows
            errors.append(exc)

    with spawn() as server:
        async with AsyncDialer(server.account_code, base_url=server.base_url) as dialer:
            async with anyio.create_task_group() as tasks:
                for i in range(1000):
                    tasks.start_soon(one, i)
            details = await dialer.get_campaign_details(server.campaign_code)

    assert errors == []  # no pool timeout, no error of any kind
    assert details.total_pending_calls == 1000
    assert DEFAULT_LIMITS.max_connections == 100  # they queued for the pool, in time


async def test_cancelled_bulk_leaves_no_task_or_connection_behind(server: FakeServer) -> None:
    server.fake.faults = Faults(latency=0.002)
    campaign = server.fake.add_campaign("Cancelled")
    leads = (Call(f"9725{i:08d}") for i in range(10**7))

    async with AsyncDialer(server.fake.account_code, base_url=server.base_url) as dialer:
        with anyio.move_on_after(0.3) as scope:
            await dialer.add_calls_bulk(campaign.code, leads, chunk_size=50, concurrency=8)
        assert scope.cancelled_caught
        assert asyncio.all_tasks() == {asyncio.current_task()}
        pool = dialer._core.http_client._transport._pool  # type: ignore[attr-defined]
        assert not pool._requests  # nothing waits for or holds a connection
        assert all(c.is_idle() or c.is_closed() for c in pool.connections)
        # The same dialer keeps working.
        server.fake.faults = Faults()
        report = await dialer.add_calls_bulk(campaign.code, [Call("972501234567")])
    assert report.ok
