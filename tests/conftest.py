from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from importlib.metadata import version

import pytest
import respx
import stamina

from voicenter_dialer import AsyncDialer
from voicenter_dialer.testing import FakeServer, Faults, serve

from .examples import ACCOUNT_CODE, BASE_URL

# tests.postgres: the PostgreSQL server that the journal store tests run against.
pytest_plugins = ["pytester", "tests.postgres"]


def pytest_configure(config: pytest.Config) -> None:
    # anyio before 4.16 drops the connection it has just made when the request is cancelled
    # at that moment (connect_tcp's task group is left without closing it): the garbage
    # collector closes the socket later, with a ResourceWarning that fails whichever test is
    # running then (one CI run in three, on the minimum versions). anyio's bug, fixed
    # upstream; on the locked versions any socket left open still fails the suite.
    if tuple(map(int, version("anyio").split(".")[:2])) < (4, 16):
        for leaked in (r"<function _SelectorTransport.__del__", r"<socket.socket fd=\d+, family"):
            config.addinivalue_line(
                "filterwarnings",
                f"ignore:Exception ignored in. {leaked}:pytest.PytestUnraisableExceptionWarning",
            )


@pytest.fixture(autouse=True)
def _no_retry_waits() -> Iterator[None]:
    """Keep each method's number of attempts but wait zero seconds between them."""
    stamina.set_testing(True, attempts=100, cap=True)
    yield
    stamina.set_testing(False)


@pytest.fixture(autouse=True)
def _no_code_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOICENTER_CODE", raising=False)
    monkeypatch.delenv("VOICENTER_BASE_URL", raising=False)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    """A respx router standing in for the service; unmatched requests fail the test."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def dialer(api: respx.MockRouter) -> AsyncIterator[AsyncDialer]:
    async with AsyncDialer(ACCOUNT_CODE) as dialer:
        yield dialer


@pytest.fixture(scope="session")
def loopback() -> Iterator[FakeServer]:
    """The fake dialer, served over HTTP on 127.0.0.1 for the whole session."""
    with serve() as running:
        yield running


@pytest.fixture
def server(loopback: FakeServer) -> FakeServer:
    """The loopback fake, reset for each test: no campaign, no fault."""
    loopback.fake.campaigns.clear()
    loopback.fake.faults = Faults()
    return loopback
