"""Retries logged on the library's logger (and not as stamina's bare records); OpenTelemetry
spans per method call and bulk chunk, with no code or number in them."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
import respx
import stamina
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from voicenter_dialer import AsyncDialer, Call, ResponseError, _telemetry
from voicenter_dialer.testing import FakeDialer

from .examples import ACCOUNT_CODE, BASE_URL, CAMPAIGN_CODE, CAMPAIGN_DETAILS, OK

# --- logs -------------------------------------------------------------------------------------


def retry_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "voicenter_dialer" and "retrying" in r.getMessage()
    ]


async def test_each_retry_is_one_info_line(
    api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    api.post(BASE_URL + "GetCampaignDetails").mock(
        side_effect=[
            httpx.Response(503),
            httpx.ConnectError("refused"),
            httpx.Response(200, json=CAMPAIGN_DETAILS),
        ]
    )
    async with AsyncDialer(ACCOUNT_CODE) as dialer:
        await dialer.get_campaign_details(CAMPAIGN_CODE)

    assert retry_lines(caplog) == [
        "GetCampaignDetails: attempt 1 of 3 failed (HTTP 503); retrying in 0.00 s",
        "GetCampaignDetails: attempt 2 of 3 failed (ConnectError); retrying in 0.00 s",
    ]
    record = next(r for r in caplog.records if hasattr(r, "voicenter_dialer_retry"))
    assert record.levelno == logging.INFO
    # stamina's own generic record of these retries is not shown.
    assert not [r for r in caplog.records if r.name == "stamina"]


async def test_the_wait_logged_is_the_wait(
    api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    api.post(BASE_URL + "StartCampaign").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "0.05"}),
            httpx.Response(200, json=OK),
        ]
    )
    stamina.set_testing(False)
    async with AsyncDialer(ACCOUNT_CODE) as dialer:
        await dialer.start_campaign(CAMPAIGN_CODE)
    assert retry_lines(caplog) == [
        "StartCampaign: attempt 1 of 3 failed (HTTP 429); retrying in 0.05 s"
    ]


async def test_the_applications_own_stamina_retries_are_left_alone(
    api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    api.post(BASE_URL + "StartCampaign").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json=OK)]
    )
    async with AsyncDialer(ACCOUNT_CODE) as dialer:
        await dialer.start_campaign(CAMPAIGN_CODE)  # installs the library's hook
    caplog.clear()

    failures = iter([ValueError("flaky"), None])
    async for attempt in stamina.retry_context(on=ValueError, attempts=3):
        with attempt:
            failure = next(failures)
            if failure is not None:
                raise failure

    assert [r.getMessage() for r in caplog.records if r.name == "stamina"] == [
        "stamina.retry_scheduled"
    ]
    assert not [r for r in caplog.records if r.name == "voicenter_dialer"]


async def test_the_hook_comes_back_beside_hooks_set_later(
    api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    seen: list[int] = []
    stamina.instrumentation.set_on_retry_hooks([lambda details: seen.append(details.retry_num)])
    api.post(BASE_URL + "StartCampaign").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json=OK)]
    )
    try:
        async with AsyncDialer(ACCOUNT_CODE) as dialer:
            await dialer.start_campaign(CAMPAIGN_CODE)
    finally:
        stamina.instrumentation.set_on_retry_hooks(None)
    assert seen == [1]
    assert len(retry_lines(caplog)) == 1


async def test_retry_lines_are_not_shown_by_default(
    api: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    api.post(BASE_URL + "StartCampaign").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json=OK)]
    )
    async with AsyncDialer(ACCOUNT_CODE) as dialer:
        await dialer.start_campaign(CAMPAIGN_CODE)
    # INFO is below logging's last-resort level, and stamina's WARNING is filtered.
    assert capsys.readouterr().err == ""


# --- spans ------------------------------------------------------------------------------------


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """An SDK tracer provider exporting to memory, as the library's tracer for one test
    (the global provider can be set only once a process)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # As trace.set_tracer_provider(provider) would do, could it be undone.
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    monkeypatch.setattr(_telemetry, "_TRACER", trace.get_tracer("voicenter_dialer"))
    yield exporter
    provider.shutdown()


def attributes(span: ReadableSpan) -> dict[str, object]:
    return dict(span.attributes or {})


def assert_no_secret(finished: tuple[ReadableSpan, ...], *secrets: str) -> None:
    for span in finished:
        text = repr((span.name, attributes(span), span.status.description, span.events))
        for secret in secrets:
            assert secret not in text


async def test_a_method_call_is_a_span(api: respx.MockRouter, spans: InMemorySpanExporter) -> None:
    api.post(BASE_URL + "GetCampaignDetails").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json=CAMPAIGN_DETAILS)]
    )
    async with AsyncDialer(ACCOUNT_CODE, send_code_with_every_request=True) as dialer:
        await dialer.get_campaign_details(CAMPAIGN_CODE)

    (span,) = spans.get_finished_spans()
    assert span.name == "voicenter_dialer GetCampaignDetails"
    assert span.kind == trace.SpanKind.CLIENT
    assert attributes(span) == {
        "voicenter_dialer.method": "GetCampaignDetails",
        "voicenter_dialer.attempts": 2,
        "http.response.status_code": 200,
    }
    assert span.status.status_code == trace.StatusCode.UNSET
    assert_no_secret(spans.get_finished_spans(), CAMPAIGN_CODE, ACCOUNT_CODE)


