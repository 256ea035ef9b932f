"""``upload --max-chunk-bytes``, and where ``--concurrency`` settled (report and progress)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from voicenter_dialer.testing import FakeCampaign, FakeServer

from .test_cli import cli, write


@pytest.fixture
def campaign(server: FakeServer) -> FakeCampaign:
    return server.fake.add_campaign("CLI upload options", kind="agent")


def _numbers(count: int) -> str:
    return "phone,name\n" + "".join(f"9725012{i:05d},Lead {i}\n" for i in range(count))


def _bulk_requests(server: FakeServer) -> int:
    return server.fake.requests.count("AddCallsBulk")


def test_max_chunk_bytes_bounds_each_request(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(tmp_path / "leads.csv", _numbers(20))
    upload = ["upload", str(leads), "--campaign", campaign.code, "--concurrency", "1"]
    server.fake.requests.clear()

    unbounded = cli(server, *upload)
    assert unbounded.code == 0, unbounded.err
    assert _bulk_requests(server) == 1
    server.fake.requests.clear()
    campaign.calls.clear()

    bounded = cli(server, *upload, "--max-chunk-bytes", "400")

    assert bounded.code == 0, bounded.err
    assert "accepted          20" in bounded.out
    # Each call's wire object is about 100 bytes: at most a few per 400-byte body.
    assert _bulk_requests(server) >= 5
    assert campaign.targets() == [f"9725012{i:05d}" for i in range(20)]  # once each, in order


def test_a_lead_larger_than_the_bound_alone_fails(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(
        tmp_path / "leads.csv", f"phone,name\n972501234567,Dana\n972501234568,{'x' * 500}\n"
    )

    run = cli(server, "upload", str(leads), "--campaign", campaign.code, "--json",
              "--max-chunk-bytes", "300")  # fmt: skip

    assert run.code == 1
    document = json.loads(run.out)
    assert (document["accepted"], document["failed"]) == (1, 1)
    assert [(lead["line"], lead["status"]) for lead in document["leads"]] == [(3, "failed")]
    assert "--max-chunk-bytes" in document["leads"][0]["reason"]
    assert campaign.targets() == ["972501234567"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("10", "--max-chunk-bytes must be at least"),
        ("0", "must be at least 1"),
        ("lots", "expected a whole number"),
    ],
)
@pytest.mark.parametrize("json_mode", [True, False])
def test_a_bad_max_chunk_bytes_exits_2_before_anything_is_sent(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path, value: str, message: str,
    json_mode: bool,
) -> None:  # fmt: skip
    leads = write(tmp_path / "leads.csv", _numbers(3))
    server.fake.requests.clear()

    run = cli(server, "upload", str(leads), "--campaign", campaign.code,
              "--max-chunk-bytes", value, *(["--json"] if json_mode else []))  # fmt: skip

    assert run.code == 2
    assert message in (json.loads(run.out)["error"]["message"] if json_mode else run.err)
    assert server.fake.requests == []
    assert campaign.calls == []


def test_where_auto_concurrency_settled_is_reported(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(tmp_path / "leads.csv", _numbers(50))
    upload = ["upload", str(leads), "--campaign", campaign.code, "--chunk-size", "5"]

    text = cli(server, *upload, "--concurrency", "auto")
    as_json = cli(server, *upload, "--concurrency", "auto", "--json")

    assert text.code == as_json.code == 0, text.err + as_json.err
    settled = json.loads(as_json.out)["concurrency"]
    assert settled["mode"] == "auto"
    assert isinstance(settled["settled"], int)
    assert settled["settled"] >= 1
    line = re.search(r"^  concurrency: auto, settled at (\d+)$", text.out, re.MULTILINE)
    assert line is not None, text.out
    assert int(line[1]) >= 1


def test_a_fixed_concurrency_is_reported_as_given(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(tmp_path / "leads.csv", _numbers(10))

    run = cli(server, "upload", str(leads), "--campaign", campaign.code, "--json",
              "--concurrency", "3", "--chunk-size", "2")  # fmt: skip

    assert run.code == 0, run.err
    assert json.loads(run.out)["concurrency"] == {"mode": "fixed", "settled": 3}


def test_the_progress_line_shows_the_current_limit_under_auto(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(tmp_path / "leads.csv", _numbers(20))
    upload = ["upload", str(leads), "--campaign", campaign.code, "--chunk-size", "5"]

    auto = cli(server, *upload, "--concurrency", "auto")
    fixed = cli(server, *upload, "--concurrency", "2")

    assert auto.code == fixed.code == 0, auto.err + fixed.err
    progress = [line for line in auto.err.splitlines() if " leads: " in line]
    assert progress
    assert all("; concurrency " in line and line.endswith(" (auto)") for line in progress)
    assert "concurrency" not in fixed.err  # as given: nothing to say while it runs
