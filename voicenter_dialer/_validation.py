"""Checks on caller input, run before anything is sent.

Each function returns the value in the form the wire wants, or raises
:class:`ValidationError` with a message that says what was wrong and what is expected.
Messages never repeat a code.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from itertools import chain
from operator import itemgetter
from typing import Any

from ._exceptions import ValidationError
from ._models import Campaign, CustomValue

__all__ = [
    "all_exactly",
    "bare_phones",
    "campaign_code",
    "custom_data",
    "integer",
    "member",
    "phone",
    "plain_custom_data",
    "sendable_code",
    "shown",
    "strategy",
    "text",
]

# Digits only, after an optional "+"; 6 to 15 digits covers national forms and E.164.
_PHONE = re.compile(r"\s*\+?([0-9]{6,15})\s*")
_PHONE_DIGITS_MIN, _PHONE_DIGITS_MAX = 6, 15
# JSON numbers a service can be expected to read: 64-bit integers.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_PLAIN_VALUES = frozenset({str, bool})
_SCALAR_VALUES = frozenset({str, bool, int, float})
_INTEGER_VALUES = frozenset({bool, int})


_SHOWN_MAX = 60


def shown(value: object) -> str:
    """*value* as a message shows it: its repr, cut to 60 characters; never raises.

    What a caller passes may have no repr to give: ``repr(10**5000)`` raises ValueError, and
    an object's own ``__repr__`` may raise anything.
    """
    try:
        text = repr(value)
    except Exception:  # any failure: the type says enough
        name = type(value).__name__
        return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name} without a repr"
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 3] + "..."


def campaign_code(campaign: str | Campaign) -> str:
    """The code of *campaign*, given as a code or as a :class:`Campaign`."""
    code = campaign.code if isinstance(campaign, Campaign) else campaign
    if not isinstance(code, str):
        raise ValidationError(
            f"campaign must be a campaign code (str) or a Campaign, not {type(campaign).__name__}"
        )
    if not code.strip():
        raise ValidationError("campaign code is empty")
    return sendable_code(code, "campaign code")


def sendable_code(code: str, what: str) -> str:
    """*code* (a credential: never shown) when a request can carry it: not with a lone
    surrogate, which an undecodable byte in an environment variable or argument becomes."""
    if not (code.isascii() or _encodable(code)):
        raise ValidationError(
            f"{what} holds a lone surrogate (an undecodable byte?), which no request can "
            "carry: fix its source's encoding"
        )
    return code


def phone(value: object, field: str = "target") -> str:
    """A phone number in the vendor's form: digits, a leading ``+`` stripped."""
    # The common case without the regex, which cost a third of a bulk upload's validation:
    # the same test as _PHONE for a number already bare (isdigit alone would pass "²").
    if (
        type(value) is str
        and _PHONE_DIGITS_MIN <= len(value) <= _PHONE_DIGITS_MAX
        and value.isascii()
        and value.isdigit()
    ):
        return value
    match = _PHONE.fullmatch(value) if isinstance(value, str) else None
    if match is not None:
        return match.group(1)
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a str of digits, not {type(value).__name__}")
    if not value.strip():
        raise ValidationError(f"{field} is empty")
    raise ValidationError(
        f"{field} {value.strip()!r} is not a phone number: expected 6 to 15 digits, "
        "optionally after a leading '+' (e.g. '972501234567' or '0501234567')"
    )


