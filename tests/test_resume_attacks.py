"""Resuming under attack (issue 11): re-sends journalled first, one-file journals, duplicate
numbers when reconciling, nothing but targets and reasons in a journal."""

from __future__ import annotations

import collections
import functools
import shutil
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from voicenter_dialer import Call, summarise_journal
from voicenter_dialer.testing import FakeCampaign, FakeDialer, FakeServer, Faults

from .test_resume import LEADS, assert_every_lead_exactly_once, kill_part_way, rerun, upload


@pytest.fixture
def fake() -> FakeDialer:
    return FakeDialer()


@pytest.fixture
def campaign(fake: FakeDialer) -> FakeCampaign:
    return fake.add_campaign("Attacks")


def leads(count: int) -> list[Call]:
    return [Call(f"9725{i:08d}") for i in range(count)]


async def wait_until(condition: collections.abc.Callable[[], bool]) -> None:
    with anyio.fail_after(10):
        while not condition():  # noqa: ASYNC110 - polls the fake, which has no event to await
            await anyio.sleep(0.005)


async def test_a_resend_of_refused_leads_is_journalled_before_it_leaves(
    fake: FakeDialer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    """Run 1 refused (503), run 2 re-sends but dies before the answer, run 3 reconciles:
    nobody dialled twice, and the journal never calls the in-flight re-send 'never sent'."""
    journal, calls = tmp_path / "upload.journal", leads(50)
    async with fake.client() as dialer:
        fake.faults = Faults({"503": 1.0}, methods=frozenset({"AddCallsBulk"}))
        first = await dialer.add_calls_bulk(campaign.code, calls, journal=journal)
        assert first.accepted == 0
        assert summarise_journal(journal).remaining == 50  # refused: a rerun sends them

        # The service adds the chunk, then answers too late: the upload is stopped meanwhile.
        fake.faults = Faults({"slow": 1.0}, methods=frozenset({"AddCallsBulk"}), slow_seconds=30)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(
                functools.partial(dialer.add_calls_bulk, campaign.code, calls, journal=journal)
            )
            await wait_until(lambda: len(campaign.calls) == 50)
            tasks.cancel_scope.cancel()
        between = summarise_journal(journal)
        assert (between.unknown, between.remaining) == (50, 0)

        fake.faults = Faults()
        third = await dialer.add_calls_bulk(campaign.code, calls, journal=journal, reconcile=True)
    assert (third.accepted, third.ok) == (50, True)
    assert collections.Counter(campaign.targets()) == {call.target: 1 for call in calls}


async def test_reconciling_counts_a_repeated_number_instead_of_trusting_it(
    fake: FakeDialer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    """Two leads with one number: the first accepted, the second in flight (not added) when
    the upload stopped. The campaign holds the number once: that is the first lead's."""
    journal = tmp_path / "upload.journal"
    calls = [Call("972500000001"), Call("972500000002"), Call("972500000001")]
    async with fake.client() as dialer:
        # Every chunk waits a second in the service before it is applied; one at a time.
        fake.faults = Faults(latency=1.0, methods=frozenset({"AddCallsBulk"}))
        async with anyio.create_task_group() as tasks:
            upload_ = functools.partial(
                dialer.add_calls_bulk, campaign.code, calls, chunk_size=2, concurrency=1,
                journal=journal,
            )  # fmt: skip
            tasks.start_soon(upload_)
            # Chunk 0 (two leads) is applied; chunk 1 has reached the service, not yet applied.
            await wait_until(lambda: len(campaign.calls) == 2)
            await wait_until(lambda: fake.requests.count("AddCallsBulk") == 2)
            tasks.cancel_scope.cancel()
        assert summarise_journal(journal).unknown == 1

        fake.faults = Faults()
        report = await dialer.add_calls_bulk(
            campaign.code, calls, chunk_size=2, journal=journal, reconcile=True
        )
    assert report.accepted == 3
    # Sent again, not taken as added on the strength of the first lead's copy.
    assert collections.Counter(campaign.targets()) == {"972500000001": 2, "972500000002": 1}


async def test_a_journal_stores_targets_and_reasons_never_a_call_or_a_code(
    fake: FakeDialer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    journal = tmp_path / "upload.journal"
    # Vendor-style dicts (not Calls) fail validation; their repr holds the campaign code.
    calls: list[object] = [
        {"Campaign": campaign.code, "Target": "972501234567"},
        Call("972501234568", custom_data={"note": campaign.code}),
        Call("not a number", customer_name=campaign.code),
    ]
    async with fake.client() as dialer:
        report = await dialer.add_calls_bulk(campaign.code, calls, journal=journal)  # type: ignore[arg-type]
    assert [f.index for f in report.failed] == [0, 2]
    stored = journal.read_bytes()
    for secret in (campaign.code, campaign.code.lower(), campaign.code[:-1]):
        assert secret.encode() not in stored


def test_a_copy_of_the_journal_file_alone_resumes_exactly_once(
    server: FakeServer, tmp_path: Path
) -> None:
    """kill -9, then copy only the journal file (no sidecar) elsewhere and resume from it."""
    campaign = server.fake.add_campaign("Copied journal")
    lead_file = tmp_path / "leads.csv"
    lead_file.write_text(
        "phone\n" + "".join(f"9725{i:08d}\n" for i in range(LEADS)), encoding="utf-8"
    )
    journal = tmp_path / "upload.journal"
    command = upload(server, campaign, lead_file, "--journal", str(journal))
    server.fake.faults = Faults(latency=0.02)
    kill_part_way(command, campaign)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    copy = elsewhere / "upload.journal"
    shutil.copyfile(journal, copy)  # the one file: whatever sits beside it stays behind
    server.fake.faults = Faults()
    resumed = [*upload(server, campaign, lead_file, "--journal", str(copy)), "--reconcile"]
    assert rerun(resumed) == 0
    assert_every_lead_exactly_once(campaign)
    shown = subprocess.run(
        [sys.executable, "-m", "voicenter_dialer", "journal", str(copy)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stdout + shown.stderr


def test_killed_on_one_machine_resumed_on_another_from_postgresql(
    server: FakeServer, postgres_database: str, tmp_path: Path
) -> None:
    """An upload journalled in PostgreSQL is SIGKILLed under faults; another process, in
    another working directory with no local state, resumes it with --reconcile."""
    campaign = server.fake.add_campaign("Elsewhere")
    first_machine, second_machine = tmp_path / "node-a", tmp_path / "node-b"
    first_machine.mkdir()
    second_machine.mkdir()
    lead_file = first_machine / "leads.csv"
    lead_file.write_text(
        "phone\n" + "".join(f"9725{i:08d}\n" for i in range(LEADS)), encoding="utf-8"
    )
    journal = f"{postgres_database}#nightly-leads"
    command = upload(server, campaign, lead_file, "--journal", journal)
    server.fake.faults = Faults({"503": 0.05, "500": 0.05, "reset": 0.05}, latency=0.02, seed=3)
    kill_part_way(command, campaign, cwd=first_machine)

    copied = second_machine / "leads.csv"  # the same input, fetched again on the new node
    shutil.copyfile(lead_file, copied)
    shutil.rmtree(first_machine)  # the node is gone, and its disk with it
    server.fake.faults = Faults()
    resumed = [*upload(server, campaign, copied, "--journal", journal), "--reconcile"]
    for _ in range(3):  # refused leads (503) are sent again by each rerun until none is left
        summary = summarise_journal(journal)
        if summary.total == LEADS and not summary.unknown and not summary.remaining:
            break
        rerun(resumed, cwd=second_machine)
    summary = summarise_journal(journal)
    assert (summary.accepted, summary.unknown, summary.remaining) == (LEADS, 0, 0)
    assert_every_lead_exactly_once(campaign)
