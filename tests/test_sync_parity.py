"""Dialer offers every public method of AsyncDialer, with the same parameters.

The comparison is by signature: each parameter's name, kind and default must be the same, and
its annotation too, but for the documented sync/async differences (:data:`SYNC_FOR_ASYNC`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

from voicenter_dialer import AsyncDialer, BulkWriter, Call, Dialer, LeadOutcome, SyncBulkWriter

#: Names in an async annotation and what the sync one says instead.
SYNC_FOR_ASYNC = {
    "AbstractAsyncContextManager": "AbstractContextManager",
    "AsyncIterator": "Iterator",
    "AsyncDialer": "Dialer",
    "BulkWriter": "SyncBulkWriter",
    "AsyncRawResponses": "SyncRawResponses",
}
#: Methods named differently: the async ones are awaited.
SYNC_NAME = {"aclose": "close", "__aenter__": "__enter__", "__aexit__": "__exit__"}
#: An async source is accepted only where there is an event loop to read it on.
ASYNC_ONLY = re.compile(r" \| AsyncIterable\[[^\]]*\]")


def sync_annotation(annotation: object) -> object:
    if not isinstance(annotation, str):
        return annotation
    annotation = ASYNC_ONLY.sub("", annotation)
    return re.sub(r"\w+", lambda name: SYNC_FOR_ASYNC.get(name[0], name[0]), annotation)


def same_default(async_default: object, sync_default: object) -> bool:
    return bool(async_default == sync_default)


def public(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def signature_drift(name: str, async_member: Any, sync_member: Any) -> list[str]:
    if isinstance(async_member, property) or isinstance(sync_member, property):
        if not (isinstance(async_member, property) and isinstance(sync_member, property)):
            return [f"{name}: a property on one class only"]
        async_member, sync_member = async_member.fget, sync_member.fget
    try:
        async_signature = inspect.signature(async_member)
        sync_signature = inspect.signature(sync_member)
    except TypeError:
        return [f"{name}: not callable on both"]
    drift = []
    async_parameters = list(async_signature.parameters.values())
    sync_parameters = list(sync_signature.parameters.values())
    if [p.name for p in async_parameters] != [p.name for p in sync_parameters]:
        drift.append(
            f"{name}: parameters {[p.name for p in async_parameters]} (async) "
            f"!= {[p.name for p in sync_parameters]} (sync)"
        )
    for a, s in zip(async_parameters, sync_parameters, strict=False):
        if a.kind != s.kind:
            drift.append(f"{name}({a.name}): kind {a.kind} != {s.kind}")
        if not same_default(a.default, s.default):
            drift.append(f"{name}({a.name}): default {a.default!r} != {s.default!r}")
        if sync_annotation(a.annotation) != s.annotation:
            drift.append(f"{name}({a.name}): annotation {a.annotation} != {s.annotation}")
    if sync_annotation(async_signature.return_annotation) != sync_signature.return_annotation:
        drift.append(
            f"{name}: returns {async_signature.return_annotation} "
            f"!= {sync_signature.return_annotation}"
        )
    return drift


def parity_drift(
    async_cls: type,
    sync_cls: type,
    *,
    ignore: frozenset[str] = frozenset(),
    constructor: bool = True,
) -> list[str]:
    """Every difference between the public surfaces of *async_cls* and *sync_cls* (and their
    constructors, unless *constructor* is False)."""
    drift = []
    async_names = {SYNC_NAME.get(name, name): name for name in public(async_cls) - ignore}
    sync_names = public(sync_cls) - ignore
    for missing in sorted(async_names.keys() - sync_names):
        drift.append(f"{missing}: on {async_cls.__name__} only")
    for extra in sorted(sync_names - async_names.keys()):
        drift.append(f"{extra}: on {sync_cls.__name__} only")
    pairs = [(async_names[name], name) for name in sorted(sync_names & async_names.keys())]
    if constructor:
        pairs.append(("__init__", "__init__"))
    for async_name, sync_name in SYNC_NAME.items():
        if async_name.startswith("__") and hasattr(async_cls, async_name):
            if not hasattr(sync_cls, sync_name):
                drift.append(f"{sync_name}: missing on {sync_cls.__name__}")
                continue
            pairs.append((async_name, sync_name))
    for async_name, sync_name in pairs:
        drift += signature_drift(
            sync_name,
            inspect.getattr_static(async_cls, async_name),
            inspect.getattr_static(sync_cls, sync_name),
        )
    return drift


def test_dialer_has_every_method_and_parameter_of_async_dialer() -> None:
    assert parity_drift(AsyncDialer, Dialer) == []


def test_the_sync_writer_has_the_async_writers_surface() -> None:
    # BulkWriter.end is the position after the last call, read by the writer's own block.
    # Both are made by their dialer's bulk_writer, never by the caller: constructors differ.
    drift = parity_drift(BulkWriter, SyncBulkWriter, ignore=frozenset({"end"}), constructor=False)
    assert drift == []


class Drifted:
    """A sync facade that drifted from AsyncDialer in each way the comparison must catch."""

    def __init__(self, code: str | None = None, *, base_url: str = "http://elsewhere/") -> None:
        """The constructor: a default changed, parameters missing."""

    def close(self) -> None:
        """As it should be."""

    def add_call(self, campaign: str, call: Call) -> None:
        """An annotation narrowed (no Campaign)."""

    def add_calls_bulk(
        self,
        campaign: str | Any,
        calls: Iterable[Call],
        chunk_size: int = 1000,
    ) -> Any:
        """A keyword-only parameter made positional, others missing."""

    def stream_calls_bulk(self) -> AbstractContextManager[Any]:
        """Parameters missing."""
        raise NotImplementedError

    def extra_method(self) -> None:
        """On the sync class only."""


def test_the_comparison_catches_drift() -> None:
    drift = "\n".join(parity_drift(AsyncDialer, Drifted))
    for expected in (
        "get_campaign_list: on AsyncDialer only",  # a method missing
        "bulk_writer: on AsyncDialer only",
        "extra_method: on Drifted only",  # a method added
        "__init__(base_url): default",  # a default changed
        "__init__: parameters",  # parameters missing
        "add_call(campaign): annotation",  # an annotation changed
        "add_calls_bulk(chunk_size): kind",  # a parameter's kind changed
        "stream_calls_bulk: parameters",
        "__enter__: missing on Drifted",  # not a context manager
    ):
        assert expected in drift


def test_the_allowed_differences_are_only_those_documented() -> None:
    assert sync_annotation("Iterable[Call] | AsyncIterable[Call]") == "Iterable[Call]"
    assert (
        sync_annotation("AbstractAsyncContextManager[AsyncIterator[ChunkOutcome]]")
        == "AbstractContextManager[Iterator[ChunkOutcome]]"
    )
    assert sync_annotation("AbstractAsyncContextManager[BulkWriter]") == (
        "AbstractContextManager[SyncBulkWriter]"
    )
    # Anything else must match as it is: an async callback type is not rewritten.
    assert sync_annotation("Callable[[BulkProgress], Awaitable[None]]") == (
        "Callable[[BulkProgress], Awaitable[None]]"
    )


class AsyncWithOne:
    async def add(self, call: Call) -> LeadOutcome:
        raise NotImplementedError

    async def aclose(self) -> None: ...


class SyncWithTwo:
    def add(self, call: Call, extra: int = 0) -> LeadOutcome:
        raise NotImplementedError

    def close(self) -> None: ...

    def flush(self) -> None: ...


def test_an_added_parameter_or_method_on_the_sync_side_is_drift_too() -> None:
    drift = parity_drift(AsyncWithOne, SyncWithTwo)
    assert "flush: on SyncWithTwo only" in drift
    assert any(line.startswith("add: parameters") for line in drift)
