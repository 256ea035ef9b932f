"""Calls added at most once per idempotency key: one (``add_call(..., idempotency_key=)``)
or a bulk chunk's (:class:`KeyedChunks`, the bulk paths and the writer): the store's claim,
the reconciling of keys in doubt, the send, and the settling of outcomes, in one place."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

import anyio

from ._chunk import METHOD, Chunk, ChunkSender
from ._converter import wires_body
from ._exceptions import (
    APIError,
    DialerError,
    IdempotencyConflict,
    JournalError,
    ValidationError,
    api_error,
)
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
from ._idempotency_records import Claim, ClaimResult
from ._journal_records import LeaseLost, campaign_digest
from ._lease_clock import check_leases, now
from ._models import AddResult, FailedCall, RejectedCall

__all__ = ["KeyFunction", "KeyStore", "KeyedChunks", "add_once", "replay"]

#: What ``idempotency_key=`` of the bulk paths is: each call (or mapping) to its key or None.
KeyFunction = Callable[[Any], "str | None"]
_T = TypeVar("_T")
logger = logging.getLogger("voicenter_dialer")

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
        if self._store is not None:  # opened: no lock to take (once per keyed call)
            return self._store
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


class KeyedChunks:
    """The keyed calls of one bulk session (upload or writer): claimed before their chunk is
    sent (a chunk's at once), replayed when settled before, reconciled when in doubt, failed
    on a conflict; settled from their chunk's answer. No store call for unkeyed calls."""

    def __init__(self, keys: KeyStore, key_of: KeyFunction | None, sender: ChunkSender) -> None:
        self._keys = keys
        self._key_of = key_of
        self._sender = sender
        self._digest = campaign_digest(sender.campaign)
        # The claims of claim_one (a writer's, at add time) whose calls are not being sent
        # yet: keep_leases renews them, however long they wait for a place in flight.
        self._waiting: set[Claim] = set()

    @property
    def per_call(self) -> bool:
        """Whether each call of a chunk is asked for its key (an upload's ``idempotency_key``)."""
        return self._key_of is not None

    async def claim(self, chunk: Chunk) -> None:
        """Claim the keyed calls of a prepared *chunk* (``key_of`` gives their keys): those
        settled before are replayed, conflicts fail, keys in doubt are reconciled; the chunk
        is encoded again without the calls that are not to be sent."""
        if self._key_of is None:
            return
        keyed: list[tuple[int, str, str]] = []
        wires: dict[int, dict[str, Any]] = {}
        skipped: set[int] = set()
        for offset in chunk.offsets:
            call = chunk.calls[offset]
            try:
                key = self._key(call)
                if key is None:
                    continue
                wire = wires[offset] = self._sender.encode(call)
                keyed.append((offset, key, fingerprint(wire, self._digest)))
            except ValidationError as exc:
                chunk.fail([offset], exc)
                skipped.add(offset)
        if keyed:
            store = await self._keys.get()
            results = await store.claim_many([(key, print_) for _, key, print_ in keyed])
            placed = [
                (offset, result) for (offset, _, _), result in zip(keyed, results, strict=True)
            ]
            skipped.update(await self._apply(chunk, placed))
        if skipped:
            sent = [offset for offset in chunk.offsets if offset not in skipped]
            encode = self._sender.encode
            chunk.load(
                sent,
                wires_body([wires.get(offset) or encode(chunk.calls[offset]) for offset in sent]),
            )

    def _key(self, call: object) -> str | None:
        assert self._key_of is not None
        try:
            key = self._key_of(call)
        except ValidationError:  # the function's own word on this lead
            raise
        except Exception as exc:  # the caller's function: its failure is this lead's
            raise ValidationError(
                f"the idempotency_key function raised {type(exc).__name__}: {exc}"
            ) from exc
        return None if key is None else check_key(key)

    async def claim_one(self, key: object, wire: Mapping[str, Any]) -> Claim | Settled:
        """The claim of one call's *key* (the writer's, at add time); a key in doubt found in
        the campaign comes back Settled (accepted). IdempotencyConflict is raised."""
        checked = check_key(key)
        store = await self._keys.get()
        claim = await store.claim(checked, fingerprint(wire, self._digest))
        if isinstance(claim, Settled):
            return claim
        if isinstance(claim, Unknown):
            target = wire.get("Target")
            if await self._reconciled([claim], [target if isinstance(target, str) else ""]):
                return Settled(claim.key, Outcome.accepted())
        self._waiting.add(claim)
        return claim

    async def keep_leases(self) -> None:
        """Renew the leases of the claims of :meth:`claim_one` waiting to be sent, a third of
        a lease apart, until cancelled: a busy writer keeps its keys. A lease lost all the
        same (this process was stopped) is found out by :meth:`sent`, which sends nothing."""
        while True:
            await anyio.sleep(self._keys.lease / 3)
            waiting = list(self._waiting)
            if waiting:
                # A claim sent or released meanwhile is not renewed, and is refused: the
                # others are renewed all the same (a fenced write matches row by row).
                with contextlib.suppress(DialerError):
                    await (await self._keys.get()).renew(waiting)

    async def _apply(
        self, chunk: Chunk, placed: Sequence[tuple[int, ClaimResult | IdempotencyConflict]]
    ) -> set[int]:
        """Record each claim's result in *chunk*; the offsets not to be sent."""
        skipped: set[int] = set()
        doubts: list[tuple[int, Unknown]] = []
        for offset, result in placed:
            if isinstance(result, IdempotencyConflict):
                chunk.fail([offset], result)
                skipped.add(offset)
            elif isinstance(result, Settled):
                replay(chunk, offset, result.outcome)
                skipped.add(offset)
            elif isinstance(result, Unknown):
                doubts.append((offset, result))
            else:
                chunk.claims[offset] = result
        if doubts:
            targets = dict(zip(chunk.offsets, chunk.targets, strict=True))
            try:
                found = await self._reconciled(
                    [claim for _, claim in doubts], [targets[offset] for offset, _ in doubts]
                )
            except BaseException:
                await _shielded(self._release([*chunk.claims.values()] + [c for _, c in doubts]))
                raise
            for offset, claim in doubts:
                if claim in found:
                    replay(chunk, offset, Outcome.accepted())
                    skipped.add(offset)
                else:
                    chunk.claims[offset] = claim
        return skipped

    async def _reconciled(self, doubts: Sequence[Unknown], targets: Sequence[str]) -> set[Unknown]:
        """Those of *doubts* the campaign holds (its pending numbers asked once), settled as
        accepted; a number held n times answers for n of them."""
        held = await self._sender.held_targets()
        found: set[Unknown] = set()
        for claim, target in zip(doubts, targets, strict=True):
            if held[target] > 0:
                held[target] -= 1
                found.add(claim)
        if found:
            store = await self._keys.get()
            await store.settle_many([(claim, Outcome.accepted()) for claim in found])
        return found

    async def _release(self, claims: Sequence[Claim]) -> None:
        if claims:
            await (await self._keys.get()).release(claims)

    async def release(self, claims: Sequence[Claim]) -> None:
        """Let *claims* go, their calls certainly not sent (withdrawn, or never sealed)."""
        self._waiting.difference_update(claims)
        await _shielded(self._release(claims))

    async def sent(self, chunk: Chunk, send: Callable[[], Awaitable[_T]]) -> _T:
        """*send()* (which sends *chunk* and merges its answer), its claims' leases renewed
        just before and meanwhile; then each claim settled from its call's fate."""
        claims = list(chunk.claims.values())
        self._waiting.difference_update(claims)  # renewed here from now on
        if not claims:
            return await send()
        store = await self._keys.get()
        rejected, failed = len(chunk.rejected), len(chunk.failed)
        # Renewed if confirmed a third of a lease ago or more (waiting in a writer), refused
        # if lost: nothing is sent then. The others (claimed just now, or renewed meanwhile)
        # have two thirds of their lease left, and _renewing renews them a third of a lease
        # after the oldest confirmation: a durable write (and, in a writer, a wait for the
        # store) saved per chunk; check_leases still checks every one just before sending.
        at = now()
        stale = [c for c in claims if c.lease.age(at) >= self._keys.lease / 3]
        if stale:
            await store.renew(stale)
        try:
            result = await _renewing(store, claims, self._keys.lease, send)
        except BaseException:  # cancelled, interrupted: it may have left
            await _shielded(store.unknown(claims))
            raise
        fates: dict[int, Outcome | bool] = {}
        for entry in chunk.rejected[rejected:]:
            fates[entry.index - chunk.start] = Outcome.rejected(entry.result)
        for failure in chunk.failed[failed:]:
            fates[failure.index - chunk.start] = failure.error.outcome_unknown
        settle: list[tuple[Claim, Outcome]] = []
        unknown: list[Claim] = []
        release: list[Claim] = []
        for offset, claim in chunk.claims.items():
            fate = fates.get(offset, Outcome.accepted())
            if isinstance(fate, Outcome):
                settle.append((claim, fate))
            else:
                (unknown if fate else release).append(claim)
        chunk.claims = {}
        # The calls' fates stand whatever the store says: a key whose write fails here
        # keeps its lease until it runs out, and whoever claims it next reconciles it.
        for write in (
            store.settle_many(settle) if settle else None,
            store.unknown(unknown) if unknown else None,
            store.release(release) if release else None,
        ):
            if write is not None:
                try:
                    await write
                except DialerError as exc:
                    logger.warning("%s: idempotency keys not recorded: %s", METHOD, exc)
        return result


def replay(chunk: Chunk, offset: int, outcome: Outcome) -> None:
    """Count the call at *offset* of *chunk* with *outcome*, nothing sent."""
    index, call = chunk.start + offset, chunk.calls[offset]
    chunk.replayed.append(offset)
    error = outcome.error()
    result = outcome.result()
    if error is not None:
        chunk.failed.append(FailedCall(index, call, error))
    elif outcome.status == "accepted" or result is None:
        chunk.accepted += 1
    else:
        chunk.rejected.append(RejectedCall(index, call, result))


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
        # The look took time: the lease renewed, or refused if lost (nothing is sent then).
        # A key just claimed needs no renewal (a durable write, most of a keyed call's cost).
        await store.renew([claim])
    check_leases(claim.lease)  # nothing sent if the lease may have lapsed (a stopped process)
    try:
        await _renewing(store, [claim], keys.lease, send)
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
    store: IdempotencyStore,
    claims: Sequence[Claim],
    lease: float,
    send: Callable[[], Awaitable[_T]],
) -> _T:
    """*send()*, the claims' leases renewed meanwhile: first a third of a lease after the
    oldest confirmation (not after the send begins: a claim sent unrenewed may be nearly that
    old already), then a third of a lease after each renewal."""
    failure: BaseException | None = None
    result: _T
    at = now()
    first = max(0.0, lease / 3 - max(claim.lease.age(at) for claim in claims))
    async with anyio.create_task_group() as tasks:

        async def renew() -> None:
            await anyio.sleep(first)
            while True:
                try:
                    await store.renew(claims)
                except LeaseLost:
                    return  # taken over: the settling says so
                except JournalError:
                    pass  # the store failed this once: the next renewal tries again
                await anyio.sleep(lease / 3)

        tasks.start_soon(renew)
        try:
            result = await send()
        except Exception as exc:  # raised as itself below, not in an exception group
            failure = exc
        finally:
            tasks.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return result


async def _shielded(write: Awaitable[None]) -> None:
    # A failure here leaves the lease to run out: whoever claims the key next reconciles it.
    with (
        anyio.CancelScope(shield=True),
        anyio.move_on_after(_SETTLE_WAIT),
        contextlib.suppress(DialerError),
    ):
        await write
