"""The push-style BulkWriter, flush_after for slow sources, and concurrency="auto" through
them (the limiter itself: tests/test_concurrency.py).

Every scenario runs under asyncio and trio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from voicenter_dialer import (
    AsyncDialer,
    BulkProgress,
    BulkWriter,
    Call,
    DialerError,
    InvalidCampaignError,
    LeadOutcome,
    ValidationError,
    summarise_journal,
)
from voicenter_dialer.testing import FakeDialer, Faults
from voicenter_dialer.testing._http import FakeTransport

Scenario = Callable[["Gated", AsyncDialer], Awaitable[None]]


class Gated(httpx.AsyncBaseTransport):
    """The fake dialer in-process, whose AddCallsBulk answers wait for :attr:`gate` (open by
    default), and which tells of each request as it arrives."""

    def __init__(self, fake: FakeDialer) -> None:
        self.fake = fake
        self._inner = FakeTransport(fake)
        self.gate: anyio.Event | None = None
        self.arrived = anyio.Event()
        self.bodies: list[int] = []

    def close_gate(self) -> None:
        self.gate = anyio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/AddCallsBulk"):
            self.bodies.append(len(httpx.Response(200, content=request.content).json()))
            arrived, self.arrived = self.arrived, anyio.Event()
            arrived.set()
            if self.gate is not None:
                await self.gate.wait()
        return await self._inner.handle_async_request(request)


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def run(backend: str, scenario: Scenario, fake: FakeDialer | None = None, **options: Any) -> None:
    fake = fake or FakeDialer()

    async def main() -> None:
        transport = Gated(fake)
        async with (
            httpx.AsyncClient(transport=transport) as client,
            AsyncDialer(fake.account_code, http_client=client, **options) as dialer,
        ):
            with anyio.fail_after(60):
                await scenario(transport, dialer)

    anyio.run(main, backend=backend)


def number(i: int) -> str:
    return f"9725{i:08d}"


def test_many_producers_share_few_requests_and_each_gets_its_own_outcome(backend: str) -> None:
    async def scenario(service: Gated, dialer: AsyncDialer) -> None:
        campaign = service.fake.add_campaign("Web")
        # Every 100th is refused by the service (too short), every 250th fails validation.
        calls = [
            Call("12345") if i % 250 == 0 else Call("123456" if i % 100 == 0 else number(i))
            for i in range(2000)
        ]
        outcomes: dict[int, LeadOutcome] = {}

        async def produce(writer: BulkWriter, i: int) -> None:
            outcomes[i] = await writer.add(calls[i])

        async with (
            dialer.bulk_writer(campaign.code, chunk_size=1000) as writer,
            anyio.create_task_group() as producers,
        ):
            for i in range(2000):
                producers.start_soon(produce, writer, i)
        report = writer.report

        assert len(service.bodies) <= 3
        assert sum(service.bodies) == 2000 - 8  # the invalid ones are never sent
        for i, outcome in outcomes.items():
            assert outcome.call is calls[i]
            if i % 250 == 0:
                assert outcome.status == "failed"
                assert isinstance(outcome.error, ValidationError)
            elif i % 100 == 0:
                assert outcome.status == "rejected"
                assert outcome.result is not None
                assert outcome.result.target == "123456"
            else:
                assert outcome.accepted
        assert sorted(o.index for o in outcomes.values()) == list(range(2000))
        assert (report.total, report.accepted, len(report.rejected), len(report.failed)) == (
            2000,
            1976,
            16,
            8,
        )
        assert [r.index for r in report.rejected] == sorted(
            outcomes[i].index for i in range(0, 2000, 100) if i % 250
        )
        assert len(campaign.targets()) == 1976

    run(backend, scenario)


def test_a_partial_chunk_leaves_after_flush_after(backend: str) -> None:
    async def scenario(service: Gated, dialer: AsyncDialer) -> None:
        campaign = service.fake.add_campaign("Slow")
        async with dialer.bulk_writer(campaign.code, flush_after=0.01) as writer:
            # Answered inside the block: the chunk of one left on its timer, not at the end.
            outcome = await writer.add(Call(number(1)))
            assert outcome.accepted
            assert writer.report.accepted == 1
            assert (await writer.add(Call(number(2)))).index == 1
        assert service.bodies == [1, 1]

    run(backend, scenario)


def test_without_flush_after_a_partial_chunk_waits_for_the_end(backend: str) -> None:
    async def scenario(service: Gated, dialer: AsyncDialer) -> None:
        campaign = service.fake.add_campaign("Batch")
        outcomes: list[LeadOutcome] = []
        async with (
            anyio.create_task_group() as producers,
            dialer.bulk_writer(campaign.code, flush_after=None) as writer,
        ):
            for i in range(3):
                producers.start_soon(_collect, writer, Call(number(i)), outcomes)
            await anyio.wait_all_tasks_blocked()
            assert service.bodies == []
            assert outcomes == []
        assert service.bodies == [3]
        assert sorted(o.index for o in outcomes) == [0, 1, 2]

    run(backend, scenario)


def test_back_pressure_and_a_cancelled_add_before_its_chunk_leaves(backend: str) -> None:
    async def scenario(service: Gated, dialer: AsyncDialer) -> None:
        campaign = service.fake.add_campaign("Busy")
        service.close_gate()
        outcomes: dict[int, LeadOutcome] = {}
        cancelled: list[int] = []
        async with (
            anyio.create_task_group() as producers,
            dialer.bulk_writer(
                campaign.code, chunk_size=2, concurrency=1, flush_after=None
            ) as writer,
        ):

            async def produce(i: int, scope: anyio.CancelScope) -> None:
                with scope:
                    outcomes[i] = await writer.add(Call(number(i)))
                if scope.cancelled_caught:
                    cancelled.append(i)

            scopes = [anyio.CancelScope() for _ in range(6)]
            for i in (0, 1):
                producers.start_soon(produce, i, scopes[i])
            await service.arrived.wait()  # the first chunk is in flight, held
            for group in ((2, 3), (4, 5)):  # 2 and 3 fill the next chunk; 4 and 5 wait
                for i in group:
                    producers.start_soon(produce, i, scopes[i])
                await anyio.wait_all_tasks_blocked()
            assert service.bodies == [2]
            scopes[3].cancel()  # in the open chunk: withdrawn
            scopes[4].cancel()  # waiting for room: withdrawn
            await anyio.wait_all_tasks_blocked()
            assert service.gate is not None
            service.gate.set()
        assert sorted(cancelled) == [3, 4]
        assert service.bodies == [2, 2]
        assert {outcomes[0].index, outcomes[1].index} == {0, 1}  # trio starts tasks in any order
        assert {outcomes[2].index, outcomes[5].index} == {2, 3}
        assert sorted(outcomes) == [0, 1, 2, 5]
        assert writer.report.total == 4
        assert sorted(campaign.targets()) == [number(i) for i in (0, 1, 2, 5)]

    run(backend, scenario)


def test_a_cancelled_add_after_its_chunk_left_is_still_recorded(backend: str) -> None:
    async def scenario(service: Gated, dialer: AsyncDialer) -> None:
        campaign = service.fake.add_campaign("Left")
        service.close_gate()
        async with dialer.bulk_writer(campaign.code, flush_after=0.001) as writer:
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as producers:
                    producers.start_soon(writer.add, Call(number(7)))
                    await service.arrived.wait()
                    scope.cancel()
            assert service.gate is not None
            service.gate.set()
        assert scope.cancelled_caught
        assert (writer.report.total, writer.report.accepted) == (1, 1)
        assert campaign.targets() == [number(7)]

    run(backend, scenario)


def test_cancelling_the_writer_settles_every_waiting_producer(backend: str) -> None:
    async def scenario(service: Gated, dialer: AsyncDialer) -> None:
        campaign = service.fake.add_campaign("Cut")
        service.close_gate()
        outcomes: list[LeadOutcome] = []

        async def produce(writer: BulkWriter, i: int) -> None:
            outcomes.append(await writer.add(Call(number(i))))

        async with anyio.create_task_group() as producers:
            with anyio.CancelScope() as scope:
                async with dialer.bulk_writer(
                    campaign.code, chunk_size=1, concurrency=1, flush_after=None
                ) as writer:
                    producers.start_soon(produce, writer, 0)
                    await service.arrived.wait()
                    producers.start_soon(produce, writer, 1)  # waits for the one in flight
                    await anyio.wait_all_tasks_blocked()
                    scope.cancel()
        in_flight, unsent = sorted(outcomes, key=lambda o: o.index)
        assert in_flight.status == unsent.status == "failed"
        assert in_flight.error is not None
        assert in_flight.error.outcome_unknown
        assert unsent.error is not None
        assert not unsent.error.outcome_unknown
        assert writer.report.total == 2

    run(backend, scenario)


def test_an_invalid_campaign_stops_sending(backend: str) -> None:
    async def scenario(service: Gated, dialer: AsyncDialer) -> None:
        outcomes: list[LeadOutcome] = []
        async with (
            dialer.bulk_writer("NO-SUCH-CAMPAIGN", chunk_size=10, concurrency=1) as writer,
            anyio.create_task_group() as producers,
        ):
            for i in range(50):
                producers.start_soon(_collect, writer, Call(number(i)), outcomes)
        assert len(service.bodies) == 1
        assert len(outcomes) == 50
        assert all(o.status == "failed" for o in outcomes)
        assert sum(isinstance(o.error, InvalidCampaignError) for o in outcomes) == 10
        assert writer.report.total == len(writer.report.failed) == 50

    run(backend, scenario)


async def _collect(writer: BulkWriter, call: Call, into: list[LeadOutcome]) -> None:
    into.append(await writer.add(call))


def test_an_error_in_the_block_still_sends_what_was_added(backend: str) -> None:
    async def scenario(service: Gated, dialer: AsyncDialer) -> None:
        campaign = service.fake.add_campaign("Oops")
        outcomes: list[LeadOutcome] = []
        async with anyio.create_task_group() as producers:
            with pytest.raises(LookupError):
                async with dialer.bulk_writer(campaign.code, flush_after=None) as writer:
                    producers.start_soon(_collect, writer, Call(number(1)), outcomes)
                    await anyio.wait_all_tasks_blocked()
                    raise LookupError("the handler failed")
        assert [o.status for o in outcomes] == ["accepted"]
        with pytest.raises(DialerError, match="closed"):
            await writer.add(Call(number(2)))

    run(backend, scenario)


def test_the_writer_journals_in_arrival_order_and_continues_a_journal(
    backend: str, tmp_path: Path
) -> None:
    journal = tmp_path / "writer.journal"

    async def scenario(service: Gated, dialer: AsyncDialer) -> None:
        campaign = service.fake.add_campaign("Journal")
        for first in (0, 10):
            async with (
                dialer.bulk_writer(
                    campaign.code, chunk_size=4, flush_after=0.01, journal=journal
                ) as writer,
                anyio.create_task_group() as producers,
            ):
                outcomes: list[LeadOutcome] = []
                for i in range(first, first + 10):
                    call = Call("123456" if i == 3 else number(i))
                    producers.start_soon(_collect, writer, call, outcomes)
            assert sorted(o.index for o in outcomes) == list(range(first, first + 10))
        summary = summarise_journal(journal)
        assert (summary.total, summary.accepted, summary.rejected, summary.remaining) == (
            20,
            19,
            1,
            0,
        )

    run(backend, scenario)


def test_bad_options_are_refused_before_anything_is_sent() -> None:
    async def main() -> None:
        async with FakeDialer().client() as dialer:
            for options in (
                {"concurrency": "many"},
                {"concurrency": 0},
                {"max_concurrency": 0},
                {"flush_after": 0},
                {"flush_after": "soon"},
                {"chunk_size": 3001},
            ):
                with pytest.raises(ValidationError):
                    async with dialer.bulk_writer("C", **options):
                        pass
                with pytest.raises(ValidationError):
                    await dialer.add_calls_bulk("C", [], **options)

    anyio.run(main)


# --- flush_after and on_progress for add_calls_bulk ---------------------------------------


def test_a_slow_source_s_partial_chunk_leaves_on_time(backend: str) -> None:
    async def scenario(service: Gated, dialer: AsyncDialer) -> None:
        campaign = service.fake.add_campaign("Trickle")

        async def leads() -> AsyncIterator[Call]:
            for i in range(5):
                yield Call(number(i))
            # The source pauses until the five are sent: without flush_after, never.
            await service.arrived.wait()
            yield Call(number(5))

        seen: list[BulkProgress] = []

        async def show(progress: BulkProgress) -> None:
            await anyio.lowlevel.checkpoint()
            seen.append(progress)

        report = await dialer.add_calls_bulk(
            campaign.code, leads(), flush_after=0.01, on_progress=show
        )
        assert service.bodies == [5, 1]
        assert report.total == report.accepted == 6
        assert [p.done for p in seen] == [5, 6]

    run(backend, scenario)


# --- concurrency="auto" --------------------------------------------------------------------


def test_auto_concurrency_stays_within_a_service_s_capacity(backend: str) -> None:
    # 20 ms in the service: long enough that chunks overlap there even on a busy machine, where
    # a client slowed down by other work would otherwise never meet the capacity at all.
    fake = FakeDialer(faults=Faults(latency=0.02, capacity=3, retry_after=0.002))

    async def scenario(service: Gated, dialer: AsyncDialer) -> None:
        campaign = fake.add_campaign("Capacity")
        limits: list[int] = []
        report = await dialer.add_calls_bulk(
            campaign.code,
            [Call(number(i)) for i in range(2000)],
            chunk_size=10,
            concurrency="auto",
            on_progress=lambda progress: limits.append(progress.concurrency or 0),
        )
        assert report.ok
        assert report.total == 2000
        assert fake.faults.over_capacity > 0  # it probed beyond the room...
        assert report.concurrency is not None
        assert 1 <= report.concurrency <= 3  # ...and settled within it
        assert max(limits) > 1

    # Retries do not wait in the test suite: a refused chunk may be refused several times.
    run(backend, scenario, fake, max_retries=50)


def test_auto_concurrency_through_a_writer(backend: str) -> None:
    async def scenario(service: Gated, dialer: AsyncDialer) -> None:
        campaign = service.fake.add_campaign("AutoWriter")
        async with (
            dialer.bulk_writer(
                campaign.code, chunk_size=5, concurrency="auto", max_concurrency=2
            ) as writer,
            anyio.create_task_group() as producers,
        ):
            for i in range(100):
                producers.start_soon(writer.add, Call(number(i)))
        assert writer.report.total == writer.report.accepted == 100
        assert writer.report.concurrency in (1, 2)

    run(backend, scenario)
