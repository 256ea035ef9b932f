"""Raw responses: ``dialer.with_raw_response.<method>(...)`` gives the HTTP answer of a call
(status, headers, the body as sent) beside what the method returns.

The method runs as it always does; :func:`._answer.capturing` hands over the answer it
decoded. Errors are raised as they are (their ``.response`` is the HTTP answer).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, ParamSpec, TypeVar

import httpx

from ._answer import capturing, readable

__all__ = ["RawResponse", "raw"]

P = ParamSpec("P")
T = TypeVar("T")


class RawResponse(Generic[T]):
    """The HTTP answer of one call, and what the method returns (:meth:`parse`)."""

    __slots__ = ("_parsed", "http_response")

    def __init__(self, http_response: httpx.Response, parsed: T) -> None:
        #: The :class:`httpx.Response`, its body readable (``.content``, ``.json()``) as
        #: the service sent it: not redacted.
        self.http_response = http_response
        self._parsed = parsed

    @property
    def status_code(self) -> int:
        """The HTTP status."""
        return self.http_response.status_code

    @property
    def headers(self) -> httpx.Headers:
        """The HTTP headers."""
        return self.http_response.headers

    def parse(self) -> T:
        """What the method returns (a :class:`Campaign`, a list, ``None``...)."""
        return self._parsed

    def __repr__(self) -> str:
        return f"<RawResponse [{self.status_code}]>"


def raw(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[RawResponse[T]]]:
    """*method* (a bound coroutine method of a dialer), returning its :class:`RawResponse`."""

    async def call(*args: P.args, **kwargs: P.kwargs) -> RawResponse[T]:
        with capturing() as seen:
            parsed = await method(*args, **kwargs)
        answer = seen[-1]
        assert answer.response is not None  # a decoded answer always has its response
        return RawResponse(readable(answer.response, answer.content), parsed)

    return call
