"""The voicenter-dialer command, run as a subprocess against the fake dialer on loopback."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from voicenter_dialer.testing import FakeCampaign, FakeServer


@pytest.fixture
def campaign(server: FakeServer) -> FakeCampaign:
    return server.fake.add_campaign("CLI campaign", kind="agent")


@attrs.frozen
class Run:
    code: int
    out: str
    err: str


def cli(server: FakeServer, *args: str) -> Run:
    completed = subprocess.run(
        [sys.executable, "-m", "voicenter_dialer", "--base-url", server.base_url, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"VOICENTER_CODE": server.fake.account_code, "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert "Traceback" not in completed.stderr
    return Run(completed.returncode, completed.stdout, completed.stderr)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


GOOD_CSV = """phone,name,priority,var_source,_note
972501234567,Dana,5,web,ignored
0501234568,Avi,,fb,
+972501234569,,7,,
"""


def test_upload_csv(server: FakeServer, campaign: FakeCampaign, tmp_path: Path) -> None:
    leads = write(tmp_path / "leads.csv", GOOD_CSV)

    run = cli(server, "upload", str(leads), "--campaign", campaign.code)

    assert run.code == 0, run.err
    assert "accepted           3" in run.out
    assert campaign.code not in run.out + run.err
    assert campaign.targets() == ["972501234567", "972501234568", "972501234569"]
    first, second, third = campaign.calls
    assert (first.customer_name, first.priority, first.custom_data) == (
        "Dana",
        5,
        {"var_source": "web"},
    )
    assert second.custom_data == {"var_source": "fb"}
    assert third.priority == 7


def test_upload_jsonl(server: FakeServer, campaign: FakeCampaign, tmp_path: Path) -> None:
    lines = [
        {"target": "0501234567", "customer_name": "Dana", "custom_data": {"var_a": 1}},
        {"phone": "0501234568", "extra": "x"},
    ]
    leads = write(tmp_path / "leads.jsonl", "\n".join(json.dumps(line) for line in lines) + "\n\n")

    run = cli(server, "upload", str(leads), "--campaign", campaign.code)

    assert run.code == 0, run.err
    assert [c.custom_data for c in campaign.calls] == [{"var_a": "1"}, {"extra": "x"}]


def test_rejected_and_failed_leads_go_to_the_rejects_file(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(
        tmp_path / "leads.csv",
        "phone,name,priority,var_id\n"
        "972501234567,Ok,,1\n"
        "123456,Short,,2\n"  # refused by the service
        "not-a-phone,Bad,,3\n"  # refused locally
        "972501234568,Prio,high,4\n",  # a priority that is not an int
    )
    rejects = tmp_path / "rejects.csv"

    run = cli(server, "upload", str(leads), "--campaign", campaign.code, "--rejects", str(rejects))

    assert run.code == 1
    assert "rejected           1" in run.out
    assert "failed             2" in run.out
    rows = list(csv.DictReader(rejects.read_text().splitlines()))
    assert [(r["phone"], r["_line"], r["_status"]) for r in rows] == [
        ("123456", "3", "rejected"),
        ("notaphone", "4", "failed"),  # separators were dropped before sending
        ("972501234568", "5", "failed"),
    ]
    assert rows[0]["_reason"] == "Number is invalid"
    assert "priority must be an int" in rows[2]["_reason"]
    assert (rows[1]["var_id"], rows[1]["name"]) == ("3", "Bad")

    # Fixed, the rejects file uploads as it is: the _ columns are ignored.
    fixed = rejects.read_text().replace("123456,", "972501111111,", 1)
    fixed = fixed.replace("notaphone", "972502222222").replace(",high,", ",3,")
    run = cli(server, "upload", str(write(rejects, fixed)), "--campaign", campaign.code)
    assert run.code == 0, run.out + run.err
    assert len(campaign.calls) == 4
    assert campaign.calls[-1].custom_data == {"var_id": "4"}


def test_region_normalises_national_numbers(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(tmp_path / "leads.csv", "phone\n050-123-4567\n(03) 555 1234\n+1 212 555 0100\n")

    run = cli(server, "upload", str(leads), "--campaign", campaign.code, "--region", "IL")

    assert run.code == 0, run.err
    assert campaign.targets() == ["972501234567", "97235551234", "12125550100"]


BAD_FILES = [
    pytest.param("leads.csv", b"", "the file is empty", id="empty"),
    pytest.param(
        "leads.csv", b"name,priority\nDana,1\n", "leads.csv:1: no phone column", id="no-phone"
    ),
    pytest.param(
        "leads.csv",
        b"phone,name\n0501234567,Dana\n0501234568\n",
        "leads.csv:3: malformed row",
        id="row",
    ),
    pytest.param("leads.csv", b"phone,name\n0501234567,\xff\xfe\n", "not UTF-8", id="bytes"),
    pytest.param(
        "leads.csv", b'phone,name\n0501234567,"Dana\n', "leads.csv:2: malformed CSV", id="quote"
    ),
    pytest.param(
        "leads.jsonl",
        b'{"phone": "0501234567"}\n{"phone": \n',
        "leads.jsonl:2: malformed JSON",
        id="json",
    ),
    pytest.param(
        "leads.jsonl", b'["0501234567"]\n', "leads.jsonl:1: expected a JSON object", id="array"
    ),
    pytest.param(
        "leads.jsonl", b'{"name": "x"}\n', "leads.jsonl:1: no 'phone' or 'target'", id="no-key"
    ),
    pytest.param("leads.jsonl", b"\n\n", "the file is empty", id="empty-jsonl"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_FILES)
def test_bad_files_are_refused_with_the_line(
    server: FakeServer,
    campaign: FakeCampaign,
    tmp_path: Path,
    name: str,
    content: bytes,
    message: str,
) -> None:
    leads = tmp_path / name
    leads.write_bytes(content)
    requests_before = len(server.fake.requests)

    run = cli(server, "upload", str(leads), "--campaign", campaign.code)

    assert run.code == 2
    assert message in run.err
    assert len(server.fake.requests) == requests_before  # nothing was sent


def test_missing_file(server: FakeServer, campaign: FakeCampaign, tmp_path: Path) -> None:
    run = cli(server, "upload", str(tmp_path / "nope.csv"), "--campaign", campaign.code)
    assert run.code == 2
    assert "cannot open" in run.err


@pytest.mark.parametrize(
    "args",
    [
        ("upload", "leads.csv"),  # no --campaign
        ("upload", "leads.csv", "--campaign", "x", "--chunk-size", "0"),
        ("nonsense",),
        ("upload", "leads.csv", "--campaign", "x", "--chunk-size", "5000"),
    ],
)
def test_usage_errors(server: FakeServer, tmp_path: Path, args: tuple[str, ...]) -> None:
    write(tmp_path / "leads.csv", "phone\n0501234567\n")
    completed = cli(server, *(str(tmp_path / a) if a == "leads.csv" else a for a in args))
    assert completed.code == 2


def test_campaign_commands(server: FakeServer, campaign: FakeCampaign) -> None:
    code = campaign.code

    listing = cli(server, "campaigns")
    assert listing.code == 0
    assert "CLI campaign" in listing.out
    assert code not in listing.out
    assert code in cli(server, "campaigns", "--show-codes").out

    assert cli(server, "start", code).code == 0
    assert campaign.enabled
    assert cli(server, "stop", code).code == 0
    assert not campaign.enabled
    assert cli(server, "add-member", code, "SIP7").code == 0
    members = cli(server, "members", code)
    assert "SIP7" in members.out
    assert cli(server, "remove-member", code, "SIP7").code == 0
    assert cli(server, "remove-member", code, "SIP7").code == 1  # nothing to remove
    assert "CLI campaign" in cli(server, "details", code).out
    campaign.calls.clear()
    assert "pending 0" in cli(server, "pending", code).out
    assert cli(server, "clear", code).code == 0


def test_service_errors_exit_1_without_the_code(server: FakeServer) -> None:
    secret = "NOT-A-CAMPAIGN-0123456789abcdef"

    run = cli(server, "start", secret)

    assert run.code == 1
    assert "Invalid campaign code" in run.err
    assert secret not in run.err + run.out


def test_demo(server: FakeServer) -> None:
    run = cli(server, "demo", "--leads", "3000")

    assert run.code == 0, run.err
    assert "Uploaded 3,000 leads" in run.out
    assert "Demo complete." in run.out


def test_paced_upload(server: FakeServer, campaign: FakeCampaign, tmp_path: Path) -> None:
    leads = write(tmp_path / "leads.csv", "phone\n" + "".join(f"9725{i:08d}\n" for i in range(30)))

    run = cli(
        server, "--requests-per-second", "50", "upload", str(leads), "--campaign", campaign.code,
        "--chunk-size", "10",
    )  # fmt: skip

    assert run.code == 0, run.err
    assert len(campaign.calls) == 30
