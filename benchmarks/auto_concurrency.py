"""concurrency="auto" against every fixed concurrency, and one BulkWriter against add_call.

    .venv/bin/python benchmarks/auto_concurrency.py            # 60,000 leads, capacity 6
    .venv/bin/python benchmarks/auto_concurrency.py --leads 20000 --capacity 4 --fixed 0

1. Each upload runs in a fresh client process against a fresh fake dialer in a process of its
   own, over 127.0.0.1 (in one process the fake and the client share one interpreter, and
   that hid refusals). The fake has room for ``--capacity`` requests at once (more are answered
   429 with a Retry-After of its latency) and ``--latency`` seconds of latency. The same leads
   are uploaded with ``concurrency="auto"`` and with every fixed concurrency 1..``--fixed``, in
   an order that changes each round. The client keeps the library's default retries (2), so
   that a chunk refused more often is saved by the "busy is not failed" rule, or fails.
   Prints each round (auto's throughput, its share of requests refused, the leads failed by
   every setting), the medians of all rounds, and whether the targets were met (exit 1 if
   not): auto's median throughput at least ``--min-ratio`` of the best fixed median, and in
   every round at most ``--max-refused`` of auto's requests refused and no lead failed.
   What bounds a run: the fake's capacity and latency (at most ``capacity`` chunks per
   latency), and the client's CPU (the library's own work per lead, the same for every
   setting); each client process is killed after ``--timeout`` seconds.
2. Against a fake without that limit (20 ms latency, over loopback HTTP): 2,000 producers
   each adding one lead through one ``bulk_writer``, against 2,000 concurrent ``add_call``:
   requests sent and wall time (``--producers 0`` skips it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import anyio
import attrs
import httpx
import stamina

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ACCOUNT, CAMPAIGN, ROOT, clear_campaign, target

from voicenter_dialer import AsyncDialer, Call, DialerError
from voicenter_dialer._concurrency import AUTO, Concurrency
from voicenter_dialer.testing import spawn

LATENCY = 0.02


@attrs.define
class Counts:
    requests: int = 0
    refused: int = 0

    async def hook(self, response: httpx.Response) -> None:
        self.requests += 1
        self.refused += response.status_code in (429, 503)


@contextmanager
def server(capacity: int | None, latency: float = LATENCY) -> Iterator[str]:
    with spawn(
        latency=latency,
        retry_after=latency,
        capacity=capacity,
        account_code=ACCOUNT,
        campaign_code=CAMPAIGN,
    ) as running:
        yield running.base_url


@asynccontextmanager
async def dialer(
    base_url: str, counts: Counts, max_retries: int | None = None
) -> AsyncIterator[AsyncDialer]:
    async with httpx.AsyncClient(event_hooks={"response": [counts.hook]}, timeout=30) as client:
        yield AsyncDialer(ACCOUNT, base_url=base_url, http_client=client, max_retries=max_retries)


@attrs.frozen
class Run:
    """One upload, as its client process reports it."""

    seconds: float
    total: int
    failed: int
    requests: int
    refused: int
    settled: int | None

    @property
    def rate(self) -> float:
        return self.total / self.seconds

    @property
    def refused_share(self) -> float:
        return self.refused / self.requests


async def client(base_url: str, leads: int, chunk: int, concurrency: Concurrency) -> Run:
    """The client process: one upload, measured from its first lead to its report."""
    calls = [Call(target(i)) for i in range(leads)]
    counts = Counts()
    async with dialer(base_url, counts) as uploader:
        started = time.perf_counter()
        report = await uploader.add_calls_bulk(
            CAMPAIGN, calls, chunk_size=chunk, concurrency=concurrency
        )
        seconds = time.perf_counter() - started
    assert report.total == leads, report
    return Run(
        seconds, leads, len(report.failed), counts.requests, counts.refused, report.concurrency
    )


def upload(args: argparse.Namespace, concurrency: Concurrency) -> Run:
    """One upload in a fresh client process, against a fresh fake in another."""
    with server(args.capacity, args.latency) as base_url:
        command = [
            sys.executable, __file__, "--client", base_url, "--leads", str(args.leads),
            "--chunk", str(args.chunk), "--concurrency", str(concurrency),
        ]  # fmt: skip
        done = subprocess.run(  # noqa: S603
            command, capture_output=True, text=True, check=False, cwd=ROOT, timeout=args.timeout
        )
    if done.returncode != 0:
        raise RuntimeError(f"the client ({concurrency}) failed:\n{done.stderr}")
    return Run(**json.loads(done.stdout.strip().splitlines()[-1]))


def capacity_part(args: argparse.Namespace) -> bool:
    """Prints each round and the medians; True when the targets were met: auto's median
    throughput against the best fixed median, and in every round auto's refused share and
    no lead failed (with any setting)."""
    settings: list[Concurrency] = [AUTO, *range(1, args.fixed + 1)]
    runs: dict[Concurrency, list[Run]] = {c: [] for c in settings}
    print(
        f"{args.leads:,} leads in chunks of {args.chunk} ({-(-args.leads // args.chunk)} "
        f"chunks), fake over loopback HTTP: capacity {args.capacity}, "
        f"{args.latency * 1000:g} ms latency; fresh processes for each upload; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    met = True
    for number in range(1, args.rounds + 1):
        order = list(settings)
        random.shuffle(order)
        for concurrency in order:
            runs[concurrency].append(upload(args, concurrency))
        auto = runs[AUTO][-1]
        failed = sum(found[-1].failed for found in runs.values())
        met &= failed == 0 and auto.refused_share <= args.max_refused
        print(
            f"round {number}: auto {auto.rate:,.0f} leads/s, {auto.refused_share:.1%} of "
            f"{auto.requests} requests refused, settled at {auto.settled}; {failed} failed in all",
            flush=True,
        )
    print(f"{'concurrency':>12} {'leads/s':>9} {'refused':>8} {'failed':>7}  (medians)")
    rate = {c: statistics.median(r.rate for r in found) for c, found in runs.items()}
    for concurrency, found in runs.items():
        refused = statistics.median(r.refused_share for r in found)
        failed = max(r.failed for r in found)
        print(f"{concurrency!s:>12} {rate[concurrency]:>9,.0f} {refused:>8.1%} {failed:>7}")
    targets = f"refused <= {args.max_refused:.0%} and 0 failed in every round"
    if args.fixed:
        best = max(range(1, args.fixed + 1), key=lambda c: rate[c])
        ratio = rate[AUTO] / rate[best]
        print(f"auto / best fixed ({best}): {ratio:.2f} (medians)")
        met &= ratio >= args.min_ratio
        targets = f"auto >= {args.min_ratio:.2f} x best fixed, " + targets
    print(f"targets ({targets}): {'met' if met else 'NOT met'}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return met


async def producers_part(count: int) -> None:
    with server(None) as base_url:
        clear_campaign(base_url)
        counts = Counts()
        async with dialer(base_url, counts, max_retries=20) as uploader:
            started = time.perf_counter()
            async with (
                uploader.bulk_writer(CAMPAIGN, chunk_size=1000) as writer,
                anyio.create_task_group() as producers,
            ):
                for i in range(count):
                    producers.start_soon(writer.add, Call(target(i)))
            writer_seconds = time.perf_counter() - started
            assert writer.report.total == count
        writer_requests = counts.requests

        clear_campaign(base_url)
        counts = Counts()
        async with dialer(base_url, counts, max_retries=20) as uploader:
            started = time.perf_counter()
            async with anyio.create_task_group() as producers:
                for i in range(count):
                    producers.start_soon(_add_call, uploader, Call(target(i)))
            single_seconds = time.perf_counter() - started
    print(f"{count:,} producers, one lead each ({LATENCY * 1000:g} ms latency, no capacity limit)")
    print(f"  one bulk_writer: {writer_requests:>5,} requests, {writer_seconds:.2f} s")
    print(f"  add_call each:   {counts.requests:>5,} requests, {single_seconds:.2f} s")


async def _add_call(uploader: AsyncDialer, call: Call) -> None:
    with contextlib.suppress(DialerError):  # a number the service refuses: counted anyway
        await uploader.add_call(CAMPAIGN, call)


def _concurrency(value: str) -> Concurrency:
    return AUTO if value == AUTO else int(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=60_000)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--capacity", type=int, default=6)
    parser.add_argument("--latency", type=float, default=LATENCY)
    parser.add_argument("--fixed", type=int, default=12, help="fixed 1..FIXED (0: auto only)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300, help="seconds per client run")
    parser.add_argument("--min-ratio", type=float, default=0.92)
    parser.add_argument("--max-refused", type=float, default=0.03)
    parser.add_argument("--producers", type=int, default=2000, help="0: skip part 2")
    parser.add_argument("--client", metavar="BASE_URL", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=_concurrency, help=argparse.SUPPRESS)
    args = parser.parse_args()
    stamina.instrumentation.set_on_retry_hooks([])  # 429s are expected here: no log lines
    if args.client:
        run = anyio.run(client, args.client, args.leads, args.chunk, args.concurrency)
        print(json.dumps(attrs.asdict(run)))
        return 0
    met = capacity_part(args)
    if args.producers:
        anyio.run(producers_part, args.producers)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
