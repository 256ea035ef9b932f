"""Memory: leads streamed from a CSV file through the CLI; its peak RSS must not grow with N.

    .venv/bin/python benchmarks/memory.py [--leads 1000000]

Writes a CSV of N leads (and one of N/10 for comparison), uploads each with
``voicenter-dialer upload`` to the fake dialer in its own process, and prints the CLI
process's peak RSS for both sizes.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CAMPAIGN, ROOT, clear_campaign, expected_rejected, fake_server, target


def write_leads(path: Path, n: int) -> None:
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["phone", "name", "priority", "var_source"])
        for i in range(n):
            writer.writerow([target(i), f"Lead {i}", i % 10, "benchmark"])


def upload(base_url: str, path: Path) -> dict[str, float]:
    command = [
        sys.executable, str(Path(__file__).parent / "clients" / "cli_upload.py"),
        "--base-url", base_url, "upload", str(path), "--campaign", CAMPAIGN,
        "--chunk-size", "1000", "--concurrency", "8",
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)  # noqa: S603
    result: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    args = parser.parse_args()
    sizes = [args.leads // 10, args.leads]
    rss: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as folder, fake_server(latency=0.0) as server:
        for n in sizes:
            path = Path(folder) / f"leads-{n}.csv"
            write_leads(path, n)
            clear_campaign(server.base_url)
            result = upload(server.base_url, path)
            if result["status"] != 1 or not expected_rejected(n):  # some leads are refused
                print(f"unexpected exit status {result['status']}")
                return 1
            rss[n] = result["rss"]
            size_mb = path.stat().st_size / 2**20
            print(
                f"{n:>9,} leads ({size_mb:5.1f} MB CSV): {result['seconds']:6.1f} s, "
                f"{n / result['seconds']:8,.0f} leads/s, peak RSS {result['rss']:5.1f} MB",
                flush=True,
            )
    growth = rss[sizes[1]] - rss[sizes[0]]
    print(f"peak RSS grows by {growth:+.1f} MB from {sizes[0]:,} to {sizes[1]:,} leads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
