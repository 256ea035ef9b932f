"""The API's objects as small frozen attrs classes.

Every attribute is the snake_case of its wire name (``CallerID`` -> ``caller_id``). Conversion
to and from the wire lives in :mod:`voicenter_dialer._converter`, nowhere else.
"""

from __future__ import annotations

import datetime as dt
import heapq
import operator
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal, TypeAlias, TypedDict

import attrs

from ._exceptions import DialerError
from ._secrets import mask

__all__ = [
    "NO_EXTRA",
    "AddResult",
    "BulkReport",
    "Call",
    "CallFields",
    "CallInput",
    "CallStatus",
    "Campaign",
    "CustomValue",
    "FailedCall",
    "FrozenMapping",
    "LeadOutcome",
    "LeadStatus",
    "Member",
    "PendingCall",
    "PendingCalls",
    "RejectedCall",
    "given_target",
    "lead_outcomes",
]


class FrozenMapping(Mapping[str, object]):
    """A read-only mapping that pickles and copies (a ``MappingProxyType`` does neither)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, object] | None = None) -> None:
        self._items = dict(items or {})

    def __getitem__(self, key: str) -> object:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"FrozenMapping({self._items!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return FrozenMapping, (self._items,)


#: The :attr:`extra` of a model whose answer held no unknown field.
NO_EXTRA: Mapping[str, object] = FrozenMapping()


def _extra() -> Any:
    """The ``extra`` field of a response model: the fields the service sent that this version
    does not know, by their wire names (:data:`NO_EXTRA` when none), so that what the vendor
    adds later is kept, not dropped. Read-only; not in the ``repr`` (a new field may hold a
    code); in :func:`to_dict`. Not compared either: two answers that differ only in what
    this version does not understand describe the same thing."""
    return attrs.field(default=NO_EXTRA, kw_only=True, eq=False, hash=False, repr=False)


#: A value allowed in :attr:`Call.custom_data`.
CustomValue: TypeAlias = "str | int | float | bool"

#: The fate of a bulk call that was not accepted, as a journal keeps it:
#: ``rejected`` (a per-target ErrorCode), ``failed`` (for good: it failed validation, or its
#: campaign was refused), ``refused`` (not processed, e.g. 503 after the retries: certainly
#: not added, so a rerun sends it again) or ``unknown`` (maybe added).
LeadStatus: TypeAlias = Literal["rejected", "failed", "refused", "unknown"]


@attrs.frozen
class Campaign:
    """A dialer campaign, as GetCampaignList / GetCampaignDetails describe it.

    ``code`` is a credential: its ``repr`` shows only the last characters.
    """

    #: ``Name``: the campaign's name, as shown in the Voicenter account.
    name: str = ""
    #: ``StatusName``: ``"Enabled"`` (dialling) or ``"Disabled"``; see :attr:`enabled`.
    status_name: str = ""
    #: ``TotalPendingCalls``: calls waiting in the campaign (None when not sent).
    total_pending_calls: int | None = None
    #: ``MaxPriority``: the highest priority among its calls (None when not sent).
    max_priority: int | None = None
    #: ``MinPriority``: the lowest priority among its calls (None when not sent).
    min_priority: int | None = None
    #: ``TotalAwaitingCalls``: IVR campaigns only; ``None`` (list) or ``-1`` (details) for
    #: agent campaigns.
    total_awaiting_calls: int | None = None
    #: ``Code``: the campaign code, what every method takes as ``campaign``. A credential:
    #: whoever holds it can add calls and start or stop the campaign; the ``repr`` shows only
    #: its last characters.
    code: str = attrs.field(default="", repr=lambda code: repr(mask(code)))
    #: ``TotalOriginatedCalls``: calls already dialled; present only inside
    #: GetCampaignPendingCalls answers (None elsewhere).
    total_originated_calls: int | None = None
    #: Fields of the answer this version does not know, by wire name (empty when none): kept,
    #: not dropped. Read-only; not compared, not in the ``repr`` (one may hold a code); in
    #: :func:`to_dict`.
    extra: Mapping[str, object] = _extra()

    @property
    def enabled(self) -> bool:
        """True when the campaign is dialling (``StatusName == "Enabled"``)."""
        return self.status_name == "Enabled"


class _CallSlots:
    """:class:`Call`'s storage, writable: what ``Call.__new__`` fills before the object becomes
    a (frozen) Call. A private base, not a sibling: CPython lets an object change class only
    between layouts that agree, and a ``__weakref__`` slot beside others makes two classes'
    layouts differ."""

    __slots__ = (
        "__weakref__",
        "caller_id",
        "custom_data",
        "customer_name",
        "ignore_dnc_status",
        "is_date_local",
        "originate_time",
        "priority",
        "target",
    )


# custom_data's default, replaced by a new empty dict each time (as attrs' factory=dict).
_NO_CUSTOM_DATA: Mapping[str, Any] = FrozenMapping()


@attrs.frozen
class Call(_CallSlots):
    """One destination to add to (or update in) a campaign.

    Validated when sent, not when built: :meth:`AsyncDialer.add_call` raises
    :class:`ValidationError` before any request, and a bulk upload reports the call in
    ``failed``.

    ``originate_time`` is epoch seconds, sent together with ``is_date_local``. It may also be a
    :class:`datetime.datetime`: an aware one means that instant (sent as UTC epoch with
    ``IsDateLocal`` false); a naive one means the account's local wall clock (``IsDateLocal``
    true), and ``is_date_local`` may then be left out.
    """

    #: ``Target``: the phone number to dial, international form without ``+``
    #: (``972501234567``); Israeli national form (``0501234567``) is accepted too.
    target: str
    #: ``CustomerName``: the name of the person called (None: not sent).
    customer_name: str | None = attrs.field(default=None, kw_only=True)
    #: ``CallerID``: the number the call shows, one of the account's (None: not sent).
    caller_id: str | None = attrs.field(default=None, kw_only=True)
    #: ``Priority``: higher dials first (None: not sent).
    priority: int | None = attrs.field(default=None, kw_only=True)
    #: ``CustomData``: the caller's own fields (``var_`` keys by convention), kept with the
    #: call; empty: not sent.
    custom_data: Mapping[str, CustomValue] = attrs.field(factory=dict, kw_only=True, hash=False)
    #: ``OriginateTime``: when to dial, epoch seconds or a :class:`datetime.datetime` (see
    #: above); None: as soon as possible.
    originate_time: int | dt.datetime | None = attrs.field(default=None, kw_only=True)
    #: ``IsDateLocal``: True when ``originate_time`` is the account's local wall clock, False
    #: when it is UTC. Required with epoch seconds; a datetime implies it (None: not sent).
    is_date_local: bool | None = attrs.field(default=None, kw_only=True)
    #: ``IgnoreDncStatus``: True to dial even a number on the do-not-call list (None: not
    #: sent, the service checks it).
    ignore_dnc_status: bool | None = attrs.field(default=None, kw_only=True)

    # A bulk upload's caller builds one Call per lead. attrs' frozen __init__ writes each field
    # through object.__setattr__ (the frozen __setattr__ refuses them): 8 calls of a C wrapper,
    # a quarter of a whole upload's instructions per lead. Here they are plain slot stores on
    # the writable base, and the finished object becomes a Call (benchmarks/call_constructor.py
    # measures both). The fields and their defaults are attrs', above.
    def __new__(
        cls,
        target: str,
        *,
        customer_name: str | None = None,
        caller_id: str | None = None,
        priority: int | None = None,
        custom_data: Mapping[str, CustomValue] = _NO_CUSTOM_DATA,
        originate_time: int | dt.datetime | None = None,
        is_date_local: bool | None = None,
        ignore_dnc_status: bool | None = None,
    ) -> Call:
        self: Any = _CallSlots.__new__(_CallSlots)
        self.target = target
        self.customer_name = customer_name
        self.caller_id = caller_id
        self.priority = priority
        self.custom_data = {} if custom_data is _NO_CUSTOM_DATA else custom_data
        self.originate_time = originate_time
        self.is_date_local = is_date_local
        self.ignore_dnc_status = ignore_dnc_status
        if cls is Call:
            self.__class__ = Call
            return self  # type: ignore[no-any-return]
        # A subclass's layout may differ (a __dict__): its fields copied over, as attrs would.
        call = object.__new__(cls)
        for name in _FIELDS:
            object.__setattr__(call, name, getattr(self, name))
        return call

    def __getnewargs__(self) -> tuple[str]:
        # pickle and copy make a Call by cls.__new__(cls, *these), then restore every field.
        return (self.target,)


# attrs' __init__ would write every field again; attrs generates it all the same, so that type
# checkers know Call's fields (attrs.evolve, attrs.fields).
del Call.__init__
_FIELDS = tuple(field.name for field in attrs.fields(Call))


class CallFields(TypedDict, total=False):
    """A call as a plain mapping, for bulk input: :class:`Call`'s field names as keys, and
    ``phone`` for ``target`` (give one of the two). Rows from a database cursor or a CSV reader
    need no :class:`Call` each::

        {"phone": "972501234567", "customer_name": "Dana", "custom_data": {"var_LeadID": 7}}
    """

    #: The number to dial: :attr:`Call.target` under the name lead files use.
    phone: str
    #: The number to dial (:attr:`Call.target`); give it or ``phone``.
    target: str
    #: :attr:`Call.customer_name`.
    customer_name: str
    #: :attr:`Call.caller_id`.
    caller_id: str
    #: :attr:`Call.priority`.
    priority: int
    #: :attr:`Call.custom_data`.
    custom_data: Mapping[str, CustomValue]
    #: :attr:`Call.originate_time`.
    originate_time: int | dt.datetime
    #: :attr:`Call.is_date_local`.
    is_date_local: bool
    #: :attr:`Call.ignore_dnc_status`.
    ignore_dnc_status: bool


#: What bulk methods take for a call: a :class:`Call`, or a mapping of its fields (see
#: :class:`CallFields`); reports hand back what was given.
CallInput: TypeAlias = "Call | Mapping[str, object]"


@attrs.frozen
class CallStatus:
    """The dialling status of a pending call: 1 Pending, 2 Originated."""

    #: ``Status``: 1 (pending) or 2 (originated); None when not sent.
    status: int | None = None
    #: ``Description``: the status in words (``"Pending"``, ``"Originated"``).
    description: str = ""
    #: Fields of the answer this version does not know, by wire name (empty when none): kept,
    #: not dropped. Read-only; not compared, not in the ``repr`` (one may hold a code); in
    #: :func:`to_dict`.
    extra: Mapping[str, object] = _extra()

    @property
    def pending(self) -> bool:
        """True while the call waits to be dialled (status 1)."""
        return self.status == 1

    @property
    def originated(self) -> bool:
        """True once the dialer has placed the call (status 2)."""
        return self.status == 2


@attrs.frozen
class PendingCall:
    """A destination waiting in a campaign (GetCampaignPendingCalls).

    ``custom_data`` values are always strings: the service returns numbers as strings.
    """

    #: ``Phone``: the number to dial.
    phone: str = ""
    #: ``CallerID``: the number the call shows ("" when none was given).
    caller_id: str = ""
    #: ``CallerName``: the name the call shows ("" when none).
    caller_name: str = ""
    #: ``OriginateTime``: when it is to be dialled, epoch seconds (None when not sent).
    originate_time: int | None = None
    #: ``Priority``: higher dials first (None when not sent).
    priority: int | None = None
    #: ``CustomerName``: the name of the person called.
    customer_name: str = ""
    #: ``CallStatus``: pending or originated (None when not sent).
    call_status: CallStatus | None = None
    #: ``CustomData``: the fields sent with the call, every value a string.
    custom_data: dict[str, str] = attrs.field(factory=dict, hash=False)
    #: Fields of the answer this version does not know, by wire name (empty when none): kept,
    #: not dropped. Read-only; not compared, not in the ``repr`` (one may hold a code); in
    #: :func:`to_dict`.
    extra: Mapping[str, object] = _extra()


@attrs.frozen
class PendingCalls:
    """The answer of GetCampaignPendingCalls: the campaign and its waiting calls."""

    #: ``Campaign``: the campaign, with ``total_originated_calls``.
    campaign: Campaign = attrs.field(factory=Campaign)
    #: ``Calls``: the calls still waiting or being dialled, as the service lists them.
    calls: list[PendingCall] = attrs.field(factory=list, hash=False)
    #: Fields of the answer this version does not know, by wire name (empty when none): kept,
    #: not dropped. Read-only; not compared, not in the ``repr`` (one may hold a code); in
    #: :func:`to_dict`.
    extra: Mapping[str, object] = _extra()


@attrs.frozen
class Member:
    """An agent (extension) of an agent-dialer campaign."""

    #: ``Member``: the agent's extension (``SIPSIP1``), what :meth:`AsyncDialer.add_member`
    #: and :meth:`AsyncDialer.remove_member` take.
    member: str = ""
    #: ``DisplayName``: the agent's name.
    display_name: str = ""
    #: Fields of the answer this version does not know, by wire name (empty when none): kept,
    #: not dropped. Read-only; not compared, not in the ``repr`` (one may hold a code); in
    #: :func:`to_dict`.
    extra: Mapping[str, object] = _extra()


@attrs.frozen
class AddResult:
    """The per-target answer of AddCallsBulk."""

    #: ``Target``: the number, as the service echoes it.
    target: str = ""
    #: ``ErrorCode``: 0 when added (see :attr:`ok`), else why not (-2: number invalid); None
    #: when the answer has none.
    error_code: int | None = None
    #: ``Description``: the service's words for ``error_code`` (``"OK"``).
    description: str = ""
    #: ``CustomData``: the call's custom data, as the service echoes it.
    custom_data: dict[str, str] = attrs.field(factory=dict, hash=False)
    #: Fields of the answer this version does not know, by wire name (empty when none): kept,
    #: not dropped. Read-only; not compared, not in the ``repr`` (one may hold a code); in
    #: :func:`to_dict`.
    extra: Mapping[str, object] = _extra()

    @property
    def ok(self) -> bool:
        """True when the service added this target (ErrorCode 0)."""
        return self.error_code == 0


@attrs.frozen
class RejectedCall:
    """A bulk input call the API refused, with its per-target answer."""

    #: Position of the call in the input (0-based).
    index: int
    #: The call as given.
    call: CallInput
    #: The service's answer for this call: its non-zero ``error_code`` and ``description``.
    result: AddResult

    @property
    def target(self) -> str:
        """The number the call was given with, as given ("" when it has none)."""
        return given_target(self.call)


@attrs.frozen
class FailedCall:
    """A bulk input call whose fate is not an API answer: see :attr:`error`.

    ``error.outcome_unknown`` tells whether the server may have added it anyway.
    """

    #: Position of the call in the input (0-based).
    index: int
    #: The call as given.
    call: CallInput
    #: Why it has no answer: a :class:`ValidationError`, a :class:`TransportError` after the
    #: retries, ...; ``error.outcome_unknown`` is True when it may have been added.
    error: DialerError

    @property
    def target(self) -> str:
        """The number the call was given with, as given ("" when it has none)."""
        return given_target(self.call)


@attrs.frozen
class BulkReport:
    """The fate of every call of a bulk upload.

    Each input call is counted exactly once: ``total == accepted + len(rejected) +
    len(failed)``.
    """

    #: Calls in the input.
    total: int
    #: Calls the service added (per-target ErrorCode 0); only counted, not listed.
    accepted: int
    #: Calls the service refused, each with its per-target answer, in input order.
    rejected: list[RejectedCall] = attrs.field(factory=list, hash=False)
    #: Calls with no per-target answer, each with its error, in input order.
    failed: list[FailedCall] = attrs.field(factory=list, hash=False)
    #: The chunks in flight the upload settled on: with ``concurrency="auto"`` the limit
    #: most chunks were answered under, else the fixed number (None when not known). How an
    #: upload went, not what it did, so reports that differ only here are equal.
    concurrency: int | None = attrs.field(default=None, eq=False)

    @property
    def ok(self) -> bool:
        """True when every call was accepted."""
        return not self.rejected and not self.failed

    def raise_for_failures(self) -> BulkReport:
        """This report when every lead was accepted; else :class:`BulkError`, whose
        ``.report`` is this report. Strict in one line::

            report = (await dialer.add_calls_bulk(campaign, leads)).raise_for_failures()
        """
        if not self.ok:
            raise BulkError(self)
        return self

    def outcomes(self) -> Iterator[LeadOutcome]:
        """One :class:`LeadOutcome` per input call, in input order, accepted ones included.

        Made as they are read: a report holds only the calls that were not accepted, so an
        accepted outcome's ``call`` is None here (the input is not kept: a million leads
        would stay in memory), and ``replayed`` is False (see :meth:`ChunkOutcome.outcomes`
        or :meth:`BulkWriter.add` for it).
        """
        return lead_outcomes(0, self.total, self.rejected, self.failed)


class BulkError(DialerError):
    """Some leads of a bulk upload were not accepted (:meth:`BulkReport.raise_for_failures`)."""

    #: The whole report: which leads were rejected or failed, and why.
    report: BulkReport

    def __init__(self, report: BulkReport) -> None:
        failed = len(report.failed)
        unknown = sum(1 for entry in report.failed if entry.error.outcome_unknown)
        message = (
            f"{len(report.rejected) + failed:,} of {report.total:,} leads were not accepted: "
            f"{len(report.rejected):,} rejected, {failed:,} failed"
        )
        if unknown:
            message += f" ({unknown:,} of them may have been added)"
        super().__init__(message, method="AddCallsBulk")
        self.report = report


@attrs.frozen
class LeadOutcome:
    """The fate of one call: given to :meth:`BulkWriter.add`, or of an upload
    (:meth:`BulkReport.outcomes`).

    ``index`` is the call's position among the writer's calls (see the README's "Bulk from a
    web service"). ``status`` is ``"accepted"``, ``"rejected"`` (``result`` holds the
    service's per-target answer) or ``"failed"`` (``error`` tells why; its
    ``outcome_unknown`` whether the call may have been added anyway).
    """

    #: The call's position among the writer's calls, or in the upload's input (0-based).
    index: int
    #: The call as given; None for an accepted call of :meth:`BulkReport.outcomes`.
    call: CallInput | None
    #: ``"accepted"``, ``"rejected"`` or ``"failed"``.
    status: Literal["accepted", "rejected", "failed"]
    #: The service's per-target answer of a rejected call; None otherwise.
    result: AddResult | None = None
    #: Why a failed call has no answer; None otherwise.
    error: DialerError | None = None
    #: True when the outcome came from the idempotency store (or, for a key in doubt, from
    #: the campaign's pending calls) and nothing was sent. Not known to
    #: :meth:`BulkReport.outcomes` (a report keeps no per-lead record of accepted leads).
    replayed: bool = False

    @property
    def accepted(self) -> bool:
        """True when the service accepted the call."""
        return self.status == "accepted"

    @property
    def target(self) -> str:
        """The number the call was given with, as given ("" when it has none)."""
        return given_target(self.call)


def lead_outcomes(
    start: int,
    size: int,
    rejected: Iterable[RejectedCall],
    failed: Iterable[FailedCall],
    calls: list[CallInput] | None = None,
) -> Iterator[LeadOutcome]:
    """The outcome of each position from *start* to ``start + size - 1``, in order: those
    *rejected* or *failed*, the rest accepted (their call taken from
    *calls*, the inputs from *start* on, when given). The one walk every per-lead view uses."""
    by_index = operator.attrgetter("index")
    settled: Iterator[RejectedCall | FailedCall] = heapq.merge(
        sorted(rejected, key=by_index), sorted(failed, key=by_index), key=by_index
    )
    following = next(settled, None)
    for index in range(start, start + size):
        if following is not None and following.index == index:
            if isinstance(following, RejectedCall):
                yield LeadOutcome(index, following.call, "rejected", result=following.result)
            else:
                yield LeadOutcome(index, following.call, "failed", error=following.error)
            following = next(settled, None)
        else:
            call = None if calls is None else calls[index - start]
            yield LeadOutcome(index, call, "accepted")


def given_target(call: object) -> str:
    """The number *call* was given with, unchecked ("" when it has none): what journals and
    reports keep of a call."""
    if isinstance(call, Call):
        target: object = call.target
    elif isinstance(call, Mapping):
        target = call.get("phone", call.get("target"))
    else:
        return ""
    return target if isinstance(target, str) else ""