async def test_a_failed_call_says_how(api: respx.MockRouter, spans: InMemorySpanExporter) -> None:
    api.post(BASE_URL + "AddCall").mock(
        return_value=httpx.Response(500, text=f"failed {CAMPAIGN_CODE} 972501234567")
    )
    async with AsyncDialer(ACCOUNT_CODE) as dialer:
        with pytest.raises(ResponseError):
            await dialer.add_call(CAMPAIGN_CODE, Call("972501234567"))

    (span,) = spans.get_finished_spans()
    assert attributes(span) == {
        "voicenter_dialer.method": "AddCall",
        "voicenter_dialer.attempts": 1,
        "voicenter_dialer.outcome_unknown": True,
        "http.response.status_code": 500,
        "error.type": "ResponseError",
    }
    assert span.status.status_code == trace.StatusCode.ERROR
    assert not span.events  # no exception event: its message could quote a number
    assert_no_secret(spans.get_finished_spans(), CAMPAIGN_CODE, "972501234567")


async def test_a_bulk_upload_has_a_span_per_chunk(spans: InMemorySpanExporter) -> None:
    fake = FakeDialer()
    campaign = fake.add_campaign().code
    calls = [Call(f"9725{i:08d}") for i in range(2300)]
    calls[5] = Call("123456")  # valid here, rejected by the service
    calls[1500] = Call("not a number")  # failed: never sent
    async with fake.client() as dialer:
        report = await dialer.add_calls_bulk(campaign, calls, chunk_size=1000)
    assert (report.accepted, len(report.rejected), len(report.failed)) == (2298, 1, 1)

    finished = spans.get_finished_spans()
    (upload,) = [s for s in finished if s.name == "voicenter_dialer AddCallsBulk"]
    chunks = sorted(
        (s for s in finished if s.name == "voicenter_dialer AddCallsBulk chunk"),
        key=lambda s: s.start_time or 0,
    )
    assert len(finished) == 4  # the chunks' requests are recorded on the chunk spans
    assert attributes(upload) == {
        "voicenter_dialer.method": "AddCallsBulk",
        "voicenter_dialer.calls": 2300,
        "voicenter_dialer.accepted": 2298,
        "voicenter_dialer.rejected": 1,
        "voicenter_dialer.failed": 1,
    }
    assert all(chunk.parent is not None for chunk in chunks)
    assert {chunk.parent.span_id for chunk in chunks if chunk.parent} == {
        upload.context.span_id if upload.context else 0
    }
    first, second, last = (attributes(chunk) for chunk in chunks)
    assert last == {
        "voicenter_dialer.method": "AddCallsBulk",
        "voicenter_dialer.chunk_size": 300,
        "voicenter_dialer.attempts": 1,
        "http.response.status_code": 200,
        "voicenter_dialer.calls": 300,
        "voicenter_dialer.accepted": 300,
        "voicenter_dialer.rejected": 0,
        "voicenter_dialer.failed": 0,
    }
    assert (first["voicenter_dialer.rejected"], first["voicenter_dialer.failed"]) == (1, 0)
    assert (second["voicenter_dialer.rejected"], second["voicenter_dialer.failed"]) == (0, 1)
    assert_no_secret(finished, campaign, fake.account_code, "123456")


async def test_a_streamed_upload_is_one_span(spans: InMemorySpanExporter) -> None:
    fake = FakeDialer()
    campaign = fake.add_campaign().code
    calls = [Call(f"9725{i:08d}") for i in range(30)]
    async with (
        fake.client() as dialer,
        dialer.stream_calls_bulk(campaign, calls, chunk_size=10) as outcomes,
    ):
        assert sum([chunk.accepted async for chunk in outcomes]) == 30
    names = sorted(s.name for s in spans.get_finished_spans())
    assert names == ["voicenter_dialer AddCallsBulk"] + ["voicenter_dialer AddCallsBulk chunk"] * 3


async def test_nothing_is_recorded_without_a_tracer_provider(api: respx.MockRouter) -> None:
    with _telemetry.span("AddCall") as record:
        assert record is None  # the API alone: no span machinery at all


def test_the_library_works_without_opentelemetry() -> None:
    script = """
import sys
sys.modules["opentelemetry"] = None  # as if the otel extra were not installed
import asyncio, httpx
from voicenter_dialer import AsyncDialer, Call, _telemetry
assert _telemetry.trace is None
def answer(request):
    return httpx.Response(200, json={"ErrorCode": 0, "AddResult": [
        {"Target": "972501234567", "ErrorCode": 0}]})
async def main():
    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    async with AsyncDialer(http_client=client) as dialer:
        report = await dialer.add_calls_bulk("CAMPAIGN-0123456789", [Call("972501234567")])
        assert report.ok, report
asyncio.run(main())
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
