"""custom_data given subclasses of its plain types (an enum's members, a float or str
subclass): checked as their plain values, and sent as them. orjson refuses a float subclass,
and a str subclass as a key: such a call once failed the whole bulk upload with a misleading
message, and add_call with a raw TypeError."""

from __future__ import annotations

import enum
from typing import Any

import pytest

from voicenter_dialer import Call, ValidationError
from voicenter_dialer.testing import FakeDialer


class Share(float):
    pass


class Label(str):
    pass


class Count(int):
    pass


class Stage(str, enum.Enum):  # str() of a member is "Stage.NEW" before Python 3.11
    NEW = "new"


class Level(enum.IntEnum):
    HIGH = 3


ODD: dict[str, str | int | float | bool] = {
    "share": Share(0.5),
    Label("label"): Stage.NEW,
    "count": Count(7),
    "level": Level.HIGH,
}
SENT = {"share": "0.5", "label": "new", "count": "7", "level": "3"}  # the service's strings


async def test_a_bulk_upload_sends_subclasses_as_their_plain_values() -> None:
    fake = FakeDialer()
    campaign = fake.add_campaign()
    rows: list[Any] = [
        {"phone": "972500000001", "customer_name": "plain", "custom_data": {"share": 0.5}},
        {"phone": "972500000002", "customer_name": "odd", "custom_data": ODD},
        Call("972500000003", custom_data=ODD),
    ]
    async with fake.client() as dialer:
        report = await dialer.add_calls_bulk(campaign.code, rows)
    assert (report.accepted, report.failed, report.rejected) == (3, [], [])
    held = {call.target: call.custom_data for call in campaign.calls}
    assert held == {"972500000001": {"share": "0.5"}, "972500000002": SENT, "972500000003": SENT}


async def test_add_call_sends_subclasses_as_their_plain_values() -> None:
    fake = FakeDialer()
    campaign = fake.add_campaign()
    async with fake.client() as dialer:
        await dialer.add_call(campaign.code, Call("972500000001", custom_data=ODD))
    assert [call.custom_data for call in campaign.calls] == [SENT]


class Shouting(str):
    """A key equal to its upper-case text: another key of the same text as a plain str."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and str.__str__(self).upper() == other.upper()

    def __hash__(self) -> int:
        return hash(str.__str__(self).upper())


async def test_two_keys_of_the_same_text_are_refused_before_anything_is_sent() -> None:
    fake = FakeDialer()
    campaign = fake.add_campaign()
    custom = {Shouting("id"): 1, "id": 2}  # "id" != "ID": two keys, both "id" as text
    assert len(custom) == 2
    async with fake.client() as dialer:
        with pytest.raises(ValidationError, match="custom_data has the key 'id' twice"):
            await dialer.add_call(campaign.code, Call("972500000001", custom_data=custom))
        report = await dialer.add_calls_bulk(
            campaign.code,
            [
                {"phone": "972500000002", "customer_name": "a", "custom_data": {"id": 1}},
                {"phone": "972500000003", "customer_name": "b", "custom_data": custom},
            ],
        )
    assert report.accepted == 1
    assert [failed.index for failed in report.failed] == [1]
    assert "custom_data has the key 'id' twice" in str(report.failed[0].error)
    assert campaign.targets() == ["972500000002"]
