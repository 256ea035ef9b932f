"""The fake dialer over real HTTP on loopback, served by uvicorn in a background thread."""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import TYPE_CHECKING

import attrs

from ._faults import Fault
from ._http import FakeApp, FakeDialer, InjectedReset

if TYPE_CHECKING:
    import uvicorn

__all__ = ["FakeServer", "SpawnedServer", "bind", "make_server", "serve", "spawn"]

_START_TIMEOUT = 10.0
_BACKLOG = 2048
_PATH = "/ForwardDialer/Dialer/"


@attrs.frozen
class FakeServer:
    """A running loopback server: point ``AsyncDialer(base_url=server.base_url)`` at it."""

    #: The fake dialer it serves: its state may be read and changed while it runs.
    fake: FakeDialer
    #: The address it listens on, as given to :func:`serve` (``"127.0.0.1"``).
    host: str
    #: The port it listens on (the one the system chose when :func:`serve` was given 0).
    port: int

    @property
    def base_url(self) -> str:
        """The URL to pass as ``AsyncDialer(base_url=...)``."""
        return f"http://{self.host}:{self.port}{_PATH}"


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket on *host*:*port* (a free port when 0).

    It listens before the server runs, so early clients queue instead of being refused.
    """
    # IPPROTO_TCP given explicitly: asyncio sets TCP_NODELAY on accepted connections only
    # then, and without it every answer waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(_BACKLOG)
    except BaseException:  # a busy port: not a leaked socket besides
        sock.close()
        raise
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
    It shares this process's GIL, so a busy client slows it down: for load tests and
    benchmarks, :func:`spawn` runs it in a process of its own.
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


@attrs.frozen
class SpawnedServer:
    """A fake dialer running in a process of its own (see :func:`spawn`)."""

    #: The URL to pass as ``AsyncDialer(base_url=...)``.
    base_url: str
    #: The account ``Code`` it accepts (random unless given to :func:`spawn`).
    account_code: str
    #: The code of its one campaign.
    campaign_code: str
    #: The process id of the server.
    pid: int


@contextlib.contextmanager
def spawn(
    *,
    host: str = "127.0.0.1",
    latency: float = 0.0,
    faults: Mapping[Fault, float] | None = None,
    retry_after: float = 0.0,
    slow_seconds: float = 5.0,
    seed: int = 0,
    account_code: str | None = None,
    campaign_code: str | None = None,
    capacity: int | None = None,
) -> Iterator[SpawnedServer]:
    """Run ``voicenter-dialer fake-server`` in a new process with one campaign, until the
    block ends. Its state is reached through the API only."""
    command = [
        sys.executable, "-m", "voicenter_dialer", "fake-server", "--host", host, "--port", "0",
        "--latency", str(latency), "--retry-after", str(retry_after),
        "--slow-seconds", str(slow_seconds), "--seed", str(seed),
        *(f"--fault={name}={rate}" for name, rate in (faults or {}).items()),
        *(["--account-code", account_code] if account_code else []),
        *(["--capacity", str(capacity)] if capacity else []),
        *(["--campaign-code", campaign_code] if campaign_code else []),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().split() for _ in range(3)]
        if [line[:1] for line in lines] != [["listening"], ["account"], ["campaign"]]:
            raise RuntimeError(f"the fake dialer's process did not start: {lines}")
        yield SpawnedServer(lines[0][1], lines[1][2], lines[2][2], process.pid)
    finally:
        process.terminate()
        process.wait(_START_TIMEOUT)
        if process.stdout is not None:
            process.stdout.close()
