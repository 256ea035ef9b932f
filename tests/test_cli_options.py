"""Options every command shares: before or after the command alike, and -q/--quiet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voicenter_dialer.testing import FakeCampaign, FakeServer

from .test_cli import GOOD_CSV, run_main, write


@pytest.fixture
def campaign(server: FakeServer) -> FakeCampaign:
    return server.fake.add_campaign("Options campaign", kind="agent")


def test_connection_options_after_the_command(server: FakeServer, campaign: FakeCampaign) -> None:
    run = run_main(
        "campaigns", "--code", server.fake.account_code, "--base-url", server.base_url, "--json"
    )

    assert run.code == 0, run.err
    assert [c["name"] for c in json.loads(run.out)["campaigns"]] == ["Options campaign"]


def test_every_shared_option_after_the_command(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(tmp_path / "leads.csv", GOOD_CSV)

    run = run_main(
        "upload",
        str(leads),
        "--campaign",
        campaign.code,
        "--base-url",
        server.base_url,
        "--code",
        server.fake.account_code,
        "--max-retries",
        "0",
        "--requests-per-second",
        "1000",
        "--allow-insecure-http",
        "-q",
        "--json",
    )

    assert run.code == 0, run.err
    assert json.loads(run.out)["accepted"] == 3
    assert len(campaign.calls) == 3


def test_an_option_before_the_command_is_not_undone_by_the_command(
    server: FakeServer, campaign: FakeCampaign
) -> None:
    """The command's copies of the shared options must not reset what was given before it."""
    run = run_main(
        "--base-url", server.base_url, "--code", server.fake.account_code, "--json", "campaigns"
    )

    assert run.code == 0, run.err
    assert json.loads(run.out)["campaigns"][0]["name"] == "Options campaign"


def test_after_the_command_wins_over_before(server: FakeServer, campaign: FakeCampaign) -> None:
    run = run_main(
        "--base-url",
        "http://127.0.0.1:9/nowhere/",
        "--max-retries",
        "0",
        "campaigns",
        "--base-url",
        server.base_url,
        env={"VOICENTER_CODE": server.fake.account_code},
    )

    assert run.code == 0, run.err


def test_base_url_from_the_environment_after_the_command_is_still_overridable(
    server: FakeServer, campaign: FakeCampaign
) -> None:
    env = {
        "VOICENTER_CODE": server.fake.account_code,
        "VOICENTER_BASE_URL": "http://127.0.0.1:9/x/",
    }

    run = run_main("--max-retries", "0", "campaigns", "--base-url", server.base_url, env=env)

    assert run.code == 0, run.err


def test_verbose_after_the_command(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    from voicenter_dialer.testing import Faults

    server.fake.faults = Faults({"503": 1.0})
    env = {"VOICENTER_CODE": server.fake.account_code, "VOICENTER_CAMPAIGN": campaign.code}

    run = run_main("start", "--base-url", server.base_url, "--max-retries", "1", "-v", env=env)

    assert run.code == 1
    assert "StartCampaign: attempt 1 of 2 failed (HTTP 503)" in run.err


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_upload_prints_the_result_only(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path, where: str
) -> None:
    leads = write(tmp_path / "leads.csv", GOOD_CSV)
    upload = ["upload", str(leads), "--campaign", campaign.code]
    argv = ["-q", *upload] if where == "before" else [*upload, "--quiet"]
    env = {"VOICENTER_CODE": server.fake.account_code}

    loud = run_main("--base-url", server.base_url, *upload, env=env)
    quiet = run_main("--base-url", server.base_url, *argv, env=env)

    assert loud.code == quiet.code == 0, quiet.err
    assert "3/3 leads" in loud.err  # the progress line
    assert quiet.err == ""
    assert "accepted           3" in quiet.out


def test_quiet_demo_narrates_nothing() -> None:
    loud = run_main("demo", "--leads", "50", "--json")
    quiet = run_main("-q", "demo", "--leads", "50", "--json")

    assert loud.code == quiet.code == 0, quiet.err
    assert "Demo complete" in loud.err
    assert quiet.err == ""
    assert json.loads(quiet.out)["total"] == 50


def test_quiet_keeps_errors(server: FakeServer) -> None:
    run = run_main("-q", "details", "--base-url", server.base_url)

    assert run.code == 2
    assert "no campaign code" in run.err


def test_quiet_and_verbose_contradict(server: FakeServer, campaign: FakeCampaign) -> None:
    run = run_main("-q", "start", campaign.code, "-v", "--base-url", server.base_url, "--json")

    assert run.code == 2
    assert "contradict" in json.loads(run.out)["error"]["message"]
