"""Bad input is a ValidationError, raised before any request is sent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import respx

from voicenter_dialer import AsyncDialer, Call, Campaign, DialerError, ValidationError

from .examples import CAMPAIGN_CODE

BAD_CALLS = [
    pytest.param(Call(""), "target is empty", id="empty-target"),
    pytest.param(Call("   "), "target is empty", id="blank-target"),
    pytest.param(Call("hello"), "not a phone number", id="letters"),
    pytest.param(Call("050-123-4567"), "not a phone number", id="dashes"),
    pytest.param(Call("++972501234567"), "not a phone number", id="double-plus"),
    pytest.param(Call("123"), "not a phone number", id="too-short"),
    pytest.param(Call("1" * 16), "not a phone number", id="too-long"),
    pytest.param(Call(972501234567), "must be a str", id="int-target"),  # type: ignore[arg-type]
    pytest.param(Call("0501234567", caller_id="abc"), "caller_id", id="caller-id"),
    pytest.param(Call("0501234567", priority=1.5), "priority", id="float-priority"),  # type: ignore[arg-type]
    pytest.param(Call("0501234567", priority="7"), "priority", id="str-priority"),  # type: ignore[arg-type]
    pytest.param(Call("0501234567", priority=True), "priority", id="bool-priority"),
    pytest.param(Call("0501234567", customer_name=5), "customer_name", id="int-name"),  # type: ignore[arg-type]
    pytest.param(
        Call("0501234567", originate_time=1602750000), "is_date_local", id="time-without-local"
    ),
    pytest.param(
        Call("0501234567", is_date_local=True), "without originate_time", id="local-without-time"
    ),
    pytest.param(
        Call("0501234567", originate_time=dt.datetime(2026, 1, 1), is_date_local=False),
        "naive",
        id="naive-but-utc",
    ),
    pytest.param(
        Call(
            "0501234567",
            originate_time=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
            is_date_local=True,
        ),
        "aware",
        id="aware-but-local",
    ),
    pytest.param(
        Call("0501234567", originate_time=-5, is_date_local=False), ">= 0", id="negative-time"
    ),
    pytest.param(
        Call("0501234567", originate_time=1.5, is_date_local=False),  # type: ignore[arg-type]
        "originate_time",
        id="float-time",
    ),
    pytest.param(
        Call("0501234567", originate_time=1, is_date_local="yes"),  # type: ignore[arg-type]
        "is_date_local must be a bool",
        id="str-local",
    ),
    pytest.param(
        Call("0501234567", ignore_dnc_status="true"),  # type: ignore[arg-type]
        "ignore_dnc_status",
        id="str-dnc",
    ),
    pytest.param(
        Call("0501234567", custom_data={"a": {"nested": 1}}),  # type: ignore[dict-item]
        "flat",
        id="nested-custom-data",
    ),
    pytest.param(
        Call("0501234567", custom_data={"a": [1]}),  # type: ignore[dict-item]
        "flat",
        id="list-custom-data",
    ),
    pytest.param(
        Call("0501234567", custom_data={"a": None}),  # type: ignore[dict-item]
        "flat",
        id="none-custom-data",
    ),
    pytest.param(Call("0501234567", custom_data={1: "a"}), "keys", id="int-key"),  # type: ignore[dict-item]
    pytest.param(Call("0501234567", custom_data={"": "a"}), "keys", id="empty-key"),
    pytest.param(Call("0501234567", custom_data={"a": float("nan")}), "JSON", id="nan"),
    pytest.param(Call("0501234567", custom_data=[("a", 1)]), "mapping", id="not-mapping"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("call", "message"), BAD_CALLS)
@pytest.mark.parametrize("method", ["add_call", "update_call"])
async def test_bad_calls(
    api: respx.MockRouter, dialer: AsyncDialer, method: str, call: Call, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        await getattr(dialer, method)(CAMPAIGN_CODE, call)

    assert not api.calls


Invoke = Callable[[AsyncDialer], Awaitable[object]]

BAD_ARGUMENTS: list[Any] = [
    pytest.param(lambda d: d.get_campaign_details(""), "empty", id="empty-campaign"),
    pytest.param(lambda d: d.start_campaign("  "), "empty", id="blank-campaign"),
    pytest.param(lambda d: d.stop_campaign(Campaign()), "empty", id="campaign-without-code"),
    pytest.param(lambda d: d.stop_campaign(None), "campaign must be", id="none-campaign"),
    pytest.param(
        lambda d: d.add_call(CAMPAIGN_CODE, "0501234567"), "expected a Call", id="str-call"
    ),
    pytest.param(lambda d: d.remove_call(CAMPAIGN_CODE, ""), "target", id="empty-target"),
    pytest.param(lambda d: d.remove_call(CAMPAIGN_CODE, "x"), "target", id="bad-target"),
    pytest.param(lambda d: d.add_member(CAMPAIGN_CODE, ""), "member", id="empty-member"),
    pytest.param(lambda d: d.remove_member(CAMPAIGN_CODE, None), "member", id="none-member"),
    pytest.param(
        lambda d: d.update_campaign_strategy(
            CAMPAIGN_CODE, queue_for_monitoring=1, queue_maximum_callers=0, coefficient=2
        ),
        "greater than 0",
        id="callers-zero",
    ),
    pytest.param(
        lambda d: d.update_campaign_strategy(
            CAMPAIGN_CODE, queue_for_monitoring=1, queue_maximum_callers=1, coefficient=1
        ),
        "greater than 1",
        id="coefficient-one",
    ),
    pytest.param(
        lambda d: d.update_campaign_strategy(
            CAMPAIGN_CODE, queue_for_monitoring="1", queue_maximum_callers=1, coefficient=2
        ),
        "queue_for_monitoring must be an int",
        id="queue-str",
    ),
    pytest.param(
        lambda d: d.update_campaign_strategy(
            CAMPAIGN_CODE, queue_for_monitoring=1, queue_maximum_callers=1, coefficient=2.5
        ),
        "coefficient must be an int",
        id="coefficient-float",
    ),
    pytest.param(
        lambda d: d.add_calls_bulk(CAMPAIGN_CODE, [], chunk_size=3001), "3000", id="chunk-too-big"
    ),
    pytest.param(
        lambda d: d.add_calls_bulk(CAMPAIGN_CODE, [], chunk_size=0), "between", id="chunk-zero"
    ),
    pytest.param(
        lambda d: d.add_calls_bulk(CAMPAIGN_CODE, [], concurrency=0), "concurrency", id="conc-0"
    ),
    pytest.param(lambda d: d.add_calls_bulk("", []), "empty", id="bulk-empty-campaign"),
]


@pytest.mark.parametrize(("invoke", "message"), BAD_ARGUMENTS)
async def test_bad_arguments(
    api: respx.MockRouter, dialer: AsyncDialer, invoke: Invoke, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        await invoke(dialer)

    assert not api.calls


async def test_campaign_list_needs_the_account_code(api: respx.MockRouter) -> None:
    async with AsyncDialer() as dialer:
        with pytest.raises(ValidationError, match="account code"):
            await dialer.get_campaign_list()
    assert not api.calls


def test_validation_error_is_a_value_error_and_a_dialer_error() -> None:
    assert issubclass(ValidationError, ValueError)
    assert issubclass(ValidationError, DialerError)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"code": ""}, "code"), ({"max_retries": -1}, "max_retries"), ({"max_retries": 1.5}, "max")],
)
def test_bad_client_options(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AsyncDialer(**kwargs)
