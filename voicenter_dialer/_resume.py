"""Resuming a bulk upload from its journal: replay, reconciliation, and the translation
between chunk outcomes and journal records (both directions live here, nowhere else).

A chunk the journal has never seen is recorded as sent before it leaves. A chunk it knows
is replayed: accepted, rejected and failed calls as recorded; calls the service refused
(certainly not added) are recorded as unknown, then sent again; calls left unknown (in
flight when the upload stopped) are reported, or, with reconciliation, settled against the
numbers the campaign holds.
"""

from __future__ import annotations

import collections
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from ._chunk import METHOD, Chunk, ChunkSender, unknown_outcome
from ._exceptions import DialerError
from ._journal import JournalSpec, JournalStore, LeadRecord, open_store, summarise_journal
from ._journal_records import DEFAULT_LEASE_SECONDS, another_input
from ._models import AddResult, FailedCall, LeadStatus, RejectedCall
from ._outcome import outcome

__all__ = ["JournalReplay", "JournalSpec", "open_replay", "open_store", "summarise_journal"]

logger = logging.getLogger("voicenter_dialer")

_RESENT = "sent again after the service refused it; the upload stopped before its answer"


def digest(chunk: Chunk) -> bytes:
    """A fingerprint of the chunk's calls, to recognise the same input on a rerun."""
    hashed = hashlib.blake2b(chunk.body, digest_size=16)
    for failed in chunk.failed:  # calls that failed validation have no wire object
        hashed.update(f"{failed.index}:{failed.call!r}".encode())
    return hashed.digest()


def _status(error: DialerError) -> LeadStatus:
    """A failed call's status in the journal, by the one outcome rule: refused (a rerun sends
    it again), unknown (maybe added) or failed (for good)."""
    return outcome(error)


def lead_records(chunk: Chunk) -> list[LeadRecord]:
    """The calls of *chunk* that were not accepted, as the journal keeps them."""
    rejected = [
        LeadRecord(r.index, "rejected", r.result.target, r.result.error_code, "AddResult",
                   r.result.description)
        for r in chunk.rejected
    ]  # fmt: skip
    failed = [
        LeadRecord(f.index, _status(f.error), f.target, None, type(f.error).__name__,
                   f.error.message)
        for f in chunk.failed
    ]  # fmt: skip
    return rejected + failed


class JournalReplay:
    """Replays one journal for one upload."""

    def __init__(
        self,
        store: JournalStore,
        sender: ChunkSender,
        held: collections.Counter[str] | None,
    ) -> None:
        self._store = store
        self._sender = sender
        #: The size to cut the input by: the journal's own, on a rerun.
        self.chunk_size = store.chunk_size
        #: When the journal's lease was last confirmed: asked just before each send.
        self.lease = store.lease
        # With reconciliation: how many times the campaign holds each number, less those
        # accounted for so far (calls known accepted, or settled).
        self._held = held

    async def replay(self, chunk: Chunk) -> Chunk:
        """*chunk* as the journal knows it: what is left to send, and the fates known.

        A chunk the journal has never seen is recorded as sent, and returned to be sent.
        """
        store = self._store
        fingerprint = digest(chunk)
        record = await store.chunk(chunk.start)
        if record is None:
            await store.sent(chunk.start, len(chunk.calls), fingerprint, lead_records(chunk))
            if not chunk.offsets:  # every call failed validation: its outcome is whole already
                await self.done(chunk)
            return chunk
        if record.size != len(chunk.calls) or record.digest != fingerprint:
            raise another_input(store.description, chunk.start, len(chunk.calls))
        known = await store.leads(chunk.start, len(chunk.calls))
        sent = dict(zip(chunk.offsets, chunk.targets, strict=True))
        resend: list[int] = []
        replayed = Chunk(chunk.start, chunk.calls)
        replayed.accepted = record.accepted if record.state == "done" else 0
        interrupted = unknown_outcome("the upload stopped while this call was in flight")
        settled = False
        for offset, call in enumerate(chunk.calls):
            index = chunk.start + offset
            lead = known.get(index)
            if lead is None and (record.state == "done" or offset not in sent):
                if offset in sent:  # accepted: its number is accounted for
                    self._claim(sent[offset])
                continue  # accepted (counted in the record), or never sent
            if lead is not None and lead.status == "rejected":
                result = AddResult(lead.target, lead.error_code, lead.reason)
                replayed.rejected.append(RejectedCall(index, call, result))
            elif lead is not None and lead.status == "failed":
                replayed.failed.append(FailedCall(index, call, lead.error()))
            elif lead is not None and lead.status == "refused":
                resend.append(offset)  # certainly not added: send it again
            elif self._held is None:  # unknown, and not to be reconciled
                error = lead.error() if lead is not None else interrupted
                replayed.failed.append(FailedCall(index, call, error))
            elif self._claim(sent[offset]):
                replayed.accepted += 1  # the campaign holds one more than accounted for
                settled = True
            else:
                resend.append(offset)  # certainly not added: send it (again)
        if resend:
            replayed.load(
                resend, self._sender.encode_chunk([chunk.calls[offset] for offset in resend])
            )
            # Recorded as in flight before it leaves, exactly as a new chunk is.
            await store.resending(
                [
                    LeadRecord(
                        replayed.start + offset,
                        "unknown",
                        target,
                        None,
                        "DialerError",
                        f"{METHOD}: {_RESENT}",
                    )
                    for offset, target in zip(resend, replayed.targets, strict=True)
                ]
            )
        elif settled:
            await self.done(replayed)
        return replayed

    def _claim(self, target: str) -> bool:
        """Account for one call of *target* being in the campaign: False when the campaign
        holds no more of that number than are accounted for already."""
        if self._held is None:
            return False
        if self._held[target] <= 0:
            return False
        self._held[target] -= 1
        return True

    async def done(self, chunk: Chunk) -> None:
        """Record *chunk*'s whole outcome: committed before it is counted or reported."""
        await self._store.done(chunk.start, len(chunk.calls), chunk.accepted, lead_records(chunk))

    async def finished(self, total: int) -> None:
        await self._store.finished(total)

    async def end(self) -> int:
        """The position after the chunks recorded: where a bulk writer continues the journal."""
        start = 0
        while (record := await self._store.chunk(start)) is not None:
            start += record.size
        return start


@asynccontextmanager
async def open_replay(
    spec: JournalSpec,
    sender: ChunkSender,
    *,
    chunk_size: int,
    total: int | None,
    reconcile: bool,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> AsyncIterator[JournalReplay]:
    """The journal *spec*, open for one upload. With *reconcile*, a journal must be there
    already: reconciling against a new one would send everything (refused, nothing created)."""
    store = await open_store(
        spec,
        campaign=sender.campaign,
        chunk_size=chunk_size,
        total=total,
        create=not reconcile,
        lease_seconds=lease_seconds,
    )
    try:
        if store.chunk_size != chunk_size:
            logger.info("%s: the journal's chunk size, %d, is used", METHOD, store.chunk_size)
        held = None
        if reconcile and await store.has_unknown():
            held = await sender.held_targets()
        yield JournalReplay(store, sender, held)
    finally:
        # Closed even when the upload is cancelled: that releases the journal's lock.
        with anyio.CancelScope(shield=True):
            await store.aclose()
