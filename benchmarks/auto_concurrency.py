"""concurrency="auto" against every fixed concurrency, and one BulkWriter against add_call.

    .venv/bin/python benchmarks/auto_concurrency.py [--leads 30000] [--rounds 3]

1. The fake dialer, in-process (``--loopback``: in its own process, over 127.0.0.1), has
   room for 6 requests at once (more are answered 429 with Retry-After) and 20 ms latency.
   The same leads are uploaded with ``concurrency="auto"`` and with every fixed concurrency
   1..16, in an order that changes each round; prints each one's median throughput, the
   share of requests refused, and auto's throughput divided by the best fixed one's.
2. Against a fake without that limit (20 ms latency, over loopback HTTP): 2,000 producers
   each adding one lead through one ``bulk_writer``, against 2,000 concurrent ``add_call``:
   requests sent and wall time.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, nullcontext
from pathlib import Path

import anyio
import attrs
import httpx
import stamina

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ACCOUNT, CAMPAIGN, clear_campaign, target

from voicenter_dialer import DEFAULT_BASE_URL, AsyncDialer, Call, DialerError
from voicenter_dialer._concurrency import Concurrency
from voicenter_dialer.testing import FakeDialer, FakeTransport, Faults, spawn

CAPACITY = 6
LATENCY = 0.02
FIXED = range(1, 17)
CHUNK = 100


@attrs.define
class Counts:
    requests: int = 0
    refused: int = 0

    async def hook(self, response: httpx.Response) -> None:
        self.requests += 1
        self.refused += response.status_code == 429


@contextmanager
def server(capacity: int | None) -> Iterator[str]:
    with spawn(
        latency=LATENCY,
        retry_after=LATENCY,
        capacity=capacity,
        account_code=ACCOUNT,
        campaign_code=CAMPAIGN,
    ) as running:
        yield running.base_url


#: Where requests go: a loopback base URL, or a fake dialer answering in-process.
Service = str | FakeDialer


def in_process(capacity: int) -> FakeDialer:
    fake = FakeDialer(
        ACCOUNT, faults=Faults(latency=LATENCY, retry_after=LATENCY, capacity=capacity)
    )
    fake.add_campaign("Bench", code=CAMPAIGN)
    return fake


@asynccontextmanager
async def dialer(service: Service, counts: Counts) -> AsyncIterator[AsyncDialer]:
    hooks = {"response": [counts.hook]}
    if isinstance(service, str):
        client = httpx.AsyncClient(event_hooks=hooks, timeout=30)
        base_url = service
    else:
        client = httpx.AsyncClient(event_hooks=hooks, transport=FakeTransport(service))
        base_url = DEFAULT_BASE_URL
    async with client:
        # Enough retries that no fixed concurrency loses calls: they pay in waits instead.
        yield AsyncDialer(ACCOUNT, base_url=base_url, http_client=client, max_retries=20)


def clear(service: Service) -> None:
    if isinstance(service, str):
        clear_campaign(service)
    else:
        service.campaigns[CAMPAIGN].calls.clear()


@attrs.frozen
class Run:
    rate: float
    refused: float
    settled: int | None


async def upload(service: Service, calls: list[Call], concurrency: Concurrency) -> Run:
    counts = Counts()
    async with dialer(service, counts) as client:
        started = time.perf_counter()
        report = await client.add_calls_bulk(
            CAMPAIGN, calls, chunk_size=CHUNK, concurrency=concurrency
        )
        seconds = time.perf_counter() - started
    assert report.total == len(calls), report
    return Run(report.accepted / seconds, counts.refused / counts.requests, report.concurrency)


async def capacity_part(leads: int, rounds: int, loopback: bool) -> None:
    calls = [Call(target(i)) for i in range(leads)]
    runs: dict[Concurrency, list[Run]] = {c: [] for c in ["auto", *FIXED]}
    with server(CAPACITY) if loopback else nullcontext(in_process(CAPACITY)) as service:
        for _ in range(rounds):
            order = list(runs)
            random.shuffle(order)
            for concurrency in order:
                clear(service)
                runs[concurrency].append(await upload(service, calls, concurrency))
    where = "over loopback HTTP" if loopback else "in-process"
    print(
        f"{leads:,} leads in chunks of {CHUNK}, {where}; capacity {CAPACITY}, "
        f"{LATENCY * 1000:g} ms latency"
    )
    print(f"{'concurrency':>12} {'leads/s':>9} {'refused':>8}  (medians of {rounds} rounds)")
    rate = {c: statistics.median(r.rate for r in found) for c, found in runs.items()}
    for concurrency, found in runs.items():
        refused = statistics.median(r.refused for r in found)
        settled = f"  settled at {found[-1].settled}" if concurrency == "auto" else ""
        print(f"{concurrency!s:>12} {rate[concurrency]:>9,.0f} {refused:>8.1%}{settled}")
    best = max(FIXED, key=lambda c: rate[c])
    print(
        f"auto / best fixed ({best}): {rate['auto'] / rate[best]:.0%} of the throughput, "
        f"{statistics.median(r.refused for r in runs['auto']):.1%} of requests refused"
    )


async def producers_part(count: int) -> None:
    with server(None) as base_url:
        clear_campaign(base_url)
        counts = Counts()
        async with dialer(base_url, counts) as client:
            started = time.perf_counter()
            async with (
                client.bulk_writer(CAMPAIGN, chunk_size=1000) as writer,
                anyio.create_task_group() as producers,
            ):
                for i in range(count):
                    producers.start_soon(writer.add, Call(target(i)))
            writer_seconds = time.perf_counter() - started
            assert writer.report.total == count
        writer_requests = counts.requests

        clear_campaign(base_url)
        counts = Counts()
        async with dialer(base_url, counts) as client:
            started = time.perf_counter()
            async with anyio.create_task_group() as producers:
                for i in range(count):
                    producers.start_soon(_add_call, client, Call(target(i)))
            single_seconds = time.perf_counter() - started
    print(f"{count:,} producers, one lead each ({LATENCY * 1000:g} ms latency, no capacity limit)")
    print(f"  one bulk_writer: {writer_requests:>5,} requests, {writer_seconds:.2f} s")
    print(f"  add_call each:   {counts.requests:>5,} requests, {single_seconds:.2f} s")


async def _add_call(client: AsyncDialer, call: Call) -> None:
    with contextlib.suppress(DialerError):  # a number the service refuses: counted anyway
        await client.add_call(CAMPAIGN, call)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--producers", type=int, default=2000)
    parser.add_argument(
        "--loopback",
        action="store_true",
        help="part 1 over loopback HTTP too (on a small machine the client's CPU, not the "
        "service's room, then bounds the throughput)",
    )
    args = parser.parse_args()
    stamina.instrumentation.set_on_retry_hooks([])  # 429s are expected here: no log lines
    anyio.run(capacity_part, args.leads, args.rounds, args.loopback)
    anyio.run(producers_part, args.producers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
