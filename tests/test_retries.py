"""The retry policy: what is retried, how often, how long it waits, what is never re-sent."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading

import httpx
import pytest
import respx
import stamina
import stamina.instrumentation

from voicenter_dialer import (
    AsyncDialer,
    Call,
    ResponseError,
    RetryPolicy,
    TransportError,
)
from voicenter_dialer._retry import retry_after_seconds

from .examples import ACCOUNT_CODE, CAMPAIGN_CODE, CAMPAIGN_DETAILS, OK
from .test_errors import CALLS

NOT_IDEMPOTENT = {"AddCall", "AddMember"}
IDEMPOTENT = sorted(set(CALLS) - NOT_IDEMPOTENT)

REFUSED = [
    pytest.param(httpx.ConnectError("refused"), id="connect-error"),
    pytest.param(httpx.ConnectTimeout("slow connect"), id="connect-timeout"),
    pytest.param(httpx.PoolTimeout("no connection free"), id="pool-timeout"),
    pytest.param(httpx.Response(429), id="429"),
    pytest.param(httpx.Response(503), id="503"),
]
UNKNOWN = [
    pytest.param(httpx.ReadTimeout("slow answer"), id="read-timeout"),
    pytest.param(httpx.RemoteProtocolError("dropped"), id="dropped"),
    pytest.param(httpx.Response(500), id="500"),
    pytest.param(httpx.Response(502), id="502"),
    pytest.param(httpx.Response(504), id="504"),
    pytest.param(httpx.Response(200, text="<html>"), id="garbled-200"),
]


def fail_with(route: respx.Route, failure: Exception | httpx.Response) -> None:
    if isinstance(failure, httpx.Response):
        route.mock(return_value=failure)
    else:
        route.mock(side_effect=failure)


@pytest.mark.parametrize("failure", REFUSED)
@pytest.mark.parametrize("method", sorted(CALLS))
async def test_every_method_retries_refusals(
    api: respx.MockRouter, dialer: AsyncDialer, method: str, failure: Exception | httpx.Response
) -> None:
    route = api.post(method)
    fail_with(route, failure)

    with pytest.raises((TransportError, ResponseError)) as caught:
        await CALLS[method](dialer)

    assert route.call_count == 3  # the default: 2 retries
    assert not caught.value.outcome_unknown


@pytest.mark.parametrize("failure", UNKNOWN)
@pytest.mark.parametrize("method", IDEMPOTENT)
async def test_idempotent_methods_retry_unknown_outcomes(
    api: respx.MockRouter, dialer: AsyncDialer, method: str, failure: Exception | httpx.Response
) -> None:
    route = api.post(method)
    fail_with(route, failure)

    with pytest.raises((TransportError, ResponseError)):
        await CALLS[method](dialer)

    assert route.call_count == 3


@pytest.mark.parametrize("failure", UNKNOWN)
@pytest.mark.parametrize("method", sorted(NOT_IDEMPOTENT))
async def test_adding_methods_are_never_resent_after_an_unknown_outcome(
    api: respx.MockRouter, dialer: AsyncDialer, method: str, failure: Exception | httpx.Response
) -> None:
    route = api.post(method)
    fail_with(route, failure)

    with pytest.raises((TransportError, ResponseError)) as caught:
        await CALLS[method](dialer)

    assert route.call_count == 1
    assert caught.value.outcome_unknown
    assert "get_campaign_pending_calls" in str(caught.value)


async def test_bulk_chunk_is_never_resent_after_an_unknown_outcome(
    api: respx.MockRouter, dialer: AsyncDialer
) -> None:
    route = api.post("AddCallsBulk").mock(side_effect=httpx.ReadTimeout("slow"))

    report = await dialer.add_calls_bulk(CAMPAIGN_CODE, [Call("0501234567")])

    assert route.call_count == 1
    assert report.failed[0].error.outcome_unknown


async def test_opting_in_resends_adds(api: respx.MockRouter) -> None:
    route = api.post("AddCall").mock(
        side_effect=[httpx.ReadTimeout("slow"), httpx.Response(200, json=OK)]
    )
    async with AsyncDialer(ACCOUNT_CODE, resend_unknown_outcome=True) as dialer:
        await dialer.add_call(CAMPAIGN_CODE, Call("0501234567"))

    assert route.call_count == 2


async def test_recovers_after_transient_failures(
    api: respx.MockRouter, dialer: AsyncDialer
) -> None:
    route = api.post("GetCampaignDetails").mock(
        side_effect=[
            httpx.Response(503),
            httpx.ConnectError("refused"),
            httpx.Response(200, json=CAMPAIGN_DETAILS),
        ]
    )

    campaign = await dialer.get_campaign_details(CAMPAIGN_CODE)

    assert campaign.name == "Campaign1"
    assert route.call_count == 3


@pytest.mark.parametrize("max_retries", [0, 1, 5])
async def test_max_retries(api: respx.MockRouter, max_retries: int) -> None:
    route = api.post("StartCampaign").respond(503)
    async with AsyncDialer(max_retries=max_retries) as dialer:
        with pytest.raises(ResponseError):
            await dialer.start_campaign(CAMPAIGN_CODE)
    assert route.call_count == max_retries + 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_are_not_retried(
    api: respx.MockRouter, dialer: AsyncDialer, status: int
) -> None:
    route = api.post("GetCampaignDetails").respond(status)

    with pytest.raises(ResponseError) as caught:
        await dialer.get_campaign_details(CAMPAIGN_CODE)

    assert route.call_count == 1
    assert caught.value.status_code == status
    assert not caught.value.outcome_unknown


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Real backoff computation, with the test's sleeps recorded instead of slept."""
    recorded: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(delay: float, result: object = None) -> object:
        # Other threads (the session's loopback server) keep their own sleeps.
        if threading.current_thread() is not threading.main_thread():
            return await real_sleep(delay, result)
        recorded.append(delay)
        return await real_sleep(0, result)

    stamina.set_testing(False)
    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    return recorded


