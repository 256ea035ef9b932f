"""The seam between a bulk upload and where its journal is kept (SQLite file or PostgreSQL).

Every method is a coroutine, so that a store on a server never makes the event loop wait on
a round trip. The semantics are those of :class:`._journal.Journal`.
"""

from __future__ import annotations

from typing import Protocol

from ._journal import ChunkRecord, LeadRecord

__all__ = ["JournalStore"]


class JournalStore(Protocol):
    """An open journal, written by one upload at a time (the store refuses a second one)."""

    #: The chunk size the journal was started with: a rerun must cut the input the same way.
    chunk_size: int
    #: Where the journal is, safe to show: a path, or a URL without its password.
    description: str

    async def chunk(self, start: int) -> ChunkRecord | None:
        """The chunk starting at input position *start*, if it was ever sent."""

    async def leads(self, start: int, size: int) -> dict[int, LeadRecord]:
        """The calls of positions *start* to *start + size - 1* that were not accepted."""

    async def has_unknown(self) -> bool:
        """Whether any call may have been added without the journal knowing."""

    async def sent(self, start: int, size: int, digest: bytes, leads: list[LeadRecord]) -> None:
        """Record that a chunk is about to be sent, with the calls of it that failed locally:
        committed before it leaves."""

    async def resending(self, leads: list[LeadRecord]) -> None:
        """Replace these calls' records (status "unknown") at once: before a re-send leaves."""

    async def done(self, start: int, size: int, accepted: int, leads: list[LeadRecord]) -> None:
        """Record the whole outcome of a chunk, replacing what was known of it."""

    async def finished(self, total: int) -> None:
        """Record that the whole input was read: it held *total* calls."""

    async def aclose(self) -> None:
        """Close the journal: another upload may open it now."""
