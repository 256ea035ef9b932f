"""The voicenter-dialer command, run in-process against the fake dialer on loopback."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import attrs
import pytest

from voicenter_dialer.cli import main
from voicenter_dialer.testing import FakeCampaign, FakeServer, Faults


@pytest.fixture
def campaign(server: FakeServer) -> FakeCampaign:
    return server.fake.add_campaign("CLI campaign", kind="agent")


@attrs.frozen
class Run:
    code: int
    out: str
    err: str


def _pipe(data: bytes = b"") -> io.TextIOWrapper:
    """A stream over bytes that encodes as strictly as a real pipe's (a StringIO takes text
    that a real stdout refuses, such as a lone surrogate)."""
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", write_through=True)


@contextlib.contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """Only *env* of the VOICENTER_ variables, as a clean process would see them."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("VOICENTER_CODE", "VOICENTER_CAMPAIGN", "VOICENTER_BASE_URL"):
            patch.delenv(name, raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        yield


def run_main(*argv: str, env: Mapping[str, str] = {}, stdin: bytes | str = b"") -> Run:
    """``voicenter-dialer *argv*`` in this process, its streams captured."""
    data = stdin.encode() if isinstance(stdin, str) else stdin
    out, err = _pipe(), _pipe()
    with environment(env), pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "stdin", _pipe(data))
        patch.setattr(sys, "stdout", out)
        patch.setattr(sys, "stderr", err)
        try:
            code = main(list(argv))
        except SystemExit as exited:  # --help, --version
            code = exited.code if isinstance(exited.code, int) else 2
    run = Run(code, _text(out), _text(err))
    assert "internal error" not in run.err, run.err
    return run


def _text(stream: io.TextIOWrapper) -> str:
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    return buffer.getvalue().decode()


def cli(
    server: FakeServer,
    *args: str,
    env: Mapping[str, str] = {},
    stdin: bytes | str = b"",
    base_url: bool = True,
) -> Run:
    """Run the command in-process against *server* (``--base-url`` unless not *base_url*)."""
    connection = ["--base-url", server.base_url] if base_url else []
    return run_main(
        *connection, *args, env={"VOICENTER_CODE": server.fake.account_code, **env}, stdin=stdin
    )