async def test_retry_after_seconds_is_honoured(api: respx.MockRouter, waits: list[float]) -> None:
    api.post("StartCampaign").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(503, headers={"Retry-After": "3"}),
            httpx.Response(200, json=OK),
        ]
    )
    async with AsyncDialer() as dialer:
        await dialer.start_campaign(CAMPAIGN_CODE)

    assert waits == [7.0, 3.0]


async def test_retry_after_is_capped(api: respx.MockRouter, waits: list[float]) -> None:
    api.post("StartCampaign").mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": "3600"}),
            httpx.Response(200, json=OK),
        ]
    )
    async with AsyncDialer(retry_policy=RetryPolicy(max_retry_after=12.5)) as dialer:
        await dialer.start_campaign(CAMPAIGN_CODE)

    assert waits == [12.5]


async def test_backoff_is_exponential_with_jitter(
    api: respx.MockRouter, waits: list[float]
) -> None:
    api.post("StartCampaign").respond(503)
    policy = RetryPolicy(max_retries=4, wait_initial=0.5, wait_max=3.0, wait_jitter=0.25)
    async with AsyncDialer(retry_policy=policy) as dialer:
        with pytest.raises(ResponseError):
            await dialer.start_campaign(CAMPAIGN_CODE)

    assert len(waits) == 4
    for wait, base in zip(waits, [0.5, 1.0, 2.0, 3.0], strict=True):
        assert base <= wait <= min(base + 0.25, 3.0)


def test_retry_after_http_date() -> None:
    now = dt.datetime(2026, 11, 27, 12, 0, 0, tzinfo=dt.timezone.utc)

    assert retry_after_seconds("Fri, 27 Nov 2026 12:00:30 GMT", now=now) == 30.0
    assert retry_after_seconds("Fri, 27 Nov 2026 11:00:00 GMT", now=now) == 0.0
    assert retry_after_seconds("2.5") == 2.5
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("nan") is None
    assert retry_after_seconds(None) is None


def test_retry_after_is_exposed_on_the_error() -> None:
    policy = RetryPolicy()
    error = ResponseError("x", status_code=429, retry_after=4.0)

    assert policy.should_retry(error, idempotent=False) == 4.0
    assert policy.should_retry(ValueError(), idempotent=True) is False


async def test_stamina_deactivated_means_no_retries(api: respx.MockRouter) -> None:
    route = api.post("StartCampaign").respond(503)
    stamina.set_active(False)
    try:
        async with AsyncDialer() as dialer:
            with pytest.raises(ResponseError):
                await dialer.start_campaign(CAMPAIGN_CODE)
    finally:
        stamina.set_active(True)
    assert route.call_count == 1


async def test_retries_are_reported_to_stamina_instrumentation(api: respx.MockRouter) -> None:
    seen: list[int] = []
    api.post("StartCampaign").mock(
        side_effect=[httpx.Response(503), httpx.Response(503), httpx.Response(200, json=OK)]
    )
    stamina.instrumentation.set_on_retry_hooks([lambda details: seen.append(details.retry_num)])
    try:
        async with AsyncDialer() as dialer:
            await dialer.start_campaign(CAMPAIGN_CODE)
    finally:
        stamina.instrumentation.set_on_retry_hooks(None)
    assert seen == [1, 2]
