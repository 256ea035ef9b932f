"""Account and campaign codes never appear in full in a log line, a repr or an error."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import respx

from voicenter_dialer import AsyncDialer, Call, Campaign, DialerError, ValidationError

from .examples import ACCOUNT_CODE, CAMPAIGN_CODE
from .test_errors import CALLS

SECRETS = (ACCOUNT_CODE, CAMPAIGN_CODE)

# Answers that tempt a client to quote the code back: the server echoes it.
ECHOING_FAILURES = [
    pytest.param(
        httpx.Response(200, json={"ErrorCode": 1, "Description": f"Invalid code {CAMPAIGN_CODE}"}),
        id="api-error",
    ),
    pytest.param(
        httpx.Response(200, json={"ErrorCode": 9, "Description": f"bad account {ACCOUNT_CODE}"}),
        id="api-error-account",
    ),
    pytest.param(httpx.Response(502, text=f"<html>upstream {CAMPAIGN_CODE}</html>"), id="502"),
    pytest.param(httpx.Response(200, text=f"<p>{ACCOUNT_CODE} {CAMPAIGN_CODE}"), id="html"),
    pytest.param(httpx.Response(429, text=CAMPAIGN_CODE), id="429"),
    pytest.param(httpx.ConnectError("refused"), id="connect"),
    pytest.param(httpx.ReadTimeout("slow"), id="timeout"),
    pytest.param(httpx.Response(200, json={"ErrorCode": CAMPAIGN_CODE}), id="shape"),
]


def assert_no_secret(text: str, secrets: tuple[str, ...] = SECRETS) -> None:
    for secret in secrets:
        assert secret not in text


@pytest.mark.parametrize("failure", ECHOING_FAILURES)
@pytest.mark.parametrize("method", sorted(CALLS))
async def test_errors_and_logs_never_show_a_code(
    api: respx.MockRouter,
    dialer: AsyncDialer,
    caplog: pytest.LogCaptureFixture,
    method: str,
    failure: httpx.Response | Exception,
) -> None:
    caplog.set_level(logging.DEBUG)
    route = api.post(method)
    if isinstance(failure, httpx.Response):
        route.mock(return_value=failure)
    else:
        route.mock(side_effect=failure)

    # GetCampaignList is sent no campaign code, so it cannot know one to mask.
    known = (ACCOUNT_CODE,) if method == "GetCampaignList" else SECRETS

    with pytest.raises(DialerError) as caught:
        await CALLS[method](dialer)

    assert caplog.records  # the library logged each attempt
    for record in caplog.records:
        assert_no_secret(repr(record.__dict__), known)
    error: BaseException | None = caught.value
    while error is not None:  # the whole chain, as a traceback would show it
        assert_no_secret(str(error), known)
        assert_no_secret(repr(error), known)
        error = error.__cause__ or error.__context__
    for call in route.calls:
        assert_no_secret(str(call.request.url))


async def test_success_logs_never_show_a_code(
    api: respx.MockRouter, dialer: AsyncDialer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for method in CALLS:
        api.post(method).respond(
            json={"ErrorCode": 0, "Data": {"TotalAdded": 1, "TotalRemoved": 1}}
        )
    api.post("GetCampaignList").respond(json={"ErrorCode": 0, "Data": []})
    api.post("GetMembersList").respond(json={"ErrorCode": 0, "Data": []})

    await dialer.start_campaign(CAMPAIGN_CODE)
    await dialer.add_member(CAMPAIGN_CODE, "SIP1")
    await dialer.get_campaign_list()

    messages = [record.getMessage() for record in caplog.records]
    assert any("StartCampaign attempt 1: HTTP 200" in message for message in messages)
    for record in caplog.records:
        assert_no_secret(repr(record.__dict__))


def test_reprs_mask_codes() -> None:
    dialer = AsyncDialer(ACCOUNT_CODE)
    campaign = Campaign(name="Sales", code=CAMPAIGN_CODE)

    assert_no_secret(repr(dialer))
    assert_no_secret(repr(campaign))
    assert_no_secret(str(campaign))
    assert ACCOUNT_CODE[-4:] in repr(dialer)  # enough to tell codes apart
    assert "'…" + CAMPAIGN_CODE[-4:] + "'" in repr(campaign)


@pytest.mark.parametrize("failure", ECHOING_FAILURES)
async def test_bulk_failures_never_show_a_code(
    api: respx.MockRouter,
    dialer: AsyncDialer,
    caplog: pytest.LogCaptureFixture,
    failure: httpx.Response | Exception,
) -> None:
    caplog.set_level(logging.DEBUG)
    route = api.post("AddCallsBulk")
    if isinstance(failure, httpx.Response):
        route.mock(return_value=failure)
    else:
        route.mock(side_effect=failure)

    report = await dialer.add_calls_bulk(CAMPAIGN_CODE, [Call("972501234567")])

    assert len(report.failed) == 1
    assert_no_secret(str(report.failed[0].error))
    assert_no_secret(repr(report))
    for record in caplog.records:
        assert_no_secret(repr(record.__dict__))


# --- issue 21.21: a base URL's user:password@ ------------------------------------------------

BASE_WITH_PASSWORD = "https://proxyuser:Pa%ss@w0rd-SECRET@dialer.example/ForwardDialer/"


def test_a_base_url_password_is_not_in_the_repr() -> None:
    dialer = AsyncDialer(ACCOUNT_CODE, base_url=BASE_WITH_PASSWORD)
    assert "w0rd-SECRET" not in repr(dialer)
    assert "dialer.example" in repr(dialer)


def test_a_base_url_password_is_not_in_the_plain_http_refusal() -> None:
    with pytest.raises(ValidationError) as caught:
        AsyncDialer(ACCOUNT_CODE, base_url="http://u:Pa%ss@w0rd-SECRET@dialer.example/x/")
    assert "w0rd-SECRET" not in str(caught.value)
    assert "plain http://" in str(caught.value)


def test_a_base_url_password_is_not_in_the_cli_s_json_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from voicenter_dialer.cli import main

    status = main(
        ["--json", "--base-url", "http://u:Pa%ss@w0rd-SECRET@dialer.example/x/", "campaigns",
         "--code", ACCOUNT_CODE]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert status == 2
    assert "w0rd-SECRET" not in out + err
    assert json.loads(out)["error"]


async def test_a_base_url_s_credentials_are_sent_as_basic_auth_not_in_the_url() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ErrorCode": 0, "Description": "OK"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    async with AsyncDialer(ACCOUNT_CODE, base_url=BASE_WITH_PASSWORD, http_client=client) as d:
        await d.start_campaign(CAMPAIGN_CODE)
    await client.aclose()
    assert seen[0].url.userinfo == b""
    assert (
        seen[0].headers["Authorization"]
        == httpx.BasicAuth("proxyuser", "Pa%ss@w0rd-SECRET")._auth_header
    )
