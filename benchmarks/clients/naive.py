"""Baseline: the 40-line script people write (stdlib json, httpx, a semaphore)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import Job, Result, Stopwatch, target


async def upload(job: Job) -> Result:
    stopwatch = Stopwatch()
    semaphore = asyncio.Semaphore(job.concurrency)
    counts = {"accepted": 0, "rejected": 0, "failed": 0}

    async with httpx.AsyncClient(timeout=60) as client:

        async def send(batch: list[dict[str, Any]]) -> None:
            async with semaphore:
                response = await client.post(
                    job.base_url + "AddCallsBulk",
                    content=json.dumps(batch),
                    headers={"Content-Type": "application/json"},
                )
                results = response.json().get("AddResult") or []
                for result in results:
                    counts["accepted" if result["ErrorCode"] == 0 else "rejected"] += 1
                counts["failed"] += len(batch) - len(results)

        tasks, batch = [], []
        for i in range(job.n):
            batch.append(
                {
                    "Campaign": job.campaign,
                    "Target": target(i),
                    "CustomerName": f"Lead {i}",
                    "CustomData": {"var_LeadID": i},
                }
            )
            if len(batch) == job.chunk:
                tasks.append(asyncio.create_task(send(batch)))
                batch = []
        if batch:
            tasks.append(asyncio.create_task(send(batch)))
        await asyncio.gather(*tasks)
    return stopwatch.result(**counts)


if __name__ == "__main__":
    asyncio.run(upload(Job.from_command_line())).emit()
