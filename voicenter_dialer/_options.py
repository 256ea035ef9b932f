"""A dialer's settings: one frozen value, every option checked once, here.

:class:`AsyncDialer`, :class:`Dialer` (which builds an ``AsyncDialer``), ``with_options`` and
the CLI all go through :meth:`ClientOptions.build` or :meth:`ClientOptions.changed`: an option
of the wrong type is a :class:`ValidationError` naming it, wherever it was given.
"""

from __future__ import annotations

import ipaddress
import math
import os
from typing import Any, Final

import attrs
import httpx

from ._defaults import DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES
from ._exceptions import ValidationError
from ._idempotency_records import DEFAULT_IDEMPOTENCY_TTL, DEFAULT_IDEMPOTENCY_WAIT
from ._journal_records import DEFAULT_LEASE_SECONDS
from ._retry import RetryPolicy
from ._secrets import mask_url
from ._types import NOT_GIVEN, NotGiven
from ._validation import sendable_code, shown
from ._version import __version__

__all__ = [
    "BASE_URL_VARIABLE",
    "DEFAULT_BASE_URL",
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "USER_AGENT",
    "ClientOptions",
    "Timeout",
    "default_http_client",
]

DEFAULT_TIMEOUT: Final = httpx.Timeout(30.0, connect=5.0)
"""The dialer's own client's timeouts: connect quickly or fail over to a retry; answers (a
3,000-call bulk chunk) may take longer."""
DEFAULT_LIMITS: Final = httpx.Limits(max_connections=100, max_keepalive_connections=100)
"""The dialer's own client's pool: room for bulk concurrency and busy request handlers alike;
connections are kept alive for bursts rather than closed and opened again."""
DEFAULT_MAX_RESPONSE_BYTES: Final = 64 * 1024 * 1024
"""The largest answer (decoded) read: far above any documented answer (a 3,000-call bulk
answer is about 300 KB), far below what would exhaust a service's memory."""

#: The environment variable read for ``base_url`` when it is not given.
BASE_URL_VARIABLE: Final = "VOICENTER_BASE_URL"

#: What the dialer's requests say they come from.
USER_AGENT: Final = f"voicenter-dialer/{__version__} httpx/{httpx.__version__}"


def default_http_client(**overrides: Any) -> httpx.AsyncClient:
    """An :class:`httpx.AsyncClient` with the library's defaults, to pass as ``http_client=``
    when you bring your own (proxies, mounts, event hooks): :data:`DEFAULT_TIMEOUT`,
    :data:`DEFAULT_LIMITS`, the library's User-Agent, no redirects. *overrides* are
    ``httpx.AsyncClient``'s own arguments, and win::

        client = default_http_client(proxy="http://proxy.internal:3128")
        dialer = AsyncDialer(code, http_client=client)  # you close the client

    A dialer never follows redirects, whatever its client says: request bodies hold codes.
    """
    options: dict[str, Any] = {
        "timeout": DEFAULT_TIMEOUT,
        "limits": DEFAULT_LIMITS,
        "headers": {"User-Agent": USER_AGENT},
        "follow_redirects": False,
    }
    options.update(overrides)
    return httpx.AsyncClient(**options)


#: A timeout as given: an :class:`httpx.Timeout`, seconds, or None (no bound).
Timeout = httpx.Timeout | float | None


