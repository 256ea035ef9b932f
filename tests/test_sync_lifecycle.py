"""Dialer across a process's life: interpreter exit without close(), and os.fork.

Each case runs in a child Python process bounded by a timeout: a hang fails the test.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from voicenter_dialer.testing import FakeServer

LIMIT = 30.0


def run_script(tmp_path: Path, source: str, *args: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    try:
        return subprocess.run(
            [sys.executable, str(script), *args],
            capture_output=True,
            text=True,
            timeout=LIMIT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the script hung")


NEVER_CLOSED = """
    import sys
    from voicenter_dialer import Dialer

    dialer = Dialer(base_url=sys.argv[1])
    dialer.start_campaign(sys.argv[2])
    print("called", flush=True)
    if sys.argv[3] == "raise":
        raise RuntimeError("before close()")
"""


@pytest.mark.parametrize("ending", ["forgotten", "raise"])
def test_a_dialer_never_closed_lets_the_interpreter_exit(
    server: FakeServer, tmp_path: Path, ending: str
) -> None:
    code = server.fake.add_campaign().code
    done = run_script(tmp_path, NEVER_CLOSED, server.base_url, code, ending)
    assert done.stdout == "called\n"
    assert done.returncode == (1 if ending == "raise" else 0), done.stderr
    assert ("RuntimeError: before close()" in done.stderr) == (ending == "raise")


FORKED = """
    import os, sys, warnings
    import httpx
    from voicenter_dialer import Call, Dialer, DialerError

    warnings.simplefilter("ignore", DeprecationWarning)  # 3.12: fork() of a threaded process
    base_url, campaign, how = sys.argv[1:4]
    client = httpx.AsyncClient() if how == "own-client" else None
    dialer = Dialer(base_url=base_url, http_client=client)
    derived = dialer.with_options(max_retries=0)
    dialer.add_call(campaign, Call("972500000001"))  # the parent's loop thread is running

    pid = os.fork()
    if pid == 0:  # the child: report, and leave without running the parent's cleanup
        try:
            dialer.add_call(campaign, Call("972500000002"))
            derived.add_call(campaign, Call("972500000003"))
            with dialer.stream_calls_bulk(campaign, [Call("972500000004")]) as outcomes:
                accepted = sum(chunk.accepted for chunk in outcomes)
            print(f"child: added, then {accepted} in bulk", flush=True)
            dialer.close()
        except DialerError as exc:
            print(f"child: DialerError: {exc}", flush=True)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    dialer.add_call(campaign, Call("972500000005"))  # the parent's dialer still works
    dialer.close()
    print(f"parent: child exited {os.waitstatus_to_exitcode(status)}", flush=True)
"""


def test_a_forked_child_gets_a_dialer_of_its_own(server: FakeServer, tmp_path: Path) -> None:
    campaign = server.fake.add_campaign()
    done = run_script(tmp_path, FORKED, server.base_url, campaign.code, "dialer's client")
    assert done.stdout == "child: added, then 1 in bulk\nparent: child exited 0\n", done.stderr
    assert sorted(campaign.targets()) == [f"97250000000{i}" for i in range(1, 6)]


def test_a_forked_child_cannot_use_a_callers_client(server: FakeServer, tmp_path: Path) -> None:
    campaign = server.fake.add_campaign()
    done = run_script(tmp_path, FORKED, server.base_url, campaign.code, "own-client")
    lines = done.stdout.splitlines()
    assert lines[0].startswith("child: DialerError: this Dialer was given an http_client"), (
        done.stderr
    )
    assert lines[1:] == ["parent: child exited 0"]
    assert sorted(campaign.targets()) == ["972500000001", "972500000005"]
