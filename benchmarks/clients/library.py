"""The library: AsyncDialer.add_calls_bulk over a generator of Calls (``--mappings``: of
plain dicts of Call's fields, ``phone`` for the number)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import Job, Result, Stopwatch, target

from voicenter_dialer import AsyncDialer, Call


def leads(n: int) -> Iterator[Call]:
    for i in range(n):
        yield Call(target(i), customer_name=f"Lead {i}", custom_data={"var_LeadID": i})


def rows(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {"phone": target(i), "customer_name": f"Lead {i}", "custom_data": {"var_LeadID": i}}


async def upload(job: Job) -> Result:
    stopwatch = Stopwatch()
    async with AsyncDialer(base_url=job.base_url) as dialer:
        report = await dialer.add_calls_bulk(
            job.campaign,
            rows(job.n) if job.mappings else leads(job.n),
            chunk_size=job.chunk,
            concurrency=job.concurrency,
            journal=job.journal,
        )
    return stopwatch.result(report.accepted, len(report.rejected), len(report.failed))


if __name__ == "__main__":
    asyncio.run(upload(Job.from_command_line())).emit()
