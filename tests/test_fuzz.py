"""Fuzzing the answers: whatever comes back, only DialerError subclasses escape."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicenter_dialer import AsyncDialer, Call, DialerError

from .examples import CAMPAIGN_CODE
from .test_errors import CALLS

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
# Keys the client looks at, so that fuzzed objects often get past the first checks.
KEYS = ["ErrorCode", "Description", "Data", "AddResult", "Target", "TotalAdded", "TotalRemoved",
        "Calls", "Campaign", "Name", "CustomData", "CallStatus", "Member", "Code"]  # fmt: skip
envelopes = st.fixed_dictionaries(
    {"ErrorCode": st.sampled_from([0, 0, 0, 1, 2, -2, 4, "0", None, "x", 1.5, True])},
    optional={
        "Data": json_values
        | st.dictionaries(st.sampled_from(KEYS), json_values, max_size=5)
        | st.lists(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=5), max_size=3),
        "Description": json_values,
        "AddResult": st.lists(
            st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4), max_size=4
        )
        | json_values,
    },
)
bodies = st.one_of(
    st.binary(max_size=64),
    json_values.map(lambda value: json.dumps(value).encode()),
    envelopes.map(lambda value: json.dumps(value).encode()),
)
responses = st.builds(
    lambda status, body, retry_after, content_type: httpx.Response(
        status,
        content=body,
        headers={"Retry-After": retry_after, "Content-Type": content_type},
    ),
    status=st.sampled_from([200, 200, 200, 201, 204, 301, 400, 404, 429, 500, 502, 503, 504])
    | st.integers(200, 599),
    body=bodies,
    retry_after=st.sampled_from(["0", "1", "-5", "soon", "Wed, 21 Oct 2015 07:28:00 GMT", ""]),
    content_type=st.sampled_from(["application/json", "text/html", "text/plain"]),
)


async def call_every_method(answers: list[httpx.Response]) -> list[BaseException | None]:
    """Each method once, each answered by the next fuzzed response (and its retries too)."""
    outcomes: list[BaseException | None] = []
    for method, answer in zip(sorted(CALLS), answers, strict=False):
        transport = httpx.MockTransport(lambda request, answer=answer: answer)
        async with (
            httpx.AsyncClient(transport=transport) as client,
            AsyncDialer("ACCOUNT-0123456789", http_client=client) as dialer,
        ):
            try:
                await CALLS[method](dialer)
            except DialerError as exc:
                outcomes.append(exc)
            else:
                outcomes.append(None)
    return outcomes


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(responses, min_size=len(CALLS), max_size=len(CALLS)))
def test_only_dialer_errors_escape(answers: list[httpx.Response]) -> None:
    # Anything else (KeyError, TypeError, AttributeError, JSONDecodeError...) fails the test.
    outcomes = anyio.run(call_every_method, answers)
    assert len(outcomes) == len(CALLS)


async def bulk(answer: httpx.Response, size: int) -> tuple[int, int, int, int]:
    transport = httpx.MockTransport(lambda request: answer)
    calls = [Call(f"9725{i:08d}") for i in range(size)]
    async with (
        httpx.AsyncClient(transport=transport) as client,
        AsyncDialer(http_client=client) as dialer,
    ):
        report = await dialer.add_calls_bulk(CAMPAIGN_CODE, calls, chunk_size=2)
    return report.total, report.accepted, len(report.rejected), len(report.failed)


@settings(max_examples=200, deadline=None)
@given(responses, st.integers(0, 5))
def test_bulk_accounts_for_every_call_whatever_the_answer(
    answer: httpx.Response, size: int
) -> None:
    total, accepted, rejected, failed = anyio.run(bulk, answer, size)
    assert total == size == accepted + rejected + failed


def means_ok(code: Any) -> bool:
    """ErrorCode 0, as a JSON integer or a numeric string; never false, 0.0 or null."""
    if type(code) is int:
        return code == 0
    return isinstance(code, str) and code.strip().lstrip("-").isdigit() and int(code) == 0


def test_fuzzed_answers_with_targets_that_match() -> None:
    """An AddResult that echoes the right targets with fuzzed codes is never lost either."""

    @settings(max_examples=100, deadline=None)
    @given(
        st.lists(
            json_values | st.sampled_from(["0", " 0", "-0", 0.0, False]), min_size=2, max_size=2
        )
    )
    def check(codes: list[Any]) -> None:
        results = [{"Target": f"9725{i:08d}", "ErrorCode": code} for i, code in enumerate(codes)]
        answer = httpx.Response(200, json={"ErrorCode": 0, "AddResult": results})
        total, accepted, rejected, failed = anyio.run(bulk, answer, 2)
        assert total == accepted + rejected + failed == 2
        assert accepted == sum(1 for code in codes if means_ok(code))

    check()
