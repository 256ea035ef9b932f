"""A server that is not the bottleneck: AddCallsBulk answered at a small CPU cost.

    python benchmarks/_cheap_server.py [--latency 0.02]

Prints its base URL, then serves HTTP/1.1 keep-alive on 127.0.0.1 until killed. Each
AddCallsBulk answer carries one AddResult per request item, in order, in the fake dialer's
shape (Target, ErrorCode, Description, CustomData; CustomData is not echoed), so a client's
merge does real work: a Target shorter than 9 characters is answered -2 "Number is invalid"
(the benchmark's short numbers), any other OK. There is no campaign state and no
validation: the fake dialer spent ~1.2 s of CPU on 200,000 leads, which bounded the clients
it was meant to measure; this spends about a tenth of that (bulk_upload.py prints it).
"""

from __future__ import annotations

import argparse
import asyncio
import re

_HEAD_END = b"\r\n\r\n"
_LENGTH = b"\r\ncontent-length:"
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
# Each item's Target, found in the encoded request rather than by decoding it: a full decode
# and re-encode cost ~2.5 ms per 1,000 leads on the 2-core test machine, this ~0.7 ms.
# Both json.dumps (", ", ": ") and orjson (compact) spellings; a Target with an escape in it
# is not found, and the benchmark's leads have none.
_TARGET = re.compile(rb'"Target": ?"([^"\\]*)"')
_SHORTEST_VALID = 9
_OK = b'{"Target":"%s","ErrorCode":0,"Description":"OK","CustomData":{}}'
_INVALID = b'{"Target":"%s","ErrorCode":-2,"Description":"Number is invalid","CustomData":{}}'


def answer(body: bytes) -> bytes:
    """The AddCallsBulk envelope for a request *body*: one AddResult per Target, in order."""
    results = b",".join(
        [
            (_OK if len(target) >= _SHORTEST_VALID else _INVALID) % target
            for target in _TARGET.findall(body)
        ]
    )
    return b'{"ErrorCode":0,"Description":"OK","AddResult":[' + results + b"]}"


def reply(head: bytes, body: bytes) -> bytes:
    if not head.startswith(b"POST ") or b"/AddCallsBulk " not in head.split(b"\r\n", 1)[0]:
        return _NOT_FOUND
    content = answer(body)
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
        % len(content)
        + content
    )


class Connection(asyncio.Protocol):
    """One keep-alive connection: requests parsed as they arrive, each answered after a delay."""

    def __init__(self, latency: float) -> None:
        self._latency = latency
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(_HEAD_END)) >= 0:
            head = bytes(self._buffer[:end])
            at = head.lower().find(_LENGTH)
            length = 0 if at < 0 else int(head[at + len(_LENGTH) :].split(b"\r\n", 1)[0])
            if len(self._buffer) < end + 4 + length:
                return  # the rest of the body is still on its way
            body = bytes(self._buffer[end + 4 : end + 4 + length])
            del self._buffer[: end + 4 + length]
            # A timer rather than a task per request: the delay costs the server no CPU.
            asyncio.get_running_loop().call_later(self._latency, self._write, reply(head, body))

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


async def serve(latency: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(latency), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}/", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.02)
    asyncio.run(serve(parser.parse_args().latency))
