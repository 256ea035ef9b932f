"""Opening and summarising the journal a path or URL names, and checking an input against it.

A path is a journal in one SQLite file (:mod:`._journal_sqlite`); a
``postgresql://USER@HOST:PORT/DB#UPLOAD_NAME`` URL, the journal of that upload in PostgreSQL
(:mod:`._journal_postgres`). What a journal keeps, and the rules and messages both stores
share, are in :mod:`._journal_records`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ._journal_records import (
    DEFAULT_LEASE_SECONDS,
    ChunkRecord,
    JournalStore,
    JournalSummary,
    LeadRecord,
    another_input,
    campaign_digest,
)

__all__ = [
    "ChunkRecord",
    "JournalSpec",
    "JournalStore",
    "JournalSummary",
    "LeadRecord",
    "campaign_digest",
    "check_input",
    "open_store",
    "summarise_journal",
]

#: A journal: a path (SQLite), or ``postgresql://USER@HOST:PORT/DB#UPLOAD_NAME``.
JournalSpec = str | os.PathLike[str]


async def open_store(
    spec: JournalSpec,
    *,
    campaign: str,
    chunk_size: int,
    total: int | None,
    create: bool = True,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> JournalStore:
    """Open the journal *spec* names; start it when it is not there, if *create* (else,
    refuse it without leaving anything behind). The journal is held by a lease of
    *lease_seconds*."""
    # The stores (and sqlite3, psycopg) are imported once a journal is used: most programs use
    # none, and importing the library should not pay for them.
    from ._journal_postgres import is_postgres_url, open_postgres

    if is_postgres_url(spec):
        return await open_postgres(
            str(spec),
            campaign=campaign,
            chunk_size=chunk_size,
            total=total,
            create=create,
            lease_seconds=lease_seconds,
        )
    from ._journal_sqlite import SqliteJournal

    return await SqliteJournal.open(
        spec,
        campaign=campaign,
        chunk_size=chunk_size,
        total=total,
        create=create,
        lease_seconds=lease_seconds,
    )


def summarise_journal(spec: JournalSpec) -> JournalSummary:
    """Count what a journal (a path or a ``postgresql://...#NAME`` URL) holds."""
    from ._journal_postgres import is_postgres_url, summarise_postgres

    if is_postgres_url(spec):
        return summarise_postgres(str(spec))
    from ._journal_sqlite import summarise_sqlite

    return summarise_sqlite(Path(spec))


async def check_input(store: JournalStore, chunks: Iterable[tuple[int, int, bytes]]) -> None:
    """Refuse an input that is not the one *store* journalled, before anything is sent.

    *chunks*: the whole input cut by ``store.chunk_size``, as ``(start, size, digest)`` of each
    chunk (the digest as the rerun's replay computes it). Raises :class:`JournalError` naming
    the first chunk that differs from its record; chunks never journalled are not checked.
    """
    for start, size, digest in chunks:
        record = await store.chunk(start)
        if record is not None and (record.size != size or record.digest != digest):
            raise another_input(store.description, start, size)
