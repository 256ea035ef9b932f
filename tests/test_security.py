"""Transport security: certificates are verified, and codes never go out in clear text."""

from __future__ import annotations

import ssl

import pytest

from voicenter_dialer import AsyncDialer, ValidationError


def test_certificates_are_verified_by_default() -> None:
    dialer = AsyncDialer()
    context: ssl.SSLContext = dialer._core.http_client._transport._pool._ssl_context  # type: ignore[attr-defined]
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


@pytest.mark.parametrize(
    "url",
    [
        "http://api.voicenter.com/ForwardDialer/Dialer/",
        "http://10.0.0.5:8080/",
        "http://dialer.internal/",
    ],
)
def test_clear_text_off_this_machine_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="clear text"):
        AsyncDialer(base_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/",
        "http://127.8.9.10/",
        "http://localhost:9000/dialer/",
        "http://[::1]:8080/",
        "https://api.voicenter.com/ForwardDialer/Dialer/",
    ],
)
def test_loopback_and_https_are_accepted(url: str) -> None:
    AsyncDialer(base_url=url)


def test_clear_text_when_asked_explicitly() -> None:
    AsyncDialer(base_url="http://dialer.internal/", allow_insecure_http=True)


@pytest.mark.parametrize("url", ["ftp://dialer/", "dialer.example.com", "http://"])
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        AsyncDialer(base_url=url)
