"""Outside attacks through the service's answers and the base URL. Each test is a finding."""

from __future__ import annotations

import logging

import httpx
import pytest

from voicenter_dialer import AsyncDialer, Call, DialerError
from voicenter_dialer.testing import FakeDialer, FakeServer, Faults

from .examples import ACCOUNT_CODE, CAMPAIGN_CODE
from .test_cli import cli

# A Retry-After that parses as an HTTP date whose year no datetime holds.
HUGE_DATE = "Wed, 21 Oct 99999999999 07:28:00 GMT"


def _busy(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503, headers={"Retry-After": HUGE_DATE}, text="busy")


def _dialer() -> AsyncDialer:
    client = httpx.AsyncClient(transport=httpx.MockTransport(_busy))
    return AsyncDialer(ACCOUNT_CODE, http_client=client, max_retries=0)


async def test_a_busy_answer_with_an_absurd_retry_after_is_a_dialer_error() -> None:
    async with _dialer() as dialer:
        with pytest.raises(DialerError):
            await dialer.get_campaign_list()


@pytest.mark.parametrize("concurrency", [1, "auto"])
async def test_a_bulk_upload_counts_leads_refused_with_an_absurd_retry_after(
    concurrency: int | str,
) -> None:
    """The report, not an OverflowError: every lead counted, as failed."""
    calls = [Call(f"9725012345{i:02d}") for i in range(3)]
    async with _dialer() as dialer:
        report = await dialer.add_calls_bulk(
            CAMPAIGN_CODE,
            calls,
            chunk_size=1,
            concurrency=concurrency,  # type: ignore[arg-type]
        )

    assert (report.total, report.accepted, len(report.failed)) == (3, 0, 3)


async def test_a_base_url_with_an_impossible_port_is_a_dialer_error() -> None:
    """http://host:99999/: a ValidationError at construction, or a DialerError when used;
    never a raw ExceptionGroup out of anyio's connect."""
    try:
        dialer = AsyncDialer(ACCOUNT_CODE, base_url="http://127.0.0.1:99999/", max_retries=0)
    except DialerError:
        return
    async with dialer:
        with pytest.raises(DialerError):
            await dialer.get_campaign_list()


async def test_a_truncated_campaign_list_never_shows_a_campaign_code() -> None:
    """GetCampaignList's answer holds every campaign's code; cut short (a listed hazard), the
    ResponseError quotes the body: codes the client never sent, so never redacted."""
    fake = FakeDialer(faults=Faults(rates={"truncated": 1.0}))
    codes = [fake.add_campaign(f"C{n}").code for n in range(3)]
    async with fake.client(max_retries=0) as dialer:
        with pytest.raises(DialerError) as caught:
            await dialer.get_campaign_list()

    shown = str(caught.value) + repr(caught.value)
    # Not even most of one: the masked form elsewhere shows its last four characters.
    assert [code for code in codes if code[:16] in shown] == [], shown


def test_the_cli_never_shows_a_campaign_code_from_a_truncated_list(server: FakeServer) -> None:
    codes = [server.fake.add_campaign(f"C{n}").code for n in range(3)]
    server.fake.faults = Faults(rates={"truncated": 1.0})

    for extra in ((), ("--json",)):
        run = cli(server, "campaigns", "--max-retries", "0", *extra)
        assert run.code == 1
        shown = run.out + run.err
        assert [code for code in codes if code[:16] in shown] == [], shown


async def test_a_bad_gateway_quoting_the_campaign_list_never_shows_a_code() -> None:
    """A 502 from a proxy that quotes the upstream answer: the message quotes it in turn."""
    other = "OTHERCAMPAIGNSECRET0123456789"
    body = '{"Data":[{"Name":"C1","Code":"' + other + '"}],"ErrorCode":0,"Description":"OK"}'
    client = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda request: httpx.Response(502, text=body))
    )
    async with AsyncDialer(ACCOUNT_CODE, http_client=client, max_retries=0) as dialer:
        with pytest.raises(DialerError) as caught:
            await dialer.get_campaign_list()

    assert other[:16] not in str(caught.value)


async def test_a_base_url_password_is_in_no_log_line(
    server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Celery's worker (-l info) and many apps log every logger at INFO: httpx's own line for
    each request the dialer makes quotes the URL, credentials included."""
    campaign = server.fake.add_campaign()
    url = server.base_url.replace("http://", "http://dialer:S3CRETpassw0rd@", 1)

    with caplog.at_level(logging.DEBUG):
        async with AsyncDialer(ACCOUNT_CODE, base_url=url) as dialer:
            await dialer.get_campaign_details(campaign.code)

    assert caplog.records  # something was logged
    assert "S3CRETpassw0rd" not in caplog.text


async def test_a_dialer_closed_with_a_callers_client_sends_nothing_more() -> None:
    """docs/http-client.md: "a closed dialer raises DialerError, and sends and journals
    nothing". With the caller's client (FastAPI lifespan: one shared httpx client), aclose()
    leaves the client open, as it should, and the dialer working, as it should not."""
    fake = FakeDialer()
    campaign = fake.add_campaign()
    dialer = fake.client()  # the fake's transport in a client the dialer does not own
    await dialer.aclose()

    with pytest.raises(DialerError):
        await dialer.add_call(campaign.code, Call("972501234567"))
    assert campaign.targets() == []


async def test_a_closed_dialer_from_with_options_sends_nothing_more(server: FakeServer) -> None:
    campaign = server.fake.add_campaign()
    async with AsyncDialer(base_url=server.base_url) as root:
        derived = root.with_options(max_retries=0)
        await derived.aclose()

        with pytest.raises(DialerError):
            await derived.add_call(campaign.code, Call("972501234567"))
    assert campaign.targets() == []
