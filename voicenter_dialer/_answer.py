"""An answer of the service: decoded and checked into an :class:`Answer`, or the typed error
it means. The request core reads bytes off the wire; what they say is decided here.

An error keeps the :class:`httpx.Response` behind it (:func:`kept`), with its request's codes
masked, and quotes at most a short, redacted snippet of the body in its message.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final, TypeVar

import httpx
import orjson

from ._converter import structure, structure_list, wire_int
from ._exceptions import ResponseError, api_error
from ._outcome import outcome
from ._retry import retry_after_seconds
from ._secrets import mask, redact

__all__ = ["KEPT_BODY_BYTES", "Answer", "capturing", "decode", "kept", "readable", "snippet"]

T = TypeVar("T")

_SNIPPET_LENGTH: Final = 200
#: How much of a request's and of an answer's body an error keeps: enough for a support
#: ticket, and a report of many failed chunks stays small whatever their error pages weigh.
KEPT_BODY_BYTES: Final = 16 * 1024
_WHITESPACE: Final = re.compile(r"\s+")
# A code in an answer's text that the request did not carry (GetCampaignList lists every
# campaign's): masked by where it stands, even in a body cut short.
_CODE_FIELD: Final = re.compile(r'("(?:Code|Campaign)"\s*:\s*")([^"]*)', re.IGNORECASE)


class Answer:
    """A checked answer (ErrorCode 0) of one API method.

    A plain slotted class: one is made per request, and a frozen attrs class took a fifth of
    the request core's own CPU to build.
    """

    __slots__ = ("content", "envelope", "method", "response", "secrets", "status")

    def __init__(
        self,
        method: str,
        envelope: dict[str, Any],
        status: int,
        secrets: tuple[str | None, ...] = (),
        response: httpx.Response | None = None,
        content: bytes = b"",
    ) -> None:
        self.method = method
        #: The decoded JSON object.
        self.envelope = envelope
        #: Its HTTP status.
        self.status = status
        #: The codes the request carried, masked in any text taken from the answer.
        self.secrets = secrets
        #: The HTTP answer (streamed and closed) and its body as read, for a raw response.
        self.response = response
        self.content = content

    def __repr__(self) -> str:
        return f"Answer({self.method!r}, status={self.status})"

    def redact(self, text: str) -> str:
        """*text* from the answer, with any code it echoes masked."""
        return redact(text, self.secrets)

    def data(self) -> object:
        """``Data``, or None when the answer has none."""
        return self.envelope.get("Data")

    def required_data(self) -> object:
        data = self.envelope.get("Data")
        if data is None:
            raise self.error("the answer has no Data", outcome_unknown=False)
        return data

    def structure(self, cls: type[T]) -> T:
        """``Data`` as *cls*; :class:`ResponseError` when it is absent or misshapen."""
        return structure(self.required_data(), cls, method=self.method, status_code=self.status)

    def structure_list(self, cls: type[T]) -> list[T]:
        """``Data`` as a list of *cls* (absent means empty)."""
        data = self.data()
        return structure_list(
            [] if data is None else data, cls, method=self.method, status_code=self.status
        )

    def total(self, key: str) -> int:
        """The integer ``Data[key]`` (TotalAdded, TotalRemoved)."""
        data = self.data()
        value = wire_int(data.get(key)) if isinstance(data, dict) else None
        if value is None:
            raise self.error(f"the answer has no integer Data.{key}", outcome_unknown=True)
        return value

    def error(self, what: str, *, outcome_unknown: bool) -> ResponseError:
        """A :class:`ResponseError` about this answer's content."""
        return ResponseError(
            f"{self.method}: {what}",
            method=self.method,
            status_code=self.status,
            outcome_unknown=outcome_unknown,
        )


#: The answers decoded while a :func:`capturing` block is open in this task.
_CAPTURED: Final = contextvars.ContextVar[list[Answer] | None](
    "voicenter_dialer_captured", default=None
)


@contextmanager
def capturing() -> Iterator[list[Answer]]:
    """The answers decoded (successfully) in this block, in order: a raw response's."""
    seen: list[Answer] = []
    token = _CAPTURED.set(seen)
    try:
        yield seen
    finally:
        _CAPTURED.reset(token)


def readable(response: httpx.Response, content: bytes) -> httpx.Response:
    """*response*, which was streamed and closed, with *content* as its body again: set
    where ``Response.read()`` itself keeps it."""
    response._content = content
    return response


