"""The fast paths of phone() and custom_data() agree with the full checks they shortcut."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicenter_dialer import ValidationError
from voicenter_dialer._validation import _checked_custom_data, custom_data, phone

# The definition the fast path must agree with (the module's own regex, spelled out).
PHONE = re.compile(r"\s*\+?([0-9]{6,15})\s*")
# ASCII digits, and digits isdigit() accepts too: superscript two, Arabic-Indic, NKo.
DIGITS = st.text(st.sampled_from("0123456789²\u0661\u0662\u07c0+ \t"), max_size=18)


@given(st.one_of(DIGITS, st.text(max_size=18)))
def test_phone_agrees_with_its_regex(value: str) -> None:
    match = PHONE.fullmatch(value)
    if match is None:
        with pytest.raises(ValidationError):
            phone(value)
    else:
        assert phone(value) == match.group(1)
        assert type(phone(value)) is str


SCALARS = st.one_of(
    st.text(max_size=3),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.lists(st.integers(), max_size=1),
)


@given(st.dictionaries(st.one_of(st.text(max_size=3), st.integers()), SCALARS, max_size=4))
def test_custom_data_agrees_with_the_full_check(value: dict[Any, Any]) -> None:
    try:
        expected = _checked_custom_data(value)
    except ValidationError as exc:
        with pytest.raises(ValidationError, match=re.escape(exc.message)):
            custom_data(value)
    else:
        assert custom_data(value) == expected
