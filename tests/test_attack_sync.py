"""Outside attacks on the sync Dialer: callbacks that use the dialer, threads' code run
where it did not expect to be. Each test is a finding: red until the library is fixed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from voicenter_dialer import BulkProgress, Call, Dialer, DialerError
from voicenter_dialer.testing import FakeServer

from .test_sync_callbacks import bounded


def test_close_from_a_plain_on_progress_does_not_hang(server: FakeServer) -> None:
    """A plain on_progress runs in the calling thread and "may use the dialer": close() from
    it must work or raise a DialerError, never wait for the upload that waits for it."""
    code = server.fake.add_campaign().code
    dialer = Dialer(base_url=server.base_url)

    def on_progress(_: BulkProgress) -> None:
        dialer.close()

    outcome = bounded(
        lambda: dialer.add_calls_bulk(code, [Call("972501234567")], on_progress=on_progress)
    )

    assert not isinstance(outcome, BaseException) or isinstance(outcome, DialerError), outcome


def _django_queryset() -> Iterator[Call]:
    """A lead source that, like Django's ORM (``async_unsafe``), refuses to run in a thread
    whose event loop is running: the Dialer is sold to Django users."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("You cannot call this from an async context - use a thread")
    yield from (Call(f"9725012345{i:02d}") for i in range(5))


def test_a_django_queryset_as_input_is_read_outside_the_loop(server: FakeServer) -> None:
    campaign = server.fake.add_campaign()
    with Dialer(base_url=server.base_url) as dialer:
        report = bounded(lambda: dialer.add_calls_bulk(campaign.code, _django_queryset()))

    assert not isinstance(report, BaseException), repr(report)
    assert len(campaign.targets()) == 5
