"""What exactly-once costs: keyed against unkeyed, with a PostgreSQL and an SQLite store.

    .venv/bin/python benchmarks/idempotency_cost.py     # --leads 10000 --rounds 5 --calls 200
        [--postgres postgresql://USER@HOST:PORT/DB] [--min-ratio 0.8] [--max-added-ms 1.0]
        [--no-fsync] [--sqlite-dir /dev/shm]

Three dialers, one per kind (no store, a PostgreSQL store, an SQLite file), opened once and
warmed up by a round that is not counted, as a service would hold them. The clients run in
this process; the fake dialer runs in its own process, over loopback (two of them: one with
``--latency`` for the writers, one without latency for the single calls). Without
--postgres, a PostgreSQL server is started for the run on 127.0.0.1 in a temporary directory
(with fsync on, as a production server has it; ``--no-fsync``: off), and stopped at the end.
The SQLite file is in a temporary directory (``--sqlite-dir``: in that one; on a tmpfs such as
/dev/shm a flush costs nothing, which leaves what the software adds). Each round also times
the disk: one 4 KiB write and ``fsync`` in the temporary directory, where the server started
here and (by default) the SQLite file are (median of 20): what a durable commit waits for at
least (PostgreSQL's: one WAL flush; SQLite's rollback journal: two, the journal's and the
file's).

1. ``BulkWriter``: ``--leads`` leads, each added by its own task through one writer
   (``chunk_size`` ``--chunk``, default concurrency), keyed (a new key per lead and round) and
   not; each round runs the three kinds in a rotated order. Throughput medians, and the
   median of the same-round ratios keyed / unkeyed (target: at least ``--min-ratio``).
2. ``add_call``: ``--calls`` calls per kind and round, one at a time, the kinds interleaved
   call by call (so a burst of load elsewhere falls on all of them); per round the median
   latency of each kind, and keyed minus unkeyed (target: at most ``--max-added-ms``).
3. Sizing: the bytes each key takes in the store once every round is done
   (``pg_total_relation_size`` of the table, and after ``VACUUM FULL``; the SQLite file).

Prints each round, then a summary to paste, with the CPU each process spent (this client,
the fake, the PostgreSQL server) and the machine's load: what bounds each figure. Exits 1 when
a target is missed or a run did not upload every lead.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import anyio
import attrs
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ACCOUNT, CAMPAIGN, ROOT, clear_campaign, expected_rejected, target

sys.path.insert(0, str(ROOT))
from tests.postgres import create_database, running_server
from voicenter_dialer import AsyncDialer, BulkWriter, Call, DialerError

KINDS = ("none", "postgres", "sqlite")
STORE = "bench"  # the PostgreSQL store's name (the URL's fragment)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    """CPU seconds of process *pid* and of its children it has waited for (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def postmaster(port: int) -> int | None:
    """The pid of the PostgreSQL server listening on *port*, if it runs here."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                words = (entry / "cmdline").read_bytes().split(b"\0")
                if words[0].endswith(b"/postgres") and str(port).encode() in words:
                    return int(entry.name)
    return None


def postgres_cpu(pid: int | None) -> float:
    """CPU seconds of the PostgreSQL server: the postmaster, the backends it has reaped and
    those still running (a dialer's store keeps its connection open)."""
    if pid is None:
        return float("nan")
    total = process_cpu(pid)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[1]) == pid:
                    total += process_cpu(int(entry.name))
    return total


@attrs.frozen
class Meters:
    """CPU seconds spent so far by each process of a run."""

    client: float
    fake: float
    postgres: float

    @classmethod
    def read(cls, fake: int, postgres: int | None) -> Meters:
        return cls(cpu_seconds(), process_cpu(fake), postgres_cpu(postgres))

    def __sub__(self, other: Meters) -> Meters:
        return Meters(
            self.client - other.client, self.fake - other.fake, self.postgres - other.postgres
        )


@attrs.frozen
class WriterRun:
    seconds: float
    cpu: Meters
    accepted: int
    rejected: int
    failed: int

    @property
    def rate(self) -> float:
        return (self.accepted + self.rejected + self.failed) / self.seconds


@asynccontextmanager
async def dialers(
    base_url: str, postgres: str, sqlite: Path
) -> AsyncIterator[dict[str, AsyncDialer]]:
    stores = {"none": None, "postgres": f"{postgres}#{STORE}", "sqlite": str(sqlite)}
    async with contextlib.AsyncExitStack() as stack:
        yield {
            kind: await stack.enter_async_context(
                AsyncDialer(ACCOUNT, base_url=base_url, idempotency_store=store)
            )
            for kind, store in stores.items()
        }


async def writer_run(
    dialer: AsyncDialer,
    keyed: bool,
    leads: int,
    chunk: int,
    prefix: str,
    pids: tuple[int, int | None],
) -> WriterRun:
    """*leads* leads, a task each, through one writer; keys ``PREFIX-i`` when *keyed*."""
    calls = [Call(target(i)) for i in range(leads)]
    before, started = Meters.read(*pids), time.perf_counter()
    async with (
        dialer.bulk_writer(CAMPAIGN, chunk_size=chunk) as writer,
        anyio.create_task_group() as producers,
    ):
        for i, call in enumerate(calls):
            producers.start_soon(add, writer, call, f"{prefix}-{i}" if keyed else None)
    seconds = time.perf_counter() - started
    report = writer.report
    return WriterRun(
        seconds,
        Meters.read(*pids) - before,
        report.accepted,
        len(report.rejected),
        len(report.failed),
    )


async def add(writer: BulkWriter, call: Call, key: str | None) -> None:
    await writer.add(call, idempotency_key=key)


async def one_call(dialer: AsyncDialer, number: str, key: str | None) -> float:
    started = time.perf_counter()
    await dialer.add_call(CAMPAIGN, Call(number), idempotency_key=key)
    return time.perf_counter() - started


async def calls_round(
    dialers_: dict[str, AsyncDialer], calls: int, prefix: str, offset: int
) -> dict[str, list[float]]:
    """*calls* single calls per kind, the kinds interleaved call by call (rotated each call)."""
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for i in range(calls):
        shift = i % len(KINDS)
        for kind in KINDS[shift:] + KINDS[:shift]:
            number = f"9726{offset + i * len(KINDS) + KINDS.index(kind):08d}"
            key = None if kind == "none" else f"{prefix}-{kind}-{i}"
            times[kind].append(await one_call(dialers_[kind], number, key))
    return times


def pg_sizing(url: str) -> tuple[int, int, int]:
    """Keys in the store, bytes of the table (with its indexes and TOAST), and after VACUUM FULL."""
    size = "SELECT pg_total_relation_size('voicenter_dialer.idempotency_keys')"
    with psycopg.connect(url, autocommit=True) as db:
        row = db.execute(
            "SELECT count(*) FROM voicenter_dialer.idempotency_keys WHERE store = %s", (STORE,)
        ).fetchone()
        keys = row[0] if row else 0
        before = (db.execute(size).fetchone() or (0,))[0]
        db.execute("VACUUM FULL voicenter_dialer.idempotency_keys")
        after = (db.execute(size).fetchone() or (0,))[0]
    return keys, before, after


def sqlite_sizing(path: Path) -> tuple[int, int]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        keys = db.execute("SELECT count(*) FROM keys").fetchone()[0]
    return keys, path.stat().st_size


@contextmanager
def postgres_database(url: str | None, fsync: bool) -> Iterator[tuple[str, int | None]]:
    """A database URL (without store name) and the server's pid when it runs here."""
    if url is not None:
        yield url, None
        return
    with running_server(fsync=fsync) as server:
        yield create_database(server), postmaster(server.port)


def started_here(args: argparse.Namespace) -> str:
    if args.postgres is not None:
        return ""
    return f" (started here, fsync {'on' if args.fsync else 'off'})"


def fsync_ms(folder: Path, times: int = 20) -> float:
    """The median milliseconds of a 4 KiB write and its fsync in *folder*: what the disk adds
    to each flush of a durable commit."""
    path = folder / f"idempotency-cost-fsync-{os.getpid()}"
    spent = []
    with path.open("wb") as probe:
        for _ in range(times):
            started = time.perf_counter()
            probe.write(b"\0" * 4096)
            probe.flush()
            os.fsync(probe.fileno())
            spent.append((time.perf_counter() - started) * 1000)
    path.unlink()
    return statistics.median(spent)


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


async def measure(args: argparse.Namespace) -> bool:
    from voicenter_dialer.testing import spawn

    run = os.getpid()
    load = [os.getloadavg()[0]]
    with (
        tempfile.TemporaryDirectory(dir=args.sqlite_dir) as folder,
        postgres_database(args.postgres, args.fsync) as (database, pg_pid),
        spawn(latency=args.latency, account_code=ACCOUNT, campaign_code=CAMPAIGN) as bulk_fake,
        spawn(account_code=ACCOUNT, campaign_code=CAMPAIGN) as call_fake,
    ):
        sqlite_path = Path(folder) / "keys.sqlite"
        writer_runs: dict[str, list[WriterRun]] = {kind: [] for kind in KINDS}
        call_medians: dict[str, list[float]] = {kind: [] for kind in KINDS}
        flushes: list[float] = []
        print(
            f"fake dialer: its own process over loopback ({args.latency * 1000:g} ms latency for "
            f"the writers, none for add_call); PostgreSQL on 127.0.0.1"
            f"{started_here(args)}; clients in this "
            f"process; load average {load[0]:.1f} on {os.cpu_count()} cores",
            flush=True,
        )
        pids = (bulk_fake.pid, pg_pid)
        async with (
            dialers(bulk_fake.base_url, database, sqlite_path) as bulk,
            dialers(call_fake.base_url, database, sqlite_path) as single,
        ):
            for number in range(args.rounds + 1):  # round 0 warms up: not counted
                shift = number % len(KINDS)
                for kind in KINDS[shift:] + KINDS[:shift]:
                    clear_campaign(bulk_fake.base_url)
                    leads = args.leads if number else args.chunk
                    result = await writer_run(
                        bulk[kind], kind != "none", leads, args.chunk,
                        f"w{run}-{number}-{kind}", pids,
                    )  # fmt: skip
                    if number:
                        writer_runs[kind].append(result)
                clear_campaign(call_fake.base_url)
                times = await calls_round(
                    single, args.calls if number else 10, f"c{run}-{number}", number * 1_000_000
                )
                load.append(os.getloadavg()[0])
                if not number:
                    continue
                flushes.append(fsync_ms(Path(tempfile.gettempdir())))
                for kind in KINDS:
                    call_medians[kind].append(statistics.median(times[kind]) * 1000)
                rates = {kind: writer_runs[kind][-1].rate for kind in KINDS}
                print(
                    f"round {number}: writer leads/s "
                    + ", ".join(f"{kind} {rates[kind]:,.0f}" for kind in KINDS)
                    + "; add_call median ms "
                    + ", ".join(f"{kind} {call_medians[kind][-1]:.2f}" for kind in KINDS)
                    + f"; fsync {flushes[-1]:.2f} ms; load {load[-1]:.1f}",
                    flush=True,
                )
        pg_keys, pg_bytes, pg_compact = pg_sizing(database)
        sqlite_keys, sqlite_bytes = sqlite_sizing(sqlite_path)
    return summary(args, writer_runs, call_medians, load, flushes, pg_pid is not None,
                   (pg_keys, pg_bytes, pg_compact), (sqlite_keys, sqlite_bytes))  # fmt: skip


def summary(
    args: argparse.Namespace,
    writer_runs: dict[str, list[WriterRun]],
    call_medians: dict[str, list[float]],
    load: list[float],
    flushes: list[float],
    pg_measured: bool,
    pg_size: tuple[int, int, int],
    sqlite_size: tuple[int, int],
) -> bool:
    met = True
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print()
    print(f"## idempotency_cost.py: {args.rounds} rounds, medians")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {python}; load average "
        f"{min(load):.1f}-{max(load):.1f} during the run; a 4 KiB write and fsync in "
        f"{tempfile.gettempdir()}: {statistics.median(flushes):.2f} ms ({spread(flushes)}); "
        f"PostgreSQL{started_here(args) or ' (not started here)'}; SQLite in "
        f"{args.sqlite_dir or tempfile.gettempdir()}"
    )
    print(
        f"BulkWriter: {args.leads:,} leads, a task each, one writer, chunk {args.chunk}, "
        f"concurrency 4, fake latency {args.latency * 1000:g} ms (latency bound "
        f"{args.leads / args.chunk / 4 * args.latency:.2f} s)"
    )
    print(
        f"{'store':<9} {'leads/s':>9} {'vs none':>8} {'same-round':>11} {'wall s':>7} "
        f"{'client cpu':>11} {'fake cpu':>9} {'pg cpu':>7}"
    )
    unkeyed = writer_runs["none"]
    for kind in KINDS:
        runs = writer_runs[kind]
        rate = statistics.median(r.rate for r in runs)
        ratios = [r.rate / u.rate for r, u in zip(runs, unkeyed, strict=True)]
        ratio = statistics.median(ratios)
        pg = statistics.median(r.cpu.postgres for r in runs) if pg_measured else float("nan")
        print(
            f"{kind:<9} {rate:>9,.0f} {ratio:>7.2f}x {spread(ratios):>11} "
            f"{statistics.median(r.seconds for r in runs):>7.2f} "
            f"{statistics.median(r.cpu.client for r in runs):>11.2f} "
            f"{statistics.median(r.cpu.fake for r in runs):>9.2f} {pg:>7.2f}"
        )
        if kind != "none" and ratio < args.min_ratio:
            print(f"  TARGET MISSED: keyed {kind} writer {ratio:.2f}x unkeyed < {args.min_ratio}")
            met = False
    leads = args.leads
    expected = (leads - expected_rejected(leads), expected_rejected(leads), 0)
    for kind, runs in writer_runs.items():
        for r in runs:
            if (r.accepted, r.rejected, r.failed) != expected:
                print(f"  MISMATCH ({kind}): {(r.accepted, r.rejected, r.failed)} != {expected}")
                met = False
    print(
        f"add_call: {args.calls} calls per kind and round, one at a time, interleaved; no latency"
    )
    print(f"{'store':<9} {'median ms':>10} {'added ms':>9} {'same-round added':>17}")
    for kind in KINDS:
        medians = call_medians[kind]
        added = [m - u for m, u in zip(medians, call_medians["none"], strict=True)]
        print(
            f"{kind:<9} {statistics.median(medians):>10.3f} "
            f"{statistics.median(added):>9.3f} {min(added):>8.3f}-{max(added):.3f}"
        )
        if kind != "none" and statistics.median(added) > args.max_added_ms:
            print(
                f"  TARGET MISSED: keyed {kind} add_call adds {statistics.median(added):.3f} ms "
                f"> {args.max_added_ms} ms"
            )
            met = False
    pg_keys, pg_bytes, pg_compact = pg_size
    sqlite_keys, sqlite_bytes = sqlite_size
    print(
        f"sizing: PostgreSQL {pg_keys:,} keys, {pg_bytes / pg_keys:.0f} bytes per key as "
        f"written, {pg_compact / pg_keys:.0f} after VACUUM FULL; SQLite {sqlite_keys:,} keys, "
        f"{sqlite_bytes / sqlite_keys:.0f} bytes per key (keys of ~20 characters, settled)"
    )
    print(f"targets (writer >= {args.min_ratio}x, add_call <= +{args.max_added_ms} ms): "
          f"{'met' if met else 'NOT met'}")  # fmt: skip
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200, help="add_call calls per kind and round")
    parser.add_argument("--latency", type=float, default=0.02, help="the writers' fake's latency")
    parser.add_argument("--postgres", help="a database to keep keys in (default: a new server)")
    parser.add_argument(
        "--no-fsync",
        dest="fsync",
        action="store_false",
        help="the server started here does not wait for the disk (fsync off): the store's own cost",
    )
    parser.add_argument(
        "--sqlite-dir", help="where the SQLite store's file is (default: a temporary directory)"
    )
    parser.add_argument("--min-ratio", type=float, default=0.8)
    parser.add_argument("--max-added-ms", type=float, default=1.0)
    args = parser.parse_args()
    try:
        met = anyio.run(measure, args)
    except DialerError as exc:
        print(f"a run failed: {exc}")
        return 1
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
