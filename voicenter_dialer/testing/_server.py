"""The fake dialer over real HTTP on loopback, served by uvicorn in a background thread."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING

import attrs

from ._fake import FakeDialer
from ._http import FakeApp, InjectedReset

if TYPE_CHECKING:
    import uvicorn

__all__ = ["FakeServer", "bind", "make_server", "serve"]

_START_TIMEOUT = 10.0
_PATH = "/ForwardDialer/Dialer/"


@attrs.frozen
class FakeServer:
    """A running loopback server: point ``AsyncDialer(base_url=server.base_url)`` at it."""

    fake: FakeDialer
    host: str
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}{_PATH}"


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening-ready socket on *host*:*port* (a free port when 0)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def _uvicorn() -> ModuleType:
    try:
        import uvicorn
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "serving the fake dialer over HTTP needs uvicorn: pip install 'voicenter-dialer[fake]'"
        ) from exc
    return uvicorn


class _DropInjectedResets(logging.Filter):
    """uvicorn logs an injected connection reset as an application error: it is expected."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], InjectedReset))


def make_server(fake: FakeDialer, *, log_level: str = "warning") -> uvicorn.Server:
    """A uvicorn server for *fake*; run it with ``server.run(sockets=[bind(...)])``."""
    uv = _uvicorn()
    logging.getLogger("uvicorn.error").addFilter(_DropInjectedResets())
    config = uv.Config(
        FakeApp(fake), lifespan="off", access_log=False, log_level=log_level, log_config=None
    )
    server: uvicorn.Server = uv.Server(config)
    return server


@contextlib.contextmanager
def serve(
    fake: FakeDialer | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[FakeServer]:
    """Serve *fake* (a new one when None) on loopback until the block ends.

    Usable from sync and async code alike: the server runs in its own thread and event loop.
    """
    fake = fake or FakeDialer()
    server = make_server(fake)
    sock = bind(host, port)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="fake-dialer", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the fake dialer's server did not start")
        time.sleep(0.005)
    try:
        yield FakeServer(fake, host, sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(_START_TIMEOUT)
        sock.close()
