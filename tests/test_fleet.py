"""Exactly once across a fleet, with real processes: the same keyed leads given at once to two
"machines" (processes in two working directories of their own, the project on PYTHONPATH),
against the fake over loopback, 5% of whose add requests are applied and then answered by a
proxy's 502 page (outcomes left unknown, to reconcile). Over a SQLite file (the processes of
one machine) and over PostgreSQL (any number of machines). The service must hold each lead
exactly once."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest

from voicenter_dialer import BulkWriter, Call, IdempotencyConflict, LeadOutcome, _client
from voicenter_dialer.testing import FakeCampaign, FakeDialer, FakeServer, Faults, bind

ROOT = Path(__file__).resolve().parent.parent
#: Leads each process adds in the worker tests.
LEADS = 3000
#: Seconds a process may take to start, or a worker to add every lead.
START_TIMEOUT = 30.0
WORK_TIMEOUT = 120.0
SHARED_MEMORY = Path("/dev/shm")  # noqa: S108 - a private directory is made in it


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgres":
        database: str = request.getfixturevalue("postgres_database")
        yield database + "#keys"
        return
    # One file of one machine, in memory (tmpfs) where there is one: the proof is about
    # claims, not disks, and on a disk every commit's fsync makes these tests 3 times longer.
    if not SHARED_MEMORY.is_dir():
        yield str(tmp_path / "keys.sqlite")
        return
    with tempfile.TemporaryDirectory(dir=SHARED_MEMORY) as directory:
        yield str(Path(directory) / "keys.sqlite")


@pytest.fixture
def machines(tmp_path: Path) -> list[Path]:
    """Two working directories, one per process, as two machines would have."""
    paths = [tmp_path / f"machine-{number}" for number in (1, 2)]
    for path in paths:
        path.mkdir()
    return paths


def environment(**variables: str) -> dict[str, str]:
    """This process's environment, the project importable from anywhere, and *variables*."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **variables}


def faulty(server: FakeServer, method: str) -> FakeCampaign:
    """A campaign of *server*, 5% of whose *method* requests are applied, then answered 502."""
    # Seed 1 draws some among the first few dozen requests.
    server.fake.faults = Faults(rates={"html": 0.05}, methods=frozenset({method}), seed=1)
    return server.fake.add_campaign("Fleet")


def held_once(campaign: FakeCampaign, count: int) -> None:
    held = Counter(call.target for call in campaign.calls)
    assert len(held) == count  # nobody lost
    assert max(held.values()) == 1  # nobody dialled twice


def run_workers(
    mode: str, store: str, server: FakeServer, campaign: FakeCampaign, machines: list[Path]
) -> list[Counter[str]]:
    """Each machine's ``tests.fleet_worker`` in *mode*, started together; their counts."""
    go = machines[0].parent / "go"
    env = environment(DIALER_ACCOUNT=server.fake.account_code, DIALER_CAMPAIGN=campaign.code)
    command = [sys.executable, "-m", "tests.fleet_worker", mode, store, server.base_url]
    with contextlib.ExitStack() as running:
        procs = []
        for machine in machines:
            proc = running.enter_context(
                subprocess.Popen(
                    [*command, str(LEADS), str(go)],
                    cwd=machine,
                    env=env,
                    text=True,
                    stdout=subprocess.PIPE,
                )
            )
            running.callback(proc.kill)  # before the Popen's exit waits for it
            procs.append(proc)
        deadline = time.monotonic() + START_TIMEOUT
        while not all((machine / "ready").exists() for machine in machines):
            assert all(proc.poll() is None for proc in procs), "a worker did not start"
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.01)
        go.touch()
        outputs = [proc.communicate(timeout=WORK_TIMEOUT)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0]
    return [Counter(json.loads(output)) for output in outputs]


def test_two_processes_writing_the_same_keyed_leads_add_each_once(
    server: FakeServer, store: str, machines: list[Path]
) -> None:
    campaign = faulty(server, "AddCallsBulk")
    for statuses in run_workers("writer", store, server, campaign, machines):
        assert statuses.total() == LEADS  # every lead counted once by each process
    assert server.fake.faults.injected.get("html", 0) > 0
    held_once(campaign, LEADS)


