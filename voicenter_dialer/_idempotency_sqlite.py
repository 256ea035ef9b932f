"""Idempotency keys in one SQLite file, shared by the processes of one machine.

Every claim is one write transaction (``BEGIN IMMEDIATE``): of two processes claiming a key
at once, one sees the other's claim. A rollback journal, as for bulk journals: the file
alone holds every commit. Times are the machine's clock, which its processes share.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, TypeVar

import anyio
import anyio.to_thread

from ._exceptions import JournalError
from ._idempotency_records import (
    Claim,
    Claimed,
    Claims,
    Decision,
    KeyRow,
    Outcome,
    decide,
    lease_lost,
)
from ._journal_records import schema_version, storable
from ._lease_clock import LeaseClock

__all__ = ["SqliteKeys"]

T = TypeVar("T")
_Row = tuple[object, ...]

_FORMAT: Final = "voicenter-dialer idempotency keys"
_VERSION: Final = 1
# How long a transaction waits for another process's (they are short: one chunk's keys).
_BUSY_WAIT: Final = 10.0
# Expired keys are deleted this many at a time, at most once per _CLEANUP_EVERY seconds, by
# a claim already holding the write lock: nobody waits for it.
_CLEANUP_BATCH: Final = 500
_CLEANUP_EVERY: Final = 60.0
_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS keys ("
    " key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL,"
    " state TEXT NOT NULL"
    " CHECK (state IN ('pending', 'unknown', 'accepted', 'rejected', 'failed')),"
    " token INTEGER NOT NULL, lease_until REAL, expires REAL NOT NULL, outcome TEXT)",
    "CREATE INDEX IF NOT EXISTS keys_expires ON keys (expires)",
)


class SqliteKeys(Claims):
    """An open SQLite idempotency store (see :class:`._idempotency_records.IdempotencyStore`)."""

    def __init__(
        self, db: sqlite3.Connection, path: Path, ttl: float, wait: float, lease: float
    ) -> None:
        self._db = db
        self.description = str(path)
        self._ttl = ttl
        self._wait = wait
        self._lease = lease
        self._lock = anyio.Lock()
        self._cleaned = 0.0

    @classmethod
    async def open(
        cls, path: str | os.PathLike[str], *, ttl: float, wait: float, lease: float
    ) -> SqliteKeys:
        return await anyio.to_thread.run_sync(lambda: cls._open(Path(path), ttl, wait, lease))

    @classmethod
    def _open(cls, path: Path, ttl: float, wait: float, lease: float) -> SqliteKeys:
        try:
            db = sqlite3.connect(
                str(path), isolation_level=None, check_same_thread=False, timeout=_BUSY_WAIT
            )
        except sqlite3.Error as exc:
            raise JournalError(f"{path}: the idempotency store cannot be opened ({exc})") from None
        try:
            db.execute("PRAGMA journal_mode = DELETE")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("BEGIN IMMEDIATE")
            try:
                tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
                if tables and "meta" not in tables:
                    raise JournalError(f"{path} is not an idempotency store; it was not changed")
                for statement in _SCHEMA:
                    db.execute(statement)
                meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
                if not meta:
                    db.executemany(
                        "INSERT INTO meta (key, value) VALUES (?, ?)",
                        [("format", _FORMAT), ("version", str(_VERSION))],
                    )
                elif meta.get("format") != _FORMAT:
                    raise JournalError(f"{path} is not an idempotency store; it was not changed")
                elif meta.get("version") != str(_VERSION):
                    found = meta.get("version", "")
                    shown = int(found) if found.isdigit() else found
                    raise schema_version(str(path), shown, _VERSION)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            db.close()
            raise JournalError(f"{path}: the idempotency store cannot be used ({exc})") from None
        except BaseException:
            db.close()
            raise
        return cls(db, path, ttl, wait, lease)

    async def _run(self, work: Callable[[], T]) -> T:
        async with self._lock:
            try:
                return await anyio.to_thread.run_sync(work)
            except sqlite3.Error as exc:
                where = self.description
                raise JournalError(f"{where}: the idempotency store failed ({exc})") from None

    def _transaction(self, work: Callable[[float], T]) -> T:
        """*work(now)* in one write transaction."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            result = work(time.time())
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return result

    async def _attempt(
        self, claims: Sequence[tuple[str, str]], lease: LeaseClock
    ) -> list[Decision]:
        return await self._run(
            lambda: self._transaction(lambda now: self._decide(claims, now, lease))
        )

    def _decide(
        self, claims: Sequence[tuple[str, str]], now: float, lease: LeaseClock
    ) -> list[Decision]:
        keys = [storable(key) for key, _ in claims]
        found = self._db.execute(
            "SELECT key, fingerprint, state, token, lease_until, expires, outcome FROM keys "
            "WHERE key IN (SELECT value FROM json_each(?))",
            (json.dumps(keys),),
        )
        rows = {row[0]: KeyRow(*row[1:]) for row in found}
        decisions = [
            decide(key, print_, rows.get(stored), now, lease)
            for (key, print_), stored in zip(claims, keys, strict=True)
        ]
        self._db.executemany(
            "INSERT INTO keys (key, fingerprint, state, token, lease_until, expires) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
            "fingerprint = excluded.fingerprint, state = excluded.state, token = excluded.token,"
            " lease_until = excluded.lease_until, expires = excluded.expires, outcome = NULL",
            [
                (stored, print_, *decision.take, now + self._lease, now + self._ttl)
                for (_, print_), stored, decision in zip(claims, keys, decisions, strict=True)
                if decision.take is not None
            ],
        )
        if now - self._cleaned >= _CLEANUP_EVERY:
            self._cleaned = now
            self._db.execute(
                "DELETE FROM keys WHERE rowid IN (SELECT rowid FROM keys WHERE expires <= ? "
                "AND (lease_until IS NULL OR lease_until <= ?) LIMIT ?)",
                (now, now, _CLEANUP_BATCH),
            )
        return decisions

    async def _fenced(self, *writes: tuple[str, int, Callable[[float], list[_Row]]]) -> None:
        """Each ``(statement, count, rows)``: *statement* for each of the *count* *rows(now)*
        (each ending with key and token), all in one transaction (none for no rows);
        JournalError when some matched no row: their keys were taken over."""

        def write(now: float) -> int:
            missed = 0
            for statement, count, rows in writes:
                if count:  # a key is the primary key: each row matches one at most
                    missed += count - self._db.executemany(statement, rows(now)).rowcount
            return missed

        if not any(count for _, count, _ in writes):
            return
        missed = await self._run(lambda: self._transaction(write))
        if missed:
            raise lease_lost(self.description, missed)

    async def _renew(self, claims: Sequence[Claim]) -> None:
        await self._fenced(
            (
                "UPDATE keys SET lease_until = ? WHERE key = ? AND token = ? "
                "AND state IN ('pending', 'unknown')",
                len(claims),
                lambda now: [(now + self._lease, storable(c.key), c.token) for c in claims],
            )
        )

    async def settle(self, claim: Claim, outcome: Outcome) -> None:
        await self.settle_many([(claim, outcome)])

    async def settle_many(self, settled: Sequence[tuple[Claim, Outcome]]) -> None:
        await self._fenced(
            (
                "UPDATE keys SET state = ?, outcome = ?, lease_until = NULL, expires = ? "
                "WHERE key = ? AND token = ? AND state IN ('pending', 'unknown')",
                len(settled),
                lambda now: [
                    (o.status, o.dumps(), now + self._ttl, storable(c.key), c.token)
                    for c, o in settled
                ],
            )
        )

    async def unknown(self, claims: Sequence[Claim]) -> None:
        await self._fenced(
            (
                "UPDATE keys SET state = 'unknown', lease_until = NULL "
                "WHERE key = ? AND token = ? AND state IN ('pending', 'unknown')",
                len(claims),
                lambda now: [(storable(c.key), c.token) for c in claims],
            )
        )

    async def release(self, claims: Sequence[Claim]) -> None:
        # A claimed key is forgotten; an unknown one stays unknown, for the next to reconcile.
        claimed = [(storable(c.key), c.token) for c in claims if isinstance(c, Claimed)]
        unknown = [(storable(c.key), c.token) for c in claims if not isinstance(c, Claimed)]
        await self._fenced(
            (
                "DELETE FROM keys WHERE key = ? AND token = ? AND state = 'pending'",
                len(claimed),
                lambda now: list(claimed),
            ),
            (
                "UPDATE keys SET lease_until = NULL WHERE key = ? AND token = ? "
                "AND state = 'unknown'",
                len(unknown),
                lambda now: list(unknown),
            ),
        )

    async def aclose(self) -> None:
        await self._run(self._db.close)
