"""The CLI's upload on the library's mapping path: a lead row becomes a plain dict (no Call
per row), validated by the same rules, and every report still shows what a lead held."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from voicenter_dialer import AsyncDialer
from voicenter_dialer.testing import FakeCampaign, FakeServer

from .test_cli import cli, write


@pytest.fixture
def campaign(server: FakeServer) -> FakeCampaign:
    return server.fake.add_campaign("CLI mappings", kind="agent")


@pytest.fixture
def given(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """What the CLI hands to ``add_calls_bulk``, lead by lead, as it reads them."""
    seen: list[object] = []
    original = AsyncDialer.add_calls_bulk

    async def spy(self: AsyncDialer, campaign: str, calls: Iterable[object], **options: Any) -> Any:
        def recorded() -> Iterator[object]:
            for call in calls:
                seen.append(call)
                yield call

        return await original(self, campaign, recorded(), **options)  # type: ignore[arg-type]

    monkeypatch.setattr(AsyncDialer, "add_calls_bulk", spy)
    return seen


LEADS_CSV = """phone,name,priority,caller_id,var_source,_note
972501234567,Dana,5,03-555-1234,web,ignored
0501234568,,,,,
"""


def test_each_lead_is_sent_as_a_plain_mapping(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path, given: list[object]
) -> None:
    leads = write(tmp_path / "leads.csv", LEADS_CSV)

    run = cli(server, "upload", str(leads), "--campaign", campaign.code)

    assert run.code == 0, run.err
    assert given == [
        {
            "phone": "972501234567",
            "customer_name": "Dana",
            "priority": 5,
            "caller_id": "97235551234",
            "custom_data": {"var_source": "web"},
        },
        {"phone": "972501234568"},  # empty fields are left out, not sent empty
    ]
    assert all(type(call) is dict for call in given)
    first = campaign.calls[0]
    assert (first.target, first.customer_name, first.priority, first.caller_id) == (
        "972501234567",
        "Dana",
        5,
        "97235551234",
    )


def test_a_jsonl_target_key_is_the_key_a_reason_names(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path, given: list[object]
) -> None:
    leads = write(
        tmp_path / "leads.jsonl",
        '{"target": "972501234567", "customer_name": "Dana"}\n{"Target": "x1"}\n',
    )

    run = cli(server, "upload", str(leads), "--campaign", campaign.code, "--json")

    assert run.code == 1
    assert given == [{"target": "972501234567", "customer_name": "Dana"}, {"target": "x1"}]
    (lead,) = json.loads(run.out)["leads"]
    assert (lead["line"], lead["status"], lead["target"]) == (2, "failed", "x1")
    assert lead["reason"].startswith("target 'x1' is not a phone number")


def test_the_rejects_file_holds_every_field_of_a_refused_lead(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(
        tmp_path / "leads.csv",
        "phone,name,priority,caller_id,var_id\n"
        "123456,Short,3,97235551234,1\n"  # refused by the service
        "972501234567,Bad caller,,12,2\n",  # refused locally: its caller_id
    )
    rejects = tmp_path / "rejects.csv"

    run = cli(server, "upload", str(leads), "--campaign", campaign.code, "--rejects", str(rejects))

    assert run.code == 1
    rows = list(csv.DictReader(rejects.read_text().splitlines()))
    assert [{k: v for k, v in row.items() if k != "_reason"} for row in rows] == [
        {
            "phone": "123456",
            "name": "Short",
            "priority": "3",
            "caller_id": "97235551234",
            "var_id": "1",
            "_line": "2",
            "_status": "rejected",
        },
        {
            "phone": "972501234567",
            "name": "Bad caller",
            "priority": "",
            "caller_id": "12",
            "var_id": "2",
            "_line": "3",
            "_status": "failed",
        },
    ]
    assert rows[1]["_reason"].startswith("caller_id '12' is not a phone number")


def test_the_text_report_lists_the_first_refused_leads_with_their_numbers(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(
        tmp_path / "leads.csv",
        "phone,name\n972501234567,a\n123456,b\nnot-a-phone,c\n972501234568,d\n",
    )

    run = cli(server, "upload", str(leads), "--campaign", campaign.code)

    assert run.code == 1
    assert "    rejected #1 (line 3): '123456': Number is invalid\n" in run.out
    assert "    failed #2 (line 4): 'notaphone': phone 'notaphone' is not a phone number" in run.out
    assert campaign.code not in run.out + run.err


def test_the_text_report_says_how_many_more_were_refused(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(tmp_path / "leads.csv", "phone\n" + "".join(f"12345{i}\n" for i in range(5)))

    run = cli(server, "upload", str(leads), "--campaign", campaign.code)

    assert run.code == 1
    assert run.out.count("    rejected #") == 3
    assert "    … and 2 more (--rejects or --json lists them all)" in run.out


def test_a_dry_run_names_the_key_of_a_bad_phone(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(tmp_path / "leads.csv", "Phone,name\nnot-a-number,a\n972501234567,b\n")

    run = cli(server, "upload", str(leads), "--dry-run", "--json")

    assert run.code == 2
    (lead,) = json.loads(run.out)["leads"]
    assert (lead["line"], lead["target"]) == (2, "notanumber")
    assert lead["reason"].startswith("phone 'notanumber' is not a phone number")