def test_two_processes_adding_the_same_keyed_calls_add_each_once(
    server: FakeServer, store: str, machines: list[Path]
) -> None:
    campaign = faulty(server, "AddCall")
    earlier = len(server.fake.requests)  # the loopback fake's, since the session began
    counts = run_workers("add-call", store, server, campaign, machines)
    injected = server.fake.faults.injected.get("html", 0)
    assert injected > 0
    # Every lead ends accepted in each process: sent by it, or replayed from the other's.
    assert [statuses["accepted"] for statuses in counts] == [LEADS, LEADS]
    # Each lost answer left its caller in doubt once: the retry found the call pending. On a
    # loaded machine a request may also fail on its own (a timeout, a reset): in doubt too.
    retried = sum(statuses["retried"] for statuses in counts)
    assert retried >= injected
    assert [set(statuses) - {"accepted", "retried"} for statuses in counts] == [set(), set()]
    # Each lead sent once, by one of the two: a lost answer's call was found, not sent again
    # (only a request that failed on its own, never processed, may have been sent again).
    sent = server.fake.requests[earlier:].count("AddCall")
    assert LEADS <= sent <= LEADS + (retried - injected)
    held_once(campaign, LEADS)


async def test_a_busy_writer_keeps_the_keys_of_its_waiting_calls(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A writer under load holds keys claimed at add time until their chunk leaves: they must
    # not lapse meanwhile, or another machine takes them over and adds the lead itself (and
    # the writer, finding its lease lost when the chunk leaves, stops altogether).
    monkeypatch.setattr(_client, "DEFAULT_LEASE_SECONDS", 0.3)
    fake = FakeDialer()
    campaign = fake.add_campaign("Busy")
    call = Call("972501234567")
    outcomes: list[LeadOutcome] = []

    async def add(writer: BulkWriter) -> None:
        outcomes.append(await writer.add(call, idempotency_key="lead-1"))

    async with (
        fake.client(idempotency_store=store) as dialer,
        fake.client(idempotency_store=store, idempotency_wait=0.5) as elsewhere,
        anyio.create_task_group() as tasks,
        dialer.bulk_writer(campaign.code, chunk_size=2, flush_after=None) as writer,
    ):
        tasks.start_soon(add, writer)  # waits for a second call, or the block's end
        await anyio.sleep(1.0)  # three leases
        with pytest.raises(IdempotencyConflict):  # still held: waited for, in vain
            await elsewhere.add_call(campaign.code, call, idempotency_key="lead-1")
    [outcome] = outcomes
    assert (outcome.status, outcome.replayed) == ("accepted", False)
    assert "AddCall" not in fake.requests
    assert len(campaign.calls) == 1


#: Webhooks of the service test, each delivered to both processes.
WEBHOOKS = 300
#: Deliveries of one webhook to one process before the sender gives up.
DELIVERY_ATTEMPTS = 10


@contextlib.contextmanager
def service(machine: Path, env: Mapping[str, str]) -> Iterator[str]:
    """``tests.fleet_service`` run by uvicorn in *machine*'s directory, until the block ends;
    its URL. It listens on a socket bound here (a free port, nobody else's) and handed over."""
    with contextlib.closing(bind()) as sock:
        # Accepted connections inherit it: no answer waits for a delayed ACK (Nagle).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        host, port = sock.getsockname()
        with (machine / "uvicorn.log").open("w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "tests.fleet_service:app",
                 "--fd", str(sock.fileno()), "--log-level", "warning", "--no-access-log",
                 # No idle connection closed under a request the sender is reusing it for.
                 "--timeout-keep-alive", str(int(WORK_TIMEOUT))],
                cwd=machine, env=env, stdout=log, stderr=subprocess.STDOUT,
                pass_fds=[sock.fileno()],
            )  # fmt: skip
    # Only the service holds its socket now: if it dies, its clients are refused, not left
    # waiting.
    try:
        yield f"http://{host}:{port}"
    finally:
        proc.kill()
        proc.wait(START_TIMEOUT)


