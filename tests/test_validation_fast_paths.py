"""The fast paths of phone(), custom_data() and BulkEncoder agree with the full checks they
shortcut."""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicenter_dialer import Call, ValidationError
from voicenter_dialer._converter import BulkEncoder, call_to_wire, wires_body
from voicenter_dialer._validation import (
    _checked_custom_data,
    bare_phones,
    custom_data,
    phone,
    plain_custom_data,
    shown,
)

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


CAMPAIGN = "CAMPAIGN-CODE-0123456789"
NUMBERS = st.one_of(
    st.sampled_from(["0501234567", "972501234567", "+972501234567", " 0501234567 ", "12345"]),
    DIGITS,
    st.integers(),
    st.none(),
)
CALLS = st.one_of(
    st.builds(
        Call,
        NUMBERS,
        customer_name=st.one_of(st.none(), st.text(max_size=4), st.integers()),
        custom_data=st.one_of(
            st.dictionaries(st.one_of(st.text(max_size=3), st.integers()), SCALARS, max_size=3),
            st.builds(MappingProxyType, st.dictionaries(st.text(max_size=3), SCALARS, max_size=2)),
        ),
        priority=st.one_of(st.none(), st.none(), st.integers(), st.booleans()),
    ),
    st.builds(lambda target: {"Target": target}, NUMBERS),  # not a Call at all
)


NAMES = st.one_of(st.none(), st.text(max_size=4), st.integers())
CUSTOM_DATA = st.one_of(
    st.none(),
    st.dictionaries(st.one_of(st.text(max_size=3), st.integers()), SCALARS, max_size=3),
    st.builds(MappingProxyType, st.dictionaries(st.text(max_size=3), SCALARS, max_size=2)),
)
# Calls given as mappings: any of Call's keys (and one it does not have), each maybe absent.
MAPPINGS = st.fixed_dictionaries(
    {},
    optional={
        "phone": NUMBERS,
        "target": NUMBERS,
        "customer_name": NAMES,
        "custom_data": CUSTOM_DATA,
        "priority": st.one_of(st.none(), st.integers(), st.booleans()),
        "caller_id": NUMBERS,
        "Target": NUMBERS,
    },
)
# Rows of the common case's shape, mostly valid, so that whole chunks of them take the column
# path: the number under one key, a name, plain custom data (sometimes empty, or absent).
VALID = st.sampled_from(["0501234567", "972501234567", "123456"])
PLAIN = st.one_of(st.text(max_size=3), st.booleans(), st.integers(-(2**63), 2**63 - 1))


def _mostly(good: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """*good* nine times in ten, else *odd* (one_of would draw each half the time)."""
    return st.integers(0, 9).flatmap(lambda draw: odd if draw == 0 else good)


def _rows(key: str) -> st.SearchStrategy[dict[str, Any]]:
    """Rows with the number under *key*, now and then one with both keys or a bad number."""
    return st.builds(
        lambda number, name, custom: {**number, "customer_name": name, "custom_data": custom},
        _mostly(
            st.fixed_dictionaries({key: VALID}),
            st.one_of(
                st.fixed_dictionaries({"phone": VALID, "target": VALID}),  # both: refused
                st.fixed_dictionaries({key: NUMBERS}),
            ),
        ),
        _mostly(st.text(max_size=4), NAMES),
        _mostly(st.dictionaries(st.text(min_size=1, max_size=3), PLAIN, max_size=2), CUSTOM_DATA),
    )


ROWS = _rows("phone")
# A chunk's rows share their number key, as rows read from one file do.
CHUNKS_OF_ROWS = st.sampled_from(["phone", "target"]).flatmap(
    lambda key: st.lists(_rows(key), min_size=1, max_size=6)
)
CODES = st.one_of(st.none(), st.just("ACCOUNT-CODE-0123456789"))


@given(st.lists(st.one_of(CALLS, MAPPINGS, ROWS), max_size=6), CODES)
def test_a_chunk_is_encoded_as_call_by_call(calls: list[Any], code: str | None) -> None:
    """BulkEncoder's column checks accept exactly what call_to_wire accepts, unchanged."""
    _encoded_as_call_by_call(calls, code)


@settings(max_examples=400)
@given(CHUNKS_OF_ROWS, CODES)
def test_a_chunk_of_rows_is_encoded_as_call_by_call(calls: list[Any], code: str | None) -> None:
    """The same for chunks of mappings only, which take the column path when all is well."""
    _encoded_as_call_by_call(calls, code)


def _encoded_as_call_by_call(
    calls: list[Any], code: str | None, encoder: BulkEncoder | None = None
) -> None:
    encoder = encoder or BulkEncoder(CAMPAIGN, code)
    try:
        expected = wires_body([call_to_wire(CAMPAIGN, call, code) for call in calls])
    except ValidationError as exc:
        with pytest.raises(ValidationError, match=re.escape(exc.message)):
            encoder.encode(calls)
    else:
        assert encoder.encode(calls) == expected  # the same bytes: keys in the same order


@pytest.mark.parametrize(
    "column",
    [
        ["0501234567", "05012\n34567"],  # a newline inside a number is not two numbers
        ["0501234567", "".join(chr(0xFF10 + int(digit)) for digit in "0501234567")],  # fullwidth
        ["0501234567", "1234567890123456"],  # 16 digits
        ["0501234567", 501234567],
    ],
)
def test_bare_phones_refuses_a_column_with_one_odd_number(column: list[Any]) -> None:
    assert bare_phones(["0501234567", "972501234567"])
    assert not bare_phones(column)


@pytest.mark.parametrize(
    "odd",
    [{"": 1}, {1: "a"}, {"k": 2**63}, {"k": float("nan")}, {"k": None}, {"k": [1]}],
)
def test_plain_custom_data_refuses_a_column_with_one_odd_mapping(odd: dict[Any, Any]) -> None:
    assert plain_custom_data([{"a": "x", "b": True}, {"a": 1, "b": 1.5}])
    assert not plain_custom_data([{"a": 1}, odd])


class _LooksLikeA:
    """A key that hashes and compares like "a" but is not a str."""

    def __hash__(self) -> int:
        return hash("a")

    def __eq__(self, other: object) -> bool:
        return other == "a"


class _NoRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


@pytest.mark.parametrize(
    "calls",
    [
        # An error other than ValidationError in a later call must not jump ahead.
        [Call("12345"), Call("0501234567", priority=1, custom_data={10**5000: 1})],  # type: ignore[dict-item]
        # A key equal to one seen before is still a key of the wrong type.
        [
            Call("0501234567", custom_data={"a": 1}),
            Call("0501234567", custom_data={_LooksLikeA(): 1}),  # type: ignore[dict-item]
        ],
        [Call("0501234567", custom_data={_NoRepr(): 1})],  # type: ignore[dict-item]
    ],
    ids=["first-error-first", "equal-key-of-another-type", "key-without-a-repr"],
)
def test_a_chunk_with_an_odd_call_raises_what_call_by_call_raises(calls: list[Call]) -> None:
    with pytest.raises(ValidationError) as expected:
        [call_to_wire(CAMPAIGN, call) for call in calls]
    with pytest.raises(ValidationError, match=re.escape(expected.value.message)):
        BulkEncoder(CAMPAIGN).encode(calls)


def test_a_chunk_given_as_a_generator_is_encoded_as_a_list_is() -> None:
    calls = [Call("0501234567", priority="x"), Call("0501234567")]  # type: ignore[arg-type]
    encoder = BulkEncoder(CAMPAIGN)
    with pytest.raises(ValidationError, match="priority must be an int"):
        encoder.encode(iter(calls))  # type: ignore[arg-type]
    good = [Call("0501234567", customer_name="Dana"), Call("+972501234567")]
    assert encoder.encode(iter(good)) == encoder.encode(good)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (10**5000, "an int without a repr"),
        (_NoRepr(), "a _NoRepr without a repr"),
        ("x" * 100, "'" + "x" * 56 + "..."),
        (5, "5"),
    ],
    ids=["huge-int", "raising-repr", "long", "short"],
)
def test_a_value_is_shown_in_a_message_whatever_its_repr_does(value: object, text: str) -> None:
    assert shown(value) == text


