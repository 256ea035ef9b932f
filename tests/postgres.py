"""A real PostgreSQL server for the tests: started once per session on 127.0.0.1, in a
temporary directory, and stopped (and removed) at the end.

The server refuses to run as root, so under root (as CI runs) its commands run as the
unprivileged ``postgres`` user. Missing binaries fail the tests that need them rather than
skip them: CI has them, and a skip would hide that nothing was tested.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs
import psycopg
import pytest

#: Where Debian's PostgreSQL 15 is, when its binaries are not on PATH.
_FALLBACK_BIN = Path("/usr/lib/postgresql/15/bin")
_USER = "postgres"


@attrs.frozen
class PostgresServer:
    port: int
    bin: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{_USER}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.url(database), autocommit=True)

    def dump(self, database: str) -> bytes:
        """Everything the database holds, as pg_dump writes it."""
        return subprocess.run(
            [self.bin / "pg_dump", "--data-only", self.url(database)],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout


class ServerError(Exception):
    """The server could not be set up or started."""


def _bin() -> Path:
    found = shutil.which("initdb")
    if found is not None:
        return Path(found).resolve().parent
    if (_FALLBACK_BIN / "initdb").exists():
        return _FALLBACK_BIN
    raise ServerError("PostgreSQL's initdb and pg_ctl are not installed (Debian: postgresql-15)")


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", _USER, "--", *command]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _run(command: list[str]) -> None:
    completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    if completed.returncode != 0:
        raise ServerError(f"{command[0]} failed:\n{completed.stdout}\n{completed.stderr}")


@contextmanager
def running_server(*, fsync: bool) -> Iterator[PostgresServer]:
    """A new PostgreSQL server on 127.0.0.1, in a temporary directory removed afterwards."""
    bin = _bin()
    # Not under pytest's tmp_path: its parents are private to root, out of the server
    # user's reach.
    folder = Path(tempfile.mkdtemp(prefix="voicenter-dialer-postgres-"))
    try:
        if os.geteuid() == 0:
            user = pwd.getpwnam(_USER)
            os.chown(folder, user.pw_uid, user.pw_gid)
        data = folder / "data"
        _run(
            _as_server_user(
                [str(bin / "initdb"), "-D", str(data), "-U", _USER, "-A", "trust",
                 "-E", "UTF8", "--locale=C", "--no-sync"]
            )
        )  # fmt: skip
        port = _free_port()
        options = f"-h 127.0.0.1 -p {port} -k {folder}" + ("" if fsync else " -F")
        _run(
            _as_server_user(
                [str(bin / "pg_ctl"), "-D", str(data), "-o", options,
                 "-l", str(folder / "server.log"), "-w", "start"]
            )
        )  # fmt: skip
        try:
            yield PostgresServer(port, bin)
        finally:
            _run(_as_server_user([str(bin / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def create_database(server: PostgresServer) -> str:
    """The URL (without an upload name) of a new, empty database of its own."""
    name = f"test_{secrets.token_hex(6)}"
    with server.connect() as admin:
        admin.execute(f"CREATE DATABASE {name}")  # a name made here: nothing to quote
    return server.url(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        # No fsync: the tests need a server that survives its clients, not a power cut.
        with running_server(fsync=False) as server:
            yield server
    except ServerError as exc:
        pytest.fail(str(exc))


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> str:
    """The URL (without an upload name) of a new, empty database of its own."""
    return create_database(postgres_server)
