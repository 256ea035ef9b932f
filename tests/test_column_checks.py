"""The bulk path's column checks (issue 22): exact types counted, custom data read a column per
key when every mapping has the first one's keys, a chunk's offsets as a range. Each agrees with
the call-by-call checks it stands for."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicenter_dialer import ValidationError
from voicenter_dialer._answer import Answer
from voicenter_dialer._chunk import Chunk
from voicenter_dialer._converter import BulkEncoder, call_to_wire, wires_body
from voicenter_dialer._validation import all_exactly, custom_data, plain_custom_data

CAMPAIGN = "CAMPAIGN-CODE-0123456789"


class _Text(str):
    """A str of another type: equal to its text, but not a str itself."""


class _LooksLikeA:
    """A key that hashes and compares like "a" but is not a str."""

    def __hash__(self) -> int:
        return hash("a")

    def __eq__(self, other: object) -> bool:
        return other == "a"


def test_all_exactly_counts_the_type_itself_not_its_subclasses() -> None:
    assert all_exactly([], str)
    assert all_exactly(["a", "b"], str)
    assert not all_exactly(["a", _Text("b")], str)
    assert not all_exactly([True, 1], int)
    assert not all_exactly(["a", 1], str)


def _plain_by_each(values: list[Any]) -> bool:
    """What plain_custom_data stands for: each of *values* is not empty, and custom_data
    returns it as it is."""
    try:
        return all(custom_data(value) is value and value for value in values)
    except ValidationError:
        return False


def _refused_by_the_encoder(values: list[Any]) -> bool:
    try:
        orjson.dumps(values)
    except orjson.JSONEncodeError:
        return True
    return False


# Values of every kind custom_data sees, most of them valid.
VALUES = st.one_of(
    st.text(max_size=2),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.lists(st.integers(), max_size=1),
)
KEYS = st.one_of(st.sampled_from(["a", "b", "c", ""]), st.integers(0, 1))


def _same_layout(keys: list[Any]) -> st.SearchStrategy[list[dict[Any, Any]]]:
    """Mappings that all have *keys*, in that order, now and then one of another shape."""
    row = st.tuples(*(VALUES for _ in keys)).map(
        lambda values: dict(zip(keys, values, strict=True))
    )
    odd = st.dictionaries(KEYS, VALUES, max_size=3)
    return st.lists(st.one_of(row, row, row, odd), min_size=1, max_size=5)


LAYOUTS = st.lists(KEYS, min_size=1, max_size=3, unique=True).flatmap(_same_layout)


@settings(max_examples=500)
@given(st.one_of(LAYOUTS, st.lists(st.dictionaries(KEYS, VALUES, max_size=3), max_size=5)))
def test_plain_custom_data_agrees_with_custom_data_one_by_one(values: list[Any]) -> None:
    if plain_custom_data(values):  # or the encoder refuses what only the first row's keys equal
        assert _plain_by_each(values) or _refused_by_the_encoder(values)
    else:
        assert not _plain_by_each(values)


@pytest.mark.parametrize(
    "values",
    [
        # Every mapping with the same keys in the same order: a column per key.
        [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}, {"a": 3, "b": None}],
        [{"a": 1, "b": "x"}, {"a": 2**63, "b": "y"}],
        [{"a": 1}, {"a": float("nan")}],
        # The same keys, one mapping in another order: read mapping by mapping.
        [{"a": 1, "b": "x"}, {"b": None, "a": 2}],
        # As many keys in all as the layout times the rows, but not the same ones.
        [{"a": 1, "b": 2}, {"a": 3}, {"a": 4, "b": 5, "c": None}],
        [{"a": 1}, {"b": None}],
        [{"a": 1}, {"a": 1, "b": None}],
        # An empty key in the layout; no custom data (not sent, so not the column path's).
        [{"": 1}, {"": 2}],
        [{}, {}],
    ],
    ids=[
        "none-in-a-column",
        "int-out-of-range",
        "nan",
        "other-order",
        "same-count-other-keys",
        "other-key",
        "extra-key",
        "empty-key",
        "empty",
    ],
)
def test_plain_custom_data_refuses_a_column_with_one_odd_mapping(values: list[Any]) -> None:
    assert plain_custom_data(values) is False
    assert _plain_by_each(values) is False


@pytest.mark.parametrize("key", [_LooksLikeA(), _Text("a")], ids=["equal-object", "str-subclass"])
def test_a_key_only_equal_to_the_first_row_s_is_left_to_the_encoder(key: object) -> None:
    """Only the first row's keys are read: a later row's key that equals one of them passes
    the column check, the encoder refuses it, and the chunk goes call by call."""
    values = [{"a": 1}, {key: 1}]
    assert plain_custom_data(values) is True
    assert not _plain_by_each(values)  # refused, or (a str subclass) copied as a plain str
    assert _refused_by_the_encoder(values)
    calls = [{"phone": "0501234567", "customer_name": "Dana", "custom_data": v} for v in values]
    _encoded_as_call_by_call(calls)


def test_a_layout_of_str_subclass_keys_is_read_as_custom_data_reads_it() -> None:
    values = [{_Text("a"): 1}, {_Text("a"): 2}]
    assert plain_custom_data(values) is _plain_by_each(values) is False  # copied, not as is


def _encoded_as_call_by_call(calls: list[Any]) -> None:
    try:
        expected = wires_body([call_to_wire(CAMPAIGN, call) for call in calls])
    except ValidationError as exc:
        with pytest.raises(ValidationError, match=re.escape(exc.message)):
            BulkEncoder(CAMPAIGN).encode(calls)
    else:
        assert BulkEncoder(CAMPAIGN).encode(calls) == expected


class _Row(dict[str, Any]):
    """A dict of another type: read call by call, through its own methods."""


ROW = {"phone": "0501234567", "customer_name": "Dana", "custom_data": {"k": 1}}


@pytest.mark.parametrize(
    "calls",
    [
        [ROW, {**ROW, "priority": 2}],  # a fourth key
        [ROW, {"target": "972501234567", "customer_name": "Dan", "custom_data": {"k": 2}}],
        [ROW, {"phone": "0501234567", "custom_data": {"k": 1}, "caller_id": "035551234"}],
        [ROW, {"phone": "0501234567", "customer_name": "Dana", "priority": "x"}],
        [ROW, _Row(ROW)],
        [ROW, {"phone": "0501234567", "customer_name": "Dana", "custom_data": {}}],
        [ROW, {"phone": "0501234567", "customer_name": "Dana", "custom_data": {"k": None}}],
        [ROW, {"phone": "0501234567", "customer_name": "Dana", "custom_data": {"j": None}}],
        [],
    ],
    ids=[
        "fourth-key",
        "other-number-key",
        "three-keys-not-the-three",
        "bad-priority",
        "dict-subclass",
        "empty-custom-data",
        "bad-value-same-layout",
        "bad-value-other-layout",
        "no-calls",
    ],
)
def test_a_chunk_of_rows_out_of_the_column_shape_is_encoded_as_call_by_call(
    calls: list[Any],
) -> None:
    _encoded_as_call_by_call(calls)


def test_a_chunk_loaded_with_a_range_of_offsets_settles_each_position() -> None:
    calls = [dict(ROW, phone=f"05012345{i:02d}") for i in range(3)]
    chunk = Chunk(10, calls)
    chunk.load(range(3), BulkEncoder(CAMPAIGN).encode(calls))
    assert chunk.offsets == range(3)
    assert chunk.targets == ("0501234500", "0501234501", "0501234502")
    results = [
        {"Target": "0501234500", "ErrorCode": 0},
        {"Target": "0501234501", "ErrorCode": -2, "Description": "Number is invalid"},
        {"Target": "0501234502", "ErrorCode": False},  # not an int: its outcome is unknown
    ]
    chunk.merge(Answer("AddCallsBulk", {"ErrorCode": 0, "AddResult": results}, 200))
    assert chunk.accepted == 1
    assert [rejected.index for rejected in chunk.rejected] == [11]
    assert [(failed.index, failed.call) for failed in chunk.failed] == [(12, calls[2])]


def test_a_chunk_with_no_results_fails_every_position_of_its_range() -> None:
    calls = [dict(ROW, phone=f"05012345{i:02d}") for i in range(3)]
    chunk = Chunk(10, calls)
    chunk.load(range(3), BulkEncoder(CAMPAIGN).encode(calls))
    chunk.merge(Answer("AddCallsBulk", {"ErrorCode": 0}, 200))
    assert [failed.index for failed in chunk.failed] == [10, 11, 12]
    assert [failed.call for failed in chunk.failed] == calls
