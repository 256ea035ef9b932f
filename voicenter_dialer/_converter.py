"""Conversion between the models and the wire: the one place that knows wire names.

Requests: :func:`call_to_wire` builds an AddCall object from a :class:`Call` (or a mapping of
its fields), validating as it goes (written out by hand rather than through cattrs, for speed);
:class:`BulkEncoder` encodes a bulk chunk's request body, checking the common fields column
by column. Text is checked for lone surrogates, which no JSON encoder can carry; in a chunk's
common case that check is the encoder's own (see :func:`wires_body`).
Absent optional fields are not sent; booleans go as the strings ``"true"``/``"false"`` like
the vendor's examples.

Responses: one cattrs converter, configured below, turns ``Data`` into models. It is
tolerant: absent keys and nulls take the field's default, unknown keys are ignored, numbers
in string fields become strings, and ``CustomData`` values always come back as strings. A
value of the wrong shape raises :class:`ResponseError`, never ``KeyError`` or ``TypeError``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, NamedTuple, TypeVar

import attrs
import cattrs
import orjson
from cattrs.gen import make_dict_structure_fn, override

from . import _validation as check
from ._exceptions import ResponseError, ValidationError
from ._models import (
    AddResult,
    Call,
    CallStatus,
    Campaign,
    FrozenMapping,
    Member,
    PendingCall,
    PendingCalls,
)

__all__ = [
    "CALL_KEYS",
    "BulkEncoder",
    "ChunkBody",
    "call_to_wire",
    "structure",
    "structure_list",
    "wire_int",
    "wire_name",
    "wires_body",
]

T = TypeVar("T")


def wire_name(attribute: str) -> str:
    """``caller_id`` -> ``CallerID``: PascalCase, with ``id`` in capitals as the API spells it."""
    return "".join("ID" if part == "id" else part.capitalize() for part in attribute.split("_"))


def _wire_bool(value: object, field: str) -> str:
    if not isinstance(value, bool):
        raise ValidationError(f"{field} must be a bool, not {type(value).__name__}")
    return "true" if value else "false"


def _schedule(when: object, local: object) -> tuple[int, str]:
    """OriginateTime and IsDateLocal from a call's *when* and *local*, which come together."""
    if when is None:
        raise ValidationError("is_date_local was given without originate_time")
    if isinstance(when, dt.datetime):
        if when.tzinfo is None or when.utcoffset() is None:
            if local is False:
                raise ValidationError(
                    "a naive originate_time means the account's local time: "
                    "is_date_local=False contradicts it (give an aware datetime for UTC)"
                )
            # The account's wall clock, written as if it were UTC: the service adds the offset.
            return calendar.timegm(when.timetuple()), "true"
        if local is True:
            raise ValidationError(
                "an aware originate_time is an instant: is_date_local=True contradicts it "
                "(give a naive datetime for the account's local time)"
            )
        return int(when.timestamp()), "false"
    seconds = check.integer(when, "originate_time")
    if local is None:
        raise ValidationError(
            "originate_time (epoch seconds) must come with is_date_local: True for the "
            "account's local time, False for UTC"
        )
    if seconds < 0:
        raise ValidationError(f"originate_time must be epoch seconds >= 0, got {seconds}")
    return seconds, _wire_bool(local, "is_date_local")


#: The keys a call given as a mapping may have: Call's field names, and "phone" for target.
CALL_KEYS: Final = frozenset(field.name for field in attrs.fields(Call)) | {"phone"}
# The keys of the common case, as with a Call: a number, a name, custom data.
_COMMON_KEYS: Final = frozenset({"phone", "target", "customer_name", "custom_data"})
_WIRE_TARGET = operator.itemgetter("Target")


def call_to_wire(campaign: str, call: object, account_code: str | None = None) -> dict[str, Any]:
    """The AddCall/UpdateCall JSON object for *call* in *campaign* (a validated code).

    *call* is a :class:`Call`, or a mapping with Call's field names as keys (``phone`` may
    stand for ``target``). Raises :class:`ValidationError` when it is not a valid call.
    """
    if isinstance(call, Call):
        # Attributes are read once each: this runs once per lead of a bulk upload.
        return _wire(
            campaign,
            account_code,
            check.phone(call.target),
            call.customer_name,
            call.caller_id,
            call.priority,
            call.custom_data,
            call.originate_time,
            call.is_date_local,
            call.ignore_dnc_status,
        )
    if isinstance(call, Mapping):
        return _wire(campaign, account_code, *_mapping_fields(call))
    raise ValidationError(
        f"expected a Call or a mapping of Call's fields, got {type(call).__name__}"
    )


