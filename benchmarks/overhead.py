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


async def raw(client: httpx.AsyncClient, calls: int) -> float:
    started = time.perf_counter()
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
    return (time.perf_counter() - started) / calls


async def library(dialer: AsyncDialer, calls: int) -> float:
    started = time.perf_counter()
    for i in range(calls):
        call = Call(f"9725{i:08d}", customer_name="Dana", custom_data={"var_LeadID": i})
        await dialer.add_call(CAMPAIGN, call)
    return (time.perf_counter() - started) / calls


async def main(calls: int, rounds: int) -> None:
    transport = httpx.MockTransport(answer)
    async with httpx.AsyncClient(transport=transport) as client:
        dialer = AsyncDialer(http_client=client)
        await raw(client, 200)  # warm up both paths
        await library(dialer, 200)
        times: dict[str, list[float]] = {"raw httpx": [], "add_call": []}
        for _ in range(rounds):
            times["raw httpx"].append(await raw(client, calls))
            times["add_call"].append(await library(dialer, calls))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(f"{name:<10} {value * 1e6:7.1f} µs per call (median of {rounds} x {calls:,})")
    print(f"add_call / raw httpx: {medians['add_call'] / medians['raw httpx']:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.calls, arguments.rounds))
    sys.exit(0)
