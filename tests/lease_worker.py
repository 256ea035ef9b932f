"""A process holding a journal, for the lease tests (``python -m tests.lease_worker SPEC
LEASE``; SPEC a path or a ``postgresql://...#NAME`` URL): it opens the journal with a lease of
LEASE seconds, says ``ready``, waits for a line on stdin, then records a chunk as sent: says
``sent`` (exit 0) or the JournalError's message (exit 3)."""

from __future__ import annotations

import sys

import anyio

from voicenter_dialer import JournalError
from voicenter_dialer._journal import open_store


async def hold(spec: str, lease: float) -> int:
    store = await open_store(
        spec, campaign="C" * 20, chunk_size=10, total=None, lease_seconds=lease
    )
    try:
        print("ready", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)
        try:
            await store.sent(100, 10, b"late", [])
        except JournalError as exc:
            print(f"JournalError: {exc}", flush=True)
            return 3
        print("sent", flush=True)
        return 0
    finally:
        await store.aclose()


if __name__ == "__main__":
    sys.exit(anyio.run(hold, sys.argv[1], float(sys.argv[2])))