def _mapping_fields(call: Mapping[Any, Any]) -> tuple[Any, ...]:
    """The fields of a call given as a mapping, in :func:`_wire`'s order, its number checked."""
    unknown = [key for key in call if key not in CALL_KEYS]
    if unknown:
        raise ValidationError(
            f"unknown key {check.shown(unknown[0])} in a call: its keys are "
            f"{', '.join(sorted(CALL_KEYS))}"
        )
    if "phone" in call and "target" in call:
        raise ValidationError("a call has both 'phone' and 'target': give one")
    key = "phone" if "phone" in call else "target"
    if key not in call:
        raise ValidationError("a call has no 'phone' (or 'target') key")
    get = call.get
    return (
        check.phone(call[key], key),
        get("customer_name"),
        get("caller_id"),
        get("priority"),
        get("custom_data"),
        get("originate_time"),
        get("is_date_local"),
        get("ignore_dnc_status"),
    )


def _wire(
    campaign: str,
    account_code: str | None,
    target: str,
    name: object,
    caller_id: object,
    priority: object,
    custom: object,
    when: object,
    local: object,
    ignore_dnc: object,
) -> dict[str, Any]:
    wire: dict[str, Any] = {"Campaign": campaign, "Target": target}
    if account_code is not None:
        wire["Code"] = account_code
    if name is not None:
        wire["CustomerName"] = check.text(name, "customer_name")
    if caller_id is not None:
        wire["CallerID"] = check.phone(caller_id, "caller_id")
    if priority is not None:
        wire["Priority"] = check.integer(priority, "priority")
    if custom:
        wire["CustomData"] = check.custom_data(custom)
    if when is not None or local is not None:
        wire["OriginateTime"], wire["IsDateLocal"] = _schedule(when, local)
    if ignore_dnc is not None:
        wire["IgnoreDncStatus"] = _wire_bool(ignore_dnc, "ignore_dnc_status")
    return wire


class ChunkBody(NamedTuple):
    """A bulk chunk's request: its AddCallsBulk body, and the numbers it sends, in order."""

    content: bytes
    targets: tuple[str, ...]


def wires_body(wires: list[dict[str, Any]]) -> ChunkBody:
    """The :class:`ChunkBody` of AddCall objects (from :func:`call_to_wire`).

    :class:`ValidationError` when one holds text JSON cannot carry: a lone surrogate, which
    the common case of :class:`BulkEncoder` leaves to the encoder.
    """
    try:
        content = orjson.dumps(wires)
    except orjson.JSONEncodeError:
        raise ValidationError("a call holds text that is not valid Unicode") from None
    return ChunkBody(content, tuple(map(_WIRE_TARGET, wires)))


class BulkEncoder:
    """The bulk chunks of one campaign, encoded: ``encode(calls)`` is
    ``wires_body([call_to_wire(campaign, call, account_code) for call in calls])``, cheaper.

    A bulk upload spends most of its own CPU here. Calls with only ``target``,
    ``customer_name`` and ``custom_data`` (the common case) are checked a column at a time by
    C loops; any other call goes through :func:`call_to_wire`. When anything fails (a number
    with a "+", say, or an invalid call), the whole chunk goes through :func:`call_to_wire`
    call by call, which raises exactly what the expression above raises: the error of the
    first invalid call.

    Not for two threads at once: it encodes one chunk at a time (an upload's, on its event
    loop).
    """

    def __init__(self, campaign: str, account_code: str | None = None) -> None:
        self._campaign = campaign
        self._account_code = account_code
        # The common case's wire objects, kept from chunk to chunk and filled in: setting a
        # dict's three values costs half of building one, and leaves the garbage collector
        # fewer new objects to track. They hold the last chunk's values until the next one.
        self._wires: list[dict[str, Any]] = []

    def encode(self, calls: Sequence[object]) -> ChunkBody:
        """The body of *calls*; :class:`ValidationError` of the first invalid one."""
        calls = calls if isinstance(calls, list) else list(calls)  # read twice when it falls back
        try:
            body = self._common_case(calls)
        except Exception:  # whatever it is, the first invalid call says it below
            body = None
        if body is None:
            campaign, code = self._campaign, self._account_code
            return wires_body([call_to_wire(campaign, call, code) for call in calls])
        return body

    def _common_case(self, calls: list[Any]) -> ChunkBody | None:
        """The body of *calls* if each is valid in the common case's way, else None."""
        columns = _columns(calls)
        if columns is not None:
            targets, names, customs = columns
            if (
                check.bare_phones(targets)
                and check.all_exactly(names, str)
                and check.plain_custom_data(customs)
            ):
                return self._filled(targets, names, customs)
        wires = _call_by_call(self._campaign, calls, self._account_code)
        return None if wires is None else wires_body(wires)

    def _filled(self, targets: list[str], names: list[str], customs: list[Any]) -> ChunkBody | None:
        """The body of checked columns (each custom data non-empty: it is sent); None when the
        encoder refuses what the column checks leave to it (a lone surrogate in a name, a key
        only equal to a str, an int below the 64-bit range: see check.plain_custom_data)."""
        size, kept = len(targets), self._wires
        if len(kept) < size:
            template: dict[str, Any] = {"Campaign": self._campaign, "Target": ""}
            if self._account_code is not None:
                template["Code"] = self._account_code
            template.update(CustomerName="", CustomData=None)
            kept.extend(template.copy() for _ in range(size - len(kept)))
        wires = kept if len(kept) == size else kept[:size]
        # A Python loop: a specialised store per value costs less than a C call per value.
        for wire, target, name, custom in zip(wires, targets, names, customs, strict=True):
            wire["Target"] = target
            wire["CustomerName"] = name
            wire["CustomData"] = custom
        try:
            content = orjson.dumps(wires)
        except orjson.JSONEncodeError:
            return None
        return ChunkBody(content, tuple(targets))


