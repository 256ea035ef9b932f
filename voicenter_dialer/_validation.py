"""Checks on caller input, run before anything is sent.

Each function returns the value in the form the wire wants, or raises
:class:`ValidationError` with a message that says what was wrong and what is expected.
Messages never repeat a code.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from ._exceptions import ValidationError
from ._models import Campaign, CustomValue

__all__ = [
    "campaign_code",
    "custom_data",
    "integer",
    "member",
    "phone",
    "strategy",
]

# Digits only, after an optional "+"; 6 to 15 digits covers national forms and E.164.
_PHONE = re.compile(r"\s*\+?([0-9]{6,15})\s*")
# JSON numbers a service can be expected to read: 64-bit integers.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def campaign_code(campaign: str | Campaign) -> str:
    """The code of *campaign*, given as a code or as a :class:`Campaign`."""
    code = campaign.code if isinstance(campaign, Campaign) else campaign
    if not isinstance(code, str):
        raise ValidationError(
            f"campaign must be a campaign code (str) or a Campaign, not {type(campaign).__name__}"
        )
    if not code.strip():
        raise ValidationError("campaign code is empty")
    return code


def phone(value: object, field: str = "target") -> str:
    """A phone number in the vendor's form: digits, a leading ``+`` stripped."""
    # The common case without the regex, which cost a third of a bulk upload's validation:
    # the same test as _PHONE for a number already bare (isdigit alone would pass "²").
    if type(value) is str and 6 <= len(value) <= 15 and value.isascii() and value.isdigit():
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


def custom_data(value: object) -> Mapping[str, CustomValue]:
    """A flat mapping of non-empty str keys to str, int, float or bool values."""
    # The common case, checked with exact types on the bulk hot path; anything else, or
    # anything wrong, is left to _checked_custom_data, which says what is wrong.
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str or not key:
                break
            kind = type(item)
            if kind is str or kind is bool:
                continue
            if kind is int:
                if not _INT_MIN <= item <= _INT_MAX:
                    break
            elif kind is not float or not math.isfinite(item):
                break
        else:
            return value
    return _checked_custom_data(value)


def _checked_custom_data(value: object) -> Mapping[str, CustomValue]:
    if not isinstance(value, Mapping):
        raise ValidationError(f"custom_data must be a mapping, not {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise ValidationError(f"custom_data keys must be non-empty str, got {key!r}")
        if isinstance(item, float) and not math.isfinite(item):
            raise ValidationError(f"custom_data[{key!r}] is {item!r}, which JSON cannot carry")
        if not isinstance(item, str | int | float):  # bool is an int
            raise ValidationError(
                f"custom_data[{key!r}] must be str, int, float or bool (the mapping is flat), "
                f"not {type(item).__name__}"
            )
        if isinstance(item, int) and not _INT_MIN <= item <= _INT_MAX:
            raise ValidationError(f"custom_data[{key!r}] is out of the 64-bit integer range")
    return dict(value)  # a plain dict for the encoder, whatever mapping came in


def member(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(
            f"member must be a non-empty str (an extension's SIP code), got {value!r}"
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
