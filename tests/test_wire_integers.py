"""Integers on the wire (ErrorCode, totals, counts) are ASCII digits, or a ResponseError.

``str.isdigit`` is true of "²" (which ``int`` refuses) and of an Arabic-Indic one, "\\u0661"
(which ``int`` reads as 1), and ``int`` refuses a string of more than 4,300 digits: none of
them may escape as a bare ValueError or be read as a code.
"""

from __future__ import annotations

import pytest
import respx

from voicenter_dialer import AsyncDialer, Call, ResponseError
from voicenter_dialer._converter import wire_int

from .examples import CAMPAIGN_CODE

NOT_INTEGERS = [
    "²",
    "\u0661",
    "\u0661\u0662",
    "9" * 5000,
    "9" * 19,
    "-",
    "--1",
    "+1",
    "1_000",
    "1.0",
    "",
    " ",
]


@pytest.mark.parametrize("code", NOT_INTEGERS)
async def test_an_error_code_that_is_not_ascii_digits_is_a_response_error(
    api: respx.MockRouter, dialer: AsyncDialer, code: str
) -> None:
    api.post("AddCall").respond(json={"ErrorCode": code, "Description": "OK"})

    with pytest.raises(ResponseError, match="ErrorCode is not an integer"):
        await dialer.add_call(CAMPAIGN_CODE, Call("0501234567"))


@pytest.mark.parametrize("total", NOT_INTEGERS)
async def test_a_total_that_is_not_ascii_digits_is_a_response_error(
    api: respx.MockRouter, dialer: AsyncDialer, total: str
) -> None:
    api.post("AddMember").respond(json={"ErrorCode": 0, "Data": {"TotalAdded": total}})

    with pytest.raises(ResponseError, match=r"no integer Data\.TotalAdded"):
        await dialer.add_member(CAMPAIGN_CODE, "SIP1")


# An empty string means "absent" in Data, as null does.
@pytest.mark.parametrize("total", [value for value in NOT_INTEGERS if value])
async def test_a_count_in_data_that_is_not_ascii_digits_is_a_response_error(
    api: respx.MockRouter, dialer: AsyncDialer, total: str
) -> None:
    data = {"Name": "x", "TotalPendingCalls": total}
    api.post("GetCampaignDetails").respond(json={"ErrorCode": 0, "Data": data})

    with pytest.raises(ResponseError, match="expected an integer"):
        await dialer.get_campaign_details(CAMPAIGN_CODE)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0), ("-2", -2), (" 4 ", 4), ("9" * 18, int("9" * 18)), ("-" + "9" * 18, -int("9" * 18))],
)
def test_numeric_strings_are_read(value: str, expected: int) -> None:
    assert wire_int(value) == expected
