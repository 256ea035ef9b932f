"""add_call(..., idempotency_key=...) against the fake dialer: one call per key, whatever is
retried, lost or run at once."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from voicenter_dialer import APIError, Call, DialerError, IdempotencyConflict, ValidationError
from voicenter_dialer.testing import FakeCampaign, FakeDialer, Faults


@pytest.fixture
def fake() -> FakeDialer:
    return FakeDialer()


@pytest.fixture
def campaign(fake: FakeDialer) -> FakeCampaign:
    return fake.add_campaign("Keys")


@pytest.fixture
def store(tmp_path: Path) -> str:
    return str(tmp_path / "keys.sqlite")


def added(fake: FakeDialer) -> int:
    return fake.requests.count("AddCall")


async def test_a_key_adds_once_and_replays(
    fake: FakeDialer, campaign: FakeCampaign, store: str
) -> None:
    async with fake.client(idempotency_store=store) as dialer:
        for _ in range(3):
            await dialer.add_call(campaign.code, Call("972501234567"), idempotency_key="o-1")
    assert len(campaign.calls) == 1
    assert added(fake) == 1


async def test_another_dialer_on_the_same_store_replays(
    fake: FakeDialer, campaign: FakeCampaign, store: str
) -> None:
    for _ in range(2):
        async with fake.client(idempotency_store=store) as dialer:
            await dialer.add_call(campaign.code, Call("972501234567"), idempotency_key="o-1")
    assert added(fake) == 1


async def test_the_same_key_for_another_call_sends_nothing(
    fake: FakeDialer, campaign: FakeCampaign, store: str
) -> None:
    async with fake.client(idempotency_store=store) as dialer:
        await dialer.add_call(campaign.code, Call("972501234567"), idempotency_key="o-1")
        with pytest.raises(IdempotencyConflict):
            await dialer.add_call(campaign.code, Call("972501234568"), idempotency_key="o-1")
    assert added(fake) == 1


async def test_a_rejection_is_replayed(fake: FakeDialer, store: str) -> None:
    async with fake.client(idempotency_store=store) as dialer:
        errors = []
        for _ in range(2):
            with pytest.raises(APIError) as caught:
                await dialer.add_call("NO-SUCH-CAMPAIGN-000000", Call("972501234567"),
                                      idempotency_key="o-1")  # fmt: skip
            errors.append(caught.value)
    assert added(fake) == 1
    assert errors[0].error_code == errors[1].error_code
    assert type(errors[0]) is type(errors[1])


async def test_a_lost_answer_is_reconciled_before_sending_again(
    fake: FakeDialer, campaign: FakeCampaign, store: str
) -> None:
    async with fake.client(idempotency_store=store) as dialer:
        fake.faults = Faults(rates={"500": 1.0}, methods=frozenset({"AddCall"}))
        with pytest.raises(DialerError) as caught:
            await dialer.add_call(campaign.code, Call("972501234567"), idempotency_key="o-1")
        assert caught.value.outcome_unknown
        fake.faults = Faults()
        await dialer.add_call(campaign.code, Call("972501234567"), idempotency_key="o-1")
    assert len(campaign.calls) == 1  # found among the pending calls: not sent again
    assert added(fake) == 1


async def test_a_call_refused_before_it_was_applied_is_sent_again(
    fake: FakeDialer, campaign: FakeCampaign, store: str
) -> None:
    async with fake.client(idempotency_store=store, max_retries=0) as dialer:
        fake.faults = Faults(rates={"503": 1.0}, methods=frozenset({"AddCall"}))
        with pytest.raises(DialerError) as caught:
            await dialer.add_call(campaign.code, Call("972501234567"), idempotency_key="o-1")
        assert not caught.value.outcome_unknown
        fake.faults = Faults()
        await dialer.add_call(campaign.code, Call("972501234567"), idempotency_key="o-1")
    assert len(campaign.calls) == 1


async def test_many_tasks_with_one_key_add_once(
    fake: FakeDialer, campaign: FakeCampaign, store: str
) -> None:
    async with fake.client(idempotency_store=store) as dialer:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tasks:
                for _ in range(20):
                    tasks.start_soon(
                        lambda: dialer.add_call(
                            campaign.code, Call("972501234567"), idempotency_key="o-1"
                        )
                    )
    assert len(campaign.calls) == 1


async def test_a_key_without_a_store_is_a_validation_error(
    fake: FakeDialer, campaign: FakeCampaign
) -> None:
    async with fake.client() as dialer:
        with pytest.raises(ValidationError, match="idempotency_store"):
            await dialer.add_call(campaign.code, Call("972501234567"), idempotency_key="o-1")
    assert added(fake) == 0


async def test_without_a_key_nothing_changes(
    fake: FakeDialer, campaign: FakeCampaign, store: str
) -> None:
    async with fake.client(idempotency_store=store) as dialer:
        await dialer.add_call(campaign.code, Call("972501234567"))
        await dialer.add_call(campaign.code, Call("972501234567"))
    assert added(fake) == 2


async def test_a_cancelled_call_is_reconciled_before_sending_again(
    fake: FakeDialer, campaign: FakeCampaign, store: str
) -> None:
    async with fake.client(idempotency_store=store) as dialer:
        fake.faults = Faults(rates={"slow": 1.0}, slow_seconds=5, methods=frozenset({"AddCall"}))
        with anyio.fail_after(10), anyio.move_on_after(0.3) as scope:
            await dialer.add_call(campaign.code, Call("972501234567"), idempotency_key="o-1")
        assert scope.cancelled_caught
        fake.faults = Faults()
        with anyio.fail_after(10):
            await dialer.add_call(campaign.code, Call("972501234567"), idempotency_key="o-1")
    assert len(campaign.calls) == 1
    assert added(fake) == 1
