"""ErrorCodes per method, and answers that are not the documented JSON: always a DialerError."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import respx

from voicenter_dialer import (
    APIError,
    AsyncDialer,
    Call,
    DialerError,
    InvalidCampaignError,
    InvalidTargetError,
    MemberError,
    ResponseError,
    TransportError,
)

from .examples import CAMPAIGN_CODE, error

Invoke = Callable[[AsyncDialer], Awaitable[object]]

#: One invocation per wire method, as a caller would write it.
CALLS: dict[str, Invoke] = {
    "GetCampaignList": lambda d: d.get_campaign_list(),
    "GetCampaignDetails": lambda d: d.get_campaign_details(CAMPAIGN_CODE),
    "GetCampaignPendingCalls": lambda d: d.get_campaign_pending_calls(CAMPAIGN_CODE),
    "AddCall": lambda d: d.add_call(CAMPAIGN_CODE, Call("0501234567")),
    "UpdateCall": lambda d: d.update_call(CAMPAIGN_CODE, Call("0501234567")),
    "RemoveCall": lambda d: d.remove_call(CAMPAIGN_CODE, "0501234567"),
    "ClearCampaignCalls": lambda d: d.clear_campaign_calls(CAMPAIGN_CODE),
    "GetMembersList": lambda d: d.get_members_list(CAMPAIGN_CODE),
    "AddMember": lambda d: d.add_member(CAMPAIGN_CODE, "SIP1"),
    "RemoveMember": lambda d: d.remove_member(CAMPAIGN_CODE, "SIP1"),
    "StartCampaign": lambda d: d.start_campaign(CAMPAIGN_CODE),
    "StopCampaign": lambda d: d.stop_campaign(CAMPAIGN_CODE),
    "UpdateCampaignStrategy": lambda d: d.update_campaign_strategy(
        CAMPAIGN_CODE, queue_for_monitoring=1, queue_maximum_callers=1, coefficient=2
    ),
}


# Every ErrorCode the vendor page documents, per method, and what it must raise.
DOCUMENTED = [
    ("AddCall", 1, "Invalid campaign code", InvalidCampaignError),
    ("AddCall", 1, "Campaign code missing", InvalidCampaignError),
    ("AddCall", 2, "Target missing", InvalidTargetError),
    ("AddCall", -2, "Number is invalid", InvalidTargetError),
    ("UpdateCall", 1, "Invalid campaign code", InvalidCampaignError),
    ("UpdateCall", 2, "Target missing", InvalidTargetError),
    ("UpdateCall", -2, "Number is invalid", InvalidTargetError),
    ("RemoveCall", 1, "Invalid campaign code", InvalidCampaignError),
    ("RemoveCall", 2, "Target missing", InvalidTargetError),
    ("ClearCampaignCalls", 4, "Internal error occurred.", InvalidCampaignError),
    ("GetCampaignPendingCalls", 2, "Internal error occured", InvalidCampaignError),
    ("StartCampaign", 1, "Invalid campaign code", InvalidCampaignError),
    ("StopCampaign", 1, "Invalid campaign code", InvalidCampaignError),
    ("AddMember", 2, "Member Missing", MemberError),
    ("RemoveMember", 2, "Member Missing", MemberError),
]


@pytest.mark.parametrize(("method", "code", "description", "expected"), DOCUMENTED)
async def test_documented_error_codes(
    api: respx.MockRouter,
    dialer: AsyncDialer,
    method: str,
    code: int,
    description: str,
    expected: type[APIError],
) -> None:
    api.post(method).respond(json=error(code, description))

    with pytest.raises(expected) as caught:
        await CALLS[method](dialer)

    assert type(caught.value) is expected
    assert caught.value.method == method
    assert caught.value.error_code == code
    assert caught.value.description == description
    assert method in str(caught.value)
    assert description in str(caught.value)


@pytest.mark.parametrize(
    ("method", "code"),
    [
        # The same number means something else elsewhere: no subclass by mistake.
        ("ClearCampaignCalls", 1),
        ("AddCall", 4),
        ("GetCampaignPendingCalls", 1),
        ("AddMember", 1),
        ("GetCampaignList", 2),
    ],
)
async def test_codes_are_mapped_per_method(
    api: respx.MockRouter, dialer: AsyncDialer, method: str, code: int
) -> None:
    api.post(method).respond(json=error(code, "Something"))

    with pytest.raises(APIError) as caught:
        await CALLS[method](dialer)

    assert type(caught.value) is APIError
    assert caught.value.error_code == code


async def test_api_errors_are_not_retried(api: respx.MockRouter, dialer: AsyncDialer) -> None:
    route = api.post("StartCampaign").respond(json=error(1, "Invalid campaign code"))

    with pytest.raises(InvalidCampaignError):
        await dialer.start_campaign(CAMPAIGN_CODE)

    assert route.call_count == 1


async def test_add_member_not_added(api: respx.MockRouter, dialer: AsyncDialer) -> None:
    api.post("AddMember").respond(json={"Data": {"TotalAdded": -1}, "ErrorCode": 0})

    with pytest.raises(MemberError, match="not added"):
        await dialer.add_member(CAMPAIGN_CODE, "SIP1")


HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"

MALFORMED = [
    pytest.param(httpx.Response(502, text=HTML_502), "HTTP 502", id="html-502"),
    pytest.param(httpx.Response(200, text=HTML_502), "not JSON", id="200-html"),
    pytest.param(httpx.Response(200, content=b'{"Data": [{"Na'), "not JSON", id="truncated"),
    pytest.param(httpx.Response(200, json=[1, 2]), "JSON list", id="json-array"),
    pytest.param(httpx.Response(200, json="OK"), "JSON str", id="json-string"),
    pytest.param(httpx.Response(200, json={"Data": []}), "without ErrorCode", id="no-errorcode"),
    pytest.param(
        httpx.Response(200, json={"ErrorCode": "x"}), "not an integer", id="errorcode-str"
    ),
    pytest.param(httpx.Response(404, text="Not Found"), "HTTP 404", id="404"),
    pytest.param(httpx.Response(200, content=b"\xff\xfe\x00"), "not JSON", id="bad-bytes"),
    pytest.param(httpx.Response(200, content=b""), "not JSON", id="empty"),
]


@pytest.mark.parametrize(("response", "message"), MALFORMED)
@pytest.mark.parametrize("method", sorted(CALLS))
async def test_malformed_answers_give_response_error(
    api: respx.MockRouter,
    dialer: AsyncDialer,
    method: str,
    response: httpx.Response,
    message: str,
) -> None:
    api.post(method).mock(return_value=response)

    with pytest.raises(ResponseError, match=message) as caught:
        await CALLS[method](dialer)

    assert caught.value.status_code == response.status_code
    assert caught.value.method == method


WRONG_DATA: dict[str, list[Any]] = {
    "GetCampaignList": ["text", {"Name": "x"}, [1], [{"TotalPendingCalls": "many"}]],
    "GetCampaignDetails": ["text", [1], 5, {"Name": {"a": 1}}],
    "GetCampaignPendingCalls": [[], "x", {"Calls": {"a": 1}}, {"Calls": [{"CustomData": 5}]}],
    "GetMembersList": [{"Member": "x"}, "x", [["SIP1"]]],
    "AddMember": [[], {"TotalAdded": "many"}, {}, None],
    "RemoveMember": [[], {"TotalRemoved": None}, "2"],
}


@pytest.mark.parametrize(
    ("method", "data"), [(m, d) for m, datas in WRONG_DATA.items() for d in datas]
)
async def test_data_of_the_wrong_shape(
    api: respx.MockRouter, dialer: AsyncDialer, method: str, data: Any
) -> None:
    api.post(method).respond(json={"Data": data, "ErrorCode": 0, "Description": "OK"})

    with pytest.raises(ResponseError):
        await CALLS[method](dialer)


async def test_details_without_data(api: respx.MockRouter, dialer: AsyncDialer) -> None:
    api.post("GetCampaignDetails").respond(json={"ErrorCode": 0})

    with pytest.raises(ResponseError, match="no Data"):
        await dialer.get_campaign_details(CAMPAIGN_CODE)


@pytest.mark.parametrize(
    "exc",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("x")],
)
async def test_transport_failures_give_transport_error(
    api: respx.MockRouter, dialer: AsyncDialer, exc: Exception
) -> None:
    api.post("GetCampaignDetails").mock(side_effect=exc)

    with pytest.raises(TransportError) as caught:
        await dialer.get_campaign_details(CAMPAIGN_CODE)

    assert caught.value.__cause__ is exc
    assert isinstance(caught.value, DialerError)
