"""Leases with fencing on PostgreSQL journals (issue 24): a holder that stops renewing loses
its upload to another process, and its next write is refused; a holder that renews keeps it;
a dead holder's upload is free at once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest

from voicenter_dialer import JournalError
from voicenter_dialer._journal_postgres import open_postgres

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGN = "C" * 20


def holder(url: str, lease: float) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.lease_worker", url, str(lease)],
        cwd=ROOT,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def test_a_stopped_holder_loses_its_upload_and_its_next_write_is_refused(
    postgres_database: str,
) -> None:
    url = postgres_database + "#upload"
    with holder(url, 1.0) as first:
        assert first.stdin is not None
        assert first.stdout is not None
        first.send_signal(signal.SIGSTOP)

        async def take_over() -> None:
            with anyio.fail_after(30):
                store = await open_postgres(url, campaign=CAMPAIGN, chunk_size=10, total=None)
            try:
                await store.sent(0, 10, b"mine", [])
            finally:
                await store.aclose()

        try:
            anyio.run(take_over)
        finally:
            first.send_signal(signal.SIGCONT)
        first.stdin.write("go\n")
        first.stdin.flush()
        said = first.stdout.readline()
        assert said.startswith("JournalError"), said
        assert "took this upload over" in said
        assert first.wait(timeout=30) == 3
    with psycopg.connect(postgres_database) as db:
        starts = db.execute("SELECT start FROM voicenter_dialer.chunks").fetchall()
    assert starts == [(0,)]  # nothing of the stopped holder's late write


async def test_a_holder_that_renews_keeps_its_upload(postgres_database: str) -> None:
    url = postgres_database + "#upload"
    first = await open_postgres(url, campaign=CAMPAIGN, chunk_size=10, total=None, lease_seconds=1)
    try:
        await anyio.sleep(1.5)  # longer than the lease: renewed meanwhile, while idle
        started = time.monotonic()
        with anyio.fail_after(30), pytest.raises(JournalError, match="in use"):
            await open_postgres(url, campaign=CAMPAIGN, chunk_size=10, total=None)
        assert time.monotonic() - started < 30  # at most one lease period (30 s) waited
        await first.sent(0, 10, b"still mine", [])
    finally:
        await first.aclose()


async def test_a_closed_upload_is_free_at_once(postgres_database: str) -> None:
    url = postgres_database + "#upload"
    first = await open_postgres(url, campaign=CAMPAIGN, chunk_size=10, total=None)
    await first.aclose()
    with anyio.fail_after(5):  # not a lease period
        second = await open_postgres(url, campaign=CAMPAIGN, chunk_size=10, total=None)
    await second.aclose()


async def test_connections_are_bounded_by_keepalives(postgres_database: str) -> None:
    store = await open_postgres(
        postgres_database + "#upload", campaign=CAMPAIGN, chunk_size=10, total=None
    )
    try:
        run: Any = store._run  # type: ignore[attr-defined]
        rows = await run(
            "SELECT current_setting('tcp_keepalives_idle'), current_setting('tcp_user_timeout')",
            {},
        )
    finally:
        await store.aclose()
    idle, user_timeout = rows[0]
    assert idle not in ("0", "")
    assert user_timeout not in ("0", "")


async def test_a_journal_of_the_first_schema_is_upgraded(postgres_database: str) -> None:
    url = postgres_database + "#old"
    store = await open_postgres(url, campaign=CAMPAIGN, chunk_size=10, total=None)
    await store.sent(0, 10, b"old", [])
    await store.aclose()
    with psycopg.connect(postgres_database) as db:  # as the first release left it
        db.execute(
            "ALTER TABLE voicenter_dialer.uploads DROP COLUMN lease_token, "
            "DROP COLUMN lease_until, DROP COLUMN lease_pid"
        )
        db.execute("UPDATE voicenter_dialer.schema_version SET version = 1")
    again = await open_postgres(url, campaign=CAMPAIGN, chunk_size=10, total=None)
    try:
        chunk = await again.chunk(0)
        assert chunk is not None
        assert chunk.digest == b"old"
        await again.done(0, 10, 10, [])
    finally:
        await again.aclose()
