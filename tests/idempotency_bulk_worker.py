"""A process adding keyed leads through a BulkWriter, for the test that runs two at once
(``python -m tests.idempotency_bulk_worker SPEC BASE_URL COUNT GO``; the account and
campaign codes in ``DIALER_ACCOUNT`` and ``DIALER_CAMPAIGN``).

Once the file GO exists, it adds leads ``0`` to ``COUNT-1`` at once (each keyed
``lead-{i}``), then prints how many ended accepted, rejected and failed as JSON.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

import anyio

from voicenter_dialer import AsyncDialer, BulkWriter, Call


def lead(index: int) -> Call:
    return Call(f"9725{index:08d}")


async def add_all(spec: str, base_url: str, count: int, go: Path) -> Counter[str]:
    statuses: Counter[str] = Counter()
    campaign = os.environ["DIALER_CAMPAIGN"]
    async with AsyncDialer(
        os.environ["DIALER_ACCOUNT"], base_url=base_url, idempotency_store=spec
    ) as dialer:
        while not await anyio.Path(go).exists():  # noqa: ASYNC110 - set by another process
            await anyio.sleep(0.001)

        async def add(writer: BulkWriter, index: int) -> None:
            outcome = await writer.add(lead(index), idempotency_key=f"lead-{index}")
            statuses[outcome.status] += 1

        async with (
            dialer.bulk_writer(campaign, chunk_size=100, flush_after=0.02) as writer,
            anyio.create_task_group() as tasks,
        ):
            for index in range(count):
                tasks.start_soon(add, writer, index)
    return statuses


def main(argv: list[str]) -> int:
    spec, base_url, count, go = argv
    statuses = anyio.run(add_all, spec, base_url, int(count), Path(go))
    print(json.dumps(statuses), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
