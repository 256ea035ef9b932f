"""Bulk upload: the library against a naive and a hand-tuned script, side by side.

    .venv/bin/python benchmarks/bulk_upload.py [--leads 10000] [--rounds 5] [--latency 0.02]
                                               [--instructions] [--counter callgrind]

The server is ``_cheap_server.py`` in its own process: it answers AddCallsBulk with a
per-target AddResult at a small CPU cost, so that it does not bound the clients (its CPU is
printed beside theirs to show it). Each client runs in its own process; every round runs
each client once, in a rotated order, so that load from elsewhere on the machine falls on all
of them alike. Prints, per client, the median wall time and client CPU, the CPU per lead and
the ratios of both against the two scripts. Every run must really upload: a run whose
accepted, rejected or failed counts are not the expected ones stops the benchmark (exit 1).

``--instructions`` also counts each client's user-space instructions per lead, which the
machine's other load does not change (CPU time on a shared machine varies by a third from
run to run; instruction counts by 1%): per round, a run of N1+N leads minus a run of N1
(``--baseline-leads``, one chunk by default: the interpreter's start, imports and setup).
They are counted by Linux ``perf`` where it can, else by callgrind (valgrind), whose runs
are separate from the timed ones (they run ~60x slower).
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
    COUNTERS,
    Result,
    cheap_server,
    check_counts,
    instruction_counter,
    median,
    run_client,
)

#: Each client: its script and arguments ("+journal" also gets a new journal per run).
CLIENTS = {
    "library": ("library.py",),
    "mappings": ("library.py", "--mappings"),  # the library given dicts, not Calls
    "+journal": ("library.py",),
    "naive": ("naive.py",),
    "hand-tuned": ("hand_tuned.py",),
}
BASELINES = ("hand-tuned", "naive")
LIBRARY = ("library", "mappings", "+journal")


def ratios(numerators: list[float], denominators: list[float]) -> str:
    """The ratio of the medians, and the range of the same-round ratios (the noise)."""
    same_round = [a / b for a, b in zip(numerators, denominators, strict=True)]
    return (
        f"{median(numerators) / median(denominators):.2f}x "
        f"(rounds {min(same_round):.2f}-{max(same_round):.2f})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=10_000, help="N")
    parser.add_argument("--baseline-leads", type=int, help="N1 (default: one chunk)")
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.02, help="the server's added latency")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--instructions", action="store_true", help="also count instructions per lead"
    )
    parser.add_argument("--counter", choices=COUNTERS, help="default: perf if it can count")
    parser.add_argument("--profile-dir", type=Path, help="keep callgrind's output files here")
    parser.add_argument("--clients", nargs="+", choices=CLIENTS, default=list(CLIENTS))
    args = parser.parse_args()
    n, chunk, concurrency = args.leads, args.chunk_size, args.concurrency
    n1 = chunk if args.baseline_leads is None else args.baseline_leads
    counter = (args.counter or instruction_counter()) if args.instructions else None
    clients = args.clients

    results: dict[str, list[Result]] = {name: [] for name in clients}
    server_cpu: dict[str, list[float]] = {name: [] for name in clients}
    # Per lead, each a run of N1+N leads minus a run of N1: what a lead costs, without the
    # interpreter's start, the imports and the client's setup (an SSL context, say).
    cpu_per_lead: dict[str, list[float]] = {name: [] for name in clients}
    per_lead: dict[str, list[float]] = {name: [] for name in clients}
    with cheap_server(args.latency) as server, tempfile.TemporaryDirectory() as folder:

        def run(name: str, leads: int, tag: str, counting: bool = False) -> Result:
            script, *extra = CLIENTS[name]
            journal = ["--journal", f"{folder}/{tag}.journal"] if name == "+journal" else []
            profile = None
            if counting and counter == "callgrind" and args.profile_dir is not None:
                args.profile_dir.mkdir(parents=True, exist_ok=True)
                profile = args.profile_dir / f"callgrind.{name}.{tag}"
            result = run_client(
                script,
                server.base_url,
                CAMPAIGN,
                str(leads),
                str(chunk),
                str(concurrency),
                *extra,
                *journal,
                counter=counter if counting else None,
                profile=profile,
            )
            check_counts(name, result, leads)  # a client that uploads nothing fails here
            return result

        for round_number in range(args.rounds):
            shift = round_number % len(clients)
            for name in clients[shift:] + clients[:shift]:
                before = server.cpu_seconds()
                result = run(name, n1 + n, str(round_number))
                server_cpu[name].append(server.cpu_seconds() - before)
                start = run(name, n1, f"{round_number}-n1")
                results[name].append(result)
                cpu_per_lead[name].append((result.cpu - start.cpu) / n)
                line = (
                    f"round {round_number + 1} {name:<10} {result.seconds:6.2f} s  "
                    f"cpu {result.cpu:5.2f} s  {cpu_per_lead[name][-1] * 1e6:5.2f} µs/lead  "
                    f"server cpu {server_cpu[name][-1]:5.2f} s  rss {result.peak_rss_mb:5.1f} MB"
                )
                if counter is not None:
                    whole = run(name, n1 + n, f"{round_number}-count", counting=True)
                    start = run(name, n1, f"{round_number}-count-n1", counting=True)
                    counted = (whole.instructions or 0) - (start.instructions or 0)
                    per_lead[name].append(counted / n)
                    line += f"  {per_lead[name][-1]:,.0f} instructions/lead"
                print(line, flush=True)

    print()
    print(
        f"{n:,} leads, chunk {chunk}, concurrency {concurrency}, "
        f"latency {args.latency * 1000:g} ms, {args.rounds} rounds, medians"
    )
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {python}")
    bound = (n1 + n) / (chunk * concurrency) * args.latency
    print(f"latency bound (N1 + N) / (chunk x concurrency) x latency = {bound:.2f} s")
    print()
    print(
        f"{'client':<11} {'wall s':>7} {'cpu s':>6} {'cpu/wall':>9} {'server cpu s':>13} "
        f"{'peak RSS MB':>12} {'cpu µs/lead':>12}" + (f" {'instr/lead':>11}" if counter else "")
    )
    for name, runs in results.items():
        wall, cpu = median([r.seconds for r in runs]), median([r.cpu for r in runs])
        print(
            f"{name:<11} {wall:7.2f} {cpu:6.2f} {cpu / wall:9.2f} "
            f"{median(server_cpu[name]):13.2f} {max(r.peak_rss_mb for r in runs):12.1f} "
            f"{median(cpu_per_lead[name]) * 1e6:12.2f}"
            + (f" {median(per_lead[name]):11,.0f}" if counter else "")
        )
    print()
    print(f"a run is of N1+N = {n1 + n:,} leads; per lead: that run minus one of N1 = {n1:,}")
    print("cpu/wall near 1 means the client's own CPU bounds it; the server's cpu is per run.")
    if counter is not None:
        print(f"instructions: user space, counted by {counter}")
    for name in (name for name in LIBRARY if name in results):
        for baseline in (baseline for baseline in BASELINES if baseline in results):
            instruction_ratio = ratios(per_lead[name], per_lead[baseline]) if counter else ""
            print(
                f"{name + ' / ' + baseline:<23} "
                + (f"instructions {instruction_ratio}  " if counter else "")
                + f"cpu {ratios(cpu_per_lead[name], cpu_per_lead[baseline])}"
            )
    print("every run uploaded its leads: the expected accepted, rejected and failed counts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
