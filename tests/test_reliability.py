"""Faults over real loopback HTTP: each failure gives the documented error, and a bulk upload
under injected faults loses no lead and adds none twice, counted on the server side."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from voicenter_dialer import AsyncDialer, Call, DialerError, ResponseError, TransportError
from voicenter_dialer.testing import FakeCampaign, FakeServer, Faults


@pytest.fixture
def campaign(server: FakeServer) -> FakeCampaign:
    return server.fake.add_campaign("Reliability")


def dialer_for(server: FakeServer, **options: Any) -> AsyncDialer:
    return AsyncDialer(server.fake.account_code, base_url=server.base_url, **options)


# fault -> (error raised, outcome unknown, attempts by an idempotent method)
FAULTS = [
    pytest.param("503", ResponseError, False, 3, id="503"),
    pytest.param("429", ResponseError, False, 3, id="429"),
    pytest.param("500", ResponseError, True, 3, id="500"),
    pytest.param("reset", TransportError, True, 3, id="reset"),
    pytest.param("truncated", ResponseError, True, 3, id="truncated"),
    pytest.param("html", ResponseError, True, 3, id="html"),
    pytest.param("slow", TransportError, True, 3, id="slow"),
]


@pytest.mark.parametrize(("fault", "error", "unknown", "attempts"), FAULTS)
async def test_each_fault_on_an_idempotent_and_an_adding_method(
    server: FakeServer,
    campaign: FakeCampaign,
    fault: Any,
    error: type[DialerError],
    unknown: bool,
    attempts: int,
) -> None:
    server.fake.faults = Faults({fault: 1.0}, retry_after=0.01, slow_seconds=0.5)
    requests = server.fake.requests
    async with dialer_for(server, timeout=0.2) as dialer:
        before = len(requests)
        with pytest.raises(error) as stopped:
            await dialer.stop_campaign(campaign.code)
        assert len(requests) - before == attempts
        assert stopped.value.outcome_unknown == unknown

        before = len(requests)
        with pytest.raises(error) as added:
            await dialer.add_call(campaign.code, Call("972501234567"))
        # An add is re-sent only when the service certainly did not take it.
        assert len(requests) - before == (1 if unknown else attempts)
        assert added.value.outcome_unknown == unknown
    assert len(campaign.calls) == (1 if unknown else 0)


async def test_retry_after_from_the_service_is_honoured(
    server: FakeServer, campaign: FakeCampaign
) -> None:
    server.fake.faults = Faults({"503": 0.5}, retry_after=0.01, seed=3)
    async with dialer_for(server, max_retries=10) as dialer:
        for _ in range(10):
            await dialer.start_campaign(campaign.code)
    assert server.fake.faults.injected["503"] > 0


async def test_bulk_under_ten_percent_faults_loses_nothing_and_adds_nothing_twice(
    server: FakeServer, campaign: FakeCampaign
) -> None:
    count = 100_000
    calls = [Call(f"9725{i:08d}", custom_data={"lead": i}) for i in range(count)]
    server.fake.faults = Faults(
        {
            "503": 0.03,
            "429": 0.01,
            "500": 0.01,
            "reset": 0.02,
            "truncated": 0.01,
            "html": 0.01,
            "slow": 0.01,
        },
        methods=frozenset({"AddCallsBulk"}),
        retry_after=0.01,
        slow_seconds=1.0,
        seed=11,
    )
    async with dialer_for(server, timeout=httpx.Timeout(0.5, connect=2.0)) as dialer:
        report = await dialer.add_calls_bulk(campaign.code, calls, chunk_size=500, concurrency=8)
        server.fake.faults = Faults()

        held = campaign.targets()
        assert report.total == count
        assert report.total == report.accepted + len(report.rejected) + len(report.failed)
        assert not report.rejected
        assert len(held) == len(set(held)), "a lead was added twice"
        failed = {entry.target for entry in report.failed}
        accepted = {call.target for call in calls} - failed
        assert accepted <= set(held), "a lead reported accepted is not on the server"
        for entry in report.failed:
            if not entry.error.outcome_unknown:
                assert entry.target not in held
        assert sum(server.fake.faults.injected.values()) == 0
        assert len(report.failed) > 0  # the faults did bite

    # Reconciling as the README says: re-send only what the campaign does not hold. With the
    # default timeouts: 0.5 s is for the faults above, and the whole campaign's pending calls
    # may take longer than that to come back from a busy machine.
    async with dialer_for(server) as dialer:
        pending = await dialer.get_campaign_pending_calls(campaign.code)
        on_server = {call.phone for call in pending.calls}
        again = [entry.call for entry in report.failed if entry.target not in on_server]
        second = await dialer.add_calls_bulk(campaign.code, again)

    assert second.ok
    final = campaign.targets()
    assert sorted(final) == sorted(call.target for call in calls)  # every lead, exactly once