def _columns(calls: list[Any]) -> tuple[list[Any], list[Any], list[Any]] | None:
    """The numbers, names and custom data of *calls*, read a column at a time (a comprehension
    each: a specialised subscript per row costs less than operator.itemgetter's C call), when
    they are all dicts of three keys; else None (Calls, and chunks of another shape, go call by
    call: reading a Call's attributes in the loop costs fewer instructions than attrgetter's C
    calls do).

    Each row's three keys are read (a KeyError without one), and then its number of keys is
    enough to know it has no other: counting costs a tenth of gathering the keys in a set (a
    dict iterator and a set insertion per key).
    """
    if not calls or not check.all_exactly(calls, dict):
        return None
    try:
        number = "phone" if "phone" in calls[0] else "target"
        columns = (
            [row[number] for row in calls],
            [row["customer_name"] for row in calls],
            [row["custom_data"] for row in calls],
        )
    except KeyError:  # a row without one of them (or with the other number key)
        return None
    # Each row has the three keys just read: a total of three per row means no other.
    return columns if sum(map(len, calls)) == 3 * len(calls) else None


def _call_by_call(
    campaign: str, calls: list[Any], account_code: str | None
) -> list[dict[str, Any]] | None:
    """The wire objects of a chunk out of the column-wise shape (some calls without a name,
    say), or None when one is not valid in the common case's way: a loop over the calls, those
    out of the common case through call_to_wire."""
    wires: list[dict[str, Any]] = []
    targets: list[Any] = []
    names: list[Any] = []
    customs: list[Any] = []
    append = wires.append
    for call in calls:
        kind = type(call)
        if kind is Call:
            if (
                call.caller_id is not None
                or call.priority is not None
                or call.originate_time is not None
                or call.is_date_local is not None
                or call.ignore_dnc_status is not None
            ):
                append(call_to_wire(campaign, call, account_code))
                continue
            target = call.target
            name = call.customer_name
            custom = call.custom_data
        elif kind is dict and call.keys() <= _COMMON_KEYS:
            if ("phone" in call) is ("target" in call):
                append(call_to_wire(campaign, call, account_code))  # says which is wrong
                continue
            target = call["phone"] if "phone" in call else call["target"]
            name = call.get("customer_name")
            custom = call.get("custom_data")
        else:
            append(call_to_wire(campaign, call, account_code))
            continue
        targets.append(target)
        wire: dict[str, Any] = {"Campaign": campaign, "Target": target}
        if account_code is not None:
            wire["Code"] = account_code
        if name is not None:
            wire["CustomerName"] = name
            names.append(name)
        if custom:
            wire["CustomData"] = custom
            customs.append(custom)
        append(wire)
    if (
        check.bare_phones(targets)
        and check.all_exactly(names, str)
        and check.plain_custom_data(customs)
    ):
        return wires
    return None


# --- responses ---------------------------------------------------------------------------


