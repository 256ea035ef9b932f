"""The CLI as scripts drive it (issue 15): --json, environment variables, help, messages."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from voicenter_dialer.cli import main
from voicenter_dialer.cli._main import _parser
from voicenter_dialer.testing import FakeCampaign, FakeServer

from .test_cli import GOOD_CSV, Run, cli, write


@pytest.fixture
def campaign(server: FakeServer) -> FakeCampaign:
    campaign = server.fake.add_campaign("JSON campaign", kind="agent")
    server.fake.add_campaign("Other campaign")
    return campaign


def document(run: Run) -> Any:
    """The one JSON document on stdout (json.loads refuses anything more)."""
    return json.loads(run.out)


def test_every_api_command_prints_one_json_document(
    server: FakeServer, campaign: FakeCampaign
) -> None:
    code = campaign.code
    env = {"VOICENTER_CAMPAIGN": code}
    runs = {
        "campaigns": cli(server, "campaigns", "--json"),
        "details": cli(server, "details", "--json", env=env),
        "start": cli(server, "start", "--json", env=env),
        "stop": cli(server, "stop", "--json", env=env),
        "add-member": cli(server, "add-member", "SIP7", "--json", env=env),
        "members": cli(server, "members", "--json", env=env),
        "remove-member": cli(server, "remove-member", "SIP7", "--json", env=env),
        "pending": cli(server, "pending", "--json", env=env),
        "clear": cli(server, "clear", "--json", env=env),
    }
    docs = {name: document(run) for name, run in runs.items()}

    assert all(run.code == 0 for run in runs.values()), {n: r.err for n, r in runs.items()}
    assert [c["name"] for c in docs["campaigns"]["campaigns"]] == [
        "JSON campaign",
        "Other campaign",
    ]
    assert docs["details"]["campaign"]["name"] == "JSON campaign"
    assert docs["start"] == {"campaign": "…" + code[-4:], "done": "started"}
    assert docs["members"]["members"][0]["member"] == "SIP7"
    assert docs["add-member"] == {"member": "SIP7", "added": 1}
    assert docs["remove-member"] == {"member": "SIP7", "removed": 1}
    assert docs["pending"]["calls"] == []
    assert code not in "".join(run.out + run.err for run in runs.values())
    shown = document(cli(server, "campaigns", "--json", "--show-codes"))
    assert shown["campaigns"][0]["code"] == code


def test_upload_json_lists_each_refused_lead(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(tmp_path / "leads.csv", "phone,name\n972501234567,a\n123456,b\nnot-a-phone,c\n")

    run = cli(server, "upload", str(leads), "--campaign", campaign.code, "--json")

    assert run.code == 1
    doc = document(run)
    assert {key: doc[key] for key in ("ok", "total", "accepted", "rejected", "failed")} == {
        "ok": False,
        "total": 3,
        "accepted": 1,
        "rejected": 1,
        "failed": 1,
    }
    assert [(lead["line"], lead["status"], lead["target"]) for lead in doc["leads"]] == [
        (3, "rejected", "123456"),
        (4, "failed", "notaphone"),
    ]
    assert doc["leads"][0]["reason"] == "Number is invalid"
    assert "leads" in run.err  # progress went to stderr


def test_upload_json_with_a_rejects_file_gives_a_count(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(tmp_path / "leads.csv", "phone\n972501234567\n123456\n")
    rejects = tmp_path / "rejects.csv"

    run = cli(server, "upload", str(leads), "--json", "--rejects", str(rejects),
              env={"VOICENTER_CAMPAIGN": campaign.code})  # fmt: skip

    doc = document(run)
    assert (doc["rejects_file"], doc["rejects_written"]) == (str(rejects), 1)
    assert "leads" not in doc
    assert rejects.exists()


def test_upload_from_standard_input_as_json(server: FakeServer, campaign: FakeCampaign) -> None:
    run = cli(server, "upload", "-", "--json", stdin=GOOD_CSV,
              env={"VOICENTER_CAMPAIGN": campaign.code})  # fmt: skip

    assert run.code == 0, run.err
    assert document(run)["source"] == "<stdin>"
    assert len(campaign.calls) == 3


def test_journal_as_json(server: FakeServer, campaign: FakeCampaign, tmp_path: Path) -> None:
    journal = str(tmp_path / "upload.journal")
    leads = write(tmp_path / "leads.csv", GOOD_CSV)
    assert cli(server, "upload", str(leads), "--campaign", campaign.code,
               "--journal", journal).code == 0  # fmt: skip

    doc = document(cli(server, "journal", journal, "--json"))

    assert doc["total"] == doc["accepted"] == 3
    assert doc["remaining"] == doc["unknown"] == 0


def test_errors_as_json(server: FakeServer, campaign: FakeCampaign, tmp_path: Path) -> None:
    refused = cli(server, "start", "NOT-A-CAMPAIGN-0123456789abcdef", "--json")
    bad_file = cli(server, "upload", str(tmp_path / "nope.csv"), "--json",
                   "--campaign", campaign.code)  # fmt: skip

    assert refused.code == 1
    assert document(refused)["error"]["type"] == "InvalidCampaignError"
    assert document(refused)["exit_status"] == 1
    assert bad_file.code == 2
    assert document(bad_file)["error"]["type"] == "LeadFileError"
    assert "cannot open" in document(bad_file)["error"]["message"]
    assert "cannot open" in bad_file.err


def test_demo_as_json(server: FakeServer) -> None:
    run = cli(server, "demo", "--leads", "2000", "--json")

    assert run.code == 0, run.err
    assert document(run)["total"] == 2000
    assert "Demo complete." in run.err


def test_base_url_and_campaign_from_the_environment(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(tmp_path / "leads.csv", GOOD_CSV)
    env = {"VOICENTER_BASE_URL": server.base_url, "VOICENTER_CAMPAIGN": campaign.code}

    run = cli(server, "upload", str(leads), env=env, base_url=False)
    started = cli(server, "stop", env=env, base_url=False)

    assert run.code == 0, run.err
    assert len(campaign.calls) == 3
    assert started.code == 0, started.err
    assert not campaign.enabled


def test_the_command_line_campaign_wins_over_the_environment(
    server: FakeServer, campaign: FakeCampaign
) -> None:
    run = cli(server, "stop", campaign.code, env={"VOICENTER_CAMPAIGN": "NOT-A-CAMPAIGN-12345"})

    assert run.code == 0, run.err


@pytest.mark.parametrize("args", [("start",), ("upload", "-"), ("add-member", "SIP1")])
def test_no_campaign_anywhere(server: FakeServer, args: tuple[str, ...]) -> None:
    run = cli(server, *args, stdin="phone\n0501234567\n")

    assert run.code == 2
    assert "no campaign code: set VOICENTER_CAMPAIGN" in run.err


def test_errors_name_flags_not_keywords(server: FakeServer) -> None:
    run = cli(server, "--base-url", "http://dialer.example.com/ForwardDialer/Dialer/", "campaigns")

    assert run.code == 2
    assert "--allow-insecure-http" in run.err
    assert "allow_insecure_http" not in run.err
    assert "--base-url 'http://dialer.example.com/" in run.err


def test_reconcile_without_journal_names_the_flags(
    server: FakeServer, campaign: FakeCampaign
) -> None:
    run = cli(server, "upload", "-", "--reconcile", "--campaign", campaign.code, stdin=GOOD_CSV)

    assert run.code == 2
    assert "--reconcile needs --journal" in run.err


COMMANDS = [
    "campaigns", "details", "pending", "start", "stop", "clear", "members", "add-member",
    "remove-member", "add-call", "update-call", "remove-call", "update-strategy", "upload",
    "journal", "demo", "fake-server", "completion",
]  # fmt: skip


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_describes_every_argument_exit_codes_and_environment(
    command: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"] if command else ["--help"])
    text = capsys.readouterr().out

    assert exited.value.code == 0
    assert "exit status:" in text
    assert "130  interrupted" in text
    for variable in ("VOICENTER_CODE", "VOICENTER_CAMPAIGN", "VOICENTER_BASE_URL"):
        assert variable in text


def test_every_argument_has_help() -> None:
    parser = _parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    parsers = [("voicenter-dialer", parser), *commands.choices.items()]

    missing = [
        f"{name} {action.dest}"
        for name, each in parsers
        for action in each._actions
        if not action.help and not isinstance(action, argparse._SubParsersAction)
    ]

    assert missing == []
    assert sorted(commands.choices) == sorted(COMMANDS)
