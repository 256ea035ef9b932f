"""``upload --dry-run``: the file read and checked, the leads validated, nothing sent."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from voicenter_dialer.testing import FakeCampaign, FakeServer

from .test_cli import GOOD_CSV, cli, write

BAD_LEAD_CSV = "phone,name,priority\n972501234567,Dana,1\nnotanumber,Avi,2\n972501234569,Eli,x\n"


@pytest.fixture
def campaign(server: FakeServer) -> FakeCampaign:
    return server.fake.add_campaign("Dry campaign")


def test_a_valid_file_exits_0_and_sends_nothing(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(tmp_path / "leads.csv", GOOD_CSV)
    server.fake.requests.clear()

    text = cli(server, "upload", str(leads), "--campaign", campaign.code, "--dry-run")
    as_json = cli(server, "upload", str(leads), "--campaign", campaign.code, "--dry-run", "--json")

    assert text.code == as_json.code == 0, text.err
    assert server.fake.requests == []
    assert campaign.calls == []
    assert "nothing sent" in text.out
    document = json.loads(as_json.out)
    assert document["dry_run"] is True
    assert (document["total"], document["valid"], document["invalid"]) == (3, 3, 0)
    assert document["would_be_sent"] == 3
    assert document["delimiter"] == ","
    assert campaign.code not in text.out + as_json.out


def test_invalid_leads_exit_2_and_are_listed(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(tmp_path / "leads.csv", BAD_LEAD_CSV)
    server.fake.requests.clear()

    text = cli(server, "upload", str(leads), "--campaign", campaign.code, "--dry-run")
    as_json = cli(server, "upload", str(leads), "--dry-run", "--json")  # no campaign needed

    assert text.code == as_json.code == 2, as_json.err
    assert server.fake.requests == []
    assert "invalid #1 (line 3)" in text.out
    document = json.loads(as_json.out)
    assert (document["total"], document["valid"], document["invalid"]) == (3, 1, 2)
    assert [(lead["line"], lead["target"]) for lead in document["leads"]] == [
        (3, "notanumber"),
        (4, "972501234569"),
    ]
    assert "priority" in document["leads"][1]["reason"]


def test_a_bad_file_is_still_a_file_error(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(tmp_path / "leads.csv", "name\nDana\n")

    run = cli(server, "upload", str(leads), "--dry-run")

    assert run.code == 2
    assert "no phone column" in run.err


def test_the_journal_is_compared_read_only(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    journal = tmp_path / "leads.journal"
    first = write(tmp_path / "first.csv", "phone\n972501234567\n972501234568\n")
    assert (
        cli(
            server, "upload", str(first), "--campaign", campaign.code, "--journal", str(journal)
        ).code
        == 0
    )
    before = journal.read_bytes()
    leads = write(tmp_path / "leads.csv", "phone\n972501234567\n972501234568\n972501234569\n")
    server.fake.requests.clear()

    run = cli(
        server,
        "upload",
        str(leads),
        "--campaign",
        campaign.code,
        "--journal",
        str(journal),
        "--dry-run",
        "--json",
    )

    assert run.code == 0, run.err
    assert server.fake.requests == []
    assert journal.read_bytes() == before
    document = json.loads(run.out)
    assert document["journal"]["accepted"] == 2
    assert document["would_be_sent"] == 1


def test_a_journal_that_does_not_exist_yet(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(tmp_path / "leads.csv", GOOD_CSV)
    journal = tmp_path / "new.journal"

    run = cli(server, "upload", str(leads), "--journal", str(journal), "--dry-run")

    assert run.code == 0, run.err
    assert "no such journal" in run.err
    assert not journal.exists()
    assert re.search(r"^  would send +3$", run.out, flags=re.MULTILINE)


@pytest.mark.parametrize("option", [("--reconcile",), ("--rejects", "rejects.csv")])
def test_options_that_need_sending_are_refused(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path, option: tuple[str, ...]
) -> None:
    leads = write(tmp_path / "leads.csv", GOOD_CSV)
    journal = ("--journal", str(tmp_path / "j"))

    run = cli(server, "upload", str(leads), *journal, *option, "--dry-run")

    assert run.code == 2
    assert f"{option[0]} and --dry-run" in run.err


def test_standard_input(server: FakeServer, campaign: FakeCampaign) -> None:
    server.fake.requests.clear()

    run = cli(server, "upload", "-", "--dry-run", "--json", stdin="phone;name\n972501234567;Dana\n")

    assert run.code == 0, run.err
    assert json.loads(run.out)["valid"] == 1
    assert server.fake.requests == []
