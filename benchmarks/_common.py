"""What the benchmarks share: the lead set, the server processes, result lines."""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import attrs

from voicenter_dialer.testing import spawn

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "BENCH-ACCOUNT-0123456789abcdef"
CAMPAIGN = "BENCH-CAMPAIGN-0123456789abcdef"
#: Every REJECT_EVERY-th lead has a number the service refuses (too short): a per-target reject.
REJECT_EVERY = 997


def target(i: int) -> str:
    """The i-th lead's number, the same for every client."""
    return f"{i % 1_000_000:06d}" if i % REJECT_EVERY == 0 else f"9725{i:08d}"


def expected_rejected(n: int) -> int:
    return len(range(0, n, REJECT_EVERY))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@attrs.frozen
class Result:
    """What one client run prints as its last line (JSON)."""

    seconds: float
    cpu: float
    accepted: int
    rejected: int
    failed: int
    peak_rss_mb: float
    #: User-space instructions of the whole client process, when counted (see run_client).
    instructions: int | None = None

    def emit(self) -> None:
        print(json.dumps(attrs.asdict(self)), flush=True)

    @classmethod
    def parse(cls, output: str) -> Result:
        return cls(**json.loads(output.strip().splitlines()[-1]))


@attrs.frozen
class Job:
    """What a client script is asked to do (its command line)."""

    base_url: str
    campaign: str
    n: int
    chunk: int
    concurrency: int
    journal: str | None
    #: The library's client only: leads as plain dicts of Call's fields instead of Calls.
    mappings: bool

    @classmethod
    def from_command_line(cls) -> Job:
        parser = argparse.ArgumentParser()
        for name in ("base_url", "campaign"):
            parser.add_argument(name)
        for name in ("n", "chunk", "concurrency"):
            parser.add_argument(name, type=int)
        parser.add_argument("--journal", help="record the upload in this (new) journal")
        parser.add_argument("--mappings", action="store_true", help="leads as dicts, not Calls")
        return cls(**vars(parser.parse_args()))


@attrs.frozen
class Stopwatch:
    """Wall and CPU time since it was started, as a :class:`Result`."""

    started: float = attrs.field(factory=time.perf_counter)
    cpu: float = attrs.field(factory=cpu_seconds)

    def result(self, accepted: int, rejected: int, failed: int) -> Result:
        return Result(
            time.perf_counter() - self.started,
            cpu_seconds() - self.cpu,
            accepted,
            rejected,
            failed,
            peak_rss_mb(),
        )


@contextmanager
def fake_server(latency: float) -> Iterator[Server]:
    """The fake dialer in its own process, with the benchmark's account and campaign."""
    with spawn(latency=latency, account_code=ACCOUNT, campaign_code=CAMPAIGN) as spawned:
        yield Server(spawned.base_url, spawned.pid)


@contextmanager
def cheap_server(latency: float) -> Iterator[Server]:
    """``_cheap_server.py`` in its own process: AddCallsBulk answered at a small CPU cost."""
    script = Path(__file__).parent / "_cheap_server.py"
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, str(script), "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield Server(process.stdout.readline().strip(), process.pid)
    finally:
        process.terminate()
        process.wait()


@attrs.frozen
class Server:
    base_url: str
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def clear_campaign(base_url: str) -> None:
    import httpx

    httpx.post(base_url + "ClearCampaignCalls", json={"Campaign": CAMPAIGN}, timeout=60)


#: How user-space instructions are counted: Linux perf's counter, or callgrind's (valgrind
#: simulates the CPU, ~60x slower) where the machine has no counter for perf (a VM).
COUNTERS = ("perf", "callgrind")


def instruction_counter() -> str:
    """``perf`` when ``perf stat -e instructions:u`` counts here, else ``callgrind``."""
    try:
        probe = subprocess.run(
            ["perf", "stat", "-x,", "-e", "instructions:u", "true"],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        return "callgrind"
    line = probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else ""
    return "perf" if probe.returncode == 0 and line.split(",", 1)[0].isdigit() else "callgrind"


def run_client(
    script: str, *args: str, counter: str | None = None, profile: Path | None = None
) -> Result:
    """Run a client script in its own process and read its result line.

    With *counter* (``perf`` or ``callgrind``), the result's ``instructions`` are the
    user-space instructions of the whole process (the interpreter's start included), a
    figure the machine's other load does not change, unlike CPU time. Under callgrind the
    run's times are not the client's own (it runs ~60x slower); *profile* keeps its
    callgrind output there, for ``callgrind_annotate``.
    """
    command = [str(Path(__file__).parent / "clients" / script), *args]
    stdout, stderr = _run(command, counter, profile)
    result = Result.parse(stdout)
    if counter is not None:
        result = attrs.evolve(result, instructions=_counted(counter, stderr))
    return result


def run_counted(command: list[str], counter: str) -> int:
    """The user-space instructions of ``python COMMAND`` (see :func:`run_client`)."""
    return _counted(counter, _run(command, counter, None)[1])


def _run(command: list[str], counter: str | None, profile: Path | None) -> tuple[str, str]:
    """Run ``python COMMAND`` from the repository root (under *counter*): its output."""
    command = [sys.executable, *command]
    with tempfile.TemporaryDirectory() as folder:
        output = profile or Path(folder) / "callgrind.out"
        if counter == "perf":
            command = ["perf", "stat", "-x,", "-e", "instructions:u", *command]
        elif counter == "callgrind":
            command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={output}", *command]
        completed = subprocess.run(  # noqa: S603
            command,
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
    if completed.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{completed.stderr}")
    return completed.stdout, completed.stderr


def _counted(counter: str, stderr: str) -> int:
    if counter == "perf":
        # perf stat's CSV line is the last on stderr: "COUNT,,instructions:u,..."
        return int(stderr.strip().splitlines()[-1].split(",", 1)[0])
    # callgrind's summary on stderr: "==PID== Collected : COUNT"
    found = re.search(r"Collected : (\d+)", stderr)
    if found is None:
        raise RuntimeError(f"no callgrind count in:\n{stderr[-2000:]}")
    return int(found.group(1))


def check_counts(script: str, result: Result, leads: int) -> None:
    """Raise unless *result* is a real upload of *leads*: every lead accepted but the
    benchmark's short numbers, which the server refuses. A client whose leads all failed
    validation would be fast, and wrong."""
    expected = (leads - expected_rejected(leads), expected_rejected(leads), 0)
    got = (result.accepted, result.rejected, result.failed)
    if got != expected:
        raise RuntimeError(
            f"{script} did not upload its {leads:,} leads: accepted, rejected, failed "
            f"{got}, expected {expected}"
        )


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
