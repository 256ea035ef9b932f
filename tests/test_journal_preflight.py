"""A rerun whose input changed is refused before its first request: check_journal compares the
whole input with the journal (the CLI does it first), sending nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicenter_dialer import Call, JournalError
from voicenter_dialer.testing import FakeCampaign, FakeDialer, FakeServer

from .test_cli import cli, write


def calls(changed_at: int | None = None) -> list[Call]:
    leads = [Call(f"9725{i:08d}") for i in range(50)]
    if changed_at is not None:
        leads[changed_at] = Call("972599999999")
    return leads


async def test_check_journal_names_the_first_chunk_that_differs(tmp_path: Path) -> None:
    fake = FakeDialer()
    campaign = fake.add_campaign()
    journal = tmp_path / "upload.journal"
    async with fake.client() as dialer:
        await dialer.add_calls_bulk(campaign.code, calls(), chunk_size=10, journal=journal)
        requests = len(fake.requests)
        await dialer.check_journal(campaign.code, calls(), journal=journal, chunk_size=10)
        with pytest.raises(JournalError, match="positions 20 to 29 differ"):
            await dialer.check_journal(campaign.code, calls(25), journal=journal, chunk_size=10)
        with pytest.raises(JournalError, match="another campaign"):
            other = fake.add_campaign("Other")
            await dialer.check_journal(other.code, calls(), journal=journal, chunk_size=10)
    assert len(fake.requests) == requests  # nothing was sent


async def test_a_journal_not_started_has_nothing_to_differ_from(tmp_path: Path) -> None:
    fake = FakeDialer()
    campaign = fake.add_campaign()
    journal = tmp_path / "new.journal"
    async with fake.client() as dialer:
        await dialer.check_journal(campaign.code, calls(), journal=journal)
    assert not journal.exists()
    assert fake.requests == []


@pytest.fixture
def campaign(server: FakeServer) -> FakeCampaign:
    return server.fake.add_campaign("Preflight")


def test_the_cli_refuses_a_changed_rerun_before_its_first_request(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    journal = str(tmp_path / "upload.journal")
    leads = tmp_path / "leads.csv"
    write(leads, "phone\n" + "".join(f"{call.target}\n" for call in calls()))
    options = ("--chunk-size", "10", "--journal", journal)
    first = cli(server, "upload", str(leads), "--campaign", campaign.code, *options)
    assert first.code == 0
    # Refused leads of the first two chunks would be re-sent by a chunk-by-chunk rerun:
    # make the service refuse nothing, change the third chunk, and count what is sent.
    write(leads, "phone\n" + "".join(f"{call.target}\n" for call in calls(25)))
    before = len(server.fake.requests)

    rerun = cli(server, "upload", str(leads), "--campaign", campaign.code, *options, "--json")

    assert rerun.code == 2
    assert "positions 20 to 29 differ" in rerun.out + rerun.err
    assert len(server.fake.requests) == before  # not one request
