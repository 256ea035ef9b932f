"""JSON-ready dicts of the models and reports, for a web service to return or a log to keep.

Keys are the attributes' names (snake_case), values plain JSON types, recursively: a
:class:`BulkReport`'s rejected and failed entries with their calls, results and errors.

Credentials: a :class:`Campaign`'s ``code`` (also inside :class:`PendingCalls`) is a bearer
credential and is kept in full, since a service may need it to act on the campaign; drop or
mask it before the dict leaves a trusted boundary. Nothing else in a model is a code: error
messages and the service's descriptions are already masked. Phone numbers (``target``,
``phone``, ``caller_id``) and ``custom_data`` are the application's own data.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any, cast

import attrs

from ._exceptions import APIError, DialerError, ResponseError, kind
from ._models import Campaign
from ._secrets import mask
from ._validation import shown

__all__ = ["jsonable", "to_dict"]


def to_dict(obj: object) -> dict[str, Any]:
    """*obj*, a model or report of this library, as a JSON-ready dict (snake_case keys).

    For FastAPI, Django's ``JsonResponse``, ``json.dumps`` and the like::

        @app.get("/campaigns/{code}")
        async def campaign(code: str) -> dict[str, Any]:
            return to_dict(await dialer.get_campaign_details(code))

    A :class:`Campaign`'s ``code`` is a credential and is included in full: see the README's
    "Returning models from a web service". Errors (a failed bulk entry's ``error``) become
    their type, message (redacted), method, ``outcome_unknown`` and, where they have them,
    ``status_code``, ``error_code`` and ``description``. Datetimes become ISO 8601 strings;
    a value of any other type (a ``Decimal`` or ``bytes`` a failed call was given) its repr,
    so the result always goes through ``json.dumps``.
    """
    if not attrs.has(type(obj)):
        raise TypeError(
            f"to_dict takes a voicenter_dialer model or report, not {type(obj).__name__}"
        )
    return cast(dict[str, Any], jsonable(obj))


def jsonable(value: object, *, mask_codes: bool = False) -> Any:
    """*value* (a model, report, error, or plain value) in plain JSON types.

    *mask_codes*: show campaign codes masked (``…a1b2``), as the CLI does by default.
    """
    if isinstance(value, Campaign) and mask_codes:
        value = attrs.evolve(value, code=mask(value.code))
    if attrs.has(type(value)):
        return {
            field.name: jsonable(getattr(value, field.name), mask_codes=mask_codes)
            for field in attrs.fields(cast(Any, type(value)))
        }
    if isinstance(value, DialerError):
        return _error(value)
    if isinstance(value, Mapping):
        return {str(key): jsonable(item, mask_codes=mask_codes) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item, mask_codes=mask_codes) for item in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # strict JSON (FastAPI's, for one) has no NaN or Infinity
    if value is None or isinstance(value, str | int | float):
        return value
    # What a caller gave that failed validation (a Decimal, bytes...): shown, never dropped.
    return shown(value)


def _error(error: DialerError) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "type": kind(error),
        "message": error.message,
        "method": error.method,
        "outcome_unknown": error.outcome_unknown,
    }
    if isinstance(error, ResponseError):
        rendered["status_code"] = error.status_code
    if isinstance(error, APIError):
        rendered["error_code"] = error.error_code
        rendered["description"] = error.description
    return rendered
