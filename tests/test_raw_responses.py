"""Raw responses (``with_raw_response``), and what the vendor adds later kept: unknown wire
fields in ``.extra`` (and ``to_dict``)."""

from __future__ import annotations

import json

import attrs
import pytest
import respx

from voicenter_dialer import (
    AsyncDialer,
    Call,
    Dialer,
    InvalidCampaignError,
    RawResponse,
    to_dict,
)
from voicenter_dialer.testing import FakeServer

from .examples import CAMPAIGN_CODE, CAMPAIGN_DETAILS, OK, error


async def test_unknown_fields_are_kept_by_wire_name(
    api: respx.MockRouter, dialer: AsyncDialer
) -> None:
    details = {**CAMPAIGN_DETAILS["Data"], "Region": "EU", "NewCounter": 7, "Nothing": None}
    api.post("GetCampaignDetails").respond(json={**CAMPAIGN_DETAILS, "Data": details})

    campaign = await dialer.get_campaign_details(CAMPAIGN_CODE)

    assert campaign.extra == {"Region": "EU", "NewCounter": 7, "Nothing": None}
    with pytest.raises(TypeError):
        campaign.extra["Region"] = "US"  # type: ignore[index]
    assert to_dict(campaign)["extra"] == {"Region": "EU", "NewCounter": 7, "Nothing": None}
    assert json.dumps(to_dict(campaign))
    assert "Region" not in repr(campaign)  # a new field may hold a code


async def test_a_documented_answer_has_no_extra(api: respx.MockRouter, dialer: AsyncDialer) -> None:
    api.post("GetCampaignDetails").respond(json=CAMPAIGN_DETAILS)
    campaign = await dialer.get_campaign_details(CAMPAIGN_CODE)
    assert campaign.extra == {}
    # Not compared: an answer differing only in what this version does not know is the same.
    assert campaign == attrs.evolve(campaign, extra={"Other": 1})


# --- with_raw_response ----------------------------------------------------------------------


async def test_a_raw_response_has_the_http_answer_and_parses_to_the_usual_value(
    api: respx.MockRouter, dialer: AsyncDialer
) -> None:
    api.post("GetCampaignDetails").respond(
        json=CAMPAIGN_DETAILS, headers={"X-Request-Id": "abc-123"}
    )

    raw = await dialer.with_raw_response.get_campaign_details(CAMPAIGN_CODE)

    assert isinstance(raw, RawResponse)
    assert raw.status_code == 200
    assert raw.headers["X-Request-Id"] == "abc-123"
    assert raw.http_response.json() == CAMPAIGN_DETAILS
    assert raw.parse() == await dialer.get_campaign_details(CAMPAIGN_CODE)


async def test_methods_returning_nothing_parse_to_none(
    api: respx.MockRouter, dialer: AsyncDialer
) -> None:
    api.post("AddCall").respond(json=OK)
    raw = await dialer.with_raw_response.add_call(CAMPAIGN_CODE, Call("972501234567"))
    assert raw.parse() is None
    assert raw.http_response.json() == OK


async def test_an_error_is_raised_as_without_raw_responses(
    api: respx.MockRouter, dialer: AsyncDialer
) -> None:
    api.post("StartCampaign").respond(json=error(1, "Invalid campaign"))
    with pytest.raises(InvalidCampaignError) as caught:
        await dialer.with_raw_response.start_campaign(CAMPAIGN_CODE)
    assert caught.value.response is not None


async def test_a_raw_response_takes_the_options_of_its_dialer(
    api: respx.MockRouter, dialer: AsyncDialer
) -> None:
    route = api.post("GetMembersList").respond(json={"ErrorCode": 0, "Data": []})
    raw = await dialer.with_options(timeout=3).with_raw_response.get_members_list(CAMPAIGN_CODE)
    assert raw.parse() == []
    assert route.calls.last.request.extensions["timeout"]["read"] == 3


def test_every_method_of_one_request_has_a_raw_form() -> None:
    import inspect

    methods = {
        name
        for name, member in inspect.getmembers(AsyncDialer, inspect.iscoroutinefunction)
        if not name.startswith("_")
    } - {"aclose", "add_calls_bulk", "check_journal"}
    raw = AsyncDialer("account-code-1234").with_raw_response
    assert methods == {name for name in vars(raw) if not name.startswith("_")}


def test_the_sync_dialer_has_the_same_raw_responses(server: FakeServer) -> None:
    campaign = server.fake.add_campaign("Raw")
    with Dialer(server.fake.account_code, base_url=server.base_url) as dialer:
        raw = dialer.with_raw_response.get_campaign_details(campaign.code)
        assert raw.status_code == 200
        assert raw.parse() == dialer.get_campaign_details(campaign.code)
        assert raw.http_response.json()["ErrorCode"] == 0
        assert (
            vars(dialer.with_raw_response).keys()
            == vars(AsyncDialer("account-code-1234").with_raw_response).keys()
        )
