"""to_dict: JSON-ready dicts of every model and report, as a web service returns them."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from fastapi import FastAPI

from voicenter_dialer import (
    AddResult,
    BulkReport,
    Call,
    CallStatus,
    Campaign,
    ChunkOutcome,
    FailedCall,
    JournalSummary,
    Member,
    PendingCall,
    PendingCalls,
    RejectedCall,
    TransportError,
    to_dict,
)
from voicenter_dialer.testing import FakeDialer

from .examples import CAMPAIGN_CODE

CAMPAIGN = Campaign(
    name="Sales",
    status_name="Enabled",
    total_pending_calls=3,
    max_priority=2,
    min_priority=1,
    total_awaiting_calls=None,
    code=CAMPAIGN_CODE,
)
CALL = Call(
    "972501234567",
    customer_name="Dana",
    custom_data={"lead": 7},
    originate_time=dt.datetime(2030, 1, 2, 3, 4, tzinfo=dt.timezone.utc),
)
REJECTED = RejectedCall(3, CALL, AddResult("972501234567", 5, "Blocked", {"lead": "7"}))
FAILED = FailedCall(
    4,
    CALL,
    TransportError("AddCallsBulk: ReadTimeout", method="AddCallsBulk", outcome_unknown=True),
)
REPORT = BulkReport(total=5, accepted=3, rejected=[REJECTED], failed=[FAILED])


def test_a_campaign_has_snake_case_keys_and_its_code() -> None:
    assert to_dict(CAMPAIGN) == {
        "name": "Sales",
        "status_name": "Enabled",
        "total_pending_calls": 3,
        "max_priority": 2,
        "min_priority": 1,
        "total_awaiting_calls": None,
        "code": CAMPAIGN_CODE,  # a credential, kept: the service decides what to expose
        "total_originated_calls": None,
        "extra": {},  # what the service sent that this version does not know
    }


def test_a_bulk_report_with_its_rejected_and_failed_entries() -> None:
    rendered = to_dict(REPORT)
    assert json.loads(json.dumps(rendered)) == rendered
    assert rendered["rejected"] == [
        {
            "index": 3,
            "call": {
                "target": "972501234567",
                "customer_name": "Dana",
                "caller_id": None,
                "priority": None,
                "custom_data": {"lead": 7},
                "originate_time": "2030-01-02T03:04:00+00:00",
                "is_date_local": None,
                "ignore_dnc_status": None,
            },
            "result": {
                "target": "972501234567",
                "error_code": 5,
                "description": "Blocked",
                "custom_data": {"lead": "7"},
                "extra": {},
            },
        }
    ]
    assert rendered["failed"][0]["error"] == {
        "type": "TransportError",
        "message": "AddCallsBulk: ReadTimeout",
        "method": "AddCallsBulk",
        "outcome_unknown": True,
    }
    assert (rendered["total"], rendered["accepted"]) == (5, 3)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (Member("201", "Dana"), {"member": "201", "display_name": "Dana"}),
        (
            ChunkOutcome(0, 5, 3, [REJECTED], [FAILED]),
            {"start": 0, "size": 5, "accepted": 3},
        ),
        (
            JournalSummary(total=10, accepted=7, rejected=1, failed=1, unknown=1, remaining=0),
            {"total": 10, "accepted": 7, "rejected": 1, "failed": 1, "unknown": 1, "remaining": 0},
        ),
        (
            PendingCalls(
                CAMPAIGN, [PendingCall("972501234567", call_status=CallStatus(1, "Pending"))]
            ),
            {"campaign": to_dict(CAMPAIGN)},
        ),
    ],
)
def test_every_model_and_report(model: object, expected: dict[str, Any]) -> None:
    rendered = to_dict(model)
    assert json.loads(json.dumps(rendered)) == rendered
    assert rendered.items() >= expected.items()


def test_only_models() -> None:
    with pytest.raises(TypeError, match="to_dict takes"):
        to_dict({"a": 1})


# This starlette asks for its httpx fork ("httpx2") under its TestClient; httpx works still.
@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient` is deprecated")
def test_fastapi_returns_models_through_it() -> None:
    from fastapi.testclient import TestClient

    fake = FakeDialer()
    code = fake.add_campaign("Sales").code
    app = FastAPI()

    @app.get("/campaign")
    async def campaign() -> dict[str, Any]:
        async with fake.client() as dialer:
            return to_dict(await dialer.get_campaign_details(code))

    @app.post("/upload")
    async def upload() -> dict[str, Any]:
        calls = [Call("972501234567"), Call("123456"), Call("nope")]
        async with fake.client() as dialer:
            return to_dict(await dialer.add_calls_bulk(code, calls))

    with TestClient(app) as client:
        got = client.get("/campaign").json()
        assert (got["name"], got["code"]) == ("Sales", code)
        report = client.post("/upload").json()
    assert (report["total"], report["accepted"]) == (3, 1)
    assert report["rejected"][0]["result"]["error_code"] == -2
    assert report["failed"][0]["error"]["type"] == "ValidationError"
    assert report["failed"][0]["call"]["target"] == "nope"
