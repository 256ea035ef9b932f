"""Every option of a dialer is type-checked once, in one place, with a ValidationError that
names it: the constructor, with_options, and so Dialer and the CLI."""

from __future__ import annotations

import httpx
import pytest

from voicenter_dialer import AsyncDialer, ValidationError

from .examples import ACCOUNT_CODE

BAD_CONSTRUCTOR_OPTIONS = [
    ("timeout", "5"),
    ("timeout", -1),
    ("timeout", True),
    ("deadline", "5"),
    ("deadline", float("nan")),
    ("max_retries", "2"),
    ("max_retries", 1.0),
    ("resend_unknown_outcome", "false"),
    ("resend_unknown_outcome", 1),
    ("send_code_with_every_request", "yes"),
    ("allow_insecure_http", "no"),
    ("requests_per_second", "10"),
    ("requests_per_second", 0),
    ("max_concurrent_requests", 0),
    ("max_concurrent_requests", "8"),
    ("max_response_bytes", 1.5),
    ("retry_policy", {"max_retries": 1}),
    ("base_url", b"https://example.com/"),
    ("lease_seconds", 0),
    ("lease_seconds", "30"),
    ("lease_seconds", float("inf")),
    # Beyond every float, and beyond what repr may write (pytest's ids included).
    pytest.param("lease_seconds", 10**5000, id="lease_seconds-huge"),
    pytest.param("idempotency_ttl", 10**5000, id="idempotency_ttl-huge"),
    pytest.param("deadline", 10**5000, id="deadline-huge"),
    pytest.param("timeout", 10**5000, id="timeout-huge"),
]


@pytest.mark.parametrize(("name", "value"), BAD_CONSTRUCTOR_OPTIONS)
def test_the_constructor_names_a_bad_option(name: str, value: object) -> None:
    with pytest.raises(ValidationError, match=name):
        AsyncDialer(ACCOUNT_CODE, **{name: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("timeout", "5"),
        ("deadline", "5"),
        ("max_retries", "1"),
        ("resend_unknown_outcome", "false"),
        ("resend_unknown_outcome", None),
    ],
)
def test_with_options_names_a_bad_option(name: str, value: object) -> None:
    dialer = AsyncDialer(ACCOUNT_CODE)
    with pytest.raises(ValidationError, match=name):
        dialer.with_options(**{name: value})  # type: ignore[arg-type]


def test_a_string_false_never_turns_re_sending_on() -> None:
    with pytest.raises(ValidationError, match="True or False"):
        AsyncDialer(ACCOUNT_CODE, resend_unknown_outcome="false")  # type: ignore[arg-type]


def test_a_synchronous_http_client_is_refused_before_anything_is_sent() -> None:
    sent: list[httpx.Request] = []
    client = httpx.Client(transport=httpx.MockTransport(lambda r: sent.append(r)))  # type: ignore[arg-type]
    with client, pytest.raises(ValidationError, match=r"httpx\.AsyncClient"):
        AsyncDialer(ACCOUNT_CODE, http_client=client)  # type: ignore[arg-type]
    assert sent == []
