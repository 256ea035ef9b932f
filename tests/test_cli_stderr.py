"""stderr closed (``2>&-``) or failing (``2>/dev/full``): what was meant for it is dropped;
stdout keeps exactly what it would hold otherwise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from voicenter_dialer.testing import FakeServer

from .test_cli import write


def _run(server: FakeServer, stderr: str, *args: str, campaign: str = "") -> tuple[int, str]:
    completed = subprocess.run(
        [
            *("/bin/sh", "-c", f'exec "$@" {stderr}', "sh"),
            *(sys.executable, "-m", "voicenter_dialer", "--base-url", server.base_url, *args),
        ],
        stdout=subprocess.PIPE,
        text=True,
        timeout=60,
        env={
            "VOICENTER_CODE": server.fake.account_code,
            "VOICENTER_CAMPAIGN": campaign,
            "PATH": "/usr/bin:/bin",
        },
        check=False,
    )
    return completed.returncode, completed.stdout


@pytest.mark.parametrize("stderr", ["2>&-", "2>/dev/full"])
def test_a_usage_error_in_text_puts_nothing_on_stdout(server: FakeServer, stderr: str) -> None:
    code, out = _run(server, stderr, "nonsense")

    assert (code, out) == (2, "")


@pytest.mark.parametrize("stderr", ["2>&-", "2>/dev/full"])
def test_an_upload_in_text_prints_its_report_and_no_progress_on_stdout(
    server: FakeServer, tmp_path: Path, stderr: str
) -> None:
    campaign = server.fake.add_campaign()
    leads = write(tmp_path / "leads.csv", "phone\n972501234567\n972501234568\n")

    code, out = _run(server, stderr, "upload", str(leads), campaign=campaign.code)

    assert code == 0, out
    assert "accepted" in out
    assert "leads:" not in out  # a progress line ("  2/2 leads: ...") goes to stderr only
    assert len(campaign.targets()) == 2
