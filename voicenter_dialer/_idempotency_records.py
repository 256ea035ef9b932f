"""Idempotency keys, what every store shares: a call given the same key twice is added at
most once, across processes and machines.

A store (one SQLite file, or ``postgresql://USER@HOST:PORT/DB#NAME``) remembers per key a
fingerprint of the call (:func:`fingerprint`: no account or campaign code in it), its state,
the lease of the process adding it now with that lease's fencing token, and an expiry.

How a caller uses it (``add_call``, bulk, the writer)::

    store = await open_idempotency_store(spec, ttl=..., wait=..., lease_seconds=...)
    claim = await store.claim(key, fingerprint(wire, campaign_digest(code)))
    if isinstance(claim, Settled):      # answered before: replay it, send nothing
        ...
    elif isinstance(claim, Unknown):    # an earlier attempt may have added it: look in the
        ...                             # campaign's pending calls, then settle, or send
    else:                               # Claimed: ours to send
        await store.renew([claim])      # just before sending: refused if the lease was lost
        ...                             # send, then:
        await store.settle(claim, Outcome.accepted())   # or rejected / failed
        # or store.unknown(claim) when the answer was lost, or store.release(claim) when
        # nothing was sent.

The rule deciding what a claim gets is :func:`decide`, one for every store; the stores are
:mod:`._idempotency_sqlite` and :mod:`._idempotency_postgres`, opened by
:func:`._idempotency.open_idempotency_store`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from typing import Final, Literal, Protocol, TypeAlias

import anyio
import attrs
import orjson

from ._exceptions import DialerError, IdempotencyConflict, JournalError, ValidationError
from ._journal_records import DEFAULT_LEASE_SECONDS, LeaseLost
from ._lease_clock import LeaseClock
from ._models import AddResult

__all__ = [
    "DEFAULT_IDEMPOTENCY_TTL",
    "DEFAULT_IDEMPOTENCY_WAIT",
    "DEFAULT_LEASE_SECONDS",
    "Attempt",
    "Claim",
    "ClaimResult",
    "Claimed",
    "Claims",
    "Decision",
    "IdempotencyStore",
    "KeyRow",
    "Outcome",
    "Settled",
    "Unknown",
    "check_key",
    "claim_all",
    "decide",
    "fingerprint",
    "in_flight",
    "lease_lost",
    "new_token",
]

#: How long a key is remembered after its outcome (7 days).
DEFAULT_IDEMPOTENCY_TTL: Final = 604800.0
#: How long a claim waits for a key being added elsewhere before IdempotencyConflict.
DEFAULT_IDEMPOTENCY_WAIT: Final = 30.0


# The longest key kept: a key is an identifier, not a payload.
_MAX_KEY_LENGTH: Final = 255
# Fields of a call's wire form that are credentials, not part of what makes it the same call
# (the campaign is in the fingerprint as its hash).
_CREDENTIALS: Final = frozenset({"Campaign", "Code"})

OutcomeStatus: TypeAlias = Literal["accepted", "rejected", "failed"]


@attrs.frozen
class Outcome:
    """The settled fate of a key's call: what a replay gives back."""

    status: OutcomeStatus
    #: For "rejected" (and "accepted" when the answer had one): the AddResult's fields.
    target: str = ""
    error_code: int | None = None
    description: str = ""
    custom_data: Mapping[str, str] = attrs.field(factory=dict)
    #: For "failed": the error's class name and message (a failure that sending again would
    #: not cure, such as a ValidationError; a transient one is released, not settled).
    kind: str = ""
    reason: str = ""

    @classmethod
    def accepted(cls, result: AddResult | None = None) -> Outcome:
        return _ACCEPTED if result is None else cls._of("accepted", result)

    @classmethod
    def rejected(cls, result: AddResult) -> Outcome:
        return cls._of("rejected", result)

    @classmethod
    def failed(cls, error: DialerError) -> Outcome:
        return cls("failed", kind=type(error).__name__, reason=error.message)

    @classmethod
    def _of(cls, status: OutcomeStatus, result: AddResult | None) -> Outcome:
        if result is None:
            return cls(status)
        return cls(
            status,
            target=result.target,
            error_code=result.error_code,
            description=result.description,
            custom_data=dict(result.custom_data),
        )

    def result(self) -> AddResult | None:
        """The AddResult replayed (None for a failure)."""
        if self.status == "failed":
            return None
        return AddResult(
            target=self.target,
            error_code=self.error_code if self.error_code is not None else 0,
            description=self.description,
            custom_data=dict(self.custom_data),
        )

    def error(self) -> DialerError | None:
        """The failure replayed (None unless "failed")."""
        if self.status != "failed":
            return None
        if self.kind == "ValidationError":
            return ValidationError(self.reason)
        return DialerError(self.reason, method="AddCall")

    def dumps(self) -> str:
        """The outcome as stored: JSON, ASCII only (no NUL, no lone surrogate: storable as it
        is)."""
        if self is _ACCEPTED:  # nearly every key's outcome: encoded once
            return _ACCEPTED_JSON
        return json.dumps(attrs.asdict(self), ensure_ascii=True, sort_keys=True)

    @classmethod
    def loads(cls, text: str) -> Outcome:
        fields = json.loads(text)
        return cls(**{key: fields[key] for key in attrs.fields_dict(cls) if key in fields})