@attrs.frozen
class ClientOptions:
    """Every setting of a dialer, checked. Made by :meth:`build`, changed by :meth:`changed`."""

    code: str | None
    #: Without its ``user:password@``, which goes in :attr:`base_auth`: httpx logs each
    #: request's URL (at INFO), and a log line must not hold a password.
    base_url: str
    base_auth: tuple[str, str] | None
    #: NOT_GIVEN: the caller's ``http_client``'s own timeout (or :data:`DEFAULT_TIMEOUT`).
    timeout: Timeout | NotGiven
    http_client: httpx.AsyncClient | None
    send_code_with_every_request: bool
    retry: RetryPolicy
    requests_per_second: float | None
    deadline: float | None
    max_concurrent_requests: int
    max_response_bytes: int
    #: Where ``idempotency_key`` calls are remembered (a path, or a PostgreSQL URL), or None.
    idempotency_store: str | os.PathLike[str] | None
    #: Seconds a key is remembered, and seconds to wait for a key being added elsewhere.
    idempotency_ttl: float
    idempotency_wait: float
    #: Seconds a journal's or a key's lease lasts unless its holder renews it.
    lease_seconds: float

    @classmethod
    def build(
        cls,
        code: str | None,
        *,
        base_url: str | NotGiven,
        timeout: Timeout | NotGiven,
        max_retries: int | None,
        http_client: httpx.AsyncClient | None,
        send_code_with_every_request: bool,
        resend_unknown_outcome: bool | None,
        retry_policy: RetryPolicy | None,
        requests_per_second: float | None,
        deadline: float | None,
        allow_insecure_http: bool,
        max_concurrent_requests: int,
        max_response_bytes: int,
        idempotency_store: object = None,
        idempotency_ttl: object = DEFAULT_IDEMPOTENCY_TTL,
        idempotency_wait: object = DEFAULT_IDEMPOTENCY_WAIT,
        lease_seconds: object = DEFAULT_LEASE_SECONDS,
    ) -> ClientOptions:
        """The options of :class:`AsyncDialer`'s constructor, each checked (see its docs)."""
        if code is None:
            code = os.environ.get("VOICENTER_CODE") or None
        if code is not None:
            if not isinstance(code, str) or not code.strip():
                raise ValidationError("code must be a non-empty str (the account's code)")
            sendable_code(code, "code")
        if isinstance(base_url, NotGiven):
            base_url = os.environ.get(BASE_URL_VARIABLE) or DEFAULT_BASE_URL
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            # A sync httpx.Client would block the event loop, then fail after sending.
            raise ValidationError(
                f"http_client must be an httpx.AsyncClient, got {type(http_client).__name__}"
            )
        url, auth = _credentials(
            _base_url(base_url, _flag(allow_insecure_http, "allow_insecure_http"))
        )
        return cls(
            code=code,
            base_url=url,
            base_auth=auth,
            timeout=_timeout(timeout),
            http_client=http_client,
            send_code_with_every_request=_flag(
                send_code_with_every_request, "send_code_with_every_request"
            ),
            retry=_retry_policy(retry_policy, max_retries, resend_unknown_outcome),
            requests_per_second=_positive(requests_per_second, "requests_per_second"),
            deadline=_positive(deadline, "deadline"),
            max_concurrent_requests=_count(max_concurrent_requests, "max_concurrent_requests"),
            max_response_bytes=_count(max_response_bytes, "max_response_bytes"),
            idempotency_store=_store(idempotency_store),
            idempotency_ttl=_seconds(idempotency_ttl, "idempotency_ttl"),
            idempotency_wait=_wait(idempotency_wait),
            lease_seconds=_seconds(lease_seconds, "lease_seconds"),
        )

    def changed(
        self,
        *,
        timeout: Timeout | NotGiven,
        max_retries: int | NotGiven,
        deadline: float | NotGiven | None,
        resend_unknown_outcome: bool | NotGiven,
    ) -> ClientOptions:
        """These options with those given changed (``with_options``), each checked."""
        retry = self.retry
        if not isinstance(max_retries, NotGiven):
            retry = attrs.evolve(retry, max_retries=_retries(max_retries))
        if not isinstance(resend_unknown_outcome, NotGiven):
            retry = attrs.evolve(
                retry,
                resend_unknown_outcome=_flag(resend_unknown_outcome, "resend_unknown_outcome"),
            )
        return attrs.evolve(
            self,
            retry=retry,
            timeout=self.timeout if isinstance(timeout, NotGiven) else _timeout(timeout),
            deadline=self.deadline
            if isinstance(deadline, NotGiven)
            else _positive(deadline, "deadline"),
        )


