"""Property-based: whatever the server does, every lead is accounted for exactly once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicenter_dialer import BulkReport, Call, TransportError

from .bulk_server import Behaviour, BulkServer, lead
from .examples import CAMPAIGN_CODE

BEHAVIOURS: list[Behaviour] = ["ok", "refuse", "lost", "crash", "no_result", "short"]


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, object]:
    total = draw(st.integers(0, 120))
    # A pool of targets smaller than the input makes duplicates likely.
    pool = draw(st.integers(1, 150))
    targets = [f"97250{draw(st.integers(0, pool - 1)):07d}" for _ in range(total)]
    return {
        "total": total,
        "targets": targets,
        "invalid": draw(st.sets(st.integers(0, max(total - 1, 0)), max_size=5)),
        "reject": set(draw(st.lists(st.sampled_from(targets), max_size=5))) if targets else set(),
        "chunk_size": draw(st.integers(1, 40)),
        "concurrency": draw(st.integers(1, 6)),
        "script": draw(st.dictionaries(st.integers(0, 30), st.sampled_from(BEHAVIOURS))),
        "asynchronous": draw(st.booleans()),
    }


async def run(scenario: dict[str, object]) -> tuple[BulkReport, BulkServer, list[Call]]:
    targets: list[str] = scenario["targets"]  # type: ignore[assignment]
    invalid: set[int] = scenario["invalid"]  # type: ignore[assignment]
    calls = [Call("bad") if i in invalid else lead(i, target) for i, target in enumerate(targets)]
    server = BulkServer(reject=scenario["reject"], script=scenario["script"])  # type: ignore[arg-type]

    async def aiter(items: Iterable[Call]) -> AsyncIterator[Call]:
        for item in items:
            yield item

    source = aiter(calls) if scenario["asynchronous"] else iter(calls)
    async with server.dialer() as dialer:
        report = await dialer.add_calls_bulk(
            CAMPAIGN_CODE,
            source,
            chunk_size=scenario["chunk_size"],  # type: ignore[arg-type]
            concurrency=scenario["concurrency"],  # type: ignore[arg-type]
        )
    return report, server, calls


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_every_lead_is_accounted_for_exactly_once(scenario: dict[str, object]) -> None:
    report, server, calls = anyio.run(run, scenario)
    total = len(calls)

    # The invariant, and each index exactly once.
    assert report.total == total
    assert report.total == report.accepted + len(report.rejected) + len(report.failed)
    indexes = [r.index for r in report.rejected] + [f.index for f in report.failed]
    assert len(indexes) == len(set(indexes))
    for rejected in report.rejected:
        assert rejected.call is calls[rejected.index]
    for failed in report.failed:
        assert failed.call is calls[failed.index]

    # The server never added anything twice: no chunk was re-sent after it was processed.
    assert all(count == 1 for count in server.added.values())
    # Accepted means added: the accepted leads are exactly those neither rejected nor failed,
    # and each of them is on the server.
    not_accepted = set(indexes)
    accepted = {i for i in range(total) if i not in not_accepted}
    assert len(accepted) == report.accepted
    assert accepted <= set(server.added)
    # Rejected and locally invalid leads were never added; nor were failed leads whose
    # outcome is known (refused).
    for entry in report.rejected:
        assert entry.index not in server.added
    for failed in report.failed:
        if not failed.error.outcome_unknown:
            assert failed.index not in server.added
        if isinstance(failed.error, TransportError):
            assert failed.error.outcome_unknown  # only "lost" answers fail in transport here
