"""A JSONL object holding a key twice: which value was meant is unknown, so the file is
refused (json would keep the last silently), nested objects included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voicenter_dialer.testing import FakeServer

from .test_cli import cli, write


@pytest.mark.parametrize(
    "line",
    [
        '{"phone": "972501234568", "name": "A", "name": "B"}',
        '{"phone": "972501234568", "custom_data": {"src": "a", "src": "b"}}',
    ],
)
def test_a_key_twice_on_a_later_line_is_refused_naming_it(
    server: FakeServer, tmp_path: Path, line: str
) -> None:
    campaign = server.fake.add_campaign()
    leads = write(tmp_path / "leads.jsonl", '{"phone": "972501234567"}\n' + line + "\n")

    run = cli(server, "upload", str(leads), "--campaign", campaign.code, "--json")

    assert run.code == 2, run.out
    message = json.loads(run.out)["error"]["message"]
    assert f"{leads}:2:" in message
    assert "appears twice" in message
    assert campaign.calls == []
