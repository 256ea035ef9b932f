"""BulkReport.outcomes(): one LeadOutcome per input call, in input order."""

from __future__ import annotations

from voicenter_dialer import Call, LeadOutcome, ValidationError

from .bulk_server import BulkServer, lead
from .examples import CAMPAIGN_CODE


async def test_one_outcome_per_input_call_in_input_order() -> None:
    server = BulkServer(reject={lead(3).target, lead(7).target})
    calls: list[object] = [lead(i) for i in range(10)]
    calls[5] = Call("not a number")
    async with server.dialer() as dialer:
        report = await dialer.add_calls_bulk(CAMPAIGN_CODE, calls, chunk_size=4)  # type: ignore[arg-type]

    outcomes = list(report.outcomes())

    assert [outcome.index for outcome in outcomes] == list(range(10))
    assert [outcome.status for outcome in outcomes] == [
        "accepted", "accepted", "accepted", "rejected", "accepted",
        "failed", "accepted", "rejected", "accepted", "accepted",
    ]  # fmt: skip
    rejected = outcomes[3]
    assert rejected.call == calls[3]
    assert rejected.result is not None
    assert rejected.result.error_code == -2
    failed = outcomes[5]
    assert failed.call == calls[5]
    assert isinstance(failed.error, ValidationError)
    # Accepted calls are not held by the report: the input may be a million leads.
    assert outcomes[0] == LeadOutcome(0, None, "accepted")


async def test_chunk_outcomes_cover_their_positions() -> None:
    server = BulkServer(reject={lead(5).target})
    async with (
        server.dialer() as dialer,
        dialer.stream_calls_bulk(
            CAMPAIGN_CODE, [lead(i) for i in range(8)], chunk_size=4, concurrency=1
        ) as chunks,
    ):
        statuses = {o.index: o.status async for chunk in chunks for o in chunk.outcomes()}

    assert statuses == {i: "rejected" if i == 5 else "accepted" for i in range(8)}
