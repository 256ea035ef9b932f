"""Journal overhead: the same bulk upload with no journal, an SQLite one and a PostgreSQL one.

    .venv/bin/python benchmarks/journal_overhead.py [--leads 200000] [--rounds 3]
        [--postgres postgresql://USER@HOST:PORT/DB]

The fake dialer runs in its own process; each upload runs in its own process, the three
alternating over the rounds, each with a new journal. Without --postgres, a PostgreSQL
server is started for the run on 127.0.0.1 in a temporary directory (as the tests do, with
fsync on, as a production server has it). Prints medians and each journal's ratio to none
(the target is at most 1.15x), and checks that all runs agree on the counts.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    CAMPAIGN,
    ROOT,
    Result,
    clear_campaign,
    expected_rejected,
    fake_server,
    median,
    run_client,
)

sys.path.insert(0, str(ROOT))
from tests.postgres import create_database, running_server

JOURNALS = ("none", "sqlite", "postgres")
TARGET = 1.15


@contextmanager
def postgres(url: str | None) -> Iterator[str]:
    """A database URL (without upload name): the one given, or a new server's."""
    if url is not None:
        yield url
        return
    with running_server(fsync=True) as server:
        yield create_database(server)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=200_000)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.02, help="the fake's added latency")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", help="a database to journal in (default: a new server)")
    args = parser.parse_args()
    n, chunk, concurrency = args.leads, args.chunk_size, args.concurrency

    results: dict[str, list[Result]] = {name: [] for name in JOURNALS}
    with (
        fake_server(args.latency) as server,
        tempfile.TemporaryDirectory() as folder,
        postgres(args.postgres) as database,
    ):
        # A run of its own per round: a journal that a run before had filled would be
        # replayed instead of sent.
        run = os.getpid()
        for round_number in range(args.rounds):
            # Alternate the order so that no journal always runs first or last.
            shift = round_number % len(JOURNALS)
            for name in JOURNALS[shift:] + JOURNALS[:shift]:
                journal = {
                    "none": [],
                    "sqlite": ["--journal", f"{folder}/{round_number}.journal"],
                    "postgres": ["--journal", f"{database}#bench-{run}-{round_number}"],
                }[name]
                clear_campaign(server.base_url)
                result = run_client(
                    "library.py",
                    server.base_url,
                    CAMPAIGN,
                    str(n),
                    str(chunk),
                    str(concurrency),
                    *journal,
                )
                results[name].append(result)
                print(
                    f"round {round_number + 1} {name:<9} {result.seconds:6.2f} s "
                    f"cpu {result.cpu:6.2f} s  rss {result.peak_rss_mb:5.1f} MB",
                    flush=True,
                )

    print()
    print(
        f"{n:,} leads, chunk {chunk}, concurrency {concurrency}, latency {args.latency * 1000:g} ms"
    )
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {python}")
    print()
    print(f"{'journal':<9} {'median s':>9} {'leads/s':>9} {'cpu s':>7} {'vs none':>8}")
    medians = {name: median([r.seconds for r in rs]) for name, rs in results.items()}
    for name, rs in results.items():
        print(
            f"{name:<9} {medians[name]:9.2f} {n / medians[name]:9,.0f} "
            f"{median([r.cpu for r in rs]):7.2f} {medians[name] / medians['none']:7.2f}x"
        )

    failed = False
    counts = {(r.accepted, r.rejected) for rs in results.values() for r in rs}
    expected = (n - expected_rejected(n), expected_rejected(n))
    if counts != {expected} or any(r.failed for rs in results.values() for r in rs):
        print(f"MISMATCH: accepted/rejected counts {counts}, expected {expected}")
        failed = True
    for name in ("sqlite", "postgres"):
        if medians[name] / medians["none"] > TARGET:
            print(f"OVER TARGET: {name} journal costs more than {TARGET:.2f}x none")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
