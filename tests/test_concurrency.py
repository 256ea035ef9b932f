"""concurrency="auto": the limiter driven by hand (no service, no clock: each answer's
latency is given), and uploads against the fake with a capacity, over loopback HTTP."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest

from voicenter_dialer import AsyncDialer, Call, TransportError
from voicenter_dialer._concurrency import Limiter, Slot
from voicenter_dialer.testing import FakeServer, Faults

LATENCY = 0.02


class Driver:
    """Drives a limiter by hand, keeping it full as an upload does; answers come oldest first."""

    def __init__(self, limiter: Limiter) -> None:
        self.limiter = limiter
        self.in_flight: list[Slot] = []
        #: The most chunks in flight with which an answered chunk had left.
        self.held = 0

    async def fill(self) -> None:
        while len(self.in_flight) < self.limiter.limit:
            self.in_flight.append(await self.limiter.acquire())

    async def answer(self, count: int, seconds: float = LATENCY) -> None:
        """*count* answers in turn, each place refilled at once."""
        for _ in range(count):
            await self.fill()
            slot = self.in_flight.pop(0)
            self.held = max(self.held, slot.in_flight)
            self.limiter.answered(slot, seconds)
            self.limiter.release(slot)
        await self.fill()

    async def rounds(self, count: int) -> None:
        """*count* quiet rounds at the limit as it stands at each round's start."""
        for _ in range(count):
            await self.answer(self.limiter.limit)

    async def until(self, limit: int) -> None:
        for _ in range(1000):
            if self.limiter.limit == limit:
                return
            await self.answer(1)
        raise AssertionError(f"the limit stayed at {self.limiter.limit}, not {limit}")

    async def refuse(self, *, drain: bool = True) -> None:
        """The newest chunk in flight is refused (twice: it counts once); then, unless not
        *drain*, the chunks sent before come home."""
        await self.fill()
        self.in_flight[-1].on_refused()
        self.in_flight[-1].on_refused()
        if drain:
            await self.answer(len(self.in_flight))


def drive(
    scenario: Callable[[Driver], Awaitable[None]],
    concurrency: int | None = None,
    maximum: int = 32,
) -> None:
    async def main() -> None:
        await scenario(Driver(Limiter(concurrency, maximum)))

    anyio.run(main)


class Service:
    """A service with room for *capacity* chunks at once, answering the oldest first; a chunk
    arriving while it is full is refused and sent again after the next answer (the Retry-After
    wait), holding its place meanwhile, as a chunk does."""

    def __init__(self, limiter: Limiter, capacity: int) -> None:
        self.limiter = limiter
        self.capacity = capacity
        self.serving: list[Slot] = []
        self.waiting: list[Slot] = []
        self.refused = 0
        self.requests = 0

    def _send(self, slot: Slot) -> None:
        self.requests += 1
        if len(self.serving) < self.capacity:
            self.serving.append(slot)
        else:
            self.refused += 1
            slot.on_refused()
            self.waiting.append(slot)

    async def answer(self, count: int) -> None:
        for _ in range(count):
            while len(self.serving) + len(self.waiting) < self.limiter.limit:
                self._send(await self.limiter.acquire())
            slot = self.serving.pop(0)
            self.limiter.answered(slot, LATENCY)
            self.limiter.release(slot)
            waiting, self.waiting = self.waiting, []
            for slot in waiting:
                self._send(slot)


def serve(capacity: int, answers: int, maximum: int = 32) -> Service:
    async def main() -> Service:
        service = Service(Limiter(None, maximum), capacity)
        await service.answer(answers)
        return service

    return anyio.run(main)


# --- the limiter ---------------------------------------------------------------------------


def test_answers_read_together_grow_the_limit_by_one_not_by_a_round() -> None:
    async def scenario(driver: Driver) -> None:
        assert driver.limiter.limit == 4
        await driver.answer(4)  # the first four, read one after the other
        assert driver.limiter.limit == 5  # the service held 4: one more (not 8)

    drive(scenario)


