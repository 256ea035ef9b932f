"""Single-call overhead: one ``add_call`` against a raw httpx post of the same JSON.

    .venv/bin/python benchmarks/overhead.py [--calls 5000] [--rounds 7] [--instructions]

Both go through the same in-process transport (a canned OK answer, no network), so what is
measured is the client's own cost per call: validation, encoding, the retry machinery,
decoding and checking the answer, logging. ``--instructions`` also counts user-space
instructions per call (perf, else callgrind): each way in its own process, a run of
N1+N calls minus a run of N1 (``--count-calls`` N, default 1,000; N1 a tenth of it).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
from pathlib import Path
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


async def only(way: str, calls: int) -> None:
    """One way alone, for counting its instructions: a warm-up, then *calls* calls."""
    transport = httpx.MockTransport(answer)
    async with httpx.AsyncClient(transport=transport) as client:
        dialer = AsyncDialer(http_client=client)
        if way == "raw":
            await raw(client, 10)
        else:
            await library(dialer, 10)
        # What was imported and warmed up is left out of later collections: otherwise how
        # often the collector walks the whole heap (hence a per-call count that moved by 2%
        # when the imported modules changed) depends on the process, not on the calls.
        gc.freeze()
        if way == "raw":
            await raw(client, calls)
        else:
            await library(dialer, calls)


def counted(calls: int, rounds: int, counter: str | None) -> None:
    """Instructions per call of each way: runs of N1+N calls minus runs of N1, medians."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import instruction_counter, run_counted

    counter = counter or instruction_counter()
    n1 = max(calls // 10, 1)
    per_call: dict[str, list[float]] = {"raw": [], "add_call": []}
    for _ in range(rounds):
        for way, counts in per_call.items():
            script = [str(Path(__file__).resolve()), "--only", way, "--calls"]
            whole = run_counted([*script, str(n1 + calls)], counter)
            start = run_counted([*script, str(n1)], counter)
            counts.append((whole - start) / calls)
    raw_count, library_count = (statistics.median(v) for v in per_call.values())
    same_round = [a / b for a, b in zip(per_call["add_call"], per_call["raw"], strict=True)]
    print(
        f"instructions per call ({counter}, median of {rounds}, runs of {n1 + calls:,} minus "
        f"{n1:,} calls): raw httpx {raw_count:,.0f}, add_call {library_count:,.0f}, "
        f"add_call / raw httpx {library_count / raw_count:.2f}x "
        f"(rounds {min(same_round):.2f}-{max(same_round):.2f})"
    )
    print(json.dumps({"raw": per_call["raw"], "add_call": per_call["add_call"]}))


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
    parser.add_argument("--instructions", action="store_true", help="count instructions too")
    parser.add_argument("--counter", choices=("perf", "callgrind"), help="default: perf if it can")
    parser.add_argument("--count-calls", type=int, default=1000, help="N for --instructions")
    parser.add_argument("--count-rounds", type=int, default=5)
    parser.add_argument("--only", choices=("raw", "add_call"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.only is not None:
        asyncio.run(only(arguments.only, arguments.calls))
    else:
        asyncio.run(main(arguments.calls, arguments.rounds))
        if arguments.instructions:
            counted(arguments.count_calls, arguments.count_rounds, arguments.counter)
    sys.exit(0)
