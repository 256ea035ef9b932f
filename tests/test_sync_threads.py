"""Dialer from threads and event loops other than its own: calls racing close(), a caller
that runs an event loop of its own."""

from __future__ import annotations

import asyncio
import threading

from voicenter_dialer import Call, Dialer, DialerError
from voicenter_dialer.testing import FakeServer

LIMIT = 30.0


def test_calls_racing_close_fail_only_with_dialer_error(server: FakeServer) -> None:
    code = server.fake.add_campaign().code
    dialer = Dialer(base_url=server.base_url)
    errors: list[BaseException] = []
    calls_made = threading.Event()

    def caller() -> None:
        while True:
            try:
                dialer.get_campaign_details(code)
            except BaseException as exc:  # the first failure ends this caller
                errors.append(exc)
                return
            calls_made.set()

    threads = [threading.Thread(target=caller, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    assert calls_made.wait(LIMIT)
    dialer.close()
    for thread in threads:
        thread.join(LIMIT)
        assert not thread.is_alive(), "a call hung after close()"
    assert len(errors) == 8
    assert all(isinstance(error, DialerError) for error in errors), errors


def test_a_caller_inside_an_event_loop_of_its_own(server: FakeServer) -> None:
    campaign = server.fake.add_campaign()

    async def handler(dialer: Dialer) -> None:  # e.g. sync code called from async code
        dialer.add_call(campaign.code, Call("972500000001"))
        with dialer.stream_calls_bulk(campaign.code, [Call("972500000002")]) as outcomes:
            assert [chunk.accepted for chunk in outcomes] == [1]

    with Dialer(base_url=server.base_url) as dialer:
        asyncio.run(handler(dialer))
        threading_loop = threading.Thread(target=asyncio.run, args=(handler(dialer),))
        threading_loop.start()
        threading_loop.join(LIMIT)
    assert sorted(campaign.targets()) == ["972500000001"] * 2 + ["972500000002"] * 2


def test_close_inside_a_block_raises_rather_than_waits_for_itself(server: FakeServer) -> None:
    code = server.fake.add_campaign().code
    outcome: list[BaseException | None] = []

    def close_inside() -> None:
        with dialer.bulk_writer(code) as writer:
            writer.add(Call("972500000001"))
            try:
                dialer.close()
            except DialerError as exc:
                outcome.append(exc)
            else:
                outcome.append(None)

    dialer = Dialer(base_url=server.base_url)
    thread = threading.Thread(target=close_inside, daemon=True)
    thread.start()
    thread.join(LIMIT)
    assert not thread.is_alive(), "close() waited for its own block"
    assert isinstance(outcome[0], DialerError)
    assert "close the dialer after it" in str(outcome[0])
    dialer.start_campaign(code)  # still open
    dialer.close()
    assert server.fake.campaigns[code].targets() == ["972500000001"]
