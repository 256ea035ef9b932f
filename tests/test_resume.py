"""A CLI upload killed with SIGKILL part way, then resumed with its journal: every lead ends
up in the campaign exactly once."""

from __future__ import annotations

import collections
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from voicenter_dialer import summarise_journal
from voicenter_dialer.testing import FakeCampaign, FakeServer, Faults

LEADS = 20_000


@pytest.fixture
def campaign(server: FakeServer) -> FakeCampaign:
    return server.fake.add_campaign("Resume")


@pytest.fixture
def lead_file(tmp_path: Path) -> Path:
    path = tmp_path / "leads.csv"
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["phone", "name"])
        writer.writerows([f"9725{i:08d}", f"Lead {i}"] for i in range(LEADS))
    return path


def upload(server: FakeServer, campaign: FakeCampaign, lead_file: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "voicenter_dialer", "--base-url", server.base_url,
        "upload", str(lead_file), "--campaign", campaign.code,
        "--chunk-size", "250", "--concurrency", "4", *extra,
    ]  # fmt: skip


def kill_part_way(command: list[str], campaign: FakeCampaign, cwd: Path | None = None) -> None:
    """Start the upload, and SIGKILL it once the campaign holds a quarter of the leads."""
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd
    )
    deadline = time.monotonic() + 60
    while len(campaign.calls) < LEADS // 4:
        assert process.poll() is None, "the upload ended before it could be killed"
        assert time.monotonic() < deadline, "the upload made no progress"
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)


def rerun(command: list[str], cwd: Path | None = None) -> int:
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, cwd=cwd
    )
    assert "Traceback" not in completed.stderr
    return completed.returncode


def assert_every_lead_exactly_once(campaign: FakeCampaign) -> None:
    held = collections.Counter(campaign.targets())
    assert max(held.values()) == 1, "a lead was added twice"
    assert set(held) == {f"9725{i:08d}" for i in range(LEADS)}, "a lead was lost"


def test_killed_upload_resumes_and_reconciles(
    server: FakeServer, campaign: FakeCampaign, lead_file: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "upload.journal"
    command = upload(server, campaign, lead_file, "--journal", str(journal))
    server.fake.faults = Faults(latency=0.02)  # slow answers: chunks are in flight at the kill

    kill_part_way(command, campaign)

    summary = summarise_journal(journal)
    assert summary.total == LEADS
    assert summary.done + summary.unknown + (summary.remaining or 0) == LEADS
    assert summary.remaining
    shown = subprocess.run(
        [sys.executable, "-m", "voicenter_dialer", "journal", str(journal)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert shown.returncode == 1  # work is left
    assert f"remaining  {summary.remaining:>10,}" in shown.stdout
    assert f"unknown    {summary.unknown:>10,}" in shown.stdout
    server.fake.faults = Faults()
    assert rerun([*command, "--reconcile"]) == 0
    assert_every_lead_exactly_once(campaign)
    final = summarise_journal(journal)
    assert (final.accepted, final.unknown, final.remaining) == (LEADS, 0, 0)


def test_killed_upload_under_faults_resumes_and_reconciles(
    server: FakeServer, campaign: FakeCampaign, lead_file: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "upload.journal"
    command = upload(server, campaign, lead_file, "--journal", str(journal))
    server.fake.faults = Faults(
        {"503": 0.05, "500": 0.05, "reset": 0.05, "truncated": 0.03}, latency=0.02, seed=9
    )

    kill_part_way(command, campaign)
    rerun([*command, "--reconcile"])  # still under faults: some outcomes stay unknown

    server.fake.faults = Faults()
    for _ in range(3):  # reruns until nothing is left open (refused leads are sent again)
        summary = summarise_journal(journal)
        if not summary.unknown and not summary.remaining:
            break
        rerun([*command, "--reconcile"])
    summary = summarise_journal(journal)
    assert (summary.accepted, summary.unknown, summary.remaining) == (LEADS, 0, 0)
    assert_every_lead_exactly_once(campaign)


def test_journal_command_refuses_a_foreign_file(tmp_path: Path) -> None:
    foreign = tmp_path / "leads.csv"
    foreign.write_text("phone\n0501234567\n")
    shown = subprocess.run(
        [sys.executable, "-m", "voicenter_dialer", "journal", str(foreign)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert shown.returncode == 2
    assert "not a bulk upload journal" in shown.stderr
    assert foreign.read_text() == "phone\n0501234567\n"


def test_ctrl_c_stops_cleanly_and_the_journal_resumes(
    server: FakeServer, campaign: FakeCampaign, lead_file: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "upload.journal"
    command = upload(server, campaign, lead_file, "--journal", str(journal))
    server.fake.faults = Faults(latency=0.02)
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A suite started in the background without job control ignores SIGINT, and so would
        # the upload: give it the default handler, as a terminal does.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler),
    )
    deadline = time.monotonic() + 60
    while len(campaign.calls) < LEADS // 4:
        assert process.poll() is None
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)

    assert process.returncode == 130
    assert "interrupted" in err
    assert "Traceback" not in err
    summary = summarise_journal(journal)
    assert summary.done + summary.unknown + (summary.remaining or 0) == LEADS
    server.fake.faults = Faults()
    assert rerun([*command, "--reconcile"]) == 0
    assert_every_lead_exactly_once(campaign)
