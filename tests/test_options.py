"""with_options (per-call settings over one shared client, pacing and queue) and
DialerError.response (the HTTP answer behind an error)."""

from __future__ import annotations

import gzip
import itertools
import json

import anyio
import httpx
import pytest
import respx
import trio

from voicenter_dialer import (
    AsyncDialer,
    Call,
    DialerError,
    InvalidCampaignError,
    ResponseError,
    TransportError,
    ValidationError,
)
from voicenter_dialer.testing import FakeDialer, FakeServer

from .examples import ACCOUNT_CODE, BASE_URL, CAMPAIGN_CODE, CAMPAIGN_DETAILS, OK, error
from .test_pacing import dialer_with, on_mock_clock

# --- with_options ---------------------------------------------------------------------------


async def test_a_derived_dialer_shares_the_connection_pool(server: FakeServer) -> None:
    campaign = server.fake.add_campaign().code
    async with AsyncDialer(server.fake.account_code, base_url=server.base_url) as dialer:
        quick = dialer.with_options(timeout=5, max_retries=0)
        for _ in range(3):
            await dialer.get_campaign_details(campaign)
            await quick.get_campaign_details(campaign)
        # httpx keeps its pool behind a private name; one connection served both dialers.
        pool = dialer._core.http_client._transport._pool  # type: ignore[attr-defined]
        assert len(pool.connections) == 1


async def test_closing_the_derived_dialer_leaves_the_shared_client_open(
    server: FakeServer,
) -> None:
    campaign = server.fake.add_campaign().code
    dialer = AsyncDialer(server.fake.account_code, base_url=server.base_url)
    derived = dialer.with_options(max_retries=1)
    await derived.get_campaign_details(campaign)
    await derived.aclose()
    assert (await dialer.get_campaign_details(campaign)).code == campaign
    await dialer.aclose()
    # ...while closing the dialer it came from closes it for both.
    with pytest.raises(DialerError, match="closed"):
        await derived.get_campaign_details(campaign)


async def test_an_own_client_is_never_closed_by_either_dialer() -> None:
    fake = FakeDialer()
    campaign = fake.add_campaign().code
    async with fake.client() as dialer, dialer.with_options(deadline=5) as derived:
        await derived.get_campaign_details(campaign)
    assert dialer._core.http_client.is_closed is False


def test_a_derived_dialer_shares_the_pacing() -> None:
    sent_at: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent_at.append(trio.current_time())
        return httpx.Response(200, json=OK)

    async def main() -> None:
        dialer = dialer_with(handler, requests_per_second=10)
        fast = dialer.with_options(max_retries=0, timeout=1)
        async with anyio.create_task_group() as tasks:
            for each in (dialer, fast, dialer, fast, dialer, fast):
                tasks.start_soon(each.start_campaign, CAMPAIGN_CODE)

    on_mock_clock(main)

    gaps = [b - a for a, b in itertools.pairwise(sent_at)]
    assert len(sent_at) == 6
    assert all(gap >= 0.1 - 1e-9 for gap in gaps)  # one rate for both, not 10/s each


def test_a_derived_dialer_shares_the_admission_queue() -> None:
    in_flight = peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await trio.sleep(1)
        in_flight -= 1
        return httpx.Response(200, json=OK)

    async def main() -> None:
        dialer = dialer_with(handler, max_concurrent_requests=2)
        derived = dialer.with_options(timeout=30)
        async with anyio.create_task_group() as tasks:
            for each in (dialer, derived) * 3:
                tasks.start_soon(each.start_campaign, CAMPAIGN_CODE)

    on_mock_clock(main)
    assert peak == 2


async def test_options_apply_to_every_method_bulk_included(api: respx.MockRouter) -> None:
    bulk = api.post(BASE_URL + "AddCallsBulk").mock(return_value=httpx.Response(503))
    details = api.post(BASE_URL + "GetCampaignDetails").mock(return_value=httpx.Response(503))
    dialer = AsyncDialer(ACCOUNT_CODE)
    once = dialer.with_options(max_retries=0)

    report = await once.add_calls_bulk(CAMPAIGN_CODE, [Call("972501234567")])
    assert len(report.failed) == 1
    assert bulk.call_count == 1
    with pytest.raises(ResponseError):
        await once.get_campaign_details(CAMPAIGN_CODE)
    assert details.call_count == 1

    # The dialer it came from keeps its own retries.
    await dialer.add_calls_bulk(CAMPAIGN_CODE, [Call("972501234567")])
    assert bulk.call_count == 1 + 3
    await dialer.aclose()


async def test_a_per_call_timeout_reaches_httpx(api: respx.MockRouter) -> None:
    route = api.post(BASE_URL + "StartCampaign").mock(return_value=httpx.Response(200, json=OK))
    async with AsyncDialer(ACCOUNT_CODE, timeout=30) as dialer:
        await dialer.with_options(timeout=1.5).start_campaign(CAMPAIGN_CODE)
        await dialer.start_campaign(CAMPAIGN_CODE)
    first, second = (call.request.extensions["timeout"] for call in route.calls)
    assert first["read"] == 1.5
    assert second["read"] == 30


async def test_resend_unknown_outcome_per_call(api: respx.MockRouter) -> None:
    route = api.post(BASE_URL + "AddCall").mock(return_value=httpx.Response(500))
    async with AsyncDialer(ACCOUNT_CODE) as dialer:
        with pytest.raises(ResponseError):
            await dialer.add_call(CAMPAIGN_CODE, Call("972501234567"))
        assert route.call_count == 1  # not re-sent: it may have dialled
        with pytest.raises(ResponseError):
            await dialer.with_options(resend_unknown_outcome=True).add_call(
                CAMPAIGN_CODE, Call("972501234567")
            )
        assert route.call_count == 1 + 3


