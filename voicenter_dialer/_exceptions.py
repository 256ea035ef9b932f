"""Every error this library raises.

The tree::

    DialerError                  base of everything raised here; .method, .outcome_unknown
    ├── ValidationError          bad input, caught before any request (also a ValueError)
    ├── TransportError           connection failure or timeout, after retries (httpx error as
    │                            __cause__)
    ├── ResponseError            HTTP error status, or a body that is not the documented JSON
    │                            (HTML error page, truncated JSON, wrong shape); .status_code
    ├── APIError                 the API answered a non-zero ErrorCode; .error_code, .description
    │   ├── InvalidCampaignError the campaign code is missing or unknown
    │   ├── InvalidTargetError   the target is missing or not a valid number
    │   └── MemberError          the member is missing or was not added
    ├── JournalError             a bulk journal of another input or campaign, in use, or not
    │                            a journal
    ├── IdempotencyConflict      an idempotency key used for another call, or still being
    │                            added elsewhere after idempotency_wait seconds
    ├── BulkError                BulkReport.raise_for_failures(): some leads were not
    │                            accepted; .report (defined beside BulkReport, in _models)
    └── LeadFileError            a lead file the CLI cannot read (names the file and line);
                                 also a ValidationError: nothing was sent

``response`` is the :class:`httpx.Response` behind an error that came from an answer
(``ResponseError``, ``APIError``): status, headers and body, for a support ticket with the
vendor. ``response.content`` is the raw body as received: unlike the message, it is not
redacted, and may echo a code. The body of ``response.request`` has its codes masked.

``outcome_unknown`` is True when the server may have processed the request although no
usable answer came back (read timeout, connection dropped after sending, 5xx other than 503,
garbled body). Adding methods are not re-sent in that case, since that may dial a person twice:
check ``get_campaign_pending_calls`` before sending again.

No message built here contains an account or campaign code in full.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx


__all__ = [
    "APIError",
    "DialerError",
    "IdempotencyConflict",
    "InvalidCampaignError",
    "InvalidTargetError",
    "JournalError",
    "LeadFileError",
    "MemberError",
    "ResponseError",
    "TransportError",
    "ValidationError",
    "api_error",
    "kind",
]


class DialerError(Exception):
    """Base class of every error raised by voicenter-dialer."""

    #: The API method (e.g. ``"AddCall"``) the error concerns, when there is one.
    method: str | None
    #: True when the server may have processed the request despite the error.
    outcome_unknown: bool
    #: The HTTP answer behind the error (status, headers, body), None where there was none.
    #: ``response.content`` is the raw body as received: not redacted, it may echo a code.
    response: httpx.Response | None

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        outcome_unknown: bool = False,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.outcome_unknown = outcome_unknown
        self.response = response

    @property
    def message(self) -> str:
        """The error's text, as ``str(error)`` gives it (codes already masked)."""
        return str(self.args[0]) if self.args else ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (Celery results, Django's cache, multiprocessing) or deep-copied: the class,
        # the message and the attributes, without ``response`` (an httpx.Response, which
        # does not pickle); rebuilt without calling __init__, whose arguments differ by class.
        state = {**self.__dict__, "response": None}
        return _restored, (type(self), self.args, state)


class ValidationError(DialerError, ValueError):
    """Bad input, caught before any request was sent."""


class TransportError(DialerError):
    """The request could not be completed: connection failure or timeout, after retries.

    The underlying :class:`httpx.TransportError` is the ``__cause__``.
    """


class ResponseError(DialerError):
    """An HTTP error status, or a body that is not the documented JSON."""

    #: The HTTP status of the response (2xx when the body, not the status, was unusable).
    status_code: int
    #: Seconds the server asked to wait (``Retry-After``), when it said so.
    retry_after: float | None

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        status_code: int,
        outcome_unknown: bool = False,
        retry_after: float | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message, method=method, outcome_unknown=outcome_unknown, response=response)
        self.status_code = status_code
        self.retry_after = retry_after


class APIError(DialerError):
    """The API answered with a non-zero ``ErrorCode``."""

    #: The API method that answered with the error (e.g. ``"AddCall"``); never None here.
    method: str
    #: The vendor's ``ErrorCode``.
    error_code: int
    #: The vendor's ``Description`` (with any code it echoed masked).
    description: str

    def __init__(
        self,
        *,
        method: str,
        error_code: int,
        description: str,
        message: str,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message, method=method, response=response)
        self.error_code = error_code
        self.description = description


class JournalError(DialerError):
    """The journal cannot be used: another input or campaign, in use, a foreign or corrupt
    file."""


class IdempotencyConflict(DialerError):
    """An idempotency key used before for another call, or still being added elsewhere after
    ``idempotency_wait`` seconds. Nothing was sent."""


class LeadFileError(ValidationError):
    """A lead file cannot be used; the message names the file and line. Nothing was sent."""


class InvalidCampaignError(APIError):
    """The campaign code is missing or not known to the account."""


class InvalidTargetError(APIError):
    """The target phone number is missing or invalid."""


class MemberError(APIError):
    """The member (agent extension) is missing or was not added."""


# The same ErrorCode means different things in different methods, so the map is per method.
_BY_METHOD: dict[str, dict[int, type[APIError]]] = {
    "AddCall": {1: InvalidCampaignError, 2: InvalidTargetError, -2: InvalidTargetError},
    "AddCallsBulk": {1: InvalidCampaignError, 2: InvalidTargetError, -2: InvalidTargetError},
    "UpdateCall": {1: InvalidCampaignError, 2: InvalidTargetError, -2: InvalidTargetError},
    "RemoveCall": {1: InvalidCampaignError, 2: InvalidTargetError},
    "ClearCampaignCalls": {4: InvalidCampaignError},
    "GetCampaignPendingCalls": {2: InvalidCampaignError},
    "StartCampaign": {1: InvalidCampaignError},
    "StopCampaign": {1: InvalidCampaignError},
    "AddMember": {2: MemberError},
    "RemoveMember": {2: MemberError},
}


def api_error(
    method: str,
    error_code: int,
    description: str,
    *,
    context: str = "",
    response: httpx.Response | None = None,
) -> APIError:
    """Build the :class:`APIError` subclass that *error_code* means for *method*.

    *description* must already be redacted; *context* (e.g. ``"campaign …a1b2"``) is appended
    to the message.
    """
    cls = _BY_METHOD.get(method, {}).get(error_code, APIError)
    shown = description or "no description"
    message = f"{method} failed with ErrorCode {error_code}: {shown}"
    if context:
        message += f" ({context})"
    return cls(
        method=method,
        error_code=error_code,
        description=description,
        message=message,
        response=response,
    )


def kind(error: BaseException) -> str:
    """The name of *error*'s class as users know it: the nearest class of this tree (a store's
    own refinement of :class:`JournalError` is a ``JournalError``), else its own class's."""
    for cls in type(error).__mro__:
        if cls.__module__ == __name__ and cls.__name__ in __all__:
            return cls.__name__
    return type(error).__name__


def _restored(cls: type[DialerError], args: tuple[Any, ...], state: dict[str, Any]) -> DialerError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error
