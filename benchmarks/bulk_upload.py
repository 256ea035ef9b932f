"""Bulk upload: the library against a naive and a hand-tuned script, side by side.

    .venv/bin/python benchmarks/bulk_upload.py [--leads 200000] [--rounds 3] [--latency 0.02]

The fake dialer runs in its own process (uvicorn on 127.0.0.1); each client runs in its own
process, the three alternating over the rounds. Prints medians, ratios, the latency bound and
each client's peak RSS, and checks that all three agree on the accepted and rejected counts.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    CAMPAIGN,
    Result,
    clear_campaign,
    expected_rejected,
    fake_server,
    median,
    run_client,
)

CLIENTS = {
    "library": "library.py",
    "+journal": "library.py",  # the library with a journal (a new one each run)
    "naive": "naive.py",
    "hand-tuned": "hand_tuned.py",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=200_000)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.02, help="the fake's added latency")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n, chunk, concurrency = args.leads, args.chunk_size, args.concurrency

    results: dict[str, list[Result]] = {name: [] for name in CLIENTS}
    server_cpu: dict[str, list[float]] = {name: [] for name in CLIENTS}
    with fake_server(args.latency) as server, tempfile.TemporaryDirectory() as folder:
        for round_number in range(args.rounds):
            # Alternate the order so that no client always runs first or last.
            names = list(CLIENTS)
            shift = round_number % len(names)
            names = names[shift:] + names[:shift]
            for name in names:
                clear_campaign(server.base_url)
                before = server.cpu_seconds()
                journal = f"{folder}/{round_number}.journal"
                result = run_client(
                    CLIENTS[name],
                    server.base_url,
                    CAMPAIGN,
                    str(n),
                    str(chunk),
                    str(concurrency),
                    *(["--journal", journal] if name == "+journal" else []),
                )
                server_cpu[name].append(server.cpu_seconds() - before)
                results[name].append(result)
                print(
                    f"round {round_number + 1} {name:<10} {result.seconds:6.2f} s "
                    f"cpu {result.cpu:6.2f} s  server cpu {server_cpu[name][-1]:5.2f} s  "
                    f"rss {result.peak_rss_mb:5.1f} MB",
                    flush=True,
                )

    bound = n / (chunk * concurrency) * args.latency
    print()
    print(
        f"{n:,} leads, chunk {chunk}, concurrency {concurrency}, latency {args.latency * 1000:g} ms"
    )
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {python}")
    print(f"latency bound N / (chunk x concurrency) x latency = {bound:.2f} s")
    print()
    header = f"{'client':<11} {'median s':>9} {'leads/s':>9} {'cpu s':>7} {'server cpu s':>13}"
    print(header + f" {'peak RSS MB':>12}")
    medians = {name: median([r.seconds for r in rs]) for name, rs in results.items()}
    for name, rs in results.items():
        print(
            f"{name:<11} {medians[name]:9.2f} {n / medians[name]:9,.0f} "
            f"{median([r.cpu for r in rs]):7.2f} {median(server_cpu[name]):13.2f} "
            f"{max(r.peak_rss_mb for r in rs):12.1f}"
        )
    print()
    print(f"library / hand-tuned: {medians['library'] / medians['hand-tuned']:.2f}x")
    print(f"library / naive:      {medians['library'] / medians['naive']:.2f}x")
    print(f"journal / library:    {medians['+journal'] / medians['library']:.2f}x")

    counts = {(r.accepted, r.rejected) for rs in results.values() for r in rs}
    expected = (n - expected_rejected(n), expected_rejected(n))
    if counts != {expected} or any(r.failed for rs in results.values() for r in rs):
        print(f"MISMATCH: accepted/rejected counts {counts}, expected {expected}")
        return 1
    print(f"all clients agree: {expected[0]:,} accepted, {expected[1]:,} rejected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
