"""--rejects naming the journal: the CSV would overwrite the journal (its outcomes lost, so a
rerun dials everyone again). Refused before anything is sent, as naming the lead file is."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from voicenter_dialer.testing import FakeServer

from .test_cli import cli, write

LEADS = "phone\n972501234567\n972501234568\n"


@pytest.mark.parametrize("spelling", ["same", "dotted"])
def test_rejects_naming_an_existing_journal_is_refused(
    server: FakeServer, tmp_path: Path, spelling: str
) -> None:
    campaign = server.fake.add_campaign()
    leads = write(tmp_path / "leads.csv", LEADS)
    journal = tmp_path / "upload.journal"
    first = cli(
        server, "upload", str(leads), "--campaign", campaign.code, "--journal", str(journal)
    )
    assert first.code == 0, first.err
    sent = len(campaign.calls)
    rejects = str(journal) if spelling == "same" else str(tmp_path / "." / journal.name)

    run = cli(
        server,
        "upload",
        str(leads),
        "--campaign",
        campaign.code,
        "--journal",
        str(journal),
        "--rejects",
        rejects,
    )

    assert run.code == 2, run.out + run.err
    assert "--rejects: it is the journal" in run.err
    assert len(campaign.calls) == sent
    # Still a journal, not a CSV (closing: sqlite3's own with block only commits).
    with contextlib.closing(sqlite3.connect(journal)) as db:
        assert db.execute("select count(*) from sqlite_master").fetchone()[0] > 0


def test_rejects_naming_a_journal_not_yet_started_is_refused(
    server: FakeServer, tmp_path: Path
) -> None:
    campaign = server.fake.add_campaign()
    leads = write(tmp_path / "leads.csv", LEADS)
    journal = str(tmp_path / "upload.journal")

    run = cli(
        server,
        "upload",
        str(leads),
        "--campaign",
        campaign.code,
        "--journal",
        journal,
        "--rejects",
        journal,
        "--json",
    )

    assert run.code == 2, run.out + run.err
    assert "--rejects: it is the journal" in run.err
    assert campaign.calls == []
    assert not Path(journal).exists()
