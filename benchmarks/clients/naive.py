"""Baseline: the 40-line script people write (stdlib json, httpx, a semaphore)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import Result, cpu_seconds, peak_rss_mb, target


async def upload(base_url: str, campaign: str, n: int, chunk: int, concurrency: int) -> Result:
    started, cpu = time.perf_counter(), cpu_seconds()
    semaphore = asyncio.Semaphore(concurrency)
    counts = {"accepted": 0, "rejected": 0, "failed": 0}

    async with httpx.AsyncClient(timeout=60) as client:

        async def send(batch: list[dict[str, Any]]) -> None:
            async with semaphore:
                response = await client.post(
                    base_url + "AddCallsBulk",
                    content=json.dumps(batch),
                    headers={"Content-Type": "application/json"},
                )
                results = response.json().get("AddResult") or []
                for result in results:
                    counts["accepted" if result["ErrorCode"] == 0 else "rejected"] += 1
                counts["failed"] += len(batch) - len(results)

        tasks, batch = [], []
        for i in range(n):
            batch.append(
                {
                    "Campaign": campaign,
                    "Target": target(i),
                    "CustomerName": f"Lead {i}",
                    "CustomData": {"var_LeadID": i},
                }
            )
            if len(batch) == chunk:
                tasks.append(asyncio.create_task(send(batch)))
                batch = []
        if batch:
            tasks.append(asyncio.create_task(send(batch)))
        await asyncio.gather(*tasks)
    return Result(
        time.perf_counter() - started, cpu_seconds() - cpu, peak_rss_mb=peak_rss_mb(), **counts
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("base_url", "campaign"):
        parser.add_argument(name)
    for name in ("n", "chunk", "concurrency"):
        parser.add_argument(name, type=int)
    a = parser.parse_args()
    asyncio.run(upload(a.base_url, a.campaign, a.n, a.chunk, a.concurrency)).emit()


if __name__ == "__main__":
    main()
