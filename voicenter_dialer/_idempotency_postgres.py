"""Idempotency keys in PostgreSQL (placeholder until the store lands)."""

from __future__ import annotations

from ._idempotency_records import IdempotencyStore

__all__ = ["open_postgres_keys"]


async def open_postgres_keys(
    url: str, *, ttl: float, wait: float, lease: float
) -> IdempotencyStore:
    raise NotImplementedError
