"""Masking of account and campaign codes.

Codes are bearer credentials: whoever holds a campaign code can add calls to it and start or
stop it. Everything that may end up in a log, a ``repr`` or an exception message goes through
:func:`mask` or :func:`redact` first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["mask", "redact"]

# Below this length even the last four characters are a large share of the secret.
_MIN_LENGTH_TO_SHOW_TAIL = 12


def mask(code: str | None) -> str:
    """Return a form of *code* that is safe to show: ``'…' + last 4 characters``."""
    if not code:
        return "<none>"
    if len(code) < _MIN_LENGTH_TO_SHOW_TAIL:
        return "…"
    return "…" + code[-4:]


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every occurrence of each secret in *text* by its masked form.

    Used on text the server sends back (descriptions, error pages), which may echo a code,
    in any letter case. Redact before cutting a text short: a cut code escapes the match.
    """
    for secret in secrets:
        if secret and len(secret) >= 4 and secret.casefold() in text.casefold():
            text = re.sub(re.escape(secret), mask(secret), text, flags=re.IGNORECASE)
    return text
