"""Models and errors crossing a process boundary: Django's cache and Celery's results pickle
what a task returns or raises, multiprocessing pickles what a worker raises, and
copy.deepcopy is everywhere. The sync Dialer is sold for Django and Celery."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from voicenter_dialer import AsyncDialer, BulkError, Call, DialerError
from voicenter_dialer.testing import FakeDialer

from .examples import ACCOUNT_CODE, CAMPAIGN_CODE

ROUND_TRIPS: dict[str, Callable[[Any], Any]] = {
    "pickle": lambda value: pickle.loads(pickle.dumps(value)),  # noqa: S301 -- our own bytes
    "deepcopy": copy.deepcopy,
}


@pytest.mark.parametrize("round_trip", ROUND_TRIPS)
async def test_response_models_survive_pickle_and_deepcopy(round_trip: str) -> None:
    fake = FakeDialer()
    campaign = fake.add_campaign("Sales")
    async with fake.client() as dialer:
        await dialer.add_call(campaign.code, Call("972501234567"))
        models = {
            "list": await dialer.get_campaign_list(),
            "details": await dialer.get_campaign_details(campaign.code),
            "pending": await dialer.get_campaign_pending_calls(campaign.code),
        }

    for name, model in models.items():
        assert ROUND_TRIPS[round_trip](model) == model, name


def _answer(status: int, body: dict[str, Any]) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json=body, headers={"Retry-After": "1"})


async def _raised(handler: Callable[[httpx.Request], httpx.Response]) -> DialerError:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with AsyncDialer(ACCOUNT_CODE, http_client=client, max_retries=0) as dialer:
        with pytest.raises(DialerError) as caught:
            await dialer.get_campaign_details(CAMPAIGN_CODE)
    return caught.value


@pytest.mark.parametrize("round_trip", ROUND_TRIPS)
@pytest.mark.parametrize(
    ("status", "body"),
    [
        (503, {"busy": True}),  # ResponseError
        (200, {"ErrorCode": 1, "Description": "Invalid campaign code"}),  # an APIError
    ],
)
async def test_errors_survive_pickle_and_deepcopy(
    round_trip: str, status: int, body: dict[str, Any]
) -> None:
    error = await _raised(_answer(status, body))

    again = ROUND_TRIPS[round_trip](error)

    assert (type(again), str(again)) == (type(error), str(error))


@pytest.mark.parametrize("round_trip", ROUND_TRIPS)
async def test_a_bulk_error_survives_pickle_and_deepcopy(round_trip: str) -> None:
    fake = FakeDialer()
    campaign = fake.add_campaign()
    async with fake.client() as dialer:
        report = await dialer.add_calls_bulk(campaign.code, [Call("972501234567"), Call("123")])
    with pytest.raises(BulkError) as caught:
        report.raise_for_failures()

    again = ROUND_TRIPS[round_trip](caught.value)

    assert isinstance(again, BulkError)
    assert again.report.total == 2
