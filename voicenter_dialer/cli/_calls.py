"""What a lead's fields mean: which name the phone and the name, numbers in the vendor's
form, and a lead record turned into a call's mapping (or a command's options into a
:class:`Call`)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from voicenter_dialer._models import Call

from ._output import UsageError

__all__ = [
    "DEFAULT_REGION",
    "NAME_COLUMNS",
    "PHONE_COLUMNS",
    "lead_fields",
    "option_call",
    "phone_normaliser",
    "region_normaliser",
]

#: National numbers are read as this region's when phonenumbers is installed.
DEFAULT_REGION = "IL"

# Columns (or JSON keys) that name the same field: a file may hold one of each group.
PHONE_COLUMNS = ("phone", "target")
NAME_COLUMNS = ("name", "customer_name")
# Separators people type in numbers; the vendor wants digits.
_SEPARATORS = re.compile(r"[\s\-().]")
# A number a spreadsheet stored as a float: "972501234567.0".
_FLOAT_ARTEFACT = re.compile(r"\s*(\+?\d+)\.0+\s*")


def phone_normaliser(region: str | None) -> Callable[[str], str]:
    """Turn typed numbers into the vendor's form.

    Separators (spaces, dashes, dots, parentheses) are dropped, and a trailing ``.0`` on a
    number (a spreadsheet's float: ``972501234567.0``) too. With the ``phone`` extra
    (phonenumbers) and a *region* (ISO 3166 alpha-2, any case), national numbers become
    international digits (``050-123-4567`` in IL -> ``972501234567``); what it cannot parse
    is left for the client's validation to report. Raises :class:`ValueError` for a region
    phonenumbers does not know, and :class:`ImportError` for a region without phonenumbers.
    """

    def plain(raw: str) -> str:
        artefact = _FLOAT_ARTEFACT.fullmatch(raw)
        return artefact[1] if artefact else _SEPARATORS.sub("", raw)

    if not region:
        return plain
    import phonenumbers

    region = region.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"unknown region {region!r}: expected a two-letter ISO 3166 country code, "
            "such as IL, US or GB"
        )
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    trunk_prefix = metadata.national_prefix if metadata is not None else None
    country_code = str(phonenumbers.country_code_for_region(region))

    def international(raw: str) -> str:
        digits = plain(raw)
        # Fast paths, since parsing costs ~10 µs a lead: an explicit "+", or the region's
        # country code where national numbers start with a trunk prefix (IL: "0") instead.
        if digits.startswith("+"):
            return digits[1:]
        if trunk_prefix and digits.startswith(country_code) and not digits.startswith(trunk_prefix):
            return digits
        try:
            number = phonenumbers.parse(digits, region)
        except phonenumbers.NumberParseException:
            return digits
        if not phonenumbers.is_possible_number(number):
            return digits
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]

    return international


def region_normaliser(region: str | None) -> Callable[[str], str]:
    """The number normaliser of ``--region``: refused when it cannot be honoured."""
    if region is None:
        try:
            return phone_normaliser(DEFAULT_REGION)
        except ImportError:  # without the 'phone' extra, numbers are only cleaned up
            return phone_normaliser(None)
    try:
        return phone_normaliser(region)
    except ImportError:
        raise UsageError(
            f"--region {region} needs the phonenumbers package: "
            "pip install 'voicenter-dialer[phone]'"
        ) from None
    except ValueError as exc:
        raise UsageError(f"--region: {exc}") from None


def _integer_or_raw(value: str) -> int | str:
    try:
        return int(value)
    except ValueError:
        return value  # the client reports it as an invalid priority


def _number(value: object, normalise: Callable[[str], str]) -> object:
    """A number as text, normalised; JSON numbers (``972501234567``, ``…567.0``) too."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return normalise(value) if isinstance(value, str) else value  # validation reports others


def lead_fields(
    fields: Mapping[str, Any], phone_key: str, normalise: Callable[[str], str]
) -> dict[str, Any]:
    """The call of a lead whose fields are *fields*, its number under *phone_key*, as the
    plain mapping bulk uploads take (:class:`~voicenter_dialer.CallFields`): no :class:`Call`
    per lead. The number goes under ``phone`` or ``target``, as the file names it, so that
    validation names the file's field.

    Columns starting with ``_`` and empty values are left out; columns that are not a call's
    field go into its custom data (left out when it holds none).
    """
    custom: dict[str, Any] = {}
    lead: dict[str, Any] = {phone_key.strip().lower(): _number(fields.get(phone_key), normalise)}
    for key, value in fields.items():
        lowered = key.strip().lower()
        if key == phone_key or not lowered or lowered.startswith("_") or value in (None, ""):
            continue
        if lowered in NAME_COLUMNS:
            lead["customer_name"] = value
        elif lowered == "priority":
            lead["priority"] = _integer_or_raw(value) if isinstance(value, str) else value
        elif lowered == "caller_id":
            lead["caller_id"] = _number(value, normalise)
        elif lowered == "custom_data" and isinstance(value, Mapping):
            custom.update(value)
        else:
            custom[key] = value
    # Values of the wrong type are passed on as they are: validation reports them per lead.
    if custom:
        lead["custom_data"] = custom
    return lead


def option_call(
    target: str,
    normalise: Callable[[str], str],
    *,
    customer_name: str | None = None,
    caller_id: str | None = None,
    priority: int | None = None,
    custom: Iterable[tuple[str, str]] = (),
    originate_time: int | dt.datetime | None = None,
    ignore_dnc_status: bool = False,
) -> Call:
    """The call a command's options describe, its numbers normalised as a lead file's are.

    Epoch seconds are an instant (``IsDateLocal`` false); a datetime is the library's
    (aware: that instant; naive: the account's wall clock).
    """
    return Call(
        normalise(target),
        customer_name=customer_name,
        caller_id=None if caller_id is None else normalise(caller_id),
        priority=priority,
        custom_data=dict(custom),
        originate_time=originate_time,
        is_date_local=False if isinstance(originate_time, int) else None,
        ignore_dnc_status=True if ignore_dnc_status else None,
    )
