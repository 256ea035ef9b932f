"""Every method: the exact request it sends and how it reads the vendor's example answers."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import respx

from voicenter_dialer import AsyncDialer, Call, CallStatus, Campaign, Member, PendingCall

from .examples import (
    ACCOUNT_CODE,
    CAMPAIGN_CODE,
    CAMPAIGN_DETAILS,
    CAMPAIGN_LIST,
    MEMBERS,
    OK,
    PENDING_CALLS,
)


def sent(route: respx.Route) -> Any:
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/json"
    return json.loads(request.content)


async def test_get_campaign_list(api: respx.MockRouter, dialer: AsyncDialer) -> None:
    route = api.post("GetCampaignList").respond(json=CAMPAIGN_LIST)

    campaigns = await dialer.get_campaign_list()

    assert sent(route) == {"Code": ACCOUNT_CODE}
    assert campaigns == [
        Campaign(
            name="Campaign1",
            status_name="Enabled",
            total_pending_calls=23,
            max_priority=1,
            min_priority=1,
            total_awaiting_calls=23,
            code="XXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        ),
        Campaign(
            name="Campaign2",
            status_name="Disabled",
            total_pending_calls=19,
            max_priority=52,
            min_priority=1,
            total_awaiting_calls=None,
            code="YYYYYYYYYYYYYYYYYYYYYYYYYYYYY",
        ),
    ]
    assert [c.enabled for c in campaigns] == [True, False]


async def test_get_campaign_details(api: respx.MockRouter, dialer: AsyncDialer) -> None:
    route = api.post("GetCampaignDetails").respond(json=CAMPAIGN_DETAILS)

    campaign = await dialer.get_campaign_details(CAMPAIGN_CODE)

    assert sent(route) == {"Campaign": CAMPAIGN_CODE}
    assert campaign.name == "Campaign1"
    assert campaign.total_awaiting_calls == 23
    assert campaign.code == "XXXXXXXXXXXXXXXXXXXXXXXXXXXXX"


async def test_get_campaign_pending_calls(api: respx.MockRouter, dialer: AsyncDialer) -> None:
    route = api.post("GetCampaignPendingCalls").respond(json=PENDING_CALLS)

    pending = await dialer.get_campaign_pending_calls(CAMPAIGN_CODE)

    assert sent(route) == {"Campaign": CAMPAIGN_CODE}
    assert pending.campaign.name == "Campaign2"
    assert pending.campaign.total_originated_calls == 0
    assert pending.campaign.total_awaiting_calls == -1
    assert pending.calls[0] == PendingCall(
        phone="972525599100",
        caller_id="",
        caller_name="",
        originate_time=1602819000,
        priority=42,
        customer_name="John Doe",
        call_status=CallStatus(status=1, description="Pending"),
        custom_data={"var_test1": "1", "var_test2": "some value"},
    )
    assert pending.calls[0].call_status is not None
    assert pending.calls[0].call_status.pending
    assert pending.calls[1].call_status is not None
    assert pending.calls[1].call_status.originated


async def test_add_call_sends_the_vendor_example(
    api: respx.MockRouter, dialer: AsyncDialer
) -> None:
    route = api.post("AddCall").respond(json=OK)
    call = Call(
        "0501234567",
        customer_name="John Doe",
        caller_id="0722776772",
        priority=42,
        originate_time=1602750000,
        is_date_local=True,
        ignore_dnc_status=True,
        custom_data={"var_LeadID": 1234567, "var_LeadCampaign": "Facebook"},
    )

    await dialer.add_call(CAMPAIGN_CODE, call)

    assert sent(route) == {
        "Campaign": CAMPAIGN_CODE,
        "Target": "0501234567",
        "CustomerName": "John Doe",
        "CallerID": "0722776772",
        "Priority": 42,
        "OriginateTime": 1602750000,
        "IsDateLocal": "true",
        "IgnoreDncStatus": "true",
        "CustomData": {"var_LeadID": 1234567, "var_LeadCampaign": "Facebook"},
    }


async def test_add_call_omits_absent_fields_and_strips_plus(
    api: respx.MockRouter, dialer: AsyncDialer
) -> None:
    route = api.post("AddCall").respond(json=OK)

    await dialer.add_call(CAMPAIGN_CODE, Call(" +972501234567 "))

    assert sent(route) == {"Campaign": CAMPAIGN_CODE, "Target": "972501234567"}


@pytest.mark.parametrize(
    ("when", "is_date_local", "expected_time", "expected_local"),
    [
        # An aware datetime is an instant: UTC epoch, IsDateLocal false.
        (
            dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            None,
            1796108400,
            "false",
        ),
        # A naive one is the account's wall clock: those fields as epoch, IsDateLocal true.
        (dt.datetime(2026, 12, 1, 9, 0), None, 1796115600, "true"),
        (dt.datetime(2026, 12, 1, 9, 0), True, 1796115600, "true"),
        (1796115600, False, 1796115600, "false"),
    ],
)
async def test_scheduling(
    api: respx.MockRouter,
    dialer: AsyncDialer,
    when: int | dt.datetime,
    is_date_local: bool | None,
    expected_time: int,
    expected_local: str,
) -> None:
    route = api.post("AddCall").respond(json=OK)

    await dialer.add_call(
        CAMPAIGN_CODE, Call("972501234567", originate_time=when, is_date_local=is_date_local)
    )

    body = sent(route)
    assert body["OriginateTime"] == expected_time
    assert body["IsDateLocal"] == expected_local


async def test_update_call(api: respx.MockRouter, dialer: AsyncDialer) -> None:
    route = api.post("UpdateCall").respond(json=OK)

    await dialer.update_call(
        Campaign(code=CAMPAIGN_CODE), Call("0501234567", customer_name="John Doe", priority=7)
    )

    assert sent(route) == {
        "Campaign": CAMPAIGN_CODE,
        "Target": "0501234567",
        "CustomerName": "John Doe",
        "Priority": 7,
    }


async def test_remove_call(api: respx.MockRouter, dialer: AsyncDialer) -> None:
    route = api.post("RemoveCall").respond(json=OK)

    await dialer.remove_call(CAMPAIGN_CODE, "0501234567")

    assert sent(route) == {"Campaign": CAMPAIGN_CODE, "Target": "0501234567"}


@pytest.mark.parametrize(
    ("method", "wire"),
    [
        ("clear_campaign_calls", "ClearCampaignCalls"),
        ("start_campaign", "StartCampaign"),
        ("stop_campaign", "StopCampaign"),
    ],
)
async def test_campaign_only_methods(
    api: respx.MockRouter, dialer: AsyncDialer, method: str, wire: str
) -> None:
    route = api.post(wire).respond(json=OK)

    assert await getattr(dialer, method)(CAMPAIGN_CODE) is None

    assert sent(route) == {"Campaign": CAMPAIGN_CODE}


async def test_get_members_list(api: respx.MockRouter, dialer: AsyncDialer) -> None:
    route = api.post("GetMembersList").respond(json=MEMBERS)

    members = await dialer.get_members_list(CAMPAIGN_CODE)

    assert sent(route) == {"Campaign": CAMPAIGN_CODE}
    assert members == [Member("SIPSIP1", "Walter Melon"), Member("SIPSIP2", "John Doe")]


async def test_add_member(api: respx.MockRouter, dialer: AsyncDialer) -> None:
    # Member methods may answer without a Description.
    route = api.post("AddMember").respond(json={"Data": {"TotalAdded": 2}, "ErrorCode": 0})

    assert await dialer.add_member(CAMPAIGN_CODE, "SIP1SIP1") == 2
    assert sent(route) == {"Campaign": CAMPAIGN_CODE, "Member": "SIP1SIP1"}


@pytest.mark.parametrize("removed", [2, 0])
async def test_remove_member(api: respx.MockRouter, dialer: AsyncDialer, removed: int) -> None:
    route = api.post("RemoveMember").respond(
        json={"Data": {"TotalRemoved": removed}, "ErrorCode": 0, "Description": "OK"}
    )

    assert await dialer.remove_member(CAMPAIGN_CODE, "SIP1SIP1") == removed
    assert sent(route) == {"Campaign": CAMPAIGN_CODE, "Member": "SIP1SIP1"}


async def test_update_campaign_strategy(api: respx.MockRouter, dialer: AsyncDialer) -> None:
    route = api.post("UpdateCampaignStrategy").respond(json=OK)

    await dialer.update_campaign_strategy(
        CAMPAIGN_CODE, queue_for_monitoring=123456789, queue_maximum_callers=1, coefficient=2
    )

    assert sent(route) == {
        "Campaign": CAMPAIGN_CODE,
        "setQueueForMonitoring": 123456789,
        "setQueueMaximumCallers": 1,
        "setCoefficient": 2,
    }


async def test_code_with_every_request_when_asked(api: respx.MockRouter) -> None:
    details = api.post("GetCampaignDetails").respond(json=CAMPAIGN_DETAILS)
    add = api.post("AddCall").respond(json=OK)
    bulk = api.post("AddCallsBulk").respond(
        json={"AddResult": [{"Target": "0501234567", "ErrorCode": 0}], "ErrorCode": 0}
    )
    async with AsyncDialer(ACCOUNT_CODE, send_code_with_every_request=True) as dialer:
        await dialer.get_campaign_details(CAMPAIGN_CODE)
        await dialer.add_call(CAMPAIGN_CODE, Call("0501234567"))
        await dialer.add_calls_bulk(CAMPAIGN_CODE, [Call("0501234567")])

    assert sent(details) == {"Campaign": CAMPAIGN_CODE, "Code": ACCOUNT_CODE}
    assert sent(add)["Code"] == ACCOUNT_CODE
    assert sent(bulk) == [{"Campaign": CAMPAIGN_CODE, "Target": "0501234567", "Code": ACCOUNT_CODE}]


async def test_code_is_not_sent_to_campaign_methods_by_default(
    api: respx.MockRouter, dialer: AsyncDialer
) -> None:
    route = api.post("StartCampaign").respond(json=OK)

    await dialer.start_campaign(CAMPAIGN_CODE)

    assert "Code" not in sent(route)


@pytest.mark.parametrize(
    "extra",
    [
        # Absent keys, nulls and keys the page does not mention.
        {},
        {"Name": None, "TotalPendingCalls": None, "Unknown": {"nested": [1]}},
    ],
)
async def test_parsing_is_tolerant(
    api: respx.MockRouter, dialer: AsyncDialer, extra: dict[str, Any]
) -> None:
    api.post("GetCampaignDetails").respond(
        json={"Data": {"Code": "Z" * 20, **extra}, "ErrorCode": 0}
    )

    campaign = await dialer.get_campaign_details(CAMPAIGN_CODE)

    assert campaign.name == ""
    assert campaign.total_pending_calls is None
    assert campaign.code == "Z" * 20


async def test_custom_data_values_come_back_as_strings(
    api: respx.MockRouter, dialer: AsyncDialer
) -> None:
    api.post("GetCampaignPendingCalls").respond(
        json={
            "Data": {
                "Calls": [
                    {"Phone": "972501234567", "CustomData": {"id": 5, "ok": True, "x": 1.5}},
                    {"Phone": "972501234568", "CustomData": []},
                ],
                "Campaign": None,
            },
            "ErrorCode": "0",
        }
    )

    pending = await dialer.get_campaign_pending_calls(CAMPAIGN_CODE)

    assert pending.calls[0].custom_data == {"id": "5", "ok": "true", "x": "1.5"}
    assert pending.calls[1].custom_data == {}
    assert pending.campaign == Campaign()


async def test_empty_lists(api: respx.MockRouter, dialer: AsyncDialer) -> None:
    api.post("GetMembersList").respond(json={"Data": None, "ErrorCode": 0})
    api.post("GetCampaignList").respond(json={"Data": [], "ErrorCode": 0})

    assert await dialer.get_members_list(CAMPAIGN_CODE) == []
    assert await dialer.get_campaign_list() == []


async def test_urls_follow_base_url() -> None:
    with respx.mock(base_url="http://127.0.0.1:8080/dialer/") as router:
        route = router.post("StartCampaign").respond(json=OK)
        async with AsyncDialer(base_url="http://127.0.0.1:8080/dialer") as dialer:
            await dialer.start_campaign(CAMPAIGN_CODE)
    assert route.call_count == 1