def text(value: object, field: str) -> str:
    """A str that JSON can carry: a lone surrogate (half of a UTF-16 pair, ``"\\ud83d"``) is
    not text, and cannot be encoded."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a str, not {type(value).__name__}")
    if not (value.isascii() or _encodable(value)):
        raise ValidationError(
            f"{field} holds a lone surrogate ({shown(value)}), which is not text: fix its "
            "source's decoding"
        )
    return value


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def all_exactly(values: list[Any], kind: type) -> bool:
    """True when each of *values* is of type *kind* itself (a subclass is not).

    For a bulk chunk's columns: counting *kind* in the list of types costs two thirds of
    gathering the types in a set (a list append and an identity test, not a hash and a set
    insertion, per value).
    """
    return list(map(type, values)).count(kind) == len(values)


def bare_phones(values: list[Any]) -> bool:
    """True when :func:`phone` returns each of *values* as it is: a str of 6 to 15 ASCII digits.

    For a bulk chunk: C passes over the whole column (types, lengths, the numbers joined)
    instead of four calls per number. The digits are checked as bytes: ``bytes.isdigit`` looks
    each up in an ASCII table, where ``str.isdigit`` and a regular expression cost several
    times as many instructions per character.
    """
    if not values:
        return True
    if not all_exactly(values, str):
        return False
    lengths = set(map(len, values))
    joined = "".join(values)
    return (
        min(lengths) >= _PHONE_DIGITS_MIN
        and max(lengths) <= _PHONE_DIGITS_MAX
        and joined.isascii()  # a flag of the string: no pass over it
        and joined.encode().isdigit()
    )


def custom_data(value: object) -> Mapping[str, CustomValue]:
    """A flat mapping of non-empty str keys to str, int, float or bool values."""
    # The common case, checked with exact types on the bulk hot path; anything else, or
    # anything wrong, is left to _checked_custom_data, which says what is wrong.
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str or not key or not (key.isascii() or _encodable(key)):
                break
            kind = type(item)
            if kind is str:
                if item.isascii() or _encodable(item):
                    continue
                break
            if kind is bool:
                continue
            if kind is int:
                if not _INT_MIN <= item <= _INT_MAX:
                    break
            elif kind is not float or not math.isfinite(item):
                break
        else:
            return value
    return _checked_custom_data(value)


def plain_custom_data(values: list[Any]) -> bool:
    """True when each of *values* is a non-empty dict that :func:`custom_data` returns as it
    is (as far as the encoder goes: see below).

    For a bulk chunk, by C loops a column at a time: a chunk's calls share a handful of keys,
    and their values are mostly of one type. When each dict has as many keys as the first,
    and each of those (found by lookup), only the first dict's keys are read: a key of a str
    subclass that equals one of them passes here, the encoder refuses it, and the chunk then
    goes call by call (see :class:`._converter.BulkEncoder`). Such a key's own ``__eq__`` runs
    in the lookups: one that changes the rows while they are read is outside the contract, as
    another thread changing them would be (what is checked is then not what is sent).
    """
    if not values:
        return True
    if not all_exactly(values, dict):
        return False
    keys = list(values[0])
    if not (keys and all_exactly(keys, str) and all(keys)):
        return False  # no custom data (it is not sent), or a key that is not a non-empty str
    items = _values_by_key(values, keys)
    if items is None:  # dicts of different keys: each key read
        every_key = list(chain.from_iterable(values))
        if not (all(values) and all_exactly(every_key, str) and all(every_key)):
            return False
        items = list(chain.from_iterable(map(dict.values, values)))
    first = type(items[0])
    kinds = {first} if all_exactly(items, first) else set(map(type, items))
    if kinds <= _PLAIN_VALUES:
        return True
    if not kinds <= _SCALAR_VALUES:
        return False
    if int in kinds:
        # bool compares as 0 or 1, so only a column mixing numbers with text needs sifting.
        ints = items if kinds <= _INTEGER_VALUES else [i for i in items if type(i) is int]
        # Below the 64-bit range, as above 2**64, the encoder refuses an int; between 2**63
        # and 2**64 it would send one that custom_data refuses.
        if max(ints) > _INT_MAX:
            return False
    return float not in kinds or all(math.isfinite(item) for item in items if type(item) is float)


def _values_by_key(values: list[dict[Any, Any]], keys: list[str]) -> list[Any] | None:
    """The values of the dicts *values*, a column per key of *keys* (the first dict's), when
    each has those keys and no other; else None."""
    if list(map(len, values)).count(len(keys)) != len(values):
        return None
    items: list[Any] = []
    try:
        for key in keys:
            items += map(itemgetter(key), values)
    except KeyError:
        return None
    return items


def _checked_custom_data(value: object) -> Mapping[str, CustomValue]:
    if not isinstance(value, Mapping):
        raise ValidationError(f"custom_data must be a mapping, not {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise ValidationError(f"custom_data keys must be non-empty str, got {shown(key)}")
        text(key, "a custom_data key")
        if isinstance(item, str):
            text(item, f"custom_data[{key!r}]")
        if isinstance(item, float) and not math.isfinite(item):
            raise ValidationError(f"custom_data[{key!r}] is {item!r}, which JSON cannot carry")
        if not isinstance(item, str | int | float):  # bool is an int
            raise ValidationError(
                f"custom_data[{key!r}] must be str, int, float or bool (the mapping is flat), "
                f"not {type(item).__name__}"
            )
        if isinstance(item, int) and not _INT_MIN <= item <= _INT_MAX:
            raise ValidationError(f"custom_data[{key!r}] is out of the 64-bit integer range")
    # A plain dict of plain values for the encoder, whatever came in: orjson refuses a float
    # subclass, or a str subclass as a key, which would fail the whole request.
    plain: dict[str, CustomValue] = {}
    for key, item in value.items():
        name = str.__str__(key)
        if name in plain:  # two keys, one of them a str subclass, of the same text
            raise ValidationError(f"custom_data has the key {name!r} twice")
        plain[name] = _plain(item)
    return plain


def _plain(value: CustomValue) -> CustomValue:
    """*value* of its plain type: a str, int or float subclass's instance (an enum member,
    say) as the plain value it holds, read without its own methods."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool:  # bool has no subclass
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    return float.__float__(value)


def member(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(
            f"member must be a non-empty str (an extension's SIP code), got {shown(value)}"
        )
    return value


def integer(value: object, field: str) -> int:
    """A 64-bit int proper: neither a bool nor a float that happens to be whole."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(f"{field} must be an int, not {type(value).__name__}")
    if not _INT_MIN <= value <= _INT_MAX:
        raise ValidationError(f"{field} is out of the 64-bit integer range")
    return value


def strategy(
    queue_for_monitoring: object, queue_maximum_callers: object, coefficient: object
) -> tuple[int, int, int]:
    """The three UpdateCampaignStrategy integers, within the vendor's bounds."""
    queue = integer(queue_for_monitoring, "queue_for_monitoring")
    callers = integer(queue_maximum_callers, "queue_maximum_callers")
    coeff = integer(coefficient, "coefficient")
    if callers <= 0:
        raise ValidationError(f"queue_maximum_callers must be greater than 0, got {callers}")
    if coeff <= 1:
        raise ValidationError(f"coefficient must be greater than 1, got {coeff}")
    return queue, callers, coeff
