"""A process using an idempotency store, for the tests that need two at once
(``python -m tests.idempotency_worker MODE ...``).

- ``claim-all SPEC COUNT CHUNK GO OUT``: once the file GO exists, claim keys ``key-0`` to
  ``key-{COUNT-1}`` a chunk at a time; settle each one claimed as accepted and write its key
  to OUT (what this process "sent"), one a line.
- ``hold SPEC KEY LEASE``: claim KEY, say ``claimed``, wait for a line on stdin, then settle
  it: say ``settled`` (exit 0) or ``JournalError`` (exit 3).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio

from voicenter_dialer import JournalError
from voicenter_dialer._idempotency import Claimed, Outcome, Unknown, open_idempotency_store

FINGERPRINT = "f" * 64


async def claim_all(spec: str, count: int, chunk: int, go: Path, out: Path) -> None:
    store = await open_idempotency_store(spec, wait=60.0)
    while not await anyio.Path(go).exists():  # noqa: ASYNC110 - set by another process
        await anyio.sleep(0.001)  # a tight start: both processes begin together
    with out.open("w") as sent:
        for first in range(0, count, chunk):
            keys = [f"key-{i}" for i in range(first, min(first + chunk, count))]
            results = await store.claim_many([(key, FINGERPRINT) for key in keys])
            mine = [r for r in results if isinstance(r, (Claimed, Unknown))]
            if len(mine) != sum(isinstance(r, Claimed) for r in results):
                raise SystemExit("a key was unknown: nobody died, so none should be")
            for claim in mine:
                sent.write(claim.key + "\n")
            sent.flush()
            os.fsync(sent.fileno())
            await store.settle_many([(claim, Outcome.accepted()) for claim in mine])
    await store.aclose()


async def hold(spec: str, key: str, lease: float) -> int:
    store = await open_idempotency_store(spec, lease_seconds=lease)
    claim = await store.claim(key, FINGERPRINT)
    assert isinstance(claim, Claimed), claim
    print("claimed", flush=True)
    sys.stdin.readline()
    try:
        await store.settle(claim, Outcome.accepted())
    except JournalError:
        print("JournalError", flush=True)
        return 3
    finally:
        await store.aclose()
    print("settled", flush=True)
    return 0


def main(argv: list[str]) -> int:
    mode, spec, *rest = argv
    if mode == "claim-all":
        count, chunk, go, out = rest
        anyio.run(claim_all, spec, int(count), int(chunk), Path(go), Path(out))
        return 0
    key, lease = rest
    return anyio.run(hold, spec, key, float(lease))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
