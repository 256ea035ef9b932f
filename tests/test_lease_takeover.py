"""An upload's holder stopped with SIGSTOP is taken over, and sends nothing once woken
(issue 24, the third proof of item 3), with the journal in PostgreSQL and in SQLite (two
processes, one file).

The first process uploads 2,000 leads in chunks of 50, its journal held by a lease of 2 s;
it is stopped once the service holds some of them (its connections stay open). A second
process resumes the same journal with ``reconcile=True``: it takes the upload over once the
lease has run out, and finishes it. The first, sent SIGCONT, stops with a JournalError. Each
process reaches the one fake service through a loopback server of its own, so that the
first's requests are counted apart: none after it was woken.

A lease cannot stop a request already past its check: the first is stopped while the service
holds both its chunks in flight unanswered, so that it had none between its check and the
wire (it may start a chunk only once one of them is answered); and outside its SQLite
transactions (:func:`tests.stopping.stop`).
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.stopping import CAN_STOP, stop
from tests.takeover_worker import CHUNK_SIZE, CONCURRENCY, lead
from voicenter_dialer.testing import FakeDialer, Faults, serve
from voicenter_dialer.testing._fake import Answer

ROOT = Path(__file__).resolve().parent.parent
LEADS = 2000
LEASE = 2.0
# Long enough that the upload lasts several seconds.
LATENCY = 0.25
# Bounds, not expectations: a process that has not done its part by then has hung.
BOUND = 120.0


class Door(FakeDialer):
    """One way into a shared fake service: requests noted apart, the service's state shared."""

    def __init__(self, service: FakeDialer) -> None:
        super().__init__(service.account_code, faults=service.faults)
        self.campaigns = service.campaigns
        self._service = service
        #: AddCallsBulk requests received, and applied (then answered at once).
        self.bulk_received = 0
        self.bulk_applied = 0

    def note_request(self, method: str) -> None:
        super().note_request(method)
        if method == "AddCallsBulk":
            self.bulk_received += 1

    def handle(self, method: str, params: Any) -> Answer:
        answer = self._service.handle(method, params)
        if method == "AddCallsBulk":
            self.bulk_applied += 1
        return answer

    @property
    def unanswered(self) -> int:
        return self.bulk_received - self.bulk_applied


@pytest.fixture(params=["sqlite", "postgres"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "upload.journal")
    url: str = request.getfixturevalue("postgres_database")
    return url + "#takeover"


def worker(
    base_url: str, journal: str, service: FakeDialer, campaign: str, *flags: str
) -> subprocess.Popen[str]:
    env = {**os.environ, "DIALER_ACCOUNT": service.account_code, "DIALER_CAMPAIGN": campaign}
    command = [sys.executable, "-m", "tests.takeover_worker", base_url, journal, str(LEASE)]
    return subprocess.Popen(
        [*command, str(LEADS), *flags], cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE
    )


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    try:
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()  # a stopped process too
            process.wait(timeout=BOUND)
            if process.stdout is not None:
                process.stdout.close()


@pytest.mark.skipif(not CAN_STOP, reason="reads /proc (Linux)")
def test_a_stopped_holder_is_taken_over_and_sends_nothing_once_woken(
    journal: str, processes: list[subprocess.Popen[str]]
) -> None:
    service = FakeDialer(faults=Faults(latency=LATENCY))
    campaign = service.add_campaign("Takeover")
    first_door, second_door = Door(service), Door(service)
    with serve(first_door) as first_server, serve(second_door) as second_server:
        first = worker(first_server.base_url, journal, service, campaign.code)
        processes.append(first)
        deadline = time.monotonic() + BOUND
        while len(campaign.calls) < 6 * CHUNK_SIZE:  # the service holds some of its leads
            assert first.poll() is None, "the first upload ended before it was stopped"
            assert time.monotonic() < deadline, "the first upload sent nothing"
            time.sleep(0.01)
        # Still unanswered once it is stopped: unanswered when it stopped.
        stop(first, lambda: first_door.unanswered == CONCURRENCY, BOUND)

        second = worker(second_server.base_url, journal, service, campaign.code, "--reconcile")
        processes.append(second)
        said, _ = second.communicate(timeout=BOUND)
        assert second.returncode == 0, said
        # Every request the first wrote before it was stopped has long arrived.
        sent_when_stopped = first_door.bulk_received

        first.send_signal(signal.SIGCONT)
        woken, _ = first.communicate(timeout=BOUND)
        assert first.returncode == 3, woken
        assert woken.startswith("JournalError"), woken
        assert "took this upload over" in woken
        assert first_door.bulk_received == sent_when_stopped  # nothing sent once woken

    assert sent_when_stopped > 0
    assert second_door.bulk_received > 0
    report = json.loads(said)
    assert report["total"] == LEADS
    assert report["accepted"] + report["rejected"] + report["failed"] == LEADS
    assert report["failed"] == 0
    held = collections.Counter(call.target for call in campaign.calls)
    assert held == {lead(index).target: 1 for index in range(LEADS)}  # each lead exactly once
