"""The fake dialer behind HTTP: an httpx transport (in-process) and an ASGI app (loopback),
and :class:`FakeDialer`, the fake service that hands out clients wired to itself.

Both adapters share :func:`respond`, which routes a request, applies faults and latency, and
asks the :class:`FakeService` for the answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import anyio
import attrs
import httpx
import orjson

from voicenter_dialer._client import AsyncDialer

from ._fake import FakeService
from ._faults import BEFORE, Faults

__all__ = ["FakeApp", "FakeDialer", "FakeTransport", "InjectedReset", "Reply", "respond"]

# GET query parameters are case-insensitive in the vendor's own examples
# (``?campaign=`` and ``?Campaign=``); these are their canonical spellings.
_CANONICAL = {
    name.lower(): name
    for name in (
        "Code",
        "Campaign",
        "Target",
        "CustomerName",
        "CallerID",
        "Priority",
        "OriginateTime",
        "IsDateLocal",
        "IgnoreDncStatus",
        "Member",
        "setQueueForMonitoring",
        "setQueueMaximumCallers",
        "setCoefficient",
    )
}

_HTML_502 = (
    b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)


@attrs.frozen
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    #: Drop the connection instead of answering.
    reset: bool = False


def _json(status: int, answer: Any) -> Reply:
    return Reply(status, orjson.dumps(answer))


def _text(status: int, text: str) -> Reply:
    return Reply(status, text.encode(), content_type="text/plain")


def _query_params(query: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    custom: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key.lower().startswith("var_"):
            custom[key] = value  # the vendor's GET form of CustomData
        elif key.lower() in _CANONICAL:
            params[_CANONICAL[key.lower()]] = value
    if custom:
        params["CustomData"] = custom
    return params


async def respond(fake: FakeService, http_method: str, path: str, query: str, body: bytes) -> Reply:
    """The fake service's reply to one HTTP request."""
    method = path.rstrip("/").rsplit("/", 1)[-1]
    if method not in fake.methods:
        return _text(404, f"Not Found: {path}")
    fake.note_request(method)
    if http_method == "POST":
        try:
            params = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _text(400, "Bad Request: the body is not JSON")
    elif http_method == "GET" and method != "AddCallsBulk":
        params = _query_params(query)
    else:
        return _text(405, "Method Not Allowed")

    faults = fake.faults
    if not faults.admit():  # over capacity: turned away at once
        return Reply(429, b"Too Many Requests", "text/plain", _retry_after(faults))
    try:
        return await _serve(fake, faults, method, params)
    finally:
        faults.leave()


def _retry_after(faults: Faults) -> tuple[tuple[str, str]]:
    return (("Retry-After", f"{faults.retry_after:g}"),)


async def _serve(fake: FakeService, faults: Faults, method: str, params: Any) -> Reply:
    fault = faults.draw(method)
    if faults.latency:
        await anyio.sleep(faults.latency)
    if fault in BEFORE:
        reason = "Too Many Requests" if fault == "429" else "Service Unavailable"
        return Reply(int(fault), reason.encode(), "text/plain", _retry_after(faults))

    answer = fake.handle(method, params)

    if fault == "slow":
        await anyio.sleep(faults.slow_seconds)
    if fault == "500":
        return _text(500, "Internal Server Error")
    if fault == "reset":
        return Reply(0, b"", reset=True)
    if fault == "html":
        return Reply(502, _HTML_502, content_type="text/html")
    reply = _json(200, answer)
    if fault == "truncated":
        return attrs.evolve(reply, body=reply.body[: max(1, len(reply.body) // 2)])
    return reply


class FakeDialer(FakeService):
    """An in-memory, stateful fake of the ForwardDialer service.

    ``account_code`` is the account's code for GetCampaignList; add campaigns with
    :meth:`add_campaign`. ``faults`` decides injected failures (none by default).
    Thread-safe: the loopback server runs it in its own thread.
    """

    def client(self, **options: Any) -> AsyncDialer:
        """An :class:`AsyncDialer` answered by this fake in-process (no network).

        *options* go to :class:`AsyncDialer` (e.g. ``max_retries``).
        """
        http_client = httpx.AsyncClient(transport=FakeTransport(self))
        return AsyncDialer(self.account_code, http_client=http_client, **options)


class FakeTransport(httpx.AsyncBaseTransport):
    """An httpx transport that answers from a fake service, with no network at all."""

    def __init__(self, fake: FakeService) -> None:
        #: The fake service that answers, faults included.
        self.fake = fake

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer *request* from the fake, with its faults applied (httpx's transport API)."""
        body = await request.aread()
        reply = await respond(
            self.fake, request.method, request.url.path, request.url.query.decode(), body
        )
        if reply.reset:
            raise httpx.ReadError("connection reset by peer (injected)", request=request)
        headers = [("Content-Type", reply.content_type), *reply.headers]
        return httpx.Response(reply.status, headers=headers, content=reply.body, request=request)


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class InjectedReset(Exception):
    """Raised mid-response so that the server drops the connection."""


class FakeApp:
    """An ASGI app serving a fake service, for uvicorn on loopback."""

    def __init__(self, fake: FakeService) -> None:
        #: The fake service that answers, faults included.
        self.fake = fake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        reply = await respond(
            self.fake, scope["method"], scope["path"], scope["query_string"].decode(), bytes(body)
        )
        if reply.reset:
            # Promise a body, then fail: the server has to drop the connection mid-answer.
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", b"64")],
                }
            )
            raise InjectedReset("connection dropped (injected fault)")
        headers = [
            (b"content-type", reply.content_type.encode()),
            (b"content-length", str(len(reply.body)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in reply.headers),
        ]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})
