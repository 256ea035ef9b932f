"""Single-call overhead: one ``add_call`` against a raw httpx post of the same JSON.

    .venv/bin/python benchmarks/overhead.py [--calls 5000] [--rounds 7]

Both go through the same in-process transport (a canned OK answer, no network), so what is
measured is the client's own cost per call: validation, encoding, the retry machinery,
decoding and checking the answer, logging.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from typing import Any

import httpx

from voicenter_dialer import AsyncDialer, Call

URL = "https://api.voicenter.com/ForwardDialer/Dialer/"
CAMPAIGN = "BENCH-CAMPAIGN-0123456789abcdef"
OK = b'{"ErrorCode":0,"Description":"OK"}'


def answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=OK, headers={"Content-Type": "application/json"})


Timing = tuple[float, float]  # wall and CPU seconds per call


async def raw(client: httpx.AsyncClient, calls: int) -> Timing:
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(calls):
        payload: dict[str, Any] = {
            "Campaign": CAMPAIGN,
            "Target": f"9725{i:08d}",
            "CustomerName": "Dana",
            "CustomData": {"var_LeadID": i},
        }
        response = await client.post(URL + "AddCall", json=payload)
        if response.json()["ErrorCode"] != 0:
            raise RuntimeError("refused")
    return (time.perf_counter() - started) / calls, (time.process_time() - cpu) / calls


async def library(dialer: AsyncDialer, calls: int) -> Timing:
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(calls):
        call = Call(f"9725{i:08d}", customer_name="Dana", custom_data={"var_LeadID": i})
        await dialer.add_call(CAMPAIGN, call)
    return (time.perf_counter() - started) / calls, (time.process_time() - cpu) / calls


async def main(calls: int, rounds: int) -> None:
    transport = httpx.MockTransport(answer)
    async with httpx.AsyncClient(transport=transport) as client:
        dialer = AsyncDialer(http_client=client)
        await raw(client, 200)  # warm up both paths
        await library(dialer, 200)
        times: dict[str, list[Timing]] = {"raw httpx": [], "add_call": []}
        for _ in range(rounds):
            times["raw httpx"].append(await raw(client, calls))
            times["add_call"].append(await library(dialer, calls))
    wall = {name: statistics.median(t[0] for t in values) for name, values in times.items()}
    cpu = {name: statistics.median(t[1] for t in values) for name, values in times.items()}
    for name in times:
        print(
            f"{name:<10} {wall[name] * 1e6:7.1f} µs wall, {cpu[name] * 1e6:7.1f} µs CPU per call "
            f"(median of {rounds} x {calls:,})"
        )
    # CPU first: on a busy machine, wall time also measures the other processes.
    print(
        f"add_call / raw httpx: {cpu['add_call'] / cpu['raw httpx']:.2f}x CPU, "
        f"{wall['add_call'] / wall['raw httpx']:.2f}x wall"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.calls, arguments.rounds))
    sys.exit(0)