# 18 digits always fit in 64 bits; no code or count is longer, and int() refuses > 4,300.
_WIRE_INT_DIGITS = 18


def wire_int(value: object) -> int | None:
    """An integer the API sent as a number or a numeric string (ErrorCode, totals), or None.

    A string must be ASCII digits after an optional "-": ``str.isdigit`` alone is true of
    "²", which ``int`` refuses, and of the Arabic-Indic "\\u0661", which ``int`` reads as 1.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    digits = text[1:] if text.startswith("-") else text
    if 0 < len(digits) <= _WIRE_INT_DIGITS and digits.isascii() and digits.isdigit():
        return int(text)
    return None


class _ShapeError(ValueError):
    """A response value of the wrong shape; turned into ResponseError by structure()."""


def _as_str(value: object, _: object = None) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise _ShapeError(f"expected a string, got {type(value).__name__}")


def _as_optional_int(value: object, _: object = None) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _ShapeError(f"expected an integer, got {type(value).__name__}")
    if isinstance(value, str):  # as ErrorCode is: int() reads an Arabic-Indic 1 as 1
        number = wire_int(value)
        if number is None:
            raise _ShapeError("expected an integer, got a value that is not one")
        return number
    try:
        return int(value)
    except (ValueError, OverflowError):
        raise _ShapeError("expected an integer, got a value that is not one") from None


def _as_str_dict(value: object, _: object = None) -> dict[str, str]:
    # PHP encodes an empty (or list-like) array as a JSON list.
    if isinstance(value, list):
        value = {str(i): item for i, item in enumerate(value)}
    if not isinstance(value, Mapping):
        raise _ShapeError(f"expected an object for CustomData, got {type(value).__name__}")
    return {str(k): _as_str(v) for k, v in value.items() if v is not None}


def _as_list_of(cls: type[T]) -> Callable[[object, object], list[T]]:
    def hook(value: object, _: object = None) -> list[T]:
        if not isinstance(value, list):
            raise _ShapeError(f"expected a list of {cls.__name__}, got {type(value).__name__}")
        return [_converter.structure(item, cls) for item in value]

    return hook


_converter = cattrs.Converter(detailed_validation=False, forbid_extra_keys=False)
_converter.register_structure_hook(str, _as_str)
_converter.register_structure_hook(int | None, _as_optional_int)
_converter.register_structure_hook_func(lambda t: t == dict[str, str], _as_str_dict)


def _register_model(cls: type[Any]) -> None:
    names = [a.name for a in attrs.fields(cls) if a.name != "extra"]
    renames = {name: override(rename=wire_name(name)) for name in names}
    renames["extra"] = override(omit=True)
    from_wire = make_dict_structure_fn(cls, _converter, **renames)  # type: ignore[arg-type]
    known = frozenset(wire_name(name) for name in names)

    def hook(value: object, _: object = None) -> Any:
        if not isinstance(value, Mapping):
            raise _ShapeError(f"expected an object for {cls.__name__}, got {type(value).__name__}")
        # null means "absent": the field's default applies.
        model = from_wire({k: v for k, v in value.items() if v is not None}, cls)
        if value.keys() <= known:  # the common case: nothing this version does not know
            return model
        extra = {str(k): v for k, v in value.items() if k not in known}
        return attrs.evolve(model, extra=FrozenMapping(extra))

    _converter.register_structure_hook(cls, hook)
    list_type = list[cls]  # type: ignore[valid-type]
    _converter.register_structure_hook_func(lambda t: t == list_type, _as_list_of(cls))


for _model in (Campaign, CallStatus, PendingCall, PendingCalls, Member, AddResult):
    _register_model(_model)


def structure(value: object, cls: type[T], *, method: str, status_code: int) -> T:
    """*value* (a part of a decoded answer) as *cls*, or :class:`ResponseError`."""
    try:
        return _converter.structure(value, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
        # Only our own messages are shown: others may quote a value, which could be a code.
        detail = str(exc) if isinstance(exc, _ShapeError) else type(exc).__name__
        raise ResponseError(
            f"{method}: the answer does not have the documented shape ({detail})",
            method=method,
            status_code=status_code,
            outcome_unknown=True,
        ) from exc


def structure_list(value: object, cls: type[T], *, method: str, status_code: int) -> list[T]:
    """*value* as a ``list`` of *cls*, or :class:`ResponseError`."""
    return structure(value, list[cls], method=method, status_code=status_code)  # type: ignore[valid-type]
