"""Bulk upload: the library against a naive and a hand-tuned script, side by side.

    .venv/bin/python benchmarks/bulk_upload.py [--leads 200000] [--rounds 5] [--latency 0.02]
                                               [--instructions]

The server is ``_cheap_server.py`` in its own process: it answers AddCallsBulk with a
per-target AddResult at a small CPU cost, so that it does not bound the clients (its CPU is
printed beside theirs to show it). Each client runs in its own process; every round runs
each client once, in a rotated order, so that load from elsewhere on the machine falls on all
of them alike. Prints, per client, the median wall time and client CPU, the CPU per lead and
the ratios of both against the two scripts, and checks that all the clients agree on the
accepted and rejected counts. ``--instructions`` (needs Linux ``perf``) also counts each
client's user-space instructions per lead, which the machine's other load does not change:
CPU time on a shared machine varies by a third from run to run; instruction counts by 1%.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CAMPAIGN, Result, cheap_server, expected_rejected, median, run_client

CLIENTS = {
    "library": "library.py",
    "+journal": "library.py",  # the library with a journal (a new one each run)
    "naive": "naive.py",
    "hand-tuned": "hand_tuned.py",
}
BASELINES = ("hand-tuned", "naive")


def ratios(numerators: list[float], denominators: list[float]) -> str:
    """The ratio of the medians, and the range of the same-round ratios (the noise)."""
    same_round = [a / b for a, b in zip(numerators, denominators, strict=True)]
    return (
        f"{median(numerators) / median(denominators):.2f}x "
        f"(rounds {min(same_round):.2f}-{max(same_round):.2f})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=200_000)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.02, help="the server's added latency")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--instructions", action="store_true", help="also count instructions per lead (perf)"
    )
    args = parser.parse_args()
    n, chunk, concurrency = args.leads, args.chunk_size, args.concurrency
    count = args.instructions

    results: dict[str, list[Result]] = {name: [] for name in CLIENTS}
    server_cpu: dict[str, list[float]] = {name: [] for name in CLIENTS}
    # Instructions of a one-chunk run: the interpreter's start, imports and setup, taken off
    # each run's count so that what is left is per lead.
    startup: dict[str, int] = {}
    with cheap_server(args.latency) as server, tempfile.TemporaryDirectory() as folder:

        def run(name: str, leads: int, journal: str) -> Result:
            return run_client(
                CLIENTS[name],
                server.base_url,
                CAMPAIGN,
                str(leads),
                str(chunk),
                str(concurrency),
                *(["--journal", f"{folder}/{journal}.journal"] if name == "+journal" else []),
                count_instructions=count,
            )

        if count:
            startup = {name: run(name, chunk, "startup").instructions or 0 for name in CLIENTS}
        for round_number in range(args.rounds):
            names = list(CLIENTS)
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                before = server.cpu_seconds()
                result = run(name, n, str(round_number))
                server_cpu[name].append(server.cpu_seconds() - before)
                results[name].append(result)
                print(
                    f"round {round_number + 1} {name:<10} {result.seconds:6.2f} s  "
                    f"cpu {result.cpu:5.2f} s  server cpu {server_cpu[name][-1]:5.2f} s  "
                    f"rss {result.peak_rss_mb:5.1f} MB",
                    flush=True,
                )

    print()
    print(
        f"{n:,} leads, chunk {chunk}, concurrency {concurrency}, "
        f"latency {args.latency * 1000:g} ms, {args.rounds} rounds, medians"
    )
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {python}")
    bound = n / (chunk * concurrency) * args.latency
    print(f"latency bound N / (chunk x concurrency) x latency = {bound:.2f} s")
    print()
    print(
        f"{'client':<11} {'wall s':>7} {'leads/s':>9} {'cpu s':>6} {'cpu µs/lead':>12} "
        f"{'cpu/wall':>9} {'server cpu s':>13} {'peak RSS MB':>12}"
    )
    for name, runs in results.items():
        wall, cpu = median([r.seconds for r in runs]), median([r.cpu for r in runs])
        print(
            f"{name:<11} {wall:7.2f} {n / wall:9,.0f} {cpu:6.2f} {cpu * 1e6 / n:12.2f} "
            f"{cpu / wall:9.2f} {median(server_cpu[name]):13.2f} "
            f"{max(r.peak_rss_mb for r in runs):12.1f}"
        )
    print()
    print("cpu/wall near 1 means the client's own CPU bounds it; the server's cpu is per run.")
    per_lead = {
        name: [((r.instructions or 0) - startup[name]) / (n - chunk) for r in runs]
        for name, runs in results.items()
        if count
    }
    if per_lead:
        print(
            "instructions per lead (user space, one-chunk start-up run subtracted): "
            + ", ".join(f"{name} {median(counts):,.0f}" for name, counts in per_lead.items())
        )
    for name in ("library", "+journal"):
        for baseline in BASELINES:
            runs, base = results[name], results[baseline]
            print(
                f"{name + ' / ' + baseline:<23} "
                f"cpu {ratios([r.cpu for r in runs], [r.cpu for r in base])}  "
                f"wall {ratios([r.seconds for r in runs], [r.seconds for r in base])}"
                + (f"  instructions {ratios(per_lead[name], per_lead[baseline])}" if count else "")
            )

    counts = {(r.accepted, r.rejected) for runs in results.values() for r in runs}
    expected = (n - expected_rejected(n), expected_rejected(n))
    if counts != {expected} or any(r.failed for runs in results.values() for r in runs):
        print(f"MISMATCH: accepted/rejected counts {counts}, expected {expected}")
        return 1
    print(f"all clients agree: {expected[0]:,} accepted, {expected[1]:,} rejected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
