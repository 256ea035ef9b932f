"""What building one ``Call`` costs, against the alternatives issue 12 asked to measure.

    .venv/bin/python benchmarks/call_constructor.py [--calls 200000] [--rounds 9]
    .venv/bin/python benchmarks/call_constructor.py --instructions [--counter callgrind]

Every variant is built the way a bulk upload's caller builds leads,
``X(number, customer_name=..., custom_data={...})``, in the same process, the variants
interleaved round by round; prints the median CPU ns per construction and its ratio to the
plain dict the scripts in ``bulk_upload.py`` build instead. Only the first is the library's;
the others are there to say what each design would cost or save:

- ``Call``: the shipped class, frozen attrs with slots, built by a ``__new__`` of its own:
  plain slot stores on a writable base, then the object becomes a (frozen) Call.
- ``attrs __init__``: the same class as attrs builds it (``Call`` before issue 22): its
  generated ``__init__`` writes each of the 8 fields through ``object.__setattr__`` (the
  frozen ``__setattr__`` refuses them).
- ``frozen, no slots``: ``@attrs.frozen(slots=False)``; writes go to the instance dict.
- ``frozen, hand __init__``: slots, an ``__init__`` written out with ``object.__setattr__``.
- ``mutable attrs``: ``@attrs.define``, not frozen: plain slot stores, but no longer
  immutable nor hashable.
- ``empty __init__``: a class whose ``__init__`` takes the same arguments and stores
  nothing: the floor of any constructor written in Python.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from voicenter_dialer import Call

_set = object.__setattr__


def like_call(name: str, **options: Any) -> type:
    """A class with ``Call``'s fields (names, defaults, keywords), made with other options."""
    fields = {
        field.name: attrs.field(default=field.default, kw_only=field.kw_only, hash=field.hash)
        for field in attrs.fields(Call)
    }
    return attrs.make_class(name, fields, **options)


def set_each(
    self: object,
    target: str,
    *,
    customer_name: str | None = None,
    caller_id: str | None = None,
    priority: int | None = None,
    custom_data: Mapping[str, Any] | None = None,
    originate_time: int | None = None,
    is_date_local: bool | None = None,
    ignore_dnc_status: bool | None = None,
) -> None:
    """A frozen class's ``__init__`` written out: each field through ``object.__setattr__``."""
    _set(self, "target", target)
    _set(self, "customer_name", customer_name)
    _set(self, "caller_id", caller_id)
    _set(self, "priority", priority)
    _set(self, "custom_data", {} if custom_data is None else custom_data)
    _set(self, "originate_time", originate_time)
    _set(self, "is_date_local", is_date_local)
    _set(self, "ignore_dnc_status", ignore_dnc_status)


AttrsCall = like_call("AttrsCall", frozen=True, slots=True)
FrozenDictCall = like_call("FrozenDictCall", frozen=True, slots=False)
HandInitCall = like_call("HandInitCall", frozen=True, slots=True, init=False)
HandInitCall.__init__ = set_each  # type: ignore[misc]
# What attrs.define would make: slots, mutable, no hash of its own.
MutableCall = like_call("MutableCall", slots=True, weakref_slot=True, eq=True)


class EmptyInit:
    __slots__ = ()

    def __init__(
        self,
        target: str,
        *,
        customer_name: str | None = None,
        caller_id: str | None = None,
        priority: int | None = None,
        custom_data: Mapping[str, Any] | None = None,
        originate_time: int | None = None,
        is_date_local: bool | None = None,
        ignore_dnc_status: bool | None = None,
    ) -> None:
        pass


def as_dict(target: str, *, customer_name: str, custom_data: Mapping[str, Any]) -> object:
    return {"Target": target, "CustomerName": customer_name, "CustomData": custom_data}


VARIANTS: dict[str, Callable[..., object]] = {
    "dict (baseline)": as_dict,
    "Call (shipped)": Call,
    "attrs __init__": AttrsCall,
    "frozen, no slots": FrozenDictCall,
    "frozen, hand __init__": HandInitCall,
    "mutable attrs": MutableCall,
    "empty __init__": EmptyInit,
}


def build(make: Callable[..., object], n: int) -> float:
    """CPU seconds to build *n* leads with *make* (the loop and its arguments included)."""
    started = time.process_time()
    for i in range(n):
        make("972501234567", customer_name=f"Lead {i}", custom_data={"var_LeadID": i})
    return time.process_time() - started


def counted(calls: int, counter: str | None) -> None:
    """Instructions per construction of each variant: a process building N1+N minus one
    building N1 (N1 = N / 10), each variant alone; deterministic to within 0.1%."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import instruction_counter, run_counted

    counter = counter or instruction_counter()
    n1 = max(calls // 10, 1)
    script = str(Path(__file__).resolve())
    per: dict[str, float] = {}
    for name in VARIANTS:
        whole = run_counted([script, "--only", name, "--calls", str(n1 + calls)], counter)
        start = run_counted([script, "--only", name, "--calls", str(n1)], counter)
        per[name] = (whole - start) / calls
    baseline = per["dict (baseline)"]
    print(f"instructions per construction ({counter}, {n1 + calls:,} minus {n1:,}):")
    for name, count in per.items():
        print(f"{name:<24} {count:9,.0f} {count / baseline:6.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--instructions", action="store_true", help="count instructions")
    parser.add_argument("--counter", choices=("perf", "callgrind"), help="default: perf if it can")
    parser.add_argument("--only", choices=list(VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only is not None:  # one variant alone, for counting its instructions
        build(VARIANTS[args.only], args.calls)
        return 0
    if args.instructions:
        counted(args.calls, args.counter)
        return 0
    seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for round_number in range(args.rounds):
        names = list(VARIANTS)
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            seconds[name].append(build(VARIANTS[name], args.calls))
    baseline = statistics.median(seconds["dict (baseline)"])
    print(f"{args.calls:,} constructions, {args.rounds} rounds, medians, {sys.version.split()[0]}")
    print(f"{'variant':<24} {'ns each':>8} {'÷ dict':>7} {'extra ns':>9}")
    for name, runs in seconds.items():
        each = statistics.median(runs)
        print(
            f"{name:<24} {each * 1e9 / args.calls:8.0f} {each / baseline:6.2f}x "
            f"{(each - baseline) * 1e9 / args.calls:9.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
