"""How the CLI fails (issue 21): always a message and an exit status, under ``--json`` one
JSON error document on stdout, never a traceback; refused before anything is sent when it can."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from voicenter_dialer import AsyncDialer, JournalError
from voicenter_dialer._chunk import Chunk
from voicenter_dialer._resume import JournalReplay
from voicenter_dialer.cli import main
from voicenter_dialer.testing import FakeCampaign, FakeServer

from .test_cli import Run, cli, run_main, write


@pytest.fixture
def campaign(server: FakeServer) -> FakeCampaign:
    return server.fake.add_campaign("Errors campaign", kind="agent")


def error_document(run: Run, status: int = 2) -> Any:
    """The JSON error document, checked for its shape; returns its "error"."""
    doc = json.loads(run.out)
    assert set(doc) == {"error", "exit_status"}
    assert doc["exit_status"] == run.code == status
    assert set(doc["error"]) == {"type", "message"}
    return doc["error"]


# --- E (issue 21.17): a rejects file that cannot be written -------------------------------


@pytest.mark.parametrize(
    ("where", "why"),
    [
        pytest.param("missing/rejects.csv", "No such file or directory", id="missing-folder"),
        pytest.param(".", "Is a directory", id="directory"),
        pytest.param("leads.csv/rejects.csv", "Not a directory", id="under-a-file"),
    ],
)
def test_an_unwritable_rejects_path_is_refused_before_sending(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path, where: str, why: str
) -> None:
    leads = write(tmp_path / "leads.csv", "phone\n972501234567\n123456\n")
    rejects = str(tmp_path / where)
    upload = ["upload", str(leads), "--campaign", campaign.code, "--rejects", rejects]

    text = cli(server, *upload)
    as_json = cli(server, *upload, "--json")

    assert text.code == 2
    assert f"--rejects {rejects}: cannot write: {why}" in text.err
    assert error_document(as_json)["type"] == "UsageError"
    assert campaign.calls == []
    assert leads.read_text() == "phone\n972501234567\n123456\n"


def test_the_rejects_file_cannot_be_the_lead_file(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    """Opened for writing before the upload, it would have emptied the leads being read."""
    leads = write(tmp_path / "leads.csv", "phone\n972501234567\n")

    run = cli(server, "upload", str(leads), "--campaign", campaign.code, "--rejects", str(leads))

    assert run.code == 2
    assert "--rejects: it is the lead file" in run.err
    assert leads.read_text() == "phone\n972501234567\n"
    assert campaign.calls == []


# --- F (issue 21.22): argument errors under --json -----------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["upload", "-", "--chunk-size", "0", "--json"], "--chunk-size: must be at least 1"),
        (["upload", "-", "--json", "--concurrency", "many"], "--concurrency: expected a whole"),
        (["nonsense", "--json"], "invalid choice: '…'"),  # a word may be a code: masked
        (["campaigns", "--json", "--no-such-option"], "unrecognized arguments: --no-such-option"),
        (["--json", "campaigns", "--max-retries", "x"], "--max-retries: invalid int value"),
    ],
)
def test_argument_errors_under_json_are_one_json_document(args: list[str], message: str) -> None:
    run = run_main(*args)

    error = error_document(run)
    assert error["type"] == "UsageError"
    assert message in error["message"]
    assert message in run.err


def test_argument_errors_as_text_show_the_usage() -> None:
    run = run_main("upload", "-", "--chunk-size", "0")

    assert run.code == 2
    assert run.out == ""
    assert run.err.startswith("usage: voicenter-dialer upload")
    assert "error: argument --chunk-size: must be at least 1, got 0" in run.err


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


@pytest.mark.parametrize("json_mode", [True, False])
def test_fake_server_on_a_busy_port(busy_port: int, json_mode: bool) -> None:
    run = run_main("fake-server", "--port", str(busy_port), *(["--json"] if json_mode else []))

    assert run.code == 2
    assert f"cannot listen on 127.0.0.1:{busy_port}" in run.err
    if json_mode:
        assert "cannot listen" in error_document(run)["message"]
    else:
        assert "listening" not in run.out


# --- H (issue 21.26): without the 'fake' extra (uvicorn) ------------------------------------


@pytest.fixture
def no_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn fails


@pytest.mark.usefixtures("no_uvicorn")
def test_the_demo_runs_in_process_without_uvicorn() -> None:
    run = run_main("demo", "--leads", "300")

    assert run.code == 0, run.err
    assert "uvicorn is not installed: the fake dialer answers in-process" in run.out
    assert "serving at" not in run.out
    assert "Uploaded 300 leads" in run.out
    assert "Demo complete." in run.out


@pytest.mark.usefixtures("no_uvicorn")
@pytest.mark.parametrize("json_mode", [True, False])
def test_fake_server_without_uvicorn_names_the_install_command(json_mode: bool) -> None:
    run = run_main("fake-server", "--port", "0", *(["--json"] if json_mode else []))

    assert run.code == 2
    assert "fake-server needs uvicorn: pip install 'voicenter-dialer[fake]'" in run.err
    if json_mode:  # the error document, not a "serving" one
        assert "pip install" in error_document(run)["message"]
    else:
        assert "listening" not in run.out


# --- I (issue 21.28): campaigns without an account code --------------------------------------


@pytest.mark.parametrize("json_mode", [True, False])
def test_campaigns_without_a_code_names_the_option_and_the_variable(
    server: FakeServer, json_mode: bool
) -> None:
    requests_before = len(server.fake.requests)

    run = run_main("--base-url", server.base_url, "campaigns", *(["--json"] if json_mode else []))

    assert run.code == 2
    assert "--code" in run.err
    assert "VOICENTER_CODE" in run.err
    assert "AsyncDialer" not in run.err + run.out
    assert len(server.fake.requests) == requests_before
    if json_mode:
        assert error_document(run)["type"] == "UsageError"


# --- J (issue 21.5): the journal failing mid-upload ------------------------------------------


def _journal_failing_from(monkeypatch: pytest.MonkeyPatch, start: int) -> None:
    """The journal's database lost from the chunk at *start* on (a JournalError, as the
    library raises for a lost connection)."""
    replay = JournalReplay.replay

    async def failing(self: JournalReplay, chunk: Chunk) -> Chunk:
        if chunk.start >= start:
            raise JournalError("upload.journal: the journal's database connection was lost")
        return await replay(self, chunk)

    monkeypatch.setattr(JournalReplay, "replay", failing)


@pytest.mark.parametrize("json_mode", [True, False])
def test_a_journal_failing_after_sending_began_exits_1(
    server: FakeServer,
    campaign: FakeCampaign,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    json_mode: bool,
) -> None:
    leads = write(tmp_path / "leads.csv", "phone\n" + "".join(f"9725{i:08d}\n" for i in range(50)))
    _journal_failing_from(monkeypatch, 20)

    run = cli(
        server, "upload", str(leads), "--campaign", campaign.code, "--chunk-size", "10",
        "--concurrency", "1", "--journal", str(tmp_path / "upload.journal"),
        *(["--json"] if json_mode else []),
    )  # fmt: skip

    assert run.code == 1
    assert "the journal's database connection was lost" in run.err
    assert "may have been added" in run.err
    assert len(campaign.calls) == 20
    if json_mode:
        assert error_document(run, status=1)["type"] == "JournalError"


def test_a_journal_refused_before_any_lead_is_read_exits_2(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(tmp_path / "leads.csv", "phone\n972501234567\n")
    not_a_journal = write(tmp_path / "notes.txt", "not a journal\n")

    run = cli(server, "upload", str(leads), "--campaign", campaign.code, "--json",
              "--journal", str(not_a_journal))  # fmt: skip

    assert error_document(run)["type"] == "JournalError"
    assert campaign.calls == []


@pytest.mark.parametrize("json_mode", [True, False])
def test_a_full_disk_under_the_rejects_file_still_gives_the_report(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path, json_mode: bool
) -> None:
    """/dev/full opens, then refuses every write: the leads were added, so the report (and,
    under --json, each refused lead) must still be printed, exit 1."""
    leads = write(tmp_path / "leads.csv", "phone\n972501234567\n123456\n")

    run = cli(server, "upload", str(leads), "--campaign", campaign.code, "--rejects",
              "/dev/full", *(["--json"] if json_mode else []))  # fmt: skip

    assert run.code == 1
    assert "--rejects /dev/full: cannot write: No space left on device" in run.err
    if json_mode:
        doc = json.loads(run.out)
        assert (doc["accepted"], doc["rejected"]) == (1, 1)
        assert [lead["target"] for lead in doc["leads"]] == ["123456"]
    else:
        assert "accepted           1" in run.out


@pytest.mark.parametrize(("json_mode", "verbose"), [(True, False), (False, False), (False, True)])
def test_a_bug_is_one_error_without_a_traceback_or_a_code(
    server: FakeServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    json_mode: bool,
    verbose: bool,
) -> None:
    secret = "ACCOUNT-SECRET-0123456789"

    async def broken(self: AsyncDialer) -> None:
        raise TypeError(f"something about {secret}")

    monkeypatch.setattr(AsyncDialer, "get_campaign_list", broken)

    status = main(["--base-url", server.base_url, "--code", secret, *(["-v"] if verbose else []),
                   "campaigns", *(["--json"] if json_mode else [])])  # fmt: skip
    out, err = capsys.readouterr()

    assert status == 1
    assert "internal error (TypeError)" in err
    assert "Traceback" not in err
    assert ("in broken" in err) is verbose  # -v shows where
    assert secret not in out + err
    if json_mode:
        assert json.loads(out)["error"]["type"] == "TypeError"
