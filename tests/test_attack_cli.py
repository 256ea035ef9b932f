"""Outside attacks on the CLI. Each test is a finding: red until the CLI is fixed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import respx

from voicenter_dialer.testing import FakeServer

from .examples import ACCOUNT_CODE, CAMPAIGN_CODE, CAMPAIGN_DETAILS
from .test_cli import Run, cli, run_main, write


@pytest.mark.parametrize("flag", ["--jso", "--js"])
def test_an_abbreviated_json_flag_still_prints_one_json_document(
    server: FakeServer, flag: str
) -> None:
    """argparse accepts a unique prefix of --json, so the command runs as --json: stdout
    must then be the JSON document (a script parsing it gets text instead)."""
    server.fake.add_campaign("Sales")

    run = cli(server, "campaigns", flag)

    assert run.code == 0, run.err
    assert json.loads(run.out)["campaigns"][0]["name"] == "Sales"


def test_an_abbreviated_json_flag_error_is_a_json_document(server: FakeServer) -> None:
    run = cli(server, "--js", "details", "--campaign", "NOSUCHCAMPAIGN")

    assert run.code == 1
    assert json.loads(run.out)["exit_status"] == 1


def test_a_base_url_port_out_of_range_is_a_usage_error() -> None:
    """http://host:99999/ cannot be reached: a usage error (exit 2) naming the URL, not an
    'internal error (ExceptionGroup)'."""
    run_out = run_main(
        "--json",
        "--base-url",
        "http://127.0.0.1:99999/ForwardDialer/Dialer/",
        "--max-retries",
        "0",
        "campaigns",
        env={"VOICENTER_CODE": "ACCTSECRET0123456789abcdefWXYZ"},
    )

    error = json.loads(run_out.out)["error"]
    assert error["type"] != "ExceptionGroup", error
    assert run_out.code == 2, error


@pytest.mark.parametrize(
    "mistake",
    [
        # Starting two campaigns at once: the second code is an unrecognized argument.
        ("start", "{code}", "{code}"),
        # Other commands take CAMPAIGN as a positional; upload does not.
        ("upload", "{leads}", "{code}", "--dry-run"),
    ],
)
@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_a_usage_error_never_echoes_a_campaign_code(
    server: FakeServer,
    tmp_path: Path,
    mistake: tuple[str, ...],
    json_flag: tuple[str, ...],
) -> None:
    code = server.fake.add_campaign().code
    leads = write(tmp_path / "leads.csv", "phone\n972501234567\n")
    argv = [word.format(code=code, leads=leads) for word in mistake]

    run = cli(server, *argv, *json_flag)

    assert run.code == 2
    assert code not in run.out + run.err, run.out + run.err


def test_a_jsonl_lead_with_a_duplicate_key_is_refused(server: FakeServer, tmp_path: Path) -> None:
    """{"phone": A, "phone": B}: which number was meant is unknown; the CSV reader refuses
    duplicate columns, the JSONL reader silently dials B and drops A."""
    code = server.fake.add_campaign().code
    leads = write(tmp_path / "leads.jsonl", '{"phone": "972501234567", "phone": "972501234568"}\n')

    run = cli(server, "upload", str(leads), "--campaign", code, "--json")

    assert run.code == 2, run.out
    assert "phone" in json.loads(run.out)["error"]["message"]


def test_the_cli_masks_a_code_the_service_echoes_in_an_unknown_field(
    api: respx.MockRouter,
) -> None:
    """Campaign.code is masked in the CLI's output; the same code under a field this version
    does not know (kept in .extra, printed by --json) must not come out in full either."""
    data = {**CAMPAIGN_DETAILS["Data"], "Code": CAMPAIGN_CODE, "CampaignCode": CAMPAIGN_CODE}
    api.post("GetCampaignDetails").respond(json={**CAMPAIGN_DETAILS, "Data": data})

    run = run_main(
        "details",
        "--json",
        env={"VOICENTER_CODE": ACCOUNT_CODE, "VOICENTER_CAMPAIGN": CAMPAIGN_CODE},
    )

    assert run.code == 0, run.err
    assert json.loads(run.out)["campaign"]["code"] == "…" + CAMPAIGN_CODE[-4:]
    assert CAMPAIGN_CODE not in run.out


def _upload_process(server: FakeServer, leads: Path, campaign: str, stderr: str) -> Run:
    """``upload --json`` as a process of its own whose stderr is *stderr* (a shell
    redirection: ``2>&-`` closed, as a daemon's may be; ``2>/dev/full`` failing writes)."""
    completed = subprocess.run(
        [
            "/bin/sh",
            "-c",
            f'exec "$@" {stderr}',
            "sh",
            sys.executable,
            "-m",
            "voicenter_dialer",
            "--base-url",
            server.base_url,
            "upload",
            str(leads),
            "--json",
        ],
        stdout=subprocess.PIPE,
        text=True,
        timeout=60,
        env={
            "VOICENTER_CODE": server.fake.account_code,
            "VOICENTER_CAMPAIGN": campaign,
            "PATH": "/usr/bin:/bin",
        },
        check=False,
    )
    return Run(completed.returncode, completed.stdout, "")


@pytest.mark.parametrize("stderr", ["2>&-", "2>/dev/full"])
def test_upload_json_with_an_unusable_stderr_still_reports_on_stdout(
    server: FakeServer, tmp_path: Path, stderr: str
) -> None:
    """stdout is the one JSON document whatever stderr is. With 2>/dev/full every lead was
    sent and the report is lost: a script that retries dials everyone twice."""
    campaign = server.fake.add_campaign()
    leads = write(
        tmp_path / "leads.csv", "phone\n" + "".join(f"9725012{i:05d}\n" for i in range(50))
    )

    run = _upload_process(server, leads, campaign.code, stderr)

    doc = json.loads(run.out)  # one document, nothing else
    if "error" not in doc:
        assert (doc["total"], doc["accepted"]) == (50, len(campaign.targets()))
    else:
        assert campaign.targets() == []


@pytest.mark.parametrize(
    "options",
    [("--chunk-size", "3001"), ("--max-chunk-bytes", "10")],
)
def test_dry_run_refuses_the_options_the_upload_refuses(
    server: FakeServer, tmp_path: Path, options: tuple[str, ...]
) -> None:
    """--dry-run "does the checking": it said exit 0, would send 1; the upload then exits 2."""
    code = server.fake.add_campaign().code
    leads = write(tmp_path / "leads.csv", "phone\n972501234567\n")
    env = {"VOICENTER_CAMPAIGN": code}

    real = cli(server, "upload", str(leads), "--json", *options, env=env)
    dry = cli(server, "upload", str(leads), "--json", "--dry-run", *options, env=env)

    assert real.code == 2
    assert dry.code == real.code, dry.out


def test_dry_run_counts_a_lead_larger_than_max_chunk_bytes_as_invalid(
    server: FakeServer, tmp_path: Path
) -> None:
    campaign = server.fake.add_campaign()
    leads = write(tmp_path / "leads.csv", "phone,name\n972501234567," + "x" * 200 + "\n")

    dry = cli(server, "upload", str(leads), "--json", "--dry-run", "--max-chunk-bytes", "100")

    assert campaign.targets() == []
    assert json.loads(dry.out)["would_be_sent"] == 0, dry.out
    assert dry.code == 2
