"""Masking of account and campaign codes, and of passwords in URLs.

Codes are bearer credentials: whoever holds a campaign code can add calls to it and start or
stop it. Everything that may end up in a log, a ``repr`` or an exception message goes through
:func:`mask` or :func:`redact` first; a URL that may hold a password through :func:`mask_url`,
and a dependency's message that may quote one through :func:`scrub`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

__all__ = ["UrlParts", "mask", "mask_url", "redact", "scrub", "split_url"]

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


class UrlParts(NamedTuple):
    """A URL cut where its credentials end (see :func:`split_url`)."""

    scheme: str
    #: As written (still percent-encoded); None when the URL names no user.
    user: str | None
    #: As written (still percent-encoded); None when the URL holds none.
    password: str | None
    #: What follows the credentials: host, port, path, query and fragment.
    rest: str


# A URL pasted with blanks before it is still one (and its password still a secret).
_SCHEME = re.compile(r"\s*([A-Za-z][A-Za-z0-9+.-]*)://")


def split_url(url: str) -> UrlParts | None:
    """Cut *url* (``scheme://[user[:password]@]rest``) at the end of its credentials; None
    when it is not ``scheme://...`` (a path).

    A password may hold unencoded ``@``, ``/``, ``%``, ``#`` or ``?``: credentials with a
    password end at the LAST ``@`` of the URL, never at the first ``/`` as ``urlsplit`` would
    have it (so an ``@`` in the fragment must be written ``%40`` there). Without a password,
    a user name ends at an ``@`` before the first ``/``, ``?`` or ``#``.
    """
    found = _SCHEME.match(url)
    if found is None:
        return None
    scheme, rest = found.group(1), url[found.end() :]
    user, colon, password = rest[: max(rest.rfind("@"), 0)].partition(":")
    if colon:
        return UrlParts(scheme, user, password, rest[len(user) + len(password) + 2 :])
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    user, at, _ = authority.partition("@")
    if not at:
        return UrlParts(scheme, None, None, rest)
    return UrlParts(scheme, user, None, rest[len(user) + 1 :])


def mask_url(url: str) -> str:
    """*url* safe to show: its user kept, its password as ``***``, its query (which may hold
    one: ``?password=``) dropped. What is not a ``scheme://`` URL is returned as it is."""
    parts = split_url(url)
    if parts is None:
        return url
    head, hash_, fragment = parts.rest.partition("#")
    credentials = ""
    if parts.user is not None:
        credentials = parts.user + (":***" if parts.password is not None else "") + "@"
    return f"{parts.scheme}://{credentials}{head.partition('?')[0]}{hash_}{fragment}"


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """*text* with every occurrence of each secret (a password: nothing of it is shown)
    replaced by ``***``; for messages of a dependency that may quote one."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
