"""Pacing, deadlines and cancellation in back-off, on trio's mock clock: no real waiting."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import anyio
import httpx
import pytest
import stamina
import trio
import trio.testing

from voicenter_dialer import AsyncDialer, Call, TransportError, ValidationError

from .examples import CAMPAIGN_CODE, OK

Handler = Callable[[httpx.Request], Coroutine[Any, Any, httpx.Response]]


def on_mock_clock(main: Callable[[], Awaitable[None]]) -> None:
    """Run *main* under trio with a clock that jumps ahead whenever every task is asleep."""
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def dialer_with(handler: Handler, **options: object) -> AsyncDialer:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return AsyncDialer(http_client=client, **options)  # type: ignore[arg-type]


@pytest.fixture
def real_backoff() -> Iterator[None]:
    """stamina's real waits (the suite turns them off), which the mock clock makes instant."""
    stamina.set_testing(False)
    yield
    stamina.set_testing(True, attempts=100, cap=True)


def test_requests_are_paced_across_concurrent_calls_and_bulk_chunks() -> None:
    sent_at: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent_at.append(trio.current_time())
        if request.url.path.endswith("AddCallsBulk"):
            return httpx.Response(200, json={"ErrorCode": 0, "AddResult": []})
        return httpx.Response(200, json=OK)

    async def main() -> None:
        dialer = dialer_with(handler, requests_per_second=10)
        async with anyio.create_task_group() as tasks:
            for _ in range(5):
                tasks.start_soon(dialer.start_campaign, CAMPAIGN_CODE)
            calls = [Call(f"9725{i:08d}") for i in range(30)]
            tasks.start_soon(lambda: dialer.add_calls_bulk(CAMPAIGN_CODE, calls, chunk_size=10))

    on_mock_clock(main)

    assert len(sent_at) == 8  # 5 calls and 3 chunks, all through one pacer
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent_at)]
    assert all(gap == pytest.approx(0.1) for gap in gaps)


def test_retries_are_paced_too() -> None:
    sent_at: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent_at.append(trio.current_time())
        return httpx.Response(503 if len(sent_at) < 3 else 200, json=OK)

    async def main() -> None:
        await dialer_with(handler, requests_per_second=2).start_campaign(CAMPAIGN_CODE)

    on_mock_clock(main)  # the suite's stamina testing mode makes back-off zero: pacing remains

    assert sent_at == pytest.approx([0.0, 0.5, 1.0])


def test_deadline_while_a_request_is_out(real_backoff: None) -> None:
    async def never_answers(request: httpx.Request) -> httpx.Response:
        await trio.sleep(3600)
        raise AssertionError("unreachable")

    async def main() -> None:
        dialer = dialer_with(never_answers, deadline=5.0, timeout=None)
        with pytest.raises(TransportError, match="5 s deadline") as caught:
            await dialer.add_call(CAMPAIGN_CODE, Call("972501234567"))
        assert caught.value.outcome_unknown  # the AddCall may have arrived
        assert "get_campaign_pending_calls" in str(caught.value)
        assert trio.current_time() == pytest.approx(5.0)

    on_mock_clock(main)


def test_deadline_during_back_off(real_backoff: None) -> None:
    attempts = 0

    async def busy(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        return httpx.Response(503, headers={"Retry-After": "20"})

    async def main() -> None:
        dialer = dialer_with(busy, deadline=30.0)
        with pytest.raises(TransportError, match="30 s deadline") as caught:
            await dialer.add_call(CAMPAIGN_CODE, Call("972501234567"))
        assert not caught.value.outcome_unknown  # refused each time: certainly not added
        assert trio.current_time() == pytest.approx(30.0)

    on_mock_clock(main)
    assert attempts == 2  # at 0 s and 20 s; the next would have been at 40 s


def test_cancelled_during_back_off_stops_at_once(real_backoff: None) -> None:
    attempts = 0

    async def busy(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        return httpx.Response(503, headers={"Retry-After": "25"})

    async def main() -> None:
        dialer = dialer_with(busy)
        with trio.move_on_after(1.0) as scope:
            await dialer.start_campaign(CAMPAIGN_CODE)
        assert scope.cancelled_caught
        assert trio.current_time() == pytest.approx(1.0)  # not 25: the back-off was cut

    on_mock_clock(main)
    assert attempts == 1


@pytest.mark.parametrize("options", [{"requests_per_second": 0}, {"deadline": -1.0}])
def test_bad_pacing_options(options: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        AsyncDialer(**options)  # type: ignore[arg-type]
