"""The one rule for what a failed attempt means: refused, unknown or failed.

* **refused**: the service certainly did not process it (no connection was made, no free
  connection, HTTP 429 or 503). Safe to send again: every method retries it, and a journal's
  rerun sends it again.
* **unknown**: it may have been processed although no usable answer came back (a timeout or a
  connection lost after sending, HTTP 5xx other than 503, a garbled 2xx body). An adding method
  (AddCall, AddCallsBulk, AddMember) is not sent again unless the caller opted in, since that
  may dial a person twice.
* **failed**: answered with a failure (another 4xx, a non-zero ErrorCode) or never sendable.

The request core builds its errors from :func:`outcome`, the retry policy decides from it, and
the journal records a lead's status from it: nothing else decides.
"""

from __future__ import annotations

from typing import Final, Literal, TypeAlias

import httpx

from ._exceptions import DialerError, ResponseError, TransportError

__all__ = ["REFUSED_STATUSES", "Outcome", "outcome", "overloaded", "unknown_outcome_note"]

Outcome: TypeAlias = Literal["refused", "unknown", "failed"]

#: Statuses that mean "not processed, come back later".
REFUSED_STATUSES: Final = frozenset({429, 503})

# httpx errors raised before the request reached the server.
_REFUSED_TRANSPORT_ERRORS: Final = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
)


def outcome(failure: BaseException | int) -> Outcome:
    """What *failure* means for the request it ended.

    *failure* is an :class:`httpx.TransportError`, the status of a non-2xx answer, or an
    error of this library (whose ``outcome_unknown`` was set from this same rule).
    """
    if isinstance(failure, int):
        if failure in REFUSED_STATUSES:
            return "refused"
        return "unknown" if failure >= 500 else "failed"
    if isinstance(failure, httpx.TransportError):
        return "refused" if isinstance(failure, _REFUSED_TRANSPORT_ERRORS) else "unknown"
    if isinstance(failure, DialerError):
        if failure.outcome_unknown:
            return "unknown"
        if isinstance(failure, TransportError):
            return "refused"
        if isinstance(failure, ResponseError) and failure.status_code in REFUSED_STATUSES:
            return "refused"
    return "failed"


def overloaded(failure: BaseException) -> bool:
    """True when *failure* is the service turning a request away for load (429/503): what
    ``concurrency="auto"`` steps back on (a refused connection says nothing of load)."""
    return isinstance(failure, ResponseError) and failure.status_code in REFUSED_STATUSES


def unknown_outcome_note(method: str, sent: int = 1) -> str:
    """What happened, and what to do, after *method* (one that adds something) was *sent*
    times with no usable answer: appended to every such message, and only to those."""
    check = "Check get_campaign_pending_calls before sending it again"
    if sent <= 1:
        return (
            f"the outcome is unknown: the server may have processed the {method}, so it was "
            f"not re-sent. {check}"
        )
    return (
        f"the outcome is unknown: the {method} was sent {sent} times (resend_unknown_outcome) "
        f"without a usable answer, so the server may have processed it up to {sent} times. "
        f"{check}"
    )
