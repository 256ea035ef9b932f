"""Lead files as spreadsheets export them (issue 23 item 6): semicolons (Excel in many
locales) or tabs between columns, found from the header, or given with --delimiter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voicenter_dialer.cli._leads import open_leads
from voicenter_dialer.testing import FakeCampaign, FakeServer

from .test_cli import cli, write


@pytest.fixture
def campaign(server: FakeServer) -> FakeCampaign:
    return server.fake.add_campaign("Delimiter campaign")


@pytest.mark.parametrize(
    ("content", "delimiter", "said"),
    [
        pytest.param(
            'phone;name;lead_id\n972501234567;"Levi, Dana";7\n972501234568;Avi;"a,b;c"\n',
            ";",
            "semicolons",
            id="semicolon",
        ),
        pytest.param(
            'phone\tname\tlead_id\n972501234567\t"Levi, Dana"\t7\n972501234568\tAvi\t"a,b;c"\n',
            "\t",
            "tabs",
            id="tab",
        ),
        pytest.param(
            'phone,name,lead_id\n972501234567,"Levi, Dana",7\n972501234568,Avi,"a,b;c"\n',
            ",",
            "commas",
            id="comma",
        ),
    ],
)
def test_the_delimiter_is_found_from_the_header(
    server: FakeServer,
    campaign: FakeCampaign,
    tmp_path: Path,
    content: str,
    delimiter: str,
    said: str,
) -> None:
    leads = write(tmp_path / "leads.csv", content)

    text = cli(server, "upload", str(leads), "--campaign", campaign.code)
    as_json = cli(server, "upload", str(leads), "--campaign", campaign.code, "--json")

    assert text.code == 0, text.err
    assert f"separated by {said}" in text.out
    assert json.loads(as_json.out)["delimiter"] == delimiter
    first, second = campaign.calls[:2]
    assert (first.target, first.customer_name, first.custom_data) == (
        "972501234567",
        "Levi, Dana",
        {"lead_id": "7"},
    )
    assert second.custom_data == {"lead_id": "a,b;c"}


def test_a_quoted_header_holding_another_delimiter(tmp_path: Path) -> None:
    path = write(tmp_path / "leads.csv", 'phone,"notes; free text"\n972501234567,"x;y"\n')

    with open_leads(str(path)) as lead_file:
        assert lead_file.delimiter == ","
        assert lead_file.header == ("phone", "notes; free text")


def test_a_single_column_is_comma_separated(tmp_path: Path) -> None:
    path = write(tmp_path / "leads.csv", "phone\n972501234567\n")

    with open_leads(str(path)) as lead_file:
        assert lead_file.delimiter == ","


@pytest.mark.parametrize("given", [";", "semicolon"])
def test_the_delimiter_option(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path, given: str
) -> None:
    # More commas than semicolons in the header: only --delimiter reads it right.
    leads = write(tmp_path / "leads.csv", "phone;a,b,c\n972501234567;x\n")

    run = cli(server, "upload", str(leads), "--campaign", campaign.code, "--delimiter", given)

    assert run.code == 0, run.err
    assert campaign.calls[0].custom_data == {"a,b,c": "x"}
    assert "separated by semicolons" in run.out


@pytest.mark.parametrize("given", ['"', "ab", "\n", ""])
def test_a_delimiter_that_cannot_be_is_refused(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path, given: str
) -> None:
    leads = write(tmp_path / "leads.csv", "phone\n972501234567\n")

    run = cli(server, "upload", str(leads), "--campaign", campaign.code, "--delimiter", given)

    assert run.code == 2
    assert "--delimiter" in run.err
    assert campaign.calls == []


def test_a_delimiter_for_jsonl_is_refused(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(tmp_path / "leads.jsonl", '{"phone": "972501234567"}\n')

    run = cli(server, "upload", str(leads), "--campaign", campaign.code, "--delimiter", ";")

    assert run.code == 2
    assert "--delimiter" in run.err
    assert campaign.calls == []


def test_jsonl_reports_no_delimiter(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(tmp_path / "leads.jsonl", '{"phone": "972501234567"}\n')

    run = cli(server, "upload", str(leads), "--campaign", campaign.code, "--json")

    assert run.code == 0, run.err
    assert json.loads(run.out)["delimiter"] is None


def test_a_semicolon_file_on_standard_input(server: FakeServer, campaign: FakeCampaign) -> None:
    run = cli(
        server,
        "upload",
        "-",
        "--campaign",
        campaign.code,
        stdin="phone;name\n972501234567;Dana\n",
    )

    assert run.code == 0, run.err
    assert campaign.calls[0].customer_name == "Dana"