def phone(lead: int) -> str:
    return f"9725{lead:08d}"


@attrs.define
class Delivery:
    """One webhook's delivery to one process: each attempt's status, then the 2xx answer."""

    statuses: list[int] = attrs.Factory(list)  # 0: no answer
    answer: dict[str, Any] | None = None


async def deliver_all(urls: list[str]) -> dict[tuple[int, str], Delivery]:
    """Every webhook delivered to every one of *urls* at once, each delivery retried until
    answered 2xx (:data:`DELIVERY_ATTEMPTS` at most), as a webhook sender does; by webhook
    and URL."""
    deliveries: dict[tuple[int, str], Delivery] = {}
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(timeout=START_TIMEOUT, limits=limits) as client:
        for url in urls:  # both up: each has opened its dialer
            (await client.get(f"{url}/health")).raise_for_status()

        async def deliver(lead: int, url: str) -> None:
            delivery = deliveries[lead, url] = Delivery()
            body = {"lead_id": lead, "phone": phone(lead)}
            for _ in range(DELIVERY_ATTEMPTS):
                try:
                    response = await client.post(f"{url}/leads", json=body)
                except httpx.TransportError:
                    delivery.statuses.append(0)  # no answer: delivered again
                else:
                    delivery.statuses.append(response.status_code)
                    if response.is_success:
                        delivery.answer = response.json()
                        return
                await anyio.sleep(0.01)

        with anyio.fail_after(WORK_TIMEOUT):
            async with anyio.create_task_group() as tasks:
                for lead in range(WEBHOOKS):
                    for url in urls:
                        tasks.start_soon(deliver, lead, url)
    return deliveries


def test_a_service_of_two_processes_given_every_webhook_twice_dials_each_lead_once(
    server: FakeServer, store: str, machines: list[Path]
) -> None:
    campaign = faulty(server, "AddCall")
    earlier = len(server.fake.requests)
    env = environment(
        VOICENTER_CODE=server.fake.account_code,
        VOICENTER_BASE_URL=server.base_url,
        FLEET_CAMPAIGN=campaign.code,
        FLEET_IDEMPOTENCY_STORE=store,
    )
    with contextlib.ExitStack() as services:
        urls = [services.enter_context(service(machine, env)) for machine in machines]
        deliveries = anyio.run(deliver_all, urls)
    logs = [(machine / "uvicorn.log").read_text() for machine in machines]
    injected = server.fake.faults.injected.get("html", 0)
    assert injected > 0
    assert len(deliveries) == 2 * WEBHOOKS
    answers: dict[tuple[int, str], dict[str, Any]] = {}
    for (lead, url), delivery in deliveries.items():
        # Answered 2xx in the end, for its lead; before that, only a 503 for a lost answer.
        assert delivery.answer is not None, (lead, url, delivery, logs)
        assert delivery.answer["lead_id"] == lead
        assert set(delivery.statuses[:-1]) <= {503}, (lead, url, delivery, logs)
        answers[lead, url] = delivery.answer
    # Each lost answer failed its delivery once; on a loaded machine a request may also fail
    # on its own (a timeout, a reset), and its delivery with it.
    failed = sum(len(delivery.statuses) - 1 for delivery in deliveries.values())
    assert failed >= injected
    # Of a webhook's two deliveries, one sent the call and the other replayed it; or, when
    # the answer was lost, both found it among the campaign's pending calls (sent nothing).
    sent = Counter(
        tuple(sorted(answers[lead, url]["sent"] for url in urls)) for lead in range(WEBHOOKS)
    )
    assert set(sent) <= {(0, 1), (0, 0)}
    assert injected <= sent[0, 0] <= failed
    assert all(answer["replayed"] == (answer["sent"] == 0) for answer in answers.values())
    # Only a request that failed on its own, never processed, may have been sent again.
    requests = server.fake.requests[earlier:].count("AddCall")
    assert WEBHOOKS <= requests <= WEBHOOKS + (failed - injected)
    held_once(campaign, WEBHOOKS)
