"""Every name the second round added, as a user's code would use it: ``mypy --strict``
checks this file (``make typecheck``); it is never run."""

from __future__ import annotations

import logging
from typing import Any

import httpx
from typing_extensions import assert_type

from voicenter_dialer import (
    AsyncDialer,
    BulkReport,
    Call,
    Campaign,
    ChunkOutcome,
    Dialer,
    DialerError,
    to_dict,
)


async def asynchronous(dialer: AsyncDialer, campaign: Campaign) -> dict[str, Any]:
    quick = dialer.with_options(timeout=2, max_retries=0, deadline=5)
    patient = dialer.with_options(timeout=httpx.Timeout(60, connect=5), deadline=None)
    once = dialer.with_options(resend_unknown_outcome=True)
    assert_type(quick, AsyncDialer)
    try:
        details = await quick.get_campaign_details(campaign)
    except DialerError as exc:
        response = exc.response
        assert_type(response, httpx.Response | None)
        if response is not None:
            logging.warning("HTTP %d: %r", response.status_code, response.content[:200])
        raise
    report = await patient.add_calls_bulk(campaign, [Call("972501234567")])
    await once.add_call(campaign, Call("972501234567"))
    await quick.aclose()
    return {"campaign": to_dict(details), "report": to_dict(report)}


def synchronous() -> None:
    with Dialer("ACCOUNT-CODE", max_retries=1, timeout=10) as dialer:
        campaigns = dialer.get_campaign_list()
        assert_type(campaigns, list[Campaign])
        report = dialer.add_calls_bulk(campaigns[0], [Call("972501234567")], journal="up.db")
        assert_type(report, BulkReport)
        with dialer.stream_calls_bulk(campaigns[0], [Call("972501234567")]) as outcomes:
            for chunk in outcomes:
                assert_type(chunk, ChunkOutcome)
        assert_type(dialer.with_options(deadline=3).add_member(campaigns[0], "201"), int)
        rendered: dict[str, Any] = to_dict(report)
        del rendered
    dialer.close()
