"""``upload --idempotency-store URL --key-column NAME``: a rerun of a keyed lead file sends
nothing again; a key column without a store, or missing from the file, exits 2 at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicenter_dialer.testing import FakeCampaign, FakeServer

from .test_cli import cli, write


@pytest.fixture
def campaign(server: FakeServer) -> FakeCampaign:
    return server.fake.add_campaign("CLI keys")


def _leads(count: int) -> str:
    return "order,phone\n" + "".join(f"o-{i},9725012{i:05d}\n" for i in range(count))


def _bulk_requests(server: FakeServer) -> int:
    return server.fake.requests.count("AddCallsBulk")


def test_a_rerun_of_a_keyed_upload_sends_nothing(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(tmp_path / "leads.csv", _leads(12))
    store = str(tmp_path / "keys.sqlite")
    upload = ["upload", str(leads), "--campaign", campaign.code]
    keyed = [*upload, "--idempotency-store", store, "--key-column", "order"]
    server.fake.requests.clear()
    first = cli(server, *keyed)
    assert first.code == 0, first.err
    assert _bulk_requests(server) == 1
    again = cli(server, *keyed)
    assert again.code == 0, again.err
    assert "accepted          12" in again.out
    assert _bulk_requests(server) == 1  # nothing sent again
    assert len(campaign.calls) == 12
    # The key column is not sent as the lead's data.
    assert all("order" not in call.custom_data for call in campaign.calls)


def test_a_jsonl_lead_without_its_key_fails_alone(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path
) -> None:
    leads = write(
        tmp_path / "leads.jsonl",
        '{"phone": "972501200001", "order": 7}\n{"phone": "972501200002"}\n',
    )
    store = str(tmp_path / "keys.sqlite")
    result = cli(server, "upload", str(leads), "--campaign", campaign.code,
                 "--idempotency-store", store, "--key-column", "order", "--json")  # fmt: skip
    assert result.code != 0
    assert [call.target for call in campaign.calls] == ["972501200001"]


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--key-column", "order"], "--idempotency-store"),
        (["--key-column", "nope", "--idempotency-store", "STORE"], "no such column"),
    ],
)
def test_a_key_column_that_cannot_be_used_exits_2_before_sending(
    server: FakeServer, campaign: FakeCampaign, tmp_path: Path, extra: list[str], says: str
) -> None:
    leads = write(tmp_path / "leads.csv", _leads(3))
    extra = [str(tmp_path / "keys.sqlite") if arg == "STORE" else arg for arg in extra]
    server.fake.requests.clear()
    result = cli(server, "upload", str(leads), "--campaign", campaign.code, *extra)
    assert result.code == 2
    assert says in result.err
    assert _bulk_requests(server) == 0
