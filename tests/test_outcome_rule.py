"""The one outcome rule (refused, unknown, failed): the retry decision, error messages and the
journal's statuses all follow it, and a message says what actually happened."""

from __future__ import annotations

import httpx
import pytest
import respx

from voicenter_dialer import AsyncDialer, Call, ResponseError, TransportError, ValidationError
from voicenter_dialer._outcome import outcome

from .examples import ACCOUNT_CODE, BASE_URL, CAMPAIGN_CODE


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (429, "refused"),
        (503, "refused"),
        (500, "unknown"),
        (502, "unknown"),
        (400, "failed"),
        (404, "failed"),
        (httpx.ConnectError("refused"), "refused"),
        (httpx.ConnectTimeout("slow"), "refused"),
        (httpx.ReadTimeout("slow"), "unknown"),
        (httpx.RemoteProtocolError("dropped"), "unknown"),
        (TransportError("no connection"), "refused"),
        (TransportError("timed out", outcome_unknown=True), "unknown"),
        (ResponseError("busy", status_code=503), "refused"),
        (ResponseError("bad", status_code=400), "failed"),
        (ValidationError("bad input"), "failed"),
    ],
)
def test_each_kind_of_failure_has_one_meaning(failure: object, expected: str) -> None:
    assert outcome(failure) == expected  # type: ignore[arg-type]


async def test_an_unknown_outcome_not_re_sent_says_so(api: respx.MockRouter) -> None:
    route = api.post(BASE_URL + "AddCall").mock(return_value=httpx.Response(502))
    async with AsyncDialer(ACCOUNT_CODE) as dialer:
        with pytest.raises(ResponseError, match="so it was not re-sent") as caught:
            await dialer.add_call(CAMPAIGN_CODE, Call("972501234567"))
    assert route.call_count == 1
    assert caught.value.outcome_unknown


async def test_a_re_sent_call_says_how_many_times_it_was_sent(api: respx.MockRouter) -> None:
    route = api.post(BASE_URL + "AddCall").mock(return_value=httpx.Response(502))
    async with AsyncDialer(ACCOUNT_CODE, resend_unknown_outcome=True) as dialer:
        with pytest.raises(ResponseError) as caught:
            await dialer.add_call(CAMPAIGN_CODE, Call("972501234567"))
    assert route.call_count == 3
    assert "not re-sent" not in caught.value.message
    assert "sent 3 times" in caught.value.message


async def test_refused_attempts_do_not_count_as_sent(api: respx.MockRouter) -> None:
    route = api.post(BASE_URL + "AddCall").mock(
        side_effect=[httpx.Response(503), httpx.Response(503), httpx.Response(502)]
    )
    async with AsyncDialer(ACCOUNT_CODE, resend_unknown_outcome=True, max_retries=2) as dialer:
        with pytest.raises(ResponseError, match="so it was not re-sent"):
            await dialer.add_call(CAMPAIGN_CODE, Call("972501234567"))
    assert route.call_count == 3


async def test_idempotent_methods_carry_no_add_note(api: respx.MockRouter) -> None:
    api.post(BASE_URL + "StartCampaign").mock(return_value=httpx.Response(502))
    async with AsyncDialer(ACCOUNT_CODE) as dialer:
        with pytest.raises(ResponseError) as caught:
            await dialer.start_campaign(CAMPAIGN_CODE)
    assert "re-sent" not in caught.value.message
    assert "sent" not in caught.value.message.split(":", 1)[1]
