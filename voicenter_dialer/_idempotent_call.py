"""One call added at most once per idempotency key (``add_call(..., idempotency_key=)``):
the store's claim, the reconciling of a key in doubt, the send, and the settling of its
outcome, in one place."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

import anyio

from ._exceptions import APIError, DialerError, JournalError, ValidationError, api_error
from ._idempotency import (
    IdempotencySpec,
    IdempotencyStore,
    Outcome,
    Settled,
    Unknown,
    check_key,
    fingerprint,
    open_idempotency_store,
)
from ._idempotency_records import Claim
from ._journal_records import campaign_digest
from ._models import AddResult

__all__ = ["KeyStore", "add_once"]

# How long settling after a cancellation may take: the outcome must be recorded, but a hung
# store must not hang the caller's cancellation.
_SETTLE_WAIT = 10.0


class KeyStore:
    """A dialer's idempotency store, opened on first use (and shared with the dialers
    :meth:`AsyncDialer.with_options` derives)."""

    def __init__(
        self, spec: IdempotencySpec | None, *, ttl: float, wait: float, lease: float
    ) -> None:
        self._spec = spec
        self._settings = {"ttl": ttl, "wait": wait, "lease_seconds": lease}
        self.lease = lease
        self._store: IdempotencyStore | None = None
        self._opening: anyio.Lock | None = None

    async def get(self) -> IdempotencyStore:
        if self._spec is None:
            raise ValidationError(
                "an idempotency_key needs a store: AsyncDialer(idempotency_store=PATH or "
                "'postgresql://...#NAME'); nothing was sent"
            )
        if self._opening is None:
            self._opening = anyio.Lock()
        async with self._opening:
            if self._store is None:
                self._store = await open_idempotency_store(self._spec, **self._settings)
        return self._store

    async def aclose(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            await store.aclose()


async def add_once(
    keys: KeyStore,
    key: object,
    campaign: str,
    wire: Mapping[str, Any],
    send: Callable[[], Awaitable[object]],
    held_targets: Callable[[], Awaitable[Collection[str]]],
) -> None:
    """Send *wire* (an AddCall for *campaign*) through *send*, unless *key* settled before:
    then its outcome again (None, or the same error), nothing sent. A key in doubt is looked
    for among *held_targets* (the campaign's pending numbers) first."""
    checked = check_key(key)
    store = await keys.get()
    claim = await store.claim(checked, fingerprint(wire, campaign_digest(campaign)))
    if isinstance(claim, Settled):
        _replay(claim.outcome)
        return
    if isinstance(claim, Unknown):
        try:
            held = wire.get("Target") in await held_targets()
        except BaseException:
            await _shielded(store.release([claim]))
            raise
        if held:
            await store.settle(claim, Outcome.accepted())
            return
    await store.renew([claim])  # refused if the lease was lost: nothing is sent then
    try:
        await _renewing(store, claim, keys.lease, send)
    except APIError as exc:  # answered: a rejection, replayed as it is
        result = AddResult(str(wire.get("Target", "")), exc.error_code, exc.description)
        await store.settle(claim, Outcome.rejected(result))
        raise
    except DialerError as exc:
        if exc.outcome_unknown:
            await store.unknown([claim])
        else:  # not sent, or refused before it was applied: the next attempt sends
            await store.release([claim])
        raise
    except BaseException:  # cancelled, interrupted: it may have left
        await _shielded(store.unknown([claim]))
        raise
    await store.settle(claim, Outcome.accepted())


def _replay(outcome: Outcome) -> None:
    if outcome.status == "accepted":
        return
    error = outcome.error()
    if error is not None:
        raise error
    code = outcome.error_code if outcome.error_code is not None else -1
    raise api_error("AddCall", code, outcome.description)


async def _renewing(
    store: IdempotencyStore, claim: Claim, lease: float, send: Callable[[], Awaitable[object]]
) -> None:
    """*send()*, the claim's lease renewed meanwhile (a third of a lease apart)."""
    failure: BaseException | None = None
    async with anyio.create_task_group() as tasks:

        async def renew() -> None:
            while True:
                await anyio.sleep(lease / 3)
                try:
                    await store.renew([claim])
                except JournalError:
                    return  # taken over: the settling says so

        tasks.start_soon(renew)
        try:
            await send()
        except Exception as exc:  # raised as itself below, not in an exception group
            failure = exc
        finally:
            tasks.cancel_scope.cancel()
    if failure is not None:
        raise failure


async def _shielded(write: Awaitable[None]) -> None:
    # A failure here leaves the lease to run out: whoever claims the key next reconciles it.
    with (
        anyio.CancelScope(shield=True),
        anyio.move_on_after(_SETTLE_WAIT),
        contextlib.suppress(DialerError),
    ):
        await write