def test_slow_start_grows_one_per_answer_up_to_a_little_above_what_the_service_held() -> None:
    async def scenario(driver: Driver) -> None:
        seen = [driver.limiter.limit]
        while driver.limiter.limit < 32:
            await driver.answer(1)
            step = driver.limiter.limit - seen[-1]
            assert step in (0, 1)  # one per answer at most
            assert driver.limiter.limit <= max(driver.held + max(1, driver.held // 4), 4)
            seen.append(driver.limiter.limit)
        assert len(seen) < 200  # and yet it gets there: a quarter more each round

    drive(scenario)


def test_auto_starts_no_higher_than_max_concurrency() -> None:
    async def scenario(driver: Driver) -> None:
        assert driver.limiter.limit == 2
        await driver.answer(10)
        assert driver.limiter.limit == 2

    drive(scenario, maximum=2)


def test_the_first_refusal_makes_the_chunks_in_flight_the_ceiling() -> None:
    async def scenario(driver: Driver) -> None:
        await driver.answer(4)
        await driver.refuse(drain=False)  # 5 in flight; the service held 4
        assert driver.limiter.limit == 4
        driver.in_flight[0].on_refused()  # sent before the step back: old news
        assert driver.limiter.limit == 4
        await driver.answer(5)
        await driver.rounds(15)
        assert driver.limiter.limit == 4  # 5 was refused: probed only after 16 quiet rounds
        await driver.rounds(1)
        assert driver.limiter.limit == 5

    drive(scenario)


def test_after_the_first_refusal_the_limit_is_what_the_service_was_seen_to_hold() -> None:
    async def scenario(driver: Driver) -> None:
        await driver.until(12)
        held = driver.held
        assert held < 11  # the answers of the chunks that left with more are not in yet
        await driver.refuse()  # 12 in flight: ceiling 12
        assert driver.limiter.limit == held
        for _ in range(11 - held):
            await driver.rounds(1)  # one more per quiet round...
        assert driver.limiter.limit == 11  # ...up to the ceiling's foot
        await driver.rounds(15)
        assert driver.limiter.limit == 11

    drive(scenario)


@pytest.mark.parametrize("capacity", [1, 3, 6, 20])
def test_auto_meets_a_service_s_room_with_at_most_two_chunks_refused(capacity: int) -> None:
    service = serve(capacity, answers=capacity * 15)  # to before the first probe
    assert service.refused <= 2
    assert service.limiter.limit == capacity


def test_auto_against_a_steady_service_has_few_refusals_and_stays_at_its_room() -> None:
    # The benchmark's shape: 120 chunks, room for 6 (about 20 rounds).
    service = serve(6, answers=120)
    assert service.refused <= 2
    assert service.limiter.settled == 6


def test_auto_probes_the_ceiling_after_quiet_rounds_waiting_twice_as_long_each_time() -> None:
    async def scenario(driver: Driver) -> None:
        await driver.answer(4)
        await driver.refuse()  # ceiling 5
        assert driver.limiter.limit == 4
        await driver.rounds(16)  # 16 quiet rounds: a probe
        assert driver.limiter.limit == 5
        await driver.refuse()
        assert driver.limiter.limit == 4  # a failed probe steps back, no more
        await driver.rounds(31)
        assert driver.limiter.limit == 4  # and the next probe waits twice as long
        await driver.rounds(1)
        assert driver.limiter.limit == 5
        await driver.refuse()
        assert driver.limiter.limit == 4
        assert driver.limiter.settled == 4

    drive(scenario)


def test_a_probe_quiet_for_long_enough_raises_the_ceiling() -> None:
    async def scenario(driver: Driver) -> None:
        await driver.answer(4)
        await driver.refuse()  # ceiling 5
        await driver.until(5)  # the probe...
        await driver.rounds(15)
        assert driver.limiter.limit == 5
        await driver.rounds(1)  # ...held 16 rounds: the ceiling is 6 now
        await driver.rounds(15)
        assert driver.limiter.limit == 5
        await driver.rounds(1)
        assert driver.limiter.limit == 6  # probed in its turn
        await driver.refuse()
        assert driver.limiter.limit == 5

    drive(scenario)


def test_push_back_below_the_ceiling_steps_down_by_one_then_by_a_factor_once_proven() -> None:
    async def scenario(driver: Driver) -> None:
        await driver.until(12)
        await driver.refuse()  # ceiling 12
        await driver.until(11)
        await driver.refuse()  # 11, not proven yet: one too many
        assert driver.limiter.limit == 10
        await driver.rounds(2)  # proven
        await driver.refuse()  # the service has less room now
        assert driver.limiter.limit == 7  # 10 x 0.7

    drive(scenario)


def test_auto_cuts_on_slow_rounds_not_on_one_slow_answer_or_round() -> None:
    async def scenario(driver: Driver) -> None:
        await driver.answer(4)
        await driver.refuse()  # ceiling 5, limit 4
        await driver.answer(1, seconds=1.0)  # one slow answer
        await driver.answer(3)
        await driver.answer(4, seconds=0.5)
        assert driver.limiter.limit == 4  # one slow round: a hiccup
        await driver.answer(4, seconds=0.5)
        assert driver.limiter.limit == 3  # two: a trend; 4 was not proven, one step down
        await driver.answer(4)  # the chunks sent before the step back come home
        await driver.rounds(2)  # 3 proven
        await driver.answer(3, seconds=0.5)
        await driver.answer(3, seconds=0.5)
        assert driver.limiter.limit == 2  # slow where it was fine: 3 x 0.7

    drive(scenario)


def test_a_fixed_concurrency_never_moves() -> None:
    async def scenario(driver: Driver) -> None:
        await driver.answer(20)
        await driver.refuse()
        await driver.answer(20, seconds=5.0)
        assert driver.limiter.limit == driver.limiter.settled == 4

    drive(scenario, concurrency=4)


# --- uploads against the fake, over loopback HTTP -------------------------------------------


def number(i: int) -> str:
    return f"9725{i:08d}"


async def upload(server: FakeServer, concurrency: int | str, **options: float) -> None:
    campaign = server.fake.add_campaign("Capacity")
    # The library's default retries (2): a chunk refused more often than that is saved by
    # "busy is not failed" (the service answers other chunks), or fails.
    async with AsyncDialer(server.fake.account_code, base_url=server.base_url) as dialer:
        with anyio.fail_after(60):
            report = await dialer.add_calls_bulk(
                campaign.code,
                [Call(number(i)) for i in range(3000)],
                chunk_size=50,
                concurrency=concurrency,  # type: ignore[arg-type]
            )
    assert report.total == report.accepted == 3000
    assert not report.failed


@pytest.mark.parametrize("concurrency", ["auto", 8])
async def test_uploads_above_a_service_s_capacity_lose_no_lead(
    server: FakeServer, concurrency: int | str
) -> None:
    server.fake.faults = Faults(latency=LATENCY, capacity=3, retry_after=0.001)
    await upload(server, concurrency)
    assert server.fake.faults.over_capacity > 0  # refused, and sent again


@pytest.mark.parametrize("concurrency", ["auto", 3])
async def test_a_service_refusing_everything_ends_the_upload_within_the_retry_budget(
    server: FakeServer, concurrency: int | str
) -> None:
    server.fake.faults = Faults({"429": 1.0})
    campaign = server.fake.add_campaign("Refusing")
    async with AsyncDialer(server.fake.account_code, base_url=server.base_url) as dialer:
        with anyio.fail_after(60):
            report = await dialer.add_calls_bulk(
                campaign.code,
                [Call(number(i)) for i in range(100)],
                chunk_size=10,
                concurrency=concurrency,  # type: ignore[arg-type]
            )
    assert report.total == len(report.failed) == 100
    assert server.fake.faults.injected["429"] == 10 * 3  # each chunk: 1 attempt + 2 retries


async def test_a_service_refusing_everything_ends_the_upload_within_the_deadline(
    server: FakeServer,
) -> None:
    # Each refusal takes 50 ms: the retry budget (100 attempts in the test suite) would take
    # 5 s a chunk; the deadline ends each chunk well before it.
    server.fake.faults = Faults({"429": 1.0}, latency=0.05)
    campaign = server.fake.add_campaign("Refusing")
    async with AsyncDialer(
        server.fake.account_code, base_url=server.base_url, max_retries=1000, deadline=0.3
    ) as dialer:
        with anyio.fail_after(60):
            report = await dialer.add_calls_bulk(
                campaign.code,
                [Call(number(i)) for i in range(40)],
                chunk_size=10,
                concurrency="auto",
            )
    assert report.total == len(report.failed) == 40
    assert all(isinstance(entry.error, TransportError) for entry in report.failed)
    assert all("deadline" in entry.error.message for entry in report.failed)
    assert server.fake.faults.injected["429"] < 4 * 100
