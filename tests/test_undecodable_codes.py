"""A code holding a lone surrogate (what an undecodable byte in an environment variable or an
argument becomes) is a ValidationError before anything is sent, never a raw
UnicodeEncodeError or TypeError; and the message does not show the code, a credential."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from voicenter_dialer import AsyncDialer, Call, ValidationError
from voicenter_dialer.testing import FakeDialer

SECRET = "SECRET-CODE-\udcff-0123456789"


def test_an_account_code_with_a_lone_surrogate_is_refused_unshown() -> None:
    with pytest.raises(ValidationError, match="code holds a lone surrogate") as refused:
        AsyncDialer(SECRET)
    assert "SECRET" not in str(refused.value)


def test_an_account_code_from_the_environment_with_an_undecodable_byte_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VOICENTER_CODE", SECRET)  # as os.environ decodes a stray byte
    with pytest.raises(ValidationError, match="code holds a lone surrogate") as refused:
        AsyncDialer()
    assert "SECRET" not in str(refused.value)


CAMPAIGN_METHODS: dict[str, Callable[[AsyncDialer, str], Awaitable[Any]]] = {
    "add_calls_bulk": lambda dialer, code: dialer.add_calls_bulk(code, [Call("972500000001")]),
    "add_call": lambda dialer, code: dialer.add_call(code, Call("972500000001")),
    "get_campaign_details": lambda dialer, code: dialer.get_campaign_details(code),
    "start_campaign": lambda dialer, code: dialer.start_campaign(code),
}


@pytest.mark.parametrize("method", sorted(CAMPAIGN_METHODS))
async def test_a_campaign_code_with_a_lone_surrogate_is_refused_before_sending(
    method: str,
) -> None:
    fake = FakeDialer()
    async with fake.client() as dialer:
        with pytest.raises(ValidationError, match="campaign code holds a lone surrogate") as e:
            await CAMPAIGN_METHODS[method](dialer, SECRET)
    assert "SECRET" not in str(e.value)
    assert fake.requests == []
