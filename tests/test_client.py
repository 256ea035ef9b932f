"""Construction and lifecycle: ownership of the HTTP client, headers, timeouts, environment."""

from __future__ import annotations

import httpx
import pytest
import respx

import voicenter_dialer
from voicenter_dialer import DEFAULT_TIMEOUT, AsyncDialer

from .examples import ACCOUNT_CODE, BASE_URL, CAMPAIGN_CODE, OK


async def test_own_client_is_closed_on_exit(api: respx.MockRouter) -> None:
    async with AsyncDialer() as dialer:
        client = dialer._core.http_client
        assert not client.is_closed
    assert client.is_closed


async def test_aclose_without_context_manager(api: respx.MockRouter) -> None:
    dialer = AsyncDialer()
    api.post("StartCampaign").respond(json=OK)
    await dialer.start_campaign(CAMPAIGN_CODE)
    await dialer.aclose()
    assert dialer._core.http_client.is_closed


async def test_callers_client_is_never_closed() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=OK))
    async with httpx.AsyncClient(transport=transport) as client:
        async with AsyncDialer(http_client=client) as dialer:
            await dialer.start_campaign(CAMPAIGN_CODE)
        await dialer.aclose()
        assert not client.is_closed
        # Still usable by its owner, and by a new dialer.
        async with AsyncDialer(http_client=client) as again:
            await again.stop_campaign(CAMPAIGN_CODE)


async def test_user_agent_names_library_and_version(
    api: respx.MockRouter, dialer: AsyncDialer
) -> None:
    route = api.post("StartCampaign").respond(json=OK)

    await dialer.start_campaign(CAMPAIGN_CODE)

    agent = route.calls.last.request.headers["User-Agent"]
    assert agent.startswith(f"voicenter-dialer/{voicenter_dialer.__version__} ")


async def test_user_agent_on_a_plain_caller_client(api: respx.MockRouter) -> None:
    route = api.post("StartCampaign").respond(json=OK)
    async with httpx.AsyncClient() as client, AsyncDialer(http_client=client) as dialer:
        await dialer.start_campaign(CAMPAIGN_CODE)
    assert route.calls.last.request.headers["User-Agent"].startswith("voicenter-dialer/")


async def test_callers_own_user_agent_is_kept(api: respx.MockRouter) -> None:
    route = api.post("StartCampaign").respond(json=OK)
    async with (
        httpx.AsyncClient(headers={"User-Agent": "crm/2.0"}) as client,
        AsyncDialer(http_client=client) as dialer,
    ):
        await dialer.start_campaign(CAMPAIGN_CODE)
    assert route.calls.last.request.headers["User-Agent"] == "crm/2.0"


async def test_default_timeouts(api: respx.MockRouter, dialer: AsyncDialer) -> None:
    route = api.post("StartCampaign").respond(json=OK)

    await dialer.start_campaign(CAMPAIGN_CODE)

    timeout = route.calls.last.request.extensions["timeout"]
    assert timeout == DEFAULT_TIMEOUT.as_dict()
    assert timeout["connect"] < timeout["read"]


async def test_callers_client_keeps_its_timeout_unless_one_is_given(
    api: respx.MockRouter,
) -> None:
    route = api.post("StartCampaign").respond(json=OK)
    async with httpx.AsyncClient(timeout=httpx.Timeout(3.0)) as client:
        async with AsyncDialer(http_client=client) as dialer:
            await dialer.start_campaign(CAMPAIGN_CODE)
        assert route.calls.last.request.extensions["timeout"]["read"] == 3.0
        async with AsyncDialer(http_client=client, timeout=11.0) as dialer:
            await dialer.start_campaign(CAMPAIGN_CODE)
        assert route.calls.last.request.extensions["timeout"]["read"] == 11.0


async def test_code_from_the_environment(
    api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOICENTER_CODE", ACCOUNT_CODE)
    route = api.post("GetCampaignList").respond(json={"Data": [], "ErrorCode": 0})

    async with AsyncDialer() as dialer:
        await dialer.get_campaign_list()

    assert route.calls.last.request.content == f'{{"Code":"{ACCOUNT_CODE}"}}'.encode()


def test_base_url_gets_a_trailing_slash() -> None:
    dialer = AsyncDialer(base_url=BASE_URL.rstrip("/"))
    assert repr(dialer).endswith(f"base_url={BASE_URL!r})")


async def test_base_url_from_the_environment(
    api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOICENTER_BASE_URL", "https://dialer.test/ForwardDialer/")
    elsewhere = api.post("https://dialer.test/ForwardDialer/StartCampaign").respond(json=OK)
    async with AsyncDialer(ACCOUNT_CODE) as dialer:
        await dialer.start_campaign(CAMPAIGN_CODE)
    assert elsewhere.called
    # An explicit base_url wins over the environment.
    default = api.post("StartCampaign").respond(json=OK)
    async with AsyncDialer(ACCOUNT_CODE, base_url=BASE_URL) as dialer:
        await dialer.start_campaign(CAMPAIGN_CODE)
    assert default.called


async def test_default_http_client_has_the_library_s_defaults(api: respx.MockRouter) -> None:
    route = api.post("StartCampaign").respond(json=OK)
    async with voicenter_dialer.default_http_client() as client:
        assert client.timeout == DEFAULT_TIMEOUT
        assert client.follow_redirects is False
        async with AsyncDialer(ACCOUNT_CODE, http_client=client) as dialer:
            await dialer.start_campaign(CAMPAIGN_CODE)
        assert not client.is_closed  # the caller's to close
    assert route.calls.last.request.headers["User-Agent"].startswith("voicenter-dialer/")


async def test_default_http_client_takes_overrides() -> None:
    async with voicenter_dialer.default_http_client(
        timeout=3.0, headers={"X-Team": "crm"}
    ) as client:
        assert client.timeout == httpx.Timeout(3.0)
        assert client.headers["X-Team"] == "crm"
