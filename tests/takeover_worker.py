"""A process running a bulk upload with a journal, for the takeover test
(``python -m tests.takeover_worker BASE_URL JOURNAL LEASE COUNT [--reconcile]``; the account
and campaign codes in ``DIALER_ACCOUNT`` and ``DIALER_CAMPAIGN``).

It uploads leads ``0`` to ``COUNT-1`` (:func:`lead`) in chunks of :data:`CHUNK_SIZE`,
:data:`CONCURRENCY` in flight, its journal held by a lease of LEASE seconds, then prints its
report's counts as JSON (exit 0), or ``JournalError: ...`` (exit 3).
"""

from __future__ import annotations

import json
import os
import sys

import anyio

from voicenter_dialer import AsyncDialer, Call, JournalError

CHUNK_SIZE = 50
CONCURRENCY = 2


def lead(index: int) -> Call:
    return Call(f"9725{index:08d}")


async def upload(
    base_url: str, journal: str, lease: float, count: int, reconcile: bool
) -> dict[str, int]:
    async with AsyncDialer(
        os.environ["DIALER_ACCOUNT"], base_url=base_url, lease_seconds=lease
    ) as dialer:
        report = await dialer.add_calls_bulk(
            os.environ["DIALER_CAMPAIGN"],
            [lead(index) for index in range(count)],
            chunk_size=CHUNK_SIZE,
            concurrency=CONCURRENCY,
            journal=journal,
            reconcile=reconcile,
        )
    return {
        "total": report.total,
        "accepted": report.accepted,
        "rejected": len(report.rejected),
        "failed": len(report.failed),
    }


def main(argv: list[str]) -> int:
    base_url, journal, lease, count, *flags = argv
    try:
        counts = anyio.run(
            upload, base_url, journal, float(lease), int(count), "--reconcile" in flags
        )
    except JournalError as exc:
        print(f"JournalError: {exc}", flush=True)
        return 3
    print(json.dumps(counts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