def test_a_per_call_deadline() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await trio.sleep(60)
        return httpx.Response(200, json=OK)

    async def main() -> None:
        dialer = dialer_with(handler, deadline=300)
        started = trio.current_time()
        with pytest.raises(TransportError, match="2 s deadline"):
            await dialer.with_options(deadline=2).start_campaign(CAMPAIGN_CODE)
        assert trio.current_time() - started == pytest.approx(2)

    on_mock_clock(main)


@pytest.mark.parametrize(
    "options",
    [{"max_retries": -1}, {"max_retries": True}, {"deadline": 0}, {"deadline": -1.0}],
)
def test_bad_options_are_refused(options: dict[str, object]) -> None:
    dialer = AsyncDialer(ACCOUNT_CODE)
    with pytest.raises(ValidationError):
        dialer.with_options(**options)  # type: ignore[arg-type]


# --- DialerError.response -------------------------------------------------------------------


async def test_an_error_status_keeps_its_response(api: respx.MockRouter) -> None:
    page = f"<html>Service Unavailable for campaign {CAMPAIGN_CODE}</html>"
    api.post(BASE_URL + "StopCampaign").mock(
        return_value=httpx.Response(503, text=page, headers={"X-Request-Id": "req-42"})
    )
    async with AsyncDialer(ACCOUNT_CODE, max_retries=0) as dialer:
        with pytest.raises(ResponseError) as caught:
            await dialer.stop_campaign(CAMPAIGN_CODE)
    error = caught.value
    assert error.response is not None
    assert error.response.status_code == 503
    assert error.response.headers["X-Request-Id"] == "req-42"
    # The raw body as received (for the vendor's support); the message stays redacted.
    assert error.response.text == page
    assert CAMPAIGN_CODE not in str(error)
    assert CAMPAIGN_CODE not in repr(error)
    # The request that went out is kept with its codes masked.
    sent = json.loads(error.response.request.content)
    assert sent["Campaign"] == "…" + CAMPAIGN_CODE[-4:]
    assert error.response.request.url == BASE_URL + "StopCampaign"


async def test_an_api_error_keeps_its_response(api: respx.MockRouter) -> None:
    api.post(BASE_URL + "StartCampaign").mock(
        return_value=httpx.Response(200, json=error(1, "Invalid campaign"))
    )
    async with AsyncDialer(ACCOUNT_CODE) as dialer:
        with pytest.raises(InvalidCampaignError) as caught:
            await dialer.start_campaign(CAMPAIGN_CODE)
    assert caught.value.response is not None
    assert caught.value.response.json()["ErrorCode"] == 1


async def test_a_compressed_body_is_kept_readable(api: respx.MockRouter) -> None:
    api.post(BASE_URL + "GetCampaignDetails").mock(
        return_value=httpx.Response(
            502, content=gzip.compress(b"bad gateway"), headers={"Content-Encoding": "gzip"}
        )
    )
    async with AsyncDialer(ACCOUNT_CODE, max_retries=0) as dialer:
        with pytest.raises(ResponseError) as caught:
            await dialer.get_campaign_details(CAMPAIGN_CODE)
    assert caught.value.response is not None
    assert caught.value.response.content == b"bad gateway"


async def test_a_body_that_is_not_json_keeps_its_response(api: respx.MockRouter) -> None:
    api.post(BASE_URL + "GetCampaignDetails").mock(
        return_value=httpx.Response(200, text='{"ErrorCode": 0, "Da')
    )
    async with AsyncDialer(ACCOUNT_CODE, max_retries=0) as dialer:
        with pytest.raises(ResponseError) as caught:
            await dialer.get_campaign_details(CAMPAIGN_CODE)
    assert caught.value.response is not None
    assert caught.value.response.text == '{"ErrorCode": 0, "Da'


async def test_an_answer_too_large_keeps_what_was_read(api: respx.MockRouter) -> None:
    api.post(BASE_URL + "GetCampaignDetails").mock(
        return_value=httpx.Response(200, content=b"x" * 5000)
    )
    async with AsyncDialer(ACCOUNT_CODE, max_retries=0, max_response_bytes=1000) as dialer:
        with pytest.raises(ResponseError, match="larger than") as caught:
            await dialer.get_campaign_details(CAMPAIGN_CODE)
    assert caught.value.response is not None
    assert 1000 < len(caught.value.response.content) <= 5000


async def test_no_response_without_an_answer(api: respx.MockRouter) -> None:
    api.post(BASE_URL + "GetCampaignDetails").mock(side_effect=httpx.ConnectError("refused"))
    async with AsyncDialer(ACCOUNT_CODE, max_retries=0) as dialer:
        with pytest.raises(TransportError) as caught:
            await dialer.get_campaign_details(CAMPAIGN_CODE)
    assert caught.value.response is None


async def test_a_successful_call_is_unaffected(api: respx.MockRouter) -> None:
    api.post(BASE_URL + "GetCampaignDetails").mock(
        return_value=httpx.Response(200, json=CAMPAIGN_DETAILS)
    )
    async with AsyncDialer(ACCOUNT_CODE) as dialer:
        assert (await dialer.get_campaign_details(CAMPAIGN_CODE)).name
