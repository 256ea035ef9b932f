"""The CLI against hostile input (issue 21): surrogates, deep nesting, huge lines, odd files.

Under ``--json`` stdout always holds one complete document; text output never crashes.
"""

from __future__ import annotations

import json
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from voicenter_dialer import AddResult, BulkReport, Call, DialerError, FailedCall, RejectedCall
from voicenter_dialer.cli import _leads
from voicenter_dialer.cli._leads import LineMap
from voicenter_dialer.cli._rejects import write_rejects
from voicenter_dialer.cli._report import refused_leads
from voicenter_dialer.testing import FakeCampaign, FakeServer

from .test_cli import Run, cli, write


@pytest.fixture
def campaign(server: FakeServer) -> FakeCampaign:
    return server.fake.add_campaign("Hostile campaign", kind="agent")


def document(run: Run) -> Any:
    """The one JSON document on stdout (json.loads refuses anything more, or less)."""
    return json.loads(run.out)


def _surrogate_path(folder: Path, name: bytes) -> Path:
    """A path whose name is not UTF-8: Python names it with a lone surrogate (``\\udcff``)."""
    path = Path(os.fsdecode(os.path.join(os.fsencode(folder), name)))
    assert "\udcff" in str(path)
    return path


# --- C (issue 21.15): a lone surrogate in what is printed ---------------------------------


