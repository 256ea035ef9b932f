"""The pytest fixtures, used the way a user's own test suite uses them."""

from __future__ import annotations

import pytest

from voicenter_dialer import AsyncDialer, Call
from voicenter_dialer.testing import FakeDialer


async def test_fixtures_are_wired_together(
    voicenter_fake: FakeDialer, voicenter_client: AsyncDialer
) -> None:
    campaign = voicenter_fake.add_campaign("Sales")

    await voicenter_client.add_call(campaign.code, Call("972501234567"))

    assert campaign.targets() == ["972501234567"]
    assert [c.name for c in await voicenter_client.get_campaign_list()] == ["Sales"]


async def test_each_test_gets_a_fresh_fake(voicenter_fake: FakeDialer) -> None:
    assert voicenter_fake.campaigns == {}


USER_SUITE = """
import pytest
from voicenter_dialer import Call, InvalidTargetError

# The user's own code under test.
async def enqueue(dialer, campaign, phone):
    await dialer.add_call(campaign, Call(phone))
    return (await dialer.get_campaign_details(campaign)).total_pending_calls

@pytest.mark.asyncio
async def test_enqueue(voicenter_fake, voicenter_client):
    campaign = voicenter_fake.add_campaign("Leads")
    assert await enqueue(voicenter_client, campaign.code, "0501234567") == 1

@pytest.mark.asyncio
async def test_refused(voicenter_fake, voicenter_client):
    campaign = voicenter_fake.add_campaign("Leads")
    with pytest.raises(InvalidTargetError):
        await enqueue(voicenter_client, campaign.code, "123456")
"""


def test_plugin_is_registered_by_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_SUITE)

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(passed=2)
