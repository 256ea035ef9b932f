"""The library: AsyncDialer.add_calls_bulk over a generator of Calls."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import Result, cpu_seconds, peak_rss_mb, target

from voicenter_dialer import AsyncDialer, Call


def leads(n: int) -> Iterator[Call]:
    for i in range(n):
        yield Call(target(i), customer_name=f"Lead {i}", custom_data={"var_LeadID": i})


async def upload(
    base_url: str, campaign: str, n: int, chunk: int, concurrency: int, journal: str | None
) -> Result:
    started, cpu = time.perf_counter(), cpu_seconds()
    async with AsyncDialer(base_url=base_url) as dialer:
        report = await dialer.add_calls_bulk(
            campaign, leads(n), chunk_size=chunk, concurrency=concurrency, journal=journal
        )
    return Result(
        time.perf_counter() - started,
        cpu_seconds() - cpu,
        report.accepted,
        len(report.rejected),
        len(report.failed),
        peak_rss_mb(),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("base_url", "campaign"):
        parser.add_argument(name)
    for name in ("n", "chunk", "concurrency"):
        parser.add_argument(name, type=int)
    parser.add_argument("--journal", help="record the upload in this (new) journal")
    a = parser.parse_args()
    asyncio.run(upload(a.base_url, a.campaign, a.n, a.chunk, a.concurrency, a.journal)).emit()


if __name__ == "__main__":
    main()