def cli_process(server: FakeServer, *args: str, stdin: str) -> Run:
    """Run the command as a process of its own: for what needs one (a real pipe)."""
    completed = subprocess.run(
        [sys.executable, "-m", "voicenter_dialer", "--base-url", server.base_url, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"VOICENTER_CODE": server.fake.account_code, "PATH": "/usr/bin:/bin"},
        input=stdin,
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
    pytest.param("leads.jsonl", b'{"name": "x"}\n', "leads.jsonl:1: no phone key", id="no-key"),
    pytest.param("leads.jsonl", b"\n\n", "no leads", id="empty-jsonl"),
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
    ("args", "message"),
    [
        (("upload", "leads.csv"), "no campaign code"),
        (("upload", "leads.csv", "--campaign", "x", "--chunk-size", "0"), "must be at least 1"),
        (("nonsense",), "invalid choice: '…'"),  # a word may be a code: masked
        (("upload", "leads.csv", "--campaign", "x", "--chunk-size", "5000"), "--chunk-size"),
    ],
)
def test_usage_errors(
    server: FakeServer, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    write(tmp_path / "leads.csv", "phone\n0501234567\n")
    requests_before = len(server.fake.requests)

    completed = cli(server, *(str(tmp_path / a) if a == "leads.csv" else a for a in args))

    assert completed.code == 2
    assert message in completed.err
    assert len(server.fake.requests) == requests_before


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


# --- issue 11: lead files and the journal command ----------------------------------------


def test_a_spreadsheet_float_is_the_number_not_a_longer_one(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    """Issue 11 item 7: ``972501234567.0`` went out as ``9725012345670``."""
    leads = write(tmp_path / "leads.csv", "phone,name\n972501234567.0,Dana\n0501234568.0,Avi\n")

    run = cli(server, "upload", str(leads), "--campaign", campaign.code)

    assert run.code == 0, run.err
    assert campaign.targets() == ["972501234567", "972501234568"]


@pytest.mark.parametrize("region", ["il", "Il", "IL"])
def test_region_in_any_case(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path, region: str
) -> None:
    """Issue 11 item 8: ``--region il`` was ignored and national numbers went out as typed."""
    leads = write(tmp_path / "leads.csv", "phone\n050-123-4567\n")

    run = cli(server, "upload", str(leads), "--campaign", campaign.code, "--region", region)

    assert run.code == 0, run.err
    assert campaign.targets() == ["972501234567"]


@pytest.mark.parametrize("region", ["ISR", "XX", "israel"])
def test_an_unknown_region_exits_2_before_anything_is_sent(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path, region: str
) -> None:
    """Issue 11 item 8: an unknown region was silently ignored."""
    leads = write(tmp_path / "leads.csv", "phone\n050-123-4567\n")

    run = cli(server, "upload", str(leads), "--campaign", campaign.code, "--region", region)

    assert run.code == 2
    assert f"--region: unknown region {region.upper()!r}" in run.err
    assert "two-letter" in run.err
    assert campaign.calls == []


def test_a_region_without_phonenumbers_is_refused(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11 item 8: without the 'phone' extra a --region was silently ignored."""
    leads = write(tmp_path / "leads.csv", "phone\n050-123-4567\n")
    monkeypatch.setitem(sys.modules, "phonenumbers", None)  # import phonenumbers fails

    refused = cli(server, "upload", str(leads), "--campaign", campaign.code, "--region", "GB")
    default = cli(server, "upload", str(leads), "--campaign", campaign.code)

    assert refused.code == 2
    assert "--region GB needs the phonenumbers package" in refused.err
    assert default.code == 0, default.err  # the default region only cleans numbers up
    assert campaign.targets() == ["0501234567"]


def test_upload_from_a_pipe_named_dev_stdin(server: FakeServer, campaign: FakeCampaign) -> None:
    """Issue 11 item 10: ``cat leads.csv | voicenter-dialer upload /dev/stdin`` crashed."""
    run = cli_process(server, "upload", "/dev/stdin", "--campaign", campaign.code, stdin=GOOD_CSV)

    assert run.code == 0, run.err
    assert campaign.targets() == ["972501234567", "972501234568", "972501234569"]


def test_upload_from_standard_input(server: FakeServer, campaign: FakeCampaign) -> None:
    """Issue 15: ``upload -`` reads standard input, once."""
    jsonl = '{"phone": "0501234567"}\n{"phone": "0501234568"}\n'

    csv_run = cli(server, "upload", "-", "--campaign", campaign.code, stdin=GOOD_CSV)
    jsonl_run = cli(
        server, "upload", "-", "--format", "jsonl", "--campaign", campaign.code, stdin=jsonl
    )

    assert (csv_run.code, jsonl_run.code) == (0, 0), csv_run.err + jsonl_run.err
    assert len(campaign.calls) == 5


def test_a_bad_file_on_standard_input_is_refused_before_anything_is_sent(
    server: FakeServer, campaign: FakeCampaign
) -> None:
    """The whole pipe is checked first: a bad row at its end stops the upload before it."""
    text = "phone\n" + "".join(f"9725{i:08d}\n" for i in range(2500)) + "0501234567,extra\n"

    run = cli(server, "upload", "-", "--campaign", campaign.code, stdin=text)

    assert run.code == 2
    assert "<stdin>:2502: malformed row" in run.err
    assert campaign.calls == []


@pytest.mark.parametrize(
    ("encoding", "text"),
    [("latin-1", "Zoë"), ("cp1255", "\u05d3\u05e0\u05d4")],  # a Hebrew name
)
def test_a_file_not_in_utf8_names_its_line(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path, encoding: str, text: str
) -> None:
    """Issue 11 item 17: the message said "byte 27 of a read block", no line."""
    leads = tmp_path / "leads.csv"
    leads.write_bytes(f"phone,name\n0501234567,Dana\n0501234568,{text}\n".encode(encoding))

    run = cli(server, "upload", str(leads), "--campaign", campaign.code)

    assert run.code == 2
    assert "leads.csv:3: not UTF-8 text" in run.err
    assert "save the file as UTF-8" in run.err
    assert campaign.calls == []


HEADER_ERRORS = [
    pytest.param("phone,Phone\n0501234567,0501234568\n", "'phone' and 'Phone'", id="dup-case"),
    pytest.param("phone,name,phone\n1,a,2\n", "'phone' and 'phone'", id="dup"),
    pytest.param(
        "phone,target\n0501234567,0501234568\n", "both 'phone' and 'target'", id="phone-target"
    ),
    pytest.param("name,customer_name,phone\na,b,0501234567\n", "both 'name'", id="names"),
    pytest.param(
        "phone,,name\n0501234567,,a\n0501234568,x,b\n",
        "leads.csv:3: column 2 has no name",
        id="unnamed",
    ),
    pytest.param("phone,name\n", "no leads: the file holds a header but no rows", id="no-rows"),
    pytest.param("phone,name\n\n\n", "no leads", id="blank-rows"),
]


@pytest.mark.parametrize(("content", "message"), HEADER_ERRORS)
def test_header_problems_are_one_file_error(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path, content: str, message: str
) -> None:
    """Issue 11 item 17: duplicate and unnamed columns, phone and target, no rows."""
    leads = write(tmp_path / "leads.csv", content)
    requests_before = len(server.fake.requests)

    run = cli(server, "upload", str(leads), "--campaign", campaign.code)

    assert run.code == 2, run.out
    assert message in run.err
    assert "Uploaded" not in run.out
    assert len(server.fake.requests) == requests_before


def test_an_unnamed_empty_column_is_ignored(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    """A spreadsheet's trailing comma: a column without name or value is no error."""
    leads = write(tmp_path / "leads.csv", "phone,name,\n0501234567,Dana,\n")

    run = cli(server, "upload", str(leads), "--campaign", campaign.code)

    assert run.code == 0, run.err
    assert campaign.calls[0].custom_data == {}


def test_the_same_field_twice_in_a_json_line_is_refused(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(tmp_path / "leads.jsonl", '{"phone": "1"}\n{"phone": "2", "target": "3"}\n')

    run = cli(server, "upload", str(leads), "--campaign", campaign.code)

    assert run.code == 2
    assert "leads.jsonl:2: both 'phone' and 'target'" in run.err


def test_the_rejects_file_names_the_first_line_of_a_multiline_record(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    """Issue 11 item 17: ``_line`` named the last line of a multi-line record."""
    leads = write(
        tmp_path / "leads.csv",
        'phone,name\n972501234567,ok\n123456,"three\nline\nname"\n972501234568,ok\n',
    )
    rejects = tmp_path / "rejects.csv"

    run = cli(server, "upload", str(leads), "--campaign", campaign.code, "--rejects", str(rejects))

    assert run.code == 1
    rows = list(csv.DictReader(rejects.read_text().splitlines(keepends=True)))
    assert [(row["phone"], row["_line"]) for row in rows] == [("123456", "3")]


def _journal_upload(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path, count: int, *args: str
) -> Run:
    leads = write(tmp_path / f"leads-{count}.csv",
                  "phone\n" + "".join(f"9725{i:08d}\n" for i in range(count)))  # fmt: skip
    journal = str(tmp_path / "upload.journal")
    return cli(server, "upload", str(leads), "--campaign", campaign.code, "--journal", journal,
               "--chunk-size", "10", *args)  # fmt: skip


def test_journal_summary_of_a_shorter_rerun_is_never_negative(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    """Issue 11 item 17: a shorter input on rerun made the summary say "remaining -10"."""
    assert _journal_upload(server, campaign, tmp_path, 20).code == 0
    assert _journal_upload(server, campaign, tmp_path, 10).code == 0

    run = cli(server, "journal", str(tmp_path / "upload.journal"))

    assert run.code == 0, run.out
    assert not re.search(r"remaining +-", run.out)
    assert "remaining           0" in run.out
    assert "records 10 more leads than the last input held" in run.out


def test_journal_summary_of_refused_leads_says_a_rerun_sends_them(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    """Issue 11 item 17: refused leads were said to be "never sent"."""
    server.fake.faults = Faults({"503": 1.0})
    assert _journal_upload(server, campaign, tmp_path, 20, "--concurrency", "1").code == 1

    run = cli(server, "journal", str(tmp_path / "upload.journal"))

    assert run.code == 1
    assert "never sent" not in run.out
    assert "remaining          20  (not sent, or refused unprocessed: a rerun sends them)" in (
        run.out
    )


def test_a_rerun_that_sent_nothing_says_so(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    """Issue 15: a journal rerun that sent nothing said "Uploaded 20 leads"."""
    first = _journal_upload(server, campaign, tmp_path, 20)
    requests_before = len(server.fake.requests)

    again = _journal_upload(server, campaign, tmp_path, 20)

    assert "Uploaded 20 leads" in first.out
    assert again.code == 0, again.err
    assert "Nothing sent: all 20 leads were settled by earlier runs" in again.out
    assert "Uploaded" not in again.out
    assert len(server.fake.requests) == requests_before


def test_a_locked_journal_is_said_to_be_in_use(tmp_path: Path, server: FakeServer) -> None:
    """Issue 11 item 17: a locked journal must not be "not a bulk upload journal"."""
    campaign = server.fake.add_campaign("Locked", kind="agent")
    assert _journal_upload(server, campaign, tmp_path, 10).code == 0
    holder = sqlite3.connect(tmp_path / "upload.journal", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        summary = cli(server, "journal", str(tmp_path / "upload.journal"))
        rerun = _journal_upload(server, campaign, tmp_path, 10)
    finally:
        holder.close()

    for run in (summary, rerun):
        assert run.code == 2
        assert "in use by a running upload" in run.err
        assert "not a bulk upload journal" not in run.err


def test_upload_with_auto_concurrency(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(tmp_path / "leads.csv", GOOD_CSV)

    run = cli(server, "upload", str(leads), "--campaign", campaign.code, "--concurrency", "auto")

    assert run.code == 0, run.err
    assert "accepted           3" in run.out
    refused = cli(
        server, "upload", str(leads), "--campaign", campaign.code, "--concurrency", "some"
    )
    assert refused.code == 2
    assert "--concurrency" in refused.err


def test_retries_show_in_the_progress_line_not_as_log_lines(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    """Issue 14: a 503 printed stamina's bare "stamina.retry_scheduled" under the bar."""
    server.fake.faults = Faults({"503": 1.0})
    leads = write(tmp_path / "leads.csv", GOOD_CSV)
    upload = ["--max-retries", "1", "upload", str(leads), "--campaign", campaign.code]

    quiet = cli(server, *upload)
    assert quiet.code == 1
    assert "stamina" not in quiet.err
    assert "0 accepted, 0 rejected, 3 failed, 1 retried" in quiet.err

    verbose = cli(server, "-v", *upload)
    assert "stamina" not in verbose.err
    assert "AddCallsBulk: attempt 1 of 2 failed (HTTP 503); retrying in" in verbose.err
    assert campaign.code not in verbose.err


def test_a_reader_that_leaves_is_no_error() -> None:
    """``voicenter-dialer demo | head -1``: the pipe closes while the command prints (a real
    pipe: a process of its own). It said "internal error (BrokenPipeError)"."""
    process = subprocess.Popen(
        [sys.executable, "-m", "voicenter_dialer", "demo", "--leads", "500"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.close()  # the reader leaves before the first line
    err = process.stderr.read().decode()
    process.stderr.close()

    assert process.wait(timeout=60) == 1
    assert "error" not in err
    assert "Exception ignored" not in err
