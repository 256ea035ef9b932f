"""Outside attacks on journals: hostile URLs, a dying database. Each test is a finding."""

from __future__ import annotations

import collections
import os
from pathlib import Path

import pytest

from voicenter_dialer import Call, DialerError, JournalError
from voicenter_dialer.testing import FakeDialer, FakeServer, Faults

from .postgres import PostgresServer
from .test_cli import cli, write
from .test_journal_hazards import leads, lose_connection_mid_upload

PASSWORD = "S3CRETpassw0rdXYZ"


@pytest.mark.parametrize(
    "url",
    [
        # SQLAlchemy's spelling, what a Django/Celery settings file holds.
        f"postgresql+psycopg://dialer:{PASSWORD}@127.0.0.1:5/leads#upload",
        # URL schemes are case-insensitive (RFC 3986 3.1).
        f"POSTGRESQL://dialer:{PASSWORD}@127.0.0.1:5/leads#upload",
        # Pasted from a config file with its leading blank.
        f" postgresql://dialer:{PASSWORD}@127.0.0.1:5/leads#upload",
    ],
)
async def test_a_journal_url_of_another_spelling_never_shows_its_password(
    url: str, tmp_path: Path
) -> None:
    fake = FakeDialer()
    campaign = fake.add_campaign()
    cwd = Path.cwd()
    os.chdir(tmp_path)  # a relative "path" would land here
    try:
        async with fake.client() as dialer:
            with pytest.raises(DialerError) as caught:
                await dialer.add_calls_bulk(campaign.code, [Call("972501234567")], journal=url)
    finally:
        os.chdir(cwd)

    assert PASSWORD not in str(caught.value)
    assert PASSWORD not in repr(caught.value)


def test_the_cli_never_shows_a_journal_urls_password(server: FakeServer, tmp_path: Path) -> None:
    campaign = server.fake.add_campaign()
    leads = write(tmp_path / "leads.csv", "phone\n972501234567\n")
    url = f"postgresql+psycopg://dialer:{PASSWORD}@127.0.0.1:5/leads#upload"

    for extra in ((), ("--json",)):
        run = cli(
            server,
            "upload",
            str(leads),
            "--journal",
            url,
            *extra,
            env={"VOICENTER_CAMPAIGN": campaign.code},
        )
        assert run.code == 2
        assert PASSWORD not in run.out + run.err, run.out + run.err


async def test_a_rerun_after_the_journal_died_mid_upload_dials_everyone_once(
    postgres_server: PostgresServer, postgres_database: str
) -> None:
    """The journal's connection is terminated mid-upload (a failover). The promise of a
    journal: rerun it (with reconcile where asked) and every lead is in the campaign once."""
    fake = FakeDialer()
    campaign = fake.add_campaign()
    error = await lose_connection_mid_upload(fake, campaign, postgres_server, postgres_database)
    assert isinstance(error, JournalError), repr(error)
    fake.faults = Faults()
    calls = leads(2000)

    async with fake.client() as dialer:
        # The rerun; then, as the failures' messages ask, a rerun that reconciles.
        report = await dialer.add_calls_bulk(
            campaign.code, calls, chunk_size=20, journal=postgres_database + "#lost"
        )
        report = await dialer.add_calls_bulk(
            campaign.code,
            calls,
            chunk_size=20,
            journal=postgres_database + "#lost",
            reconcile=True,
        )

    dialled = collections.Counter(campaign.targets())
    assert [t for t, n in dialled.items() if n > 1] == []
    assert len(dialled) == 2000
    assert report.total == 2000 == report.accepted + len(report.rejected) + len(report.failed)


class _Stop(Exception):
    """The caller's own failure part way (a worker restarted, say)."""


async def test_resuming_with_another_max_chunk_bytes_finishes_or_says_why(
    tmp_path: Path,
) -> None:
    """The reason to change max_chunk_bytes is a service refusing large bodies: the rerun of
    the same input must finish (nobody twice) or name max_chunk_bytes; it says the input is
    another one, which it is not, and the leads not sent yet cannot be sent."""
    fake = FakeDialer()
    campaign = fake.add_campaign()
    calls = [Call(f"9725012{i:05d}", customer_name="n" * (i % 50)) for i in range(600)]
    journal = str(tmp_path / "upload.journal")
    progress = 0

    def stop_after_four(_: object) -> None:
        nonlocal progress
        progress += 1
        if progress == 4:
            raise _Stop

    async with fake.client() as dialer:
        with pytest.raises(_Stop):
            await dialer.add_calls_bulk(
                campaign.code,
                calls,
                chunk_size=50,
                concurrency=1,
                journal=journal,
                on_progress=stop_after_four,
            )
        try:
            report = await dialer.add_calls_bulk(
                campaign.code,
                calls,
                chunk_size=50,
                concurrency=1,
                journal=journal,
                max_chunk_bytes=1000,
            )
        except JournalError as exc:
            refusal = str(exc)
        else:
            refusal = ""
    if refusal:
        assert "max_chunk_bytes" in refusal
        return

    dialled = collections.Counter(campaign.targets())
    assert (len(dialled), max(dialled.values())) == (600, 1)
    assert report.total == 600


def test_rejects_written_over_the_journal_is_refused(server: FakeServer, tmp_path: Path) -> None:
    """--rejects naming the lead file is refused; naming the journal, it overwrites the
    journal with CSV: the record of what was sent is gone, and a rerun cannot resume."""
    campaign = server.fake.add_campaign()
    leads = write(tmp_path / "leads.csv", "phone\n972501234567\n123\n")
    journal = tmp_path / "upload.journal"
    env = {"VOICENTER_CAMPAIGN": campaign.code}

    run = cli(
        server,
        "upload",
        str(leads),
        "--journal",
        str(journal),
        "--rejects",
        str(journal),
        "--json",
        env=env,
    )

    assert run.code == 2, run.out
    assert campaign.targets() == []