def _flag(value: object, name: str) -> bool:
    # Only a bool: "false" is a true value, and would dial a person twice.
    if not isinstance(value, bool):
        raise ValidationError(f"{name} must be True or False, got {shown(value)}")
    return value


def _seconds(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{name} must be a number of seconds or None, got {shown(value)}")
    try:
        seconds = float(value)
    except OverflowError:  # an int beyond every float (10**5000): no bound either
        seconds = math.inf
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValidationError(f"{name} must be > 0 seconds, got {shown(value)}")
    return seconds


def _store(value: object) -> str | os.PathLike[str] | None:
    if value is not None and not isinstance(value, str | os.PathLike):
        raise ValidationError(
            f"idempotency_store must be a path or a postgresql:// URL, got {type(value).__name__}"
        )
    return value


def _wait(value: object) -> float:
    # 0 is a valid wait: a key held elsewhere is an IdempotencyConflict at once.
    if value == 0 and not isinstance(value, bool):
        return 0.0
    return _seconds(value, "idempotency_wait")


def _positive(value: object, name: str) -> float | None:
    return None if value is None else _seconds(value, name)


def _timeout(value: object) -> Timeout | NotGiven:
    if value is None or value is NOT_GIVEN or isinstance(value, httpx.Timeout):
        return value
    return _seconds(value, "timeout")


def _count(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValidationError(f"{name} must be an int >= 1, got {shown(value)}")
    return value


def _retries(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValidationError(f"max_retries must be an int >= 0, got {shown(value)}")
    return value


def _retry_policy(
    policy: object, max_retries: object, resend_unknown_outcome: object
) -> RetryPolicy:
    """The one retry policy: *policy*, or one built from the two simple options."""
    if policy is not None:
        if not isinstance(policy, RetryPolicy):
            raise ValidationError(f"retry_policy must be a RetryPolicy, got {shown(policy)}")
        if max_retries is not None or resend_unknown_outcome is not None:
            raise ValidationError(
                "give max_retries and resend_unknown_outcome inside retry_policy "
                "(RetryPolicy(max_retries=..., resend_unknown_outcome=...)), not beside it"
            )
        return policy
    retries = DEFAULT_MAX_RETRIES if max_retries is None else _retries(max_retries)
    resend = (
        False
        if resend_unknown_outcome is None
        else _flag(resend_unknown_outcome, "resend_unknown_outcome")
    )
    return RetryPolicy(max_retries=retries, resend_unknown_outcome=resend)


def _base_url(base_url: object, allow_insecure_http: bool) -> str:
    """*base_url* ending in ``/``; codes travel in request bodies, so clear text is refused
    unless it stays on this machine."""
    if not isinstance(base_url, str):
        raise ValidationError(f"base_url must be a str, got {type(base_url).__name__}")
    if not base_url.endswith("/"):
        base_url += "/"
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL:  # httpx's message may quote the URL, and its password
        raise ValidationError(f"base_url is not a URL: {mask_url(base_url)!r}") from None
    if url.port is not None and not 0 < url.port < 65536:
        raise ValidationError(f"base_url has no valid port: {mask_url(base_url)!r}")
    if url.scheme == "https":
        return base_url
    if url.scheme != "http":
        raise ValidationError(f"base_url must be an https:// URL, got {url.scheme or 'no'} scheme")
    if allow_insecure_http or _is_loopback(url.host):
        return base_url
    raise ValidationError(
        f"base_url {mask_url(base_url)!r} is plain http:// off this machine: account and "
        "campaign codes would travel in clear text. Use https://, or pass "
        "allow_insecure_http=True"
    )


def _credentials(base_url: str) -> tuple[str, tuple[str, str] | None]:
    """*base_url* without its ``user:password@``, and those (for HTTP Basic auth, as httpx
    would send them)."""
    url = httpx.URL(base_url)
    if not url.userinfo:
        return base_url, None
    return str(url.copy_with(userinfo=b"")), (url.username, url.password)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
