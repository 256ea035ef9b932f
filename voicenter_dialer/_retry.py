"""The retry policy: what is retried, how often and how long to wait. Nothing else retries.

What a failed attempt means (refused, unknown or failed) is :mod:`._outcome`'s rule. Refused
attempts are retried by every method; unknown ones only by idempotent methods: AddCall,
AddCallsBulk and AddMember are not re-sent unless the caller opts in, since a re-sent AddCall
dials a person twice.

Waits are exponential with jitter, or what ``Retry-After`` says (capped). The loop itself is
stamina's: ``stamina.set_testing(True)`` turns waits off in a test suite.

Each retry is logged at INFO on the ``voicenter_dialer`` logger, as one line naming the method,
the attempt, the wait and the reason. That line comes from a stamina retry hook
(:mod:`stamina.instrumentation`). stamina's hooks are global, so this one acts only while a
context variable says the retry is this library's own; for those retries alone, stamina's
generic ``stamina.retry_scheduled`` record is kept off the ``stamina`` logger. Retries in the
application's own stamina code are logged (and hooked) exactly as before.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import email.utils
import logging
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import attrs
import stamina
from stamina.instrumentation import RetryDetails, get_on_retry_hooks, set_on_retry_hooks

from ._exceptions import DialerError, ResponseError, TransportError
from ._outcome import outcome

__all__ = ["RetryPolicy", "retry_after_seconds"]

T = TypeVar("T")

logger = logging.getLogger("voicenter_dialer")


def retry_after_seconds(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """``Retry-After`` (delta seconds or an HTTP date) as seconds from *now*, or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.timezone.utc)
            seconds = (when - (now or dt.datetime.now(dt.timezone.utc))).total_seconds()
        except (TypeError, ValueError, OverflowError):  # not a date a datetime can hold
            return None
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


@attrs.frozen
class RetryPolicy:
    """How :class:`AsyncDialer` retries. One instance per dialer.

    The time a call may take in all is the dialer's ``deadline``, not a part of this policy.
    """

    #: Retries after the first attempt (0: none).
    max_retries: int = 2
    #: Backoff before the first retry, in seconds; doubles each time up to ``wait_max``, plus
    #: jitter.
    wait_initial: float = 0.5
    #: The longest backoff, in seconds, jitter included.
    wait_max: float = 8.0
    #: At most this many seconds, drawn at random, added to each backoff so that clients
    #: refused together do not retry together.
    wait_jitter: float = 0.5
    #: The longest ``Retry-After`` honoured, in seconds; a longer one is waited only this long.
    max_retry_after: float = 30.0
    #: Re-send non-idempotent methods after an outcome-unknown failure (may dial twice).
    resend_unknown_outcome: bool = False

    def should_retry(self, exc: Exception, *, idempotent: bool) -> bool | float:
        """stamina's backoff hook: False, True (default backoff) or seconds to wait.

        Refused attempts are retried; unknown ones only by idempotent methods, or when the
        caller opted in to re-sending (see :mod:`._outcome`).
        """
        fate = outcome(exc)
        if fate == "failed" or (
            fate == "unknown" and not (idempotent or self.resend_unknown_outcome)
        ):
            return False
        if isinstance(exc, ResponseError) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_retry_after)
        return True

    async def run(
        self, attempt: Callable[[int], Awaitable[T]], *, idempotent: bool, method: str
    ) -> T:
        """``await attempt(n)`` for n = 1, 2, ... under this policy; its first success.

        The first attempt runs outside stamina: setting up its retry loop costs about a
        third of a successful call's overhead (benchmarks/overhead.py), and most calls
        succeed at once. When it fails with something worth retrying, stamina takes over
        from attempt 1 by re-raising that failure inside its loop, so it decides every wait
        and count exactly as if it had run the first attempt itself.
        """
        try:
            return await attempt(1)
        except Exception as exc:
            if self.max_retries == 0 or self.should_retry(exc, idempotent=idempotent) is False:
                raise
            first_failure: Exception | None = exc

        def hook(exc: Exception) -> bool | float:
            return self.should_retry(exc, idempotent=idempotent)

        _install_hook()
        # Set for this task only (and what it awaits), so the hook knows its own retries.
        token = _RETRYING.set(_Retrying(method, self.max_retries + 1))
        try:
            return await self._loop(attempt, hook, first_failure)
        finally:
            _RETRYING.reset(token)

    async def _loop(
        self,
        attempt: Callable[[int], Awaitable[T]],
        hook: Callable[[Exception], bool | float],
        first_failure: Exception | None,
    ) -> T:
        async for retry in stamina.retry_context(
            on=hook,
            attempts=self.max_retries + 1,
            # The dialer's deadline bounds a call as a whole, retries and waits included.
            timeout=None,
            wait_initial=self.wait_initial,
            wait_max=self.wait_max,
            wait_jitter=self.wait_jitter,
        ):
            with retry:
                if first_failure is not None:
                    failure, first_failure = first_failure, None
                    raise failure
                return await attempt(retry.num)
        raise AssertionError("unreachable: stamina returns the block's result or raises")


def retry_reason(exc: BaseException) -> str:
    """Why an attempt failed, in a few words: ``HTTP 503``, ``ConnectError``, ``ReadTimeout``."""
    if isinstance(exc, ResponseError):
        return f"HTTP {exc.status_code}" if exc.status_code >= 400 else "unusable answer"
    if isinstance(exc, TransportError) and exc.__cause__ is not None:
        return type(exc.__cause__).__name__
    return type(exc).__name__


@attrs.frozen
class _Retrying:
    method: str
    attempts: int


_RETRYING: Final = contextvars.ContextVar[_Retrying | None](
    "voicenter_dialer_retrying", default=None
)


def _log_retry(details: RetryDetails) -> None:
    """stamina's hook: one INFO line for each retry of this library's, none for others."""
    retrying = _RETRYING.get()
    if retrying is None:
        return
    reason = retry_reason(details.caused_by)
    logger.info(
        "%s: attempt %d of %d failed (%s); retrying in %.2f s",
        retrying.method,
        details.retry_num,
        retrying.attempts,
        reason,
        details.wait_for,
        extra={
            "voicenter_dialer_retry": {
                "method": retrying.method,
                "attempt": details.retry_num,
                "attempts": retrying.attempts,
                "wait": details.wait_for,
                "reason": reason,
                "outcome_unknown": isinstance(details.caused_by, DialerError)
                and details.caused_by.outcome_unknown,
            }
        },
    )


def _install_hook() -> None:
    """Add :func:`_log_retry` to stamina's hooks, keeping the application's.

    Checked before each retry loop (not at import, not on a call's fast path): an application
    that sets its own hooks later gets this one back beside them.
    """
    hooks = get_on_retry_hooks()
    if _log_retry not in hooks:
        set_on_retry_hooks((*hooks, _log_retry))


class _OwnRetriesFilter(logging.Filter):
    """Drops stamina's generic record of this library's retries: ours says more."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != "stamina.retry_scheduled" or _RETRYING.get() is None


logging.getLogger("stamina").addFilter(_OwnRetriesFilter())
