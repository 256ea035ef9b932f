"""Opening the idempotency store a path or URL names (see :mod:`._idempotency_records` for
what a store keeps and the rule it follows)."""

from __future__ import annotations

import os
from typing import TypeAlias

from ._exceptions import ValidationError
from ._idempotency_records import (
    DEFAULT_IDEMPOTENCY_TTL,
    DEFAULT_IDEMPOTENCY_WAIT,
    DEFAULT_LEASE_SECONDS,
    Claim,
    Claimed,
    ClaimResult,
    IdempotencyStore,
    Outcome,
    Settled,
    Unknown,
    check_key,
    fingerprint,
)

__all__ = [
    "DEFAULT_IDEMPOTENCY_TTL",
    "DEFAULT_IDEMPOTENCY_WAIT",
    "DEFAULT_LEASE_SECONDS",
    "Claim",
    "ClaimResult",
    "Claimed",
    "IdempotencySpec",
    "IdempotencyStore",
    "Outcome",
    "Settled",
    "Unknown",
    "check_key",
    "fingerprint",
    "open_idempotency_store",
]

#: A store: a path (SQLite), or ``postgresql://USER@HOST:PORT/DB#NAME``.
IdempotencySpec: TypeAlias = "str | os.PathLike[str]"


async def open_idempotency_store(
    spec: IdempotencySpec,
    *,
    ttl: float = DEFAULT_IDEMPOTENCY_TTL,
    wait: float = DEFAULT_IDEMPOTENCY_WAIT,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> IdempotencyStore:
    """Open (creating it on first use) the idempotency store *spec* names."""
    for name, value in (("ttl", ttl), ("wait", wait), ("lease_seconds", lease_seconds)):
        if not isinstance(value, (int, float)) or value != value or value < 0:
            raise ValidationError(f"idempotency {name} must be a number of seconds >= 0")
    if not 0 < lease_seconds < float("inf") or ttl <= 0:
        raise ValidationError(
            "idempotency ttl and lease_seconds must be more than 0 (a lease, finite)"
        )
    # The stores (and sqlite3, psycopg) are imported once a key is used, as journals' are.
    from ._journal_postgres import is_postgres_url

    if is_postgres_url(spec):
        from ._idempotency_postgres import open_postgres_keys

        return await open_postgres_keys(str(spec), ttl=ttl, wait=wait, lease=lease_seconds)
    from ._idempotency_sqlite import SqliteKeys

    return await SqliteKeys.open(spec, ttl=ttl, wait=wait, lease=lease_seconds)