class _Text(str):
    """A str of another type: equal to its text, but not a str itself."""


# Rows whose custom data share their keys, which the column path reads a column per key of
# the first row's; now and then a row whose key only equals one of them (of a str subclass,
# or an object that compares equal), or of other keys, or a name with a lone surrogate. The
# encoder refuses such keys and names, and the chunk goes call by call.
SHARED = st.fixed_dictionaries({"a": PLAIN, "b": PLAIN})
ODD_CUSTOM = st.one_of(
    st.builds(lambda value: {_Text("a"): value, "b": 1}, PLAIN),
    st.builds(lambda value: {_LooksLikeA(): value, "b": 1}, PLAIN),
    st.just({"b": 1, "a": 2}),
    st.just({"a": 1}),
    st.just({"a": 1, "b": 2, "c": 3}),
    st.just({"a": None, "b": 1}),
    st.just({}),
    # ints the encoder refuses (below the 64-bit range, or huge), and one it would send
    st.sampled_from([-(2**63) - 1, -(10**5000), 2**63, 2**64]).map(lambda n: {"a": n, "b": 1}),
)
ODD_NAMES = st.one_of(st.just("lone \ud800"), st.just(_Text("Dana")), NAMES)
SHARED_ROWS = st.builds(
    lambda number, name, custom: {"phone": number, "customer_name": name, "custom_data": custom},
    VALID,
    _mostly(st.text(max_size=4), ODD_NAMES),
    _mostly(SHARED, ODD_CUSTOM),
)


@settings(max_examples=400)
@given(st.lists(SHARED_ROWS, min_size=1, max_size=6), CODES)
def test_a_chunk_of_rows_sharing_their_keys_is_encoded_as_call_by_call(
    calls: list[Any], code: str | None
) -> None:
    _encoded_as_call_by_call(calls, code)


def _chunk(size: int) -> list[dict[str, Any]]:
    return [
        {"phone": f"9725{size:04d}{i:04d}", "customer_name": f"Lead {i}", "custom_data": {"i": i}}
        for i in range(size)
    ]


@pytest.mark.parametrize("code", [None, "ACCOUNT-CODE-0123456789"])
def test_an_encoder_keeps_no_chunk_s_values_in_the_next(code: str | None) -> None:
    """The common case's wire objects are reused from chunk to chunk: larger, smaller, after a
    chunk the encoder refused, each chunk is encoded as call by call would."""
    encoder = BulkEncoder(CAMPAIGN, code)
    refused = [*_chunk(3), {"phone": "972500000000", "customer_name": "\ud800", "custom_data": {}}]
    for calls in (_chunk(5), _chunk(2), refused, _chunk(7), _chunk(1), _chunk(7)):
        _encoded_as_call_by_call(calls, code, encoder)
