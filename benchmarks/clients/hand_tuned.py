"""Baseline: a hand-tuned script (orjson, pre-encoded bodies, bounded in-flight chunks)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import Job, Result, Stopwatch, target


async def upload(job: Job) -> Result:
    stopwatch = Stopwatch()
    n, chunk, concurrency = job.n, job.chunk, job.concurrency
    counts = [0, 0, 0]  # accepted, rejected, failed
    url = job.base_url + "AddCallsBulk"
    headers = {"Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    slots = asyncio.Semaphore(concurrency)

    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def send(body: bytes, size: int) -> None:
            try:
                response = await client.post(url, content=body, headers=headers)
                results = orjson.loads(response.content).get("AddResult") or ()
                ok = sum(1 for result in results if result["ErrorCode"] == 0)
                counts[0] += ok
                counts[1] += len(results) - ok
                counts[2] += size - len(results)
            finally:
                slots.release()

        tasks = set()
        for start in range(0, n, chunk):
            items = [
                {
                    "Campaign": job.campaign,
                    "Target": target(i),
                    "CustomerName": f"Lead {i}",
                    "CustomData": {"var_LeadID": i},
                }
                for i in range(start, min(start + chunk, n))
            ]
            body = orjson.dumps(items)  # encoded while earlier chunks are in flight
            await slots.acquire()
            task = asyncio.create_task(send(body, len(items)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
    return stopwatch.result(*counts)


if __name__ == "__main__":
    asyncio.run(upload(Job.from_command_line())).emit()
