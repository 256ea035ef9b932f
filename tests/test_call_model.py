"""``Call`` is built by a ``__new__`` of its own (plain slot stores, then frozen): it must stay
what attrs made of it, a frozen, hashable, picklable class whose constructor takes exactly its
fields."""

from __future__ import annotations

import copy
import inspect
import pickle
import weakref
from typing import Any

import attrs
import pytest

from voicenter_dialer import Call


def full() -> Call:
    """A Call with every field given (a new one each time)."""
    return Call(
        "972501234567",
        customer_name="Dana",
        caller_id="97231234567",
        priority=3,
        custom_data={"var_LeadID": 7},
        originate_time=1_700_000_000,
        is_date_local=True,
        ignore_dnc_status=False,
    )


FULL = full()


def test_the_constructor_takes_exactly_the_fields_with_their_defaults() -> None:
    parameters = list(inspect.signature(Call).parameters.values())
    fields: tuple[attrs.Attribute[Any], ...] = attrs.fields(Call)
    assert [p.name for p in parameters] == [f.name for f in fields]
    assert [p.kind == p.KEYWORD_ONLY for p in parameters] == [f.kw_only for f in fields]
    for parameter, field in zip(parameters, fields, strict=True):
        if field.name == "custom_data":
            continue  # a factory: checked below
        expected = inspect.Parameter.empty if field.default is attrs.NOTHING else field.default
        assert parameter.default == expected, field.name
    assert all(getattr(FULL, f.name) is not None for f in fields)


def test_each_call_gets_its_own_empty_custom_data() -> None:
    first, second = Call("972501234567"), Call("972501234567")
    assert first.custom_data == {}
    assert type(first.custom_data) is dict
    assert first.custom_data is not second.custom_data


def test_a_call_is_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        FULL.target = "972500000000"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        del FULL.priority
    assert not hasattr(FULL, "__dict__")


def test_equality_hash_evolve_and_repr_are_attrs() -> None:
    again = full()
    assert again == FULL
    assert hash(again) == hash(FULL)
    changed = attrs.evolve(FULL, priority=4)
    assert type(changed) is Call
    assert changed.priority == 4
    assert changed != FULL
    assert repr(FULL).startswith("Call(target='972501234567', customer_name='Dana'")


@pytest.mark.parametrize(
    "round_trip",
    [
        lambda call: pickle.loads(pickle.dumps(call)),  # noqa: S301 -- our own bytes
        copy.copy,
        copy.deepcopy,
    ],
    ids=["pickle", "copy", "deepcopy"],
)
def test_a_call_survives_pickle_and_copy(round_trip: object) -> None:
    assert callable(round_trip)
    back = round_trip(FULL)
    assert type(back) is Call
    assert back == FULL
    assert attrs.asdict(back) == attrs.asdict(FULL)


def test_a_call_can_be_weakly_referenced() -> None:
    call = Call("972501234567")
    assert weakref.ref(call)() is call


def test_a_subclass_is_built_with_every_field() -> None:
    class Lead(Call):
        pass

    lead = Lead("972501234567", priority=2)
    assert type(lead) is Lead
    assert isinstance(lead, Call)
    assert (lead.target, lead.priority, lead.custom_data) == ("972501234567", 2, {})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        lead.priority = 3  # type: ignore[misc]