def test_a_surrogate_in_the_source_name_gives_one_complete_json_document(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(_surrogate_path(tmp_path, b"leads-\xff.csv"), "phone\n972501234567\n")

    run = cli(server, "upload", str(leads), "--campaign", campaign.code, "--json")

    assert run.code == 0, run.err
    assert document(run)["source"] == str(leads)  # escaped as \udcff, read back as it was


def test_a_surrogate_in_a_message_does_not_crash_text_or_json_output(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    missing = _surrogate_path(tmp_path, b"nope-\xff.csv")

    text = cli(server, "upload", str(missing), "--campaign", campaign.code)
    as_json = cli(server, "upload", str(missing), "--campaign", campaign.code, "--json")

    assert text.code == as_json.code == 2
    assert "nope-\\udcff.csv: cannot open" in text.err
    assert document(as_json)["error"]["type"] == "LeadFileError"
    assert "cannot open" in document(as_json)["error"]["message"]


def test_a_surrogate_in_the_rejects_path_does_not_crash_the_report(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(tmp_path / "leads.csv", "phone\n972501234567\n123456\n")
    rejects = _surrogate_path(tmp_path, b"rejects-\xff.csv")

    run = cli(server, "upload", str(leads), "--campaign", campaign.code, "--rejects", str(rejects))

    assert run.code == 1
    assert "1 rejected and failed leads written to" in run.out
    assert rejects.exists()


@pytest.mark.parametrize(
    "line",
    [
        r'{"phone": "\ud83d"}',
        r'{"phone": "0501234567", "name": "Dana \ud83d"}',
        r'{"phone": "0501234567", "custom_data": {"var_a": ["\udc00"]}}',
        r'{"phone": "0501234567", "\ud83d": "x"}',
    ],
)
def test_a_lone_surrogate_in_a_jsonl_lead_is_a_file_error(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path, line: str
) -> None:
    """It is not text that can be sent (the service takes UTF-8): refused with its line
    before anything is sent, like a CSV that is not UTF-8 (it crashed the upload midway)."""
    leads = write(tmp_path / "leads.jsonl", '{"phone": "0501234560"}\n' + line + "\n")

    text = cli(server, "upload", str(leads), "--campaign", campaign.code)
    as_json = cli(server, "upload", str(leads), "--campaign", campaign.code, "--json")

    assert text.code == as_json.code == 2
    assert "leads.jsonl:2: a lone surrogate" in text.err
    assert document(as_json)["error"]["type"] == "LeadFileError"
    assert campaign.calls == []


def test_a_surrogate_pair_is_one_character_and_uploads(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(
        tmp_path / "leads.jsonl", r'{"phone": "0501234567", "name": "\ud83d\ude00"}' + "\n"
    )

    run = cli(server, "upload", str(leads), "--campaign", campaign.code, "--json")

    assert run.code == 0, run.err
    assert campaign.calls[0].customer_name == "\U0001f600"


# --- D (issue 21.16): deep nesting --------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    ["[" * 100_000, '{"phone": "0501234567", "var_a": ' + "[" * 100_000 + "]" * 100_000 + "}"],
)
def test_deeply_nested_json_is_a_file_error(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path, line: str
) -> None:
    leads = write(tmp_path / "leads.jsonl", '{"phone": "0501234560"}\n' + line + "\n")

    text = cli(server, "upload", str(leads), "--campaign", campaign.code)
    as_json = cli(server, "upload", str(leads), "--campaign", campaign.code, "--json")

    assert text.code == as_json.code == 2
    assert "leads.jsonl:2: malformed JSON: nested too deeply" in text.err
    assert document(as_json)["error"]["type"] == "LeadFileError"
    assert campaign.calls == []


# --- G (issue 21.23): a huge line -----------------------------------------------------------


def _peak_bytes_of(run: Callable[[], Run]) -> tuple[Run, int]:
    tracemalloc.start()
    try:
        result = run()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_a_huge_line_is_refused_while_it_is_read(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path, source: str
) -> None:
    """A 50 MiB line cost its size (and more) in memory before it was refused: now memory is
    bounded by the line limit (1 MiB), not by the line."""
    huge = b"phone\n" + b"9" * (50 << 20) + b"\n"
    if source == "file":
        (tmp_path / "leads.csv").write_bytes(huge)
        args, stdin = [str(tmp_path / "leads.csv")], b""
    else:
        args, stdin = ["-"], huge

    run, peak = _peak_bytes_of(
        lambda: cli(server, "upload", *args, "--campaign", campaign.code, stdin=stdin)
    )

    assert run.code == 2
    assert ":2: a line longer than 1,048,576 bytes" in run.err
    assert peak < 8 << 20
    assert campaign.calls == []


def test_a_line_of_the_limit_is_read_one_byte_more_is_refused(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_leads, "MAX_LINE_BYTES", 64)
    at_limit = "phone,var_pad\n972501234567," + "x" * (64 - 14) + "\n"  # 64 bytes with "\n"
    over = at_limit.replace("x\n", "xx\n")

    accepted = cli(server, "upload", "-", "--campaign", campaign.code, stdin=at_limit)
    refused = cli(server, "upload", "-", "--campaign", campaign.code, stdin=over)

    assert accepted.code == 0, accepted.err
    assert refused.code == 2
    assert "<stdin>:2: a line longer than 64 bytes" in refused.err
    assert len(campaign.calls) == 1


# --- K: ATTACKS.md's CLI row ----------------------------------------------------------------


def test_a_bom_and_crlf_line_ends_are_read_as_text(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    csv_file = tmp_path / "leads.csv"
    csv_file.write_bytes(b"\xef\xbb\xbfphone,name\r\n972501234567,Dana\r\n")
    jsonl_file = tmp_path / "leads.jsonl"
    jsonl_file.write_bytes(b'\xef\xbb\xbf{"phone": "972501234568", "name": "Avi"}\r\n')

    for leads in (csv_file, jsonl_file):
        run = cli(server, "upload", str(leads), "--campaign", campaign.code)
        assert run.code == 0, run.err

    assert [(c.target, c.customer_name) for c in campaign.calls] == [
        ("972501234567", "Dana"),
        ("972501234568", "Avi"),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(
            b"phone,name\r972501234567,Dana\r",
            "leads.csv:1: lines end with a bare carriage return",
            id="cr-line-ends",
        ),
        pytest.param(
            b"phone,name\n972501234567,Da\x00na\n",
            "leads.csv:2: a NUL byte at column 16: not a text file",
            id="nul",
        ),
        pytest.param(
            "phone,name\n".encode("utf-16-le"), "leads.csv:1: a NUL byte", id="utf-16-no-bom"
        ),
        pytest.param(
            b"phone|name\n972501234567|Dana\n",
            "found: 'phone|name'; separated by another character? give --delimiter",
            id="another-delimiter",
        ),
    ],
)
def test_text_that_is_not_a_csv_says_what_it_looks_like(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path, content: bytes, message: str
) -> None:
    leads = tmp_path / "leads.csv"
    leads.write_bytes(content)

    run = cli(server, "upload", str(leads), "--campaign", campaign.code, "--json")

    assert run.code == 2
    assert message in document(run)["error"]["message"]
    assert "universal-newline" not in run.err  # Python's words, not the user's
    assert campaign.calls == []


def _report_echoing(code: str) -> BulkReport:
    """A report whose service answers echo *code* (ATTACKS: "echoes codes in descriptions")."""
    echoed = f"campaign {code} refuses this number"
    return BulkReport(
        total=3,
        accepted=1,
        rejected=[RejectedCall(0, Call("123456"), AddResult("123456", 2, echoed))],
        failed=[FailedCall(2, Call("972501234567"), DialerError(f"AddCallsBulk: {echoed}"))],
    )


def test_the_rejects_file_and_json_leads_never_hold_a_code(tmp_path: Path) -> None:
    campaign, account = "CAMPAIGN-SECRET-0123456789", "ACCOUNT-SECRET-9876543210"
    report = _report_echoing(campaign)
    account_report = _report_echoing(account)
    lines = LineMap()

    for each in (report, account_report):
        with (tmp_path / "rejects.csv").open("w", newline="") as file:
            assert write_rejects(file, each, lines, (campaign, account)) == 2
        written = (tmp_path / "rejects.csv").read_text()
        reasons = [lead.reason for lead in refused_leads(each, lines, (campaign, account))]

        assert campaign not in written
        assert account not in written
        assert "refuses this number" in written
        assert all(campaign not in r and account not in r and "refuses" in r for r in reasons)


@pytest.mark.parametrize(("json_mode", "in_query"), [(True, False), (False, False), (True, True)])
def test_a_journal_url_password_is_never_printed(
    server: FakeServer,
    campaign: FakeCampaign,
    tmp_path: Path,
    postgres_database: str,
    json_mode: bool,
    in_query: bool,
) -> None:
    password = "PG-PASSWORD-0123456789"
    if in_query:
        journal = f"{postgres_database}?password={password}#leads"
    else:
        journal = postgres_database.replace("postgres@", f"postgres:{password}@") + "#leads"
    leads = write(tmp_path / "leads.csv", "phone\n972501234567\n")
    as_json = ["--json"] if json_mode else []

    upload = cli(server, "upload", str(leads), "--campaign", campaign.code,
                 "--journal", journal, *as_json)  # fmt: skip
    summary = cli(server, "journal", journal, *as_json)

    assert (upload.code, summary.code) == (0, 0), upload.err + summary.err
    for run in (upload, summary):
        assert password not in run.out + run.err
    assert "#leads" in summary.out
