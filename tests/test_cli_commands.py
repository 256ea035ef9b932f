"""The whole API from the command line (issue 23 item 3): a command per AsyncDialer method,
the call commands, update-strategy, and one way to name a campaign on every command."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from voicenter_dialer import AsyncDialer
from voicenter_dialer.testing import FakeCampaign, FakeServer

from .test_cli import cli, write

# Each public method of AsyncDialer, the command reaching it, the arguments after the
# command, and the wire method it sends. A method missing here fails the first test.
COMMANDS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "get_campaign_list": ("campaigns", (), "GetCampaignList"),
    "get_campaign_details": ("details", (), "GetCampaignDetails"),
    "get_campaign_pending_calls": ("pending", (), "GetCampaignPendingCalls"),
    "start_campaign": ("start", (), "StartCampaign"),
    "stop_campaign": ("stop", (), "StopCampaign"),
    "update_campaign_strategy": (
        "update-strategy",
        ("--queue-for-monitoring", "1001", "--queue-maximum-callers", "5", "--coefficient", "2"),
        "UpdateCampaignStrategy",
    ),
    "add_call": ("add-call", ("--phone", "972501234567"), "AddCall"),
    "update_call": ("update-call", ("--phone", "972501234567", "--priority", "3"), "UpdateCall"),
    "remove_call": ("remove-call", ("--phone", "972501234567"), "RemoveCall"),
    "clear_campaign_calls": ("clear", (), "ClearCampaignCalls"),
    "add_calls_bulk": ("upload", ("LEADS",), "AddCallsBulk"),
    # The streaming and push forms of a bulk upload: the upload command is their use.
    "stream_calls_bulk": ("upload", ("LEADS",), "AddCallsBulk"),
    "bulk_writer": ("upload", ("LEADS",), "AddCallsBulk"),
    # A rerun's upload checks its whole file against the journal first.
    "check_journal": ("upload", ("LEADS",), "AddCallsBulk"),
    "get_members_list": ("members", (), "GetMembersList"),
    "add_member": ("add-member", ("SIP7",), "AddMember"),
    "remove_member": ("remove-member", ("SIP7",), "RemoveMember"),
}
# Public attributes of the client that are not calls of the API.
NOT_API = {"aclose", "with_options", "with_raw_response"}


@pytest.fixture
def campaign(server: FakeServer) -> FakeCampaign:
    return server.fake.add_campaign("Commands campaign", kind="agent")


def test_every_api_method_has_a_command() -> None:
    public = {name for name in dir(AsyncDialer) if not name.startswith("_")} - NOT_API

    assert public == set(COMMANDS)


@pytest.mark.parametrize("method", sorted(COMMANDS))
def test_each_command_sends_its_method(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path, method: str
) -> None:
    name, args, wire = COMMANDS[method]
    leads = write(tmp_path / "leads.csv", "phone\n972501234567\n")
    campaign.members["SIP7"] = "Agent 7"
    args = tuple(str(leads) if arg == "LEADS" else arg for arg in args)
    server.fake.requests.clear()

    run = cli(server, name, *args, "--json", env={"VOICENTER_CAMPAIGN": campaign.code})

    assert run.code == 0, run.err
    assert server.fake.requests == [wire]
    json.loads(run.out)  # one document


def test_add_call_sends_every_field(server: FakeServer, campaign: FakeCampaign) -> None:
    run = cli(
        server,
        "add-call",
        campaign.code,
        "--phone",
        "050-123-4567",
        "--name",
        "Dana",
        "--caller-id",
        "03-555-1234",
        "--priority",
        "7",
        "--custom",
        "var_LeadID=42",
        "--custom",
        "note=a=b",
        "--at",
        "2030-01-02T09:00:00+02:00",
        "--ignore-dnc",
    )

    assert run.code == 0, run.err
    [call] = campaign.calls
    assert call.target == "972501234567"  # normalised as lead files are (region IL)
    assert call.customer_name == "Dana"
    assert call.caller_id == "97235551234"
    assert call.priority == 7
    assert call.custom_data == {"var_LeadID": "42", "note": "a=b"}
    assert call.originate_time == int(
        dt.datetime(2030, 1, 2, 7, tzinfo=dt.timezone.utc).timestamp()
    )
    assert call.is_date_local is False
    assert "972501234567" in run.out
    assert campaign.code not in run.out + run.err


def test_at_without_an_offset_is_the_account_clock(
    server: FakeServer, campaign: FakeCampaign
) -> None:
    run = cli(
        server, "add-call", campaign.code, "--phone", "972501234567", "--at", "2030-01-02T09:00"
    )

    assert run.code == 0, run.err
    [call] = campaign.calls
    assert call.is_date_local is True


def test_at_in_epoch_seconds_is_that_instant(server: FakeServer, campaign: FakeCampaign) -> None:
    run = cli(server, "add-call", campaign.code, "--phone", "972501234567", "--at", "1893574800")

    assert run.code == 0, run.err
    [call] = campaign.calls
    assert (call.originate_time, call.is_date_local) == (1893574800, False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("--phone", "972501234567", "--custom", "novalue"), "KEY=VALUE", id="custom"),
        pytest.param(("--phone", "972501234567", "--custom", "=x"), "KEY=VALUE", id="empty-key"),
        pytest.param(("--phone", "972501234567", "--at", "tomorrow"), "--at", id="at"),
        pytest.param(("--phone", "972501234567", "--priority", "high"), "--priority", id="prio"),
        pytest.param(("--phone", "not a number"), "not a phone number", id="phone"),
        pytest.param((), "--phone", id="no-phone"),
    ],
)
def test_bad_call_options_exit_2_before_anything_is_sent(
    server: FakeServer, campaign: FakeCampaign, args: tuple[str, ...], message: str
) -> None:
    server.fake.requests.clear()

    run = cli(server, "add-call", campaign.code, *args, "--json")

    assert run.code == 2, run.err
    assert message in json.loads(run.out)["error"]["message"]
    assert server.fake.requests == []


def test_update_and_remove_a_call(server: FakeServer, campaign: FakeCampaign) -> None:
    env = {"VOICENTER_CAMPAIGN": campaign.code}
    assert cli(server, "add-call", "--phone", "972501234567", "--name", "Dana", env=env).code == 0

    updated = cli(server, "update-call", "--phone", "972501234567", "--priority", "9", env=env)
    assert updated.code == 0, updated.err
    assert [(c.target, c.priority) for c in campaign.calls] == [("972501234567", 9)]

    removed = cli(server, "remove-call", "--phone", "050-123-4567", "--json", env=env)
    assert removed.code == 0, removed.err
    assert campaign.calls == []
    assert json.loads(removed.out)["target"] == "972501234567"


def test_update_strategy(server: FakeServer, campaign: FakeCampaign) -> None:
    run = cli(
        server,
        "update-strategy",
        "--campaign",
        campaign.code,
        "--queue-for-monitoring",
        "1001",
        "--queue-maximum-callers",
        "5",
        "--coefficient",
        "2",
        "--json",
    )

    assert run.code == 0, run.err
    assert campaign.strategy == {
        "setQueueForMonitoring": 1001,
        "setQueueMaximumCallers": 5,
        "setCoefficient": 2,
    }
    assert campaign.code not in run.out


def test_update_strategy_out_of_range_is_a_usage_error(
    server: FakeServer, campaign: FakeCampaign
) -> None:
    server.fake.requests.clear()
    args = ("--queue-for-monitoring", "1001", "--queue-maximum-callers", "0", "--coefficient", "2")

    run = cli(server, "update-strategy", campaign.code, *args)

    assert run.code == 2
    assert server.fake.requests == []


# --- one way to name a campaign ------------------------------------------------------------

CAMPAIGN_COMMANDS = [
    ("details", ()),
    ("pending", ()),
    ("start", ()),
    ("stop", ()),
    ("members", ()),
    ("clear", ()),
    ("add-member", ("SIP7",)),
    ("remove-member", ("SIP7",)),
    ("add-call", ("--phone", "972501234567")),
    ("update-call", ("--phone", "972501234567")),
    ("remove-call", ("--phone", "972501234567")),
    (
        "update-strategy",
        ("--queue-for-monitoring", "1", "--queue-maximum-callers", "5", "--coefficient", "2"),
    ),
]


@pytest.mark.parametrize(("name", "args"), CAMPAIGN_COMMANDS)
def test_every_campaign_command_takes_the_campaign_option(
    server: FakeServer, campaign: FakeCampaign, name: str, args: tuple[str, ...]
) -> None:
    campaign.members["SIP7"] = "Agent 7"

    as_option = cli(server, name, "--campaign", campaign.code, *args)
    assert as_option.code == 0, as_option.err
    campaign.members["SIP7"] = "Agent 7"
    as_positional = cli(server, name, campaign.code, *args)
    assert as_positional.code == 0, as_positional.err
    campaign.members["SIP7"] = "Agent 7"
    from_env = cli(server, name, *args, env={"VOICENTER_CAMPAIGN": campaign.code})
    assert from_env.code == 0, from_env.err


def test_two_different_campaigns_are_refused(server: FakeServer, campaign: FakeCampaign) -> None:
    other = server.fake.add_campaign("Other")
    server.fake.requests.clear()

    run = cli(server, "start", campaign.code, "--campaign", other.code)

    assert run.code == 2
    assert "two campaigns" in run.err
    assert campaign.code not in run.err
    assert other.code not in run.err
    assert server.fake.requests == []


@pytest.mark.parametrize("name", ["details", "upload", "add-call"])
def test_no_campaign_names_both_ways_to_give_one(server: FakeServer, name: str) -> None:
    args = {"upload": ["leads.csv"], "add-call": ["--phone", "972501234567"]}.get(name, [])

    run = cli(server, name, *args)

    assert run.code == 2
    assert "VOICENTER_CAMPAIGN" in run.err
    assert "--campaign" in run.err


NOT_UTF8 = "\udcff"  # how Python hands over a byte of argv that is not UTF-8


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("start", "CODE" + NOT_UTF8), id="campaign"),
        pytest.param(("details", "--campaign", "CODE" + NOT_UTF8), id="campaign-option"),
        pytest.param(("add-member", "CODE", "SIP" + NOT_UTF8), id="member"),
        pytest.param(("campaigns", "--code", "ACCOUNT" + NOT_UTF8), id="code"),
        pytest.param(
            ("add-call", "CODE", "--phone", "972501234567", "--name", "\ud83d"), id="name"
        ),
        pytest.param(
            ("add-call", "CODE", "--phone", "972501234567", "--custom", f"k{NOT_UTF8}=v"),
            id="custom",
        ),
    ],
)
def test_values_that_are_not_utf8_are_refused_before_anything_is_sent(
    server: FakeServer, campaign: FakeCampaign, args: tuple[str, ...]
) -> None:
    args = tuple(arg.replace("CODE", campaign.code) for arg in args)
    server.fake.requests.clear()

    run = cli(server, *args, "--json")

    assert run.code == 2, run.err
    message = json.loads(run.out)["error"]["message"]
    assert "not UTF-8 text" in message
    assert campaign.code not in message
    assert server.fake.requests == []


@pytest.mark.parametrize("variable", ["VOICENTER_CAMPAIGN", "VOICENTER_CODE"])
def test_a_code_in_the_environment_that_is_not_utf8_is_refused(
    server: FakeServer, campaign: FakeCampaign, variable: str
) -> None:
    env = {"VOICENTER_CAMPAIGN": campaign.code, variable: "CODE" + NOT_UTF8}
    server.fake.requests.clear()

    run = cli(server, "details", env=env)

    assert run.code == 2, run.err
    assert "not UTF-8 text" in run.err
    assert server.fake.requests == []
