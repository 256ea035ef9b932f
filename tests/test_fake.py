"""The fake dialer against every documented behaviour, quirks included (over its transport)."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest

from voicenter_dialer.testing import (
    MAX_BULK_RESULTS,
    FakeCampaign,
    FakeDialer,
    FakeTransport,
    Faults,
)

URL = "https://api.voicenter.com/ForwardDialer/Dialer/"


@pytest.fixture
def fake() -> FakeDialer:
    return FakeDialer("ACCOUNT-CODE-0123456789")


@pytest.fixture
def ivr(fake: FakeDialer) -> FakeCampaign:
    return fake.add_campaign("IVR", code="IVR-CODE-0123456789", kind="ivr")


@pytest.fixture
def agent(fake: FakeDialer) -> FakeCampaign:
    return fake.add_campaign("Agents", code="AGENT-CODE-0123456789", kind="agent", enabled=False)


async def post(fake: FakeDialer, method: str, body: Any) -> Any:
    async with httpx.AsyncClient(transport=FakeTransport(fake)) as client:
        response = await client.post(URL + method, json=body)
    assert response.status_code == 200
    return response.json()


async def get(fake: FakeDialer, method: str, query: str) -> Any:
    async with httpx.AsyncClient(transport=FakeTransport(fake)) as client:
        response = await client.get(f"{URL}{method}?{query}")
    return response.json()


async def test_campaign_list_quirks(
    fake: FakeDialer, ivr: FakeCampaign, agent: FakeCampaign
) -> None:
    ivr.calls.extend([])
    await post(fake, "AddCall", {"Campaign": ivr.code, "Target": "0501234567", "Priority": 5})
    await post(fake, "AddCall", {"Campaign": ivr.code, "Target": "0501234568", "Priority": 42})

    answer = await post(fake, "GetCampaignList", {"Code": fake.account_code})

    assert answer["ErrorCode"] == 0
    first, second = answer["Data"]
    assert first == {
        "Name": "IVR",
        "StatusName": "Enabled",
        "TotalPendingCalls": 2,
        "MaxPriority": 42,
        "MinPriority": 5,
        "TotalAwaitingCalls": 2,
        "Code": ivr.code,
    }
    # Agent campaigns: TotalAwaitingCalls is null in the list...
    assert second["TotalAwaitingCalls"] is None
    assert second["StatusName"] == "Disabled"
    # ...and -1 in the details.
    details = await post(fake, "GetCampaignDetails", {"Campaign": agent.code})
    assert details["Data"]["TotalAwaitingCalls"] == -1


async def test_campaign_list_refuses_an_unknown_account(fake: FakeDialer) -> None:
    assert (await post(fake, "GetCampaignList", {"Code": "nope"}))["ErrorCode"] != 0


@pytest.mark.parametrize(
    ("body", "code", "description"),
    [
        ({"Target": "0501234567"}, 1, "Campaign code missing"),
        ({"Campaign": "unknown", "Target": "0501234567"}, 1, "Invalid campaign code"),
        ({"Campaign": "IVR-CODE-0123456789"}, 2, "Target missing"),
        ({"Campaign": "IVR-CODE-0123456789", "Target": "abc"}, -2, "Number is invalid"),
        ({"Campaign": "IVR-CODE-0123456789", "Target": "12345"}, -2, "Number is invalid"),
        ({"Campaign": "IVR-CODE-0123456789", "Target": "0501234567"}, 0, "OK"),
    ],
)
async def test_add_call_rules(
    fake: FakeDialer, ivr: FakeCampaign, body: dict[str, Any], code: int, description: str
) -> None:
    answer = await post(fake, "AddCall", body)

    assert answer == {"ErrorCode": code, "Description": description}
    assert len(ivr.calls) == (1 if code == 0 else 0)


async def test_add_call_stores_fields_and_custom_data_as_strings(
    fake: FakeDialer, ivr: FakeCampaign
) -> None:
    await post(
        fake,
        "AddCall",
        {
            "Campaign": ivr.code,
            "Target": "0501234567",
            "CustomerName": "John Doe",
            "CallerID": "0722776772",
            "Priority": 42,
            "OriginateTime": 1602750000,
            "IsDateLocal": "true",
            "CustomData": {"var_LeadID": 1234567, "var_LeadCampaign": "Facebook", "b": True},
        },
    )

    pending = await post(fake, "GetCampaignPendingCalls", {"Campaign": ivr.code})

    (call,) = pending["Data"]["Calls"]
    assert call["CustomData"] == {
        "var_LeadID": "1234567",
        "var_LeadCampaign": "Facebook",
        "b": "true",
    }
    assert call["CustomerName"] == "John Doe"
    assert call["OriginateTime"] == 1602750000
    assert call["CallStatus"] == {"Status": 1, "Description": "Pending"}
    assert pending["Data"]["Campaign"]["TotalOriginatedCalls"] == 0
    assert ivr.calls[0].is_date_local is True


async def test_duplicates_are_held_and_remove_call_removes_them_all(
    fake: FakeDialer, ivr: FakeCampaign
) -> None:
    for _ in range(3):
        await post(fake, "AddCall", {"Campaign": ivr.code, "Target": "0501234567"})
    await post(fake, "AddCall", {"Campaign": ivr.code, "Target": "0501234568"})
    assert ivr.targets().count("0501234567") == 3

    assert await post(fake, "RemoveCall", {"Campaign": ivr.code, "Target": "0501234567"}) == {
        "ErrorCode": 0,
        "Description": "OK",
    }
    assert ivr.targets() == ["0501234568"]
    # An absent target still answers OK.
    absent = await post(fake, "RemoveCall", {"Campaign": ivr.code, "Target": "0509999999"})
    assert absent["ErrorCode"] == 0
    missing = await post(fake, "RemoveCall", {"Campaign": ivr.code})
    assert missing == {"ErrorCode": 2, "Description": "Target missing"}
    bad = await post(fake, "RemoveCall", {"Campaign": "nope", "Target": "0501234567"})
    assert bad["ErrorCode"] == 1


async def test_update_call_updates_or_adds(fake: FakeDialer, ivr: FakeCampaign) -> None:
    await post(fake, "AddCall", {"Campaign": ivr.code, "Target": "0501234567", "Priority": 1})

    await post(fake, "UpdateCall", {"Campaign": ivr.code, "Target": "0501234567", "Priority": 9})
    await post(fake, "UpdateCall", {"Campaign": ivr.code, "Target": "0507654321"})

    assert [(c.target, c.priority) for c in ivr.calls] == [("0501234567", 9), ("0507654321", 0)]


async def test_clear_and_its_error_code(fake: FakeDialer, ivr: FakeCampaign) -> None:
    await post(fake, "AddCall", {"Campaign": ivr.code, "Target": "0501234567"})

    assert (await post(fake, "ClearCampaignCalls", {"Campaign": ivr.code}))["ErrorCode"] == 0
    assert ivr.calls == []
    assert await post(fake, "ClearCampaignCalls", {"Campaign": "nope"}) == {
        "ErrorCode": 4,
        "Description": "Internal error occurred.",
    }


async def test_error_codes_of_pending_start_stop(fake: FakeDialer) -> None:
    assert await post(fake, "GetCampaignPendingCalls", {"Campaign": "nope"}) == {
        "ErrorCode": 2,
        "Description": "Internal error occured",
    }
    for method in ("StartCampaign", "StopCampaign"):
        assert await post(fake, method, {"Campaign": "nope"}) == {
            "ErrorCode": 1,
            "Description": "Invalid campaign code",
        }


async def test_start_and_stop(fake: FakeDialer, agent: FakeCampaign) -> None:
    await post(fake, "StartCampaign", {"Campaign": agent.code})
    assert agent.enabled
    await post(fake, "StopCampaign", {"Campaign": agent.code})
    assert not agent.enabled


async def test_bulk_answers_per_target(fake: FakeDialer, ivr: FakeCampaign) -> None:
    body = [
        {"Campaign": ivr.code, "Target": "0501234567", "CustomData": {"var_id": 1}},
        {"Campaign": ivr.code, "Target": "bad"},
        {"Campaign": ivr.code, "Target": "0501234568"},
    ]

    answer = await post(fake, "AddCallsBulk", body)

    assert answer["ErrorCode"] == 0
    assert [(r["Target"], r["ErrorCode"]) for r in answer["AddResult"]] == [
        ("0501234567", 0),
        ("bad", -2),
        ("0501234568", 0),
    ]
    assert answer["AddResult"][0]["CustomData"] == {"var_id": 1}
    assert ivr.targets() == ["0501234567", "0501234568"]


async def test_bulk_top_level_invalid_campaign(fake: FakeDialer) -> None:
    answer = await post(fake, "AddCallsBulk", [{"Campaign": "nope", "Target": "0501234567"}])
    assert answer == {"ErrorCode": 1, "Description": "Invalid campaign code"}


async def test_bulk_omits_add_result_above_3000(fake: FakeDialer, ivr: FakeCampaign) -> None:
    body = [{"Campaign": ivr.code, "Target": f"05{i:08d}"} for i in range(MAX_BULK_RESULTS + 1)]

    answer = await post(fake, "AddCallsBulk", body)

    assert "AddResult" not in answer
    assert len(ivr.calls) == MAX_BULK_RESULTS + 1


async def test_members(fake: FakeDialer, agent: FakeCampaign, ivr: FakeCampaign) -> None:
    added = await post(fake, "AddMember", {"Campaign": agent.code, "Member": "SIP1"})
    again = await post(fake, "AddMember", {"Campaign": agent.code, "Member": "SIP1"})
    on_ivr = await post(fake, "AddMember", {"Campaign": ivr.code, "Member": "SIP1"})
    missing = await post(fake, "AddMember", {"Campaign": agent.code})
    listed = await post(fake, "GetMembersList", {"Campaign": agent.code})
    removed = await post(fake, "RemoveMember", {"Campaign": agent.code, "Member": "SIP1"})
    absent = await post(fake, "RemoveMember", {"Campaign": agent.code, "Member": "SIP1"})

    # Member answers carry no Description.
    assert added == {"Data": {"TotalAdded": 1}, "ErrorCode": 0}
    assert again["Data"] == {"TotalAdded": 0}
    assert on_ivr["Data"] == {"TotalAdded": -1}
    assert missing == {"ErrorCode": 2, "Description": "Member Missing"}
    assert listed["Data"] == [{"Member": "SIP1", "DisplayName": "Extension SIP1"}]
    assert removed["Data"] == {"TotalRemoved": 1}
    assert absent["Data"] == {"TotalRemoved": 0}


async def test_strategy(fake: FakeDialer, agent: FakeCampaign) -> None:
    body = {
        "Campaign": agent.code,
        "setQueueForMonitoring": 123456789,
        "setQueueMaximumCallers": 1,
        "setCoefficient": 2,
    }
    assert (await post(fake, "UpdateCampaignStrategy", body))["ErrorCode"] == 0
    assert agent.strategy == {
        "setQueueForMonitoring": 123456789,
        "setQueueMaximumCallers": 1,
        "setCoefficient": 2,
    }


async def test_get_with_query_parameters(fake: FakeDialer, ivr: FakeCampaign) -> None:
    # The vendor's GET examples, with their mixed-case parameter names.
    added = await get(
        fake,
        "AddCall",
        f"Campaign={ivr.code}&Target=0501234567&CustomerName=JohnDoe&Priority=42&var_leadID=1234567",
    )
    stopped = await get(fake, "StopCampaign", f"campaign={ivr.code}")

    assert added["ErrorCode"] == stopped["ErrorCode"] == 0
    assert ivr.calls[0].custom_data == {"var_leadID": "1234567"}
    assert ivr.calls[0].priority == 42
    assert not ivr.enabled
    async with httpx.AsyncClient(transport=FakeTransport(fake)) as client:
        bulk = await client.get(f"{URL}AddCallsBulk?Campaign={ivr.code}")
        unknown = await client.post(URL + "NoSuchMethod", json={})
        not_json = await client.post(URL + "AddCall", content=b"{")
    assert bulk.status_code == 405
    assert unknown.status_code == 404
    assert not_json.status_code == 400


@pytest.mark.parametrize(
    ("fault", "status", "applied"),
    [("503", 503, False), ("429", 429, False), ("500", 500, True), ("html", 502, True)],
)
async def test_faults_by_status(
    fake: FakeDialer, ivr: FakeCampaign, fault: Any, status: int, applied: bool
) -> None:
    fake.faults = Faults({fault: 1.0}, retry_after=2.0)
    async with httpx.AsyncClient(transport=FakeTransport(fake)) as client:
        response = await client.post(
            URL + "AddCall", json={"Campaign": ivr.code, "Target": "0501234567"}
        )

    assert response.status_code == status
    assert len(ivr.calls) == (1 if applied else 0)
    if status in (429, 503):
        assert response.headers["Retry-After"] == "2"
    if fault == "html":
        assert response.headers["Content-Type"] == "text/html"


async def test_fault_reset_and_truncated(fake: FakeDialer, ivr: FakeCampaign) -> None:
    body = {"Campaign": ivr.code, "Target": "0501234567"}
    async with httpx.AsyncClient(transport=FakeTransport(fake)) as client:
        fake.faults = Faults({"reset": 1.0})
        with pytest.raises(httpx.ReadError):
            await client.post(URL + "AddCall", json=body)
        fake.faults = Faults({"truncated": 1.0})
        response = await client.post(URL + "AddCall", json=body)
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert len(ivr.calls) == 2  # both were applied before the answer was spoiled


def test_faults_are_deterministic_per_seed_and_method() -> None:
    def sequence(seed: int) -> list[str | None]:
        faults = Faults({"503": 0.3, "500": 0.2}, seed=seed, methods=frozenset({"AddCall"}))
        return [faults.draw("AddCall") for _ in range(50)]

    assert sequence(1) == sequence(1)
    assert sequence(1) != sequence(2)
    assert {"503", "500", None} == set(sequence(1))
    only_add = Faults({"503": 1.0}, methods=frozenset({"AddCall"}))
    assert only_add.draw("StartCampaign") is None
    assert only_add.draw("AddCall") == "503"
    assert only_add.injected == {"503": 1}


@pytest.mark.parametrize("rates", [{"503": 1.5}, {"nope": 0.1}, {"503": 0.6, "500": 0.6}])
def test_bad_fault_rates(rates: Any) -> None:
    with pytest.raises(ValueError, match=r"fault|probability"):
        Faults(rates)


async def test_latency(fake: FakeDialer, ivr: FakeCampaign) -> None:
    fake.faults = Faults(latency=0.05)
    with anyio.move_on_after(0.01) as scope:
        await post(fake, "StartCampaign", {"Campaign": ivr.code})
    assert scope.cancelled_caught  # the answer was not there within 10 ms


async def test_capacity_turns_away_requests_beyond_it(fake: FakeDialer, ivr: FakeCampaign) -> None:
    fake.faults = Faults(capacity=2, latency=0.05, retry_after=0.5)
    statuses: list[int] = []
    retry_after: list[str | None] = []

    async def add(i: int) -> None:
        async with httpx.AsyncClient(transport=FakeTransport(fake)) as client:
            body = {"Campaign": ivr.code, "Target": f"9725{i:08d}"}
            response = await client.post(URL + "AddCall", json=body)
        statuses.append(response.status_code)
        retry_after.append(response.headers.get("Retry-After"))

    async with anyio.create_task_group() as tasks:
        for i in range(2):
            tasks.start_soon(add, i)
        await anyio.wait_all_tasks_blocked()  # both are being served (the latency)...
        tasks.start_soon(add, 2)  # ...so a third is turned away at once
    assert sorted(statuses) == [200, 200, 429]
    assert retry_after[statuses.index(429)] == "0.5"
    assert fake.faults.over_capacity == 1
    assert sorted(ivr.targets()) == [f"9725{i:08d}" for i in range(2)]  # not processed
    await add(3)  # room again once they are answered
    assert statuses[-1] == 200


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        Faults(capacity=0)