def kept(
    response: httpx.Response, content: bytes, secrets: tuple[str | None, ...]
) -> httpx.Response:
    """*response*, kept on an error: its body readable (the first :data:`KEPT_BODY_BYTES` read,
    as received), and its request's body (as much) with the codes it carried masked.

    The answer was streamed and closed, so its body is set where ``Response.read()`` itself
    keeps it. Built only on the way to an error: a successful call pays nothing.
    """
    readable(response, content[:KEPT_BODY_BYTES])
    request = response.request
    response.request = httpx.Request(
        request.method,
        request.url,
        headers=[(k, v) for k, v in request.headers.multi_items() if k.lower() != "content-length"],
        content=redact(request.content.decode("utf-8", "replace"), secrets).encode()[
            :KEPT_BODY_BYTES
        ],
    )
    return response


def snippet(content: bytes, secrets: tuple[str | None, ...]) -> str:
    """The start of the body, for a message: redacted first, then cut (a code cut in half
    would escape redaction)."""
    longest = max((len(secret) for secret in secrets if secret), default=0)
    # Enough bytes for the snippet plus any code that straddles its end.
    raw = content[: (_SNIPPET_LENGTH + longest) * 4]
    text = redact(_WHITESPACE.sub(" ", raw.decode("utf-8", "replace")).strip(), secrets)
    text = _CODE_FIELD.sub(lambda found: found[1] + mask(found[2]), text)
    if len(text) > _SNIPPET_LENGTH:
        text = text[:_SNIPPET_LENGTH] + "…"
    return text


def _undocumented(
    what: str,
    method: str,
    response: httpx.Response,
    content: bytes,
    secrets: tuple[str | None, ...],
) -> ResponseError:
    """A 2xx answer that is not the documented JSON: the server may have acted all the same."""
    return ResponseError(
        f"{method}: {what}",
        method=method,
        outcome_unknown=True,
        status_code=response.status_code,
        response=kept(response, content, secrets),
    )


def decode(
    method: str, response: httpx.Response, content: bytes, secrets: tuple[str | None, ...]
) -> Answer:
    """The checked :class:`Answer` in *response* (ErrorCode 0); a typed DialerError otherwise.

    *secrets* are the codes the request carried: masked in any text taken from the answer.
    """
    status = response.status_code
    if not response.is_success:
        message = f"{method}: HTTP {status} {response.reason_phrase}".rstrip()
        if response.is_redirect:
            message += " (a redirect, not followed: codes are never sent through one)"
        elif shown := snippet(content, secrets):
            message += f": {shown!r}"
        raise ResponseError(
            message,
            method=method,
            outcome_unknown=outcome(status) == "unknown",
            status_code=status,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            response=kept(response, content, secrets),
        )
    try:
        envelope = orjson.loads(content)
    except orjson.JSONDecodeError:
        raise _undocumented(
            f"HTTP {status} answer is not JSON "
            f"(Content-Type {response.headers.get('Content-Type', 'none')!r}, "
            f"body {snippet(content, secrets)!r})",
            method, response, content, secrets,
        ) from None  # fmt: skip
    if not isinstance(envelope, dict) or "ErrorCode" not in envelope:
        shape = (
            "an object without ErrorCode"
            if isinstance(envelope, dict)
            else f"a JSON {type(envelope).__name__}"
        )
        raise _undocumented(
            f"expected a JSON object with ErrorCode, got {shape}",
            method, response, content, secrets,
        )  # fmt: skip
    error_code = wire_int(envelope["ErrorCode"])
    if error_code is None:
        raise _undocumented(
            f"ErrorCode is not an integer ({type(envelope['ErrorCode']).__name__})",
            method, response, content, secrets,
        )  # fmt: skip
    if error_code != 0:
        description = envelope.get("Description")
        text = redact(description if isinstance(description, str) else "", secrets)
        campaign = secrets[1] if len(secrets) > 1 else None
        raise api_error(
            method,
            error_code,
            text,
            context=f"campaign {mask(campaign)}" if campaign else "",
            response=kept(response, content, secrets),
        )
    answer = Answer(method, envelope, status, secrets, response, content)
    captured = _CAPTURED.get()
    if captured is not None:
        captured.append(answer)
    return answer
