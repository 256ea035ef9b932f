"""A process adding the same keyed leads as another, for the fleet tests that run two at once
(``python -m tests.fleet_worker MODE SPEC BASE_URL COUNT GO``, the account and campaign codes
in ``DIALER_ACCOUNT`` and ``DIALER_CAMPAIGN``; run from any directory, the project on
``PYTHONPATH``).

Once started, it creates the file ``ready`` in its working directory; once the file GO
exists, it adds leads ``0`` to ``COUNT-1`` at once, each keyed ``lead-{i}``,
with the idempotency store SPEC, then prints how each ended as JSON (a count per status):

- ``writer``: through one ``BulkWriter``: ``accepted``, ``rejected`` or ``failed``.
- ``add-call``: through ``add_call``, :data:`TASKS` at a time; a call whose outcome is unknown
  is retried with its key, as a careful caller does (``retried`` counts those retries), up to
  :data:`ATTEMPTS` times: ``accepted``, or the class of the error it ended with.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

import anyio

from voicenter_dialer import AsyncDialer, BulkWriter, Call, DialerError

#: add_call tasks of one process at once.
TASKS = 50
#: Attempts per lead in add_call mode: a retry after an unknown outcome reconciles, and
#: sends nothing more, so a second attempt settles it; the bound only stops a runaway loop.
ATTEMPTS = 5


def lead(index: int) -> Call:
    return Call(f"9725{index:08d}")


async def write_all(dialer: AsyncDialer, campaign: str, count: int) -> Counter[str]:
    statuses: Counter[str] = Counter()

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


async def call_all(dialer: AsyncDialer, campaign: str, count: int) -> Counter[str]:
    statuses: Counter[str] = Counter()
    limiter = anyio.CapacityLimiter(TASKS)

    async def add(index: int) -> None:
        async with limiter:
            for _ in range(ATTEMPTS):
                try:
                    await dialer.add_call(campaign, lead(index), idempotency_key=f"lead-{index}")
                except DialerError as exc:
                    if exc.outcome_unknown:
                        statuses["retried"] += 1
                        continue
                    statuses[type(exc).__name__] += 1
                    return
                statuses["accepted"] += 1
                return
            statuses["gave up"] += 1

    async with anyio.create_task_group() as tasks:
        for index in range(count):
            tasks.start_soon(add, index)
    return statuses


async def add_all(mode: str, spec: str, base_url: str, count: int, go: Path) -> Counter[str]:
    campaign = os.environ["DIALER_CAMPAIGN"]
    adder = {"writer": write_all, "add-call": call_all}[mode]
    async with AsyncDialer(
        os.environ["DIALER_ACCOUNT"], base_url=base_url, idempotency_store=spec
    ) as dialer:
        await anyio.Path("ready").touch()
        while not await anyio.Path(go).exists():  # noqa: ASYNC110 - set by another process
            await anyio.sleep(0.001)
        return await adder(dialer, campaign, count)


def main(argv: list[str]) -> int:
    mode, spec, base_url, count, go = argv
    statuses = anyio.run(add_all, mode, spec, base_url, int(count), Path(go))
    print(json.dumps(statuses), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
