"""Bulk input as plain mappings of Call's fields: same validation, same messages, same report
as Calls, and what the caller gave is what the report carries."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
import respx

from voicenter_dialer import AsyncDialer, Call, CallFields, ValidationError
from voicenter_dialer.testing import FakeDialer

from .bulk_server import BulkServer, lead
from .examples import CAMPAIGN_CODE


def as_mapping(call: Call) -> dict[str, object]:
    return {"phone": call.target, "custom_data": dict(call.custom_data)}


async def test_mappings_are_uploaded_like_calls() -> None:
    calls = [lead(i) for i in range(25)]
    server = BulkServer(reject={lead(4).target})
    async with server.dialer() as dialer:
        report = await dialer.add_calls_bulk(CAMPAIGN_CODE, map(as_mapping, calls), chunk_size=10)

    assert report.total == 25
    assert report.accepted == 24
    assert server.added == {i: 1 for i in range(25) if i != 4}
    assert report.rejected[0].call == as_mapping(calls[4])  # what was given
    assert report.rejected[0].target == calls[4].target


async def test_the_service_holds_the_same_call_from_a_mapping_as_from_a_call() -> None:
    fake = FakeDialer()
    campaign = fake.add_campaign()
    row: CallFields = {
        "target": "972501234567",
        "customer_name": "Dana",
        "caller_id": "035555555",
        "priority": 3,
        "custom_data": {"var_LeadID": 7},
        "ignore_dnc_status": True,
    }
    async with fake.client() as dialer:
        await dialer.add_calls_bulk(campaign.code, [row])
        call = Call(
            "972501234567",
            customer_name="Dana",
            caller_id="035555555",
            priority=3,
            custom_data={"var_LeadID": 7},
            ignore_dnc_status=True,
        )
        await dialer.add_calls_bulk(campaign.code, [call])
    from_mapping, from_call = campaign.calls
    assert from_mapping == from_call
    assert from_mapping.custom_data == {"var_LeadID": "7"}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"phone": "972501234567", "nmae": "Dana"}, "unknown key 'nmae'"),
        ({"customer_name": "Dana"}, "no 'phone'"),
        ({"phone": "972501234567", "target": "972501234568"}, "both 'phone' and 'target'"),
        ({"phone": "12"}, "phone '12' is not a phone number"),
        ({"phone": 972501234567}, "phone must be a str"),
        ({"phone": "972501234567", "priority": "high"}, "priority must be an int"),
        ({"phone": "972501234567", "custom_data": {"a": [1]}}, "custom_data"),
        ({"phone": "972501234567", "customer_name": "Dana \ud83d"}, "lone surrogate"),
    ],
)
async def test_a_bad_mapping_is_a_failed_lead_naming_the_key(
    row: Mapping[str, object], message: str
) -> None:
    server = BulkServer()
    async with server.dialer() as dialer:
        report = await dialer.add_calls_bulk(
            CAMPAIGN_CODE, [as_mapping(lead(0)), row, as_mapping(lead(2))]
        )

    assert report.total == 3
    assert report.accepted == 2
    assert [entry.index for entry in report.failed] == [1]
    error = report.failed[0].error
    assert isinstance(error, ValidationError)
    assert message in error.message
    assert report.failed[0].call is row


async def test_a_writer_takes_mappings() -> None:
    fake = FakeDialer()
    campaign = fake.add_campaign()
    async with fake.client() as dialer, dialer.bulk_writer(campaign.code) as writer:
        accepted = await writer.add({"phone": "972501234567", "customer_name": "Dana"})
        failed = await writer.add({"phone": "972501234567", "name": "Dana"})
    assert accepted.status == "accepted"
    assert failed.status == "failed"
    assert isinstance(failed.error, ValidationError)
    assert "unknown key 'name'" in failed.error.message
    assert campaign.targets() == ["972501234567"]


async def test_add_call_takes_a_call_only(api: respx.MockRouter, dialer: AsyncDialer) -> None:
    with pytest.raises(ValidationError, match="expected a Call, got dict"):
        await dialer.add_call(CAMPAIGN_CODE, {"phone": "972501234567"})  # type: ignore[arg-type]
    assert not api.calls