_ACCEPTED: Final = Outcome("accepted")
_ACCEPTED_JSON: Final = json.dumps(attrs.asdict(_ACCEPTED), ensure_ascii=True, sort_keys=True)


@attrs.frozen
class Claimed:
    """The key is ours: send the call, then settle (or release) the claim."""

    key: str
    fingerprint: str
    #: The fencing token: a write carrying an older one is refused.
    token: int
    #: When its lease was last confirmed (claimed or renewed): asked just before sending.
    lease: LeaseClock = attrs.field(eq=False, repr=False)


@attrs.frozen
class Unknown:
    """The key is ours, but an earlier attempt may have added the call (its answer was lost,
    or its holder died while sending): look for it in the campaign's pending calls first, then
    settle it as accepted if it is there, else send it (as for :class:`Claimed`)."""

    key: str
    fingerprint: str
    token: int
    lease: LeaseClock = attrs.field(eq=False, repr=False)


@attrs.frozen
class Settled:
    """The key's call was answered before: replay *outcome*, send nothing."""

    key: str
    outcome: Outcome


#: What a caller holds and must settle, mark unknown, or release.
Claim: TypeAlias = "Claimed | Unknown"
ClaimResult: TypeAlias = "Claimed | Unknown | Settled"


def fingerprint(wire: Mapping[str, object], campaign_digest: str) -> str:
    """What makes a call the same call: a hash of its wire form (as
    ``_converter.call_to_wire`` makes it; its Campaign and Code are left out) and of the
    campaign's digest (``_journal_records.campaign_digest``). No code can be read back."""
    fields = {name: value for name, value in wire.items() if name not in _CREDENTIALS}
    try:
        # orjson, keys sorted: half of json.dumps's time (1.9 against 4.1 µs for a common
        # call), paid once per keyed lead.
        text = orjson.dumps([campaign_digest, fields], option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise ValidationError(f"the call cannot be fingerprinted ({exc})") from None
    return hashlib.sha256(text).hexdigest()


def check_key(key: object) -> str:
    """*key* if it can be an idempotency key (a non-empty string of at most 255 characters,
    without NUL or lone surrogates), else a ValidationError."""
    if not isinstance(key, str):
        raise ValidationError(f"an idempotency key is a string, not {type(key).__name__}")
    if not key or len(key) > _MAX_KEY_LENGTH:
        raise ValidationError(f"an idempotency key has 1 to {_MAX_KEY_LENGTH} characters")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("an idempotency key holds a lone surrogate") from None
    if "\x00" in key:
        raise ValidationError("an idempotency key holds a NUL character")
    return key


@attrs.frozen
class KeyRow:
    """A key as a store holds it; times are seconds since the epoch by the store's clock."""

    fingerprint: str
    #: "pending" (being sent), "unknown", "accepted", "rejected" or "failed".
    state: str
    token: int
    #: None when nobody holds it.
    lease_until: float | None
    expires: float
    #: The JSON of the Outcome, once settled.
    outcome: str | None


@attrs.frozen
class Decision:
    """What a claim gets. *take*: the store writes the key anew as ``(state, token)`` held
    by the claimer (None: it writes nothing). *wait*: held elsewhere, ask again later."""

    result: ClaimResult | IdempotencyConflict | None
    take: tuple[str, int] | None = None
    wait: bool = False


_SETTLED_STATES: Final = frozenset({"accepted", "rejected", "failed"})


def new_token(now: float) -> int:
    """A new key's fencing token at *now*: the time, in microseconds. A key forgotten and
    claimed again must not give back a token a stalled holder of its earlier life may still
    carry. (PostgreSQL's claim of new keys computes it in SQL: ``floor(now * 1000000)``.)"""
    return int(now * 1_000_000)


def decide(key: str, print_: str, row: KeyRow | None, now: float, lease: LeaseClock) -> Decision:
    """The rule: what a claim of *key* for a call of fingerprint *print_* gets, given the
    key's *row* (None: never seen) at *now*; a key taken is held under a clock of its own,
    forked from *lease* (begun before the store's transaction). One rule for every store."""
    held = row is not None and row.lease_until is not None and row.lease_until > now
    if row is None or (row.expires <= now and not held):
        token = new_token(now) if row is None else row.token + 1
        return Decision(Claimed(key, print_, token, lease.fork()), take=("pending", token))
    if row.fingerprint != print_:
        return Decision(
            IdempotencyConflict(
                f"idempotency key {key[:40]!r} was used for another call; nothing was sent"
            )
        )
    if row.state in _SETTLED_STATES and row.outcome is not None:
        return Decision(Settled(key, Outcome.loads(row.outcome)))
    if held:
        return Decision(None, wait=True)
    # Pending with its lease run out: its holder died, maybe after sending. Unknown either way.
    token = row.token + 1
    return Decision(Unknown(key, print_, token, lease.fork()), take=("unknown", token))


def in_flight(key: str, wait: float) -> IdempotencyConflict:
    return IdempotencyConflict(
        f"idempotency key {key[:40]!r} is still being added elsewhere after {wait:g} s; "
        "nothing was sent"
    )


def lease_lost(where: str, count: int = 1) -> LeaseLost:
    what = "an idempotency key's lease was" if count == 1 else f"{count} keys' leases were"
    return LeaseLost(
        f"{where}: {what} taken over by another process (this one was stopped or too slow); "
        "it sends nothing more for them"
    )


class IdempotencyStore(Protocol):
    """An open idempotency store, shared by any number of processes.

    Every write after a claim carries its fencing token: one whose key was taken over
    meanwhile (its lease ran out: the process was stopped, or too slow) is refused with a
    JournalError, and the caller must send nothing more for it.
    """

    #: Where it is, safe to show (a path, or a URL without password).
    description: str

    async def claim(self, key: str, fingerprint: str) -> ClaimResult:
        """Claim *key* for a call of *fingerprint*: :class:`Claimed` (send it),
        :class:`Unknown` (reconcile first) or :class:`Settled` (replay). A key being added
        elsewhere is waited for (``wait`` seconds at most); raises IdempotencyConflict
        when it still is, or when the key was used for another call."""

    async def claim_many(
        self, claims: Sequence[tuple[str, str]]
    ) -> list[ClaimResult | IdempotencyConflict]:
        """:meth:`claim` for each ``(key, fingerprint)``, a chunk at once; the conflicts are
        returned in their place, not raised (a key twice in *claims* is one for its later
        places)."""

    async def renew(self, claims: Sequence[Claim]) -> None:
        """Extend the leases of *claims* by ``lease_seconds``: call it just before sending
        and while a send lasts. Raises JournalError if any was taken over."""

    async def settle(self, claim: Claim, outcome: Outcome) -> None:
        """Record *claim*'s outcome (kept ``ttl`` seconds); fenced."""

    async def settle_many(self, settled: Sequence[tuple[Claim, Outcome]]) -> None:
        """:meth:`settle` for a chunk at once; fenced: JournalError when any was taken over
        (the others are recorded)."""

    async def unknown(self, claims: Sequence[Claim]) -> None:
        """Record that *claims* were sent with no answer (maybe added) and let them go: the
        next claim of each gets :class:`Unknown`. Fenced."""

    async def release(self, claims: Sequence[Claim]) -> None:
        """Let *claims* go without an outcome, nothing having been sent: a :class:`Claimed`
        key is forgotten, an :class:`Unknown` one stays unknown. Fenced."""

    async def aclose(self) -> None: ...


class Attempt(Protocol):
    """One transaction of a store: decide (:func:`decide`) the claim of each
    ``(key, fingerprint)`` and write what is taken, at once."""

    async def __call__(self, claims: Sequence[tuple[str, str]]) -> list[Decision]: ...


# How often a claim asks again for keys held elsewhere (doubling up to the longest).
_POLL_FIRST: Final = 0.02
_POLL_LONGEST: Final = 0.5


async def claim_all(
    attempt: Attempt, claims: Sequence[tuple[str, str]], wait: float
) -> list[ClaimResult | IdempotencyConflict]:
    """Claim every ``(key, fingerprint)`` through *attempt*, asking again for keys held
    elsewhere until they are let go or *wait* seconds have passed. One loop for every store."""
    results: list[ClaimResult | IdempotencyConflict | None] = [None] * len(claims)
    todo: list[int] = []
    seen: set[str] = set()
    for place, (key, _) in enumerate(claims):
        if key in seen:
            results[place] = IdempotencyConflict(
                f"idempotency key {key[:40]!r} is given twice in one batch; nothing was sent"
            )
        else:
            seen.add(key)
            todo.append(place)
    deadline = time.monotonic() + wait
    pause = _POLL_FIRST
    while todo:
        decisions = await attempt([claims[place] for place in todo])
        waiting = []
        for place, decision in zip(todo, decisions, strict=True):
            if decision.wait:
                waiting.append(place)
            else:
                results[place] = decision.result
        todo = waiting
        if not todo:
            break
        left = deadline - time.monotonic()
        if left <= 0:
            for place in todo:
                results[place] = in_flight(claims[place][0], wait)
            break
        await anyio.sleep(min(pause, left))
        pause = min(pause * 2, _POLL_LONGEST)
    return [result for result in results if result is not None]


class _Waiter:
    """One task's claim of one key, waiting for a transaction that takes it (see
    :class:`Claims`)."""

    __slots__ = ("claim", "decision", "error", "gone", "lead", "woken")

    def __init__(self, claim: tuple[str, str]) -> None:
        self.claim = claim
        self.decision: Decision | None = None
        self.error: BaseException | None = None
        #: Its task was cancelled: a key taken for it is let go.
        self.gone = False
        #: It runs the next transaction (for itself and those queued behind it).
        self.lead = False
        self.woken = anyio.Event()

    @property
    def answered(self) -> bool:
        return self.decision is not None or self.error is not None


# The most keys one transaction of single claims takes at once.
_BATCH_LIMIT: Final = 1000
# Keys held elsewhere polled at once (each alone, a transaction a poll): a writer's callers
# may add thousands of calls another machine is adding too, and a store answers one
# transaction at a time; unbounded, their polls would delay the renewing of leases past
# their end.
_POLLS_AT_ONCE: Final = 4


class Claims:
    """What both stores share of claiming: one key, or many at once, by the one rule
    (:func:`claim_all`) over a store's own :meth:`_attempt` (one transaction); and renewing,
    each renewal confirming the claims' :class:`LeaseClock`.

    Single claims made while a transaction is running (many tasks adding a call each, through
    ``add_call`` or a writer) wait, and the next transaction takes them together: a round
    trip (and a commit) per batch rather than per key. A key claimed twice at once goes in
    two transactions, one after the other, so that the second sees the first's claim."""

    #: Where it is, safe to show.
    description: str
    #: Seconds to wait for a key being added elsewhere.
    _wait: float
    _queue: list[_Waiter] | None = None
    _busy: bool = False
    _polling: anyio.CapacityLimiter | None = None
    #: Seconds a lease lasts unless renewed.
    _lease: float

    async def _attempt(
        self, claims: Sequence[tuple[str, str]], lease: LeaseClock
    ) -> list[Decision]:
        """Decide and write the claims, at once; the keys taken are held under *lease*."""
        raise NotImplementedError

    async def release(self, claims: Sequence[Claim]) -> None:
        raise NotImplementedError

    async def _renew(self, claims: Sequence[Claim]) -> None:
        """Extend the leases of *claims*; JournalError if any was taken over."""
        raise NotImplementedError

    async def _timed_attempt(self, claims: Sequence[tuple[str, str]]) -> list[Decision]:
        # The clock begins before the transaction (and its wait for a lock): never later
        # than the store's own start of the leases it takes.
        return await self._attempt(claims, LeaseClock(self._lease, self._lost))

    def _lost(self) -> JournalError:
        return lease_lost(self.description)

    async def renew(self, claims: Sequence[Claim]) -> None:
        if not claims:
            return
        began = claims[0].lease.begin()
        await self._renew(claims)
        for claim in claims:
            claim.lease.confirm(began)

    async def claim(self, key: str, fingerprint: str) -> ClaimResult:
        deadline = time.monotonic() + self._wait
        decision = await self._decided((key, fingerprint))
        if decision.wait:  # held elsewhere: asked again alone, until the deadline
            left = deadline - time.monotonic()
            if left <= 0:
                raise in_flight(key, self._wait)
            await anyio.sleep(min(_POLL_FIRST, left))
            if self._polling is None:
                self._polling = anyio.CapacityLimiter(_POLLS_AT_ONCE)
            async with self._polling:
                (result,) = await claim_all(
                    self._timed_attempt,
                    [(key, fingerprint)],
                    max(0.0, deadline - time.monotonic()),
                )
        else:
            assert decision.result is not None  # a decision not to wait has its result
            result = decision.result
        if isinstance(result, IdempotencyConflict):
            raise result
        return result

    async def claim_many(
        self, claims: Sequence[tuple[str, str]]
    ) -> list[ClaimResult | IdempotencyConflict]:
        return await claim_all(self._timed_attempt, claims, self._wait)

    async def _decided(self, claim: tuple[str, str]) -> Decision:
        """The decision of the first transaction that takes *claim*."""
        if self._queue is None:
            self._queue = []
        me = _Waiter(claim)
        self._queue.append(me)
        if not self._busy:
            self._busy = me.lead = True
        try:
            while not me.answered:
                if me.lead:
                    await self._lead()
                else:
                    await me.woken.wait()
        except BaseException:
            me.gone = True
            if me in self._queue:  # not taken yet: withdrawn
                self._queue.remove(me)
                if me.lead:  # woken to lead, cancelled before: the next one leads
                    self._hand_over()
            raise
        if me.error is not None:
            raise me.error
        assert me.decision is not None
        return me.decision

    async def _lead(self) -> None:
        """One transaction for the queue's first keys (the leader's first of all)."""
        assert self._queue is not None
        batch: list[_Waiter] = []
        keys: set[str] = set()
        rest: list[_Waiter] = []
        for waiter in self._queue:
            if len(batch) < _BATCH_LIMIT and waiter.claim[0] not in keys:
                keys.add(waiter.claim[0])
                batch.append(waiter)
            else:
                rest.append(waiter)
        self._queue = rest
        try:
            # Others' claims ride on this transaction: it ends even if the leader is
            # cancelled meanwhile (alone, the leader leaves at once, as before).
            with anyio.CancelScope(shield=len(batch) > 1):
                decisions = await self._timed_attempt([waiter.claim for waiter in batch])
            for waiter, decision in zip(batch, decisions, strict=True):
                waiter.decision = decision
            orphans = [
                decision.result
                for waiter, decision in zip(batch, decisions, strict=True)
                if waiter.gone and isinstance(decision.result, (Claimed, Unknown))
            ]
            if orphans:  # taken for tasks cancelled meanwhile: let go, nothing was sent
                with anyio.CancelScope(shield=True), contextlib.suppress(DialerError):
                    await self.release(orphans)
        except BaseException as exc:
            for waiter in batch:
                if not waiter.answered:
                    waiter.error = exc
            raise
        finally:
            for waiter in batch:
                waiter.woken.set()
            self._hand_over()

    def _hand_over(self) -> None:
        """The next queued claim leads the next transaction, or nobody is claiming."""
        if self._queue:
            self._queue[0].lead = True
            self._queue[0].woken.set()
        else:
            self._busy = False
