"""The Python examples of the README and the documentation pages run as written, against a
mocked service."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from aiohttp.test_utils import TestClient, TestServer

from voicenter_dialer import AsyncDialer, BulkReport, Call, Campaign, DialerError, FailedCall

from .examples import (
    ACCOUNT_CODE,
    CAMPAIGN_CODE,
    CAMPAIGN_DETAILS,
    CAMPAIGN_LIST,
    MEMBERS,
    OK,
    PENDING_CALLS,
)

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Each example, with the page it is on. An example shown on two pages (the README's first call
# is also in Getting started) is one example as long as both copies are the same.
BLOCKS: dict[str, Path] = {
    code: page
    for page in PAGES
    for code in re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.DOTALL)
}


def block(containing: str) -> str:
    found: list[str] = [code for code in BLOCKS if containing in code]
    pages = sorted({BLOCKS[code].name for code in found})
    assert len(found) == 1, f"{len(found)} distinct examples contain {containing!r} ({pages})"
    return found[0]


def answer(request: httpx.Request) -> httpx.Response:
    method = request.url.path.rsplit("/", 1)[-1]
    body: Any = json.loads(request.content)
    if method == "AddCallsBulk":
        results = [{"Target": c["Target"], "ErrorCode": 0, "Description": "OK"} for c in body]
        return httpx.Response(200, json={"AddResult": results, "ErrorCode": 0})
    canned = {
        "GetCampaignList": CAMPAIGN_LIST,
        "GetCampaignDetails": CAMPAIGN_DETAILS,
        "GetCampaignPendingCalls": PENDING_CALLS,
        "GetMembersList": MEMBERS,
    }
    return httpx.Response(200, json=canned.get(method, OK))


@pytest.fixture
def service() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        router.post(url__startswith="https://api.voicenter.com/").mock(side_effect=answer)
        yield router


def run(code: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "readme"}
    exec(compile(code, str(BLOCKS[code]), "exec"), namespace)  # noqa: S102 -- our own docs
    return namespace


def test_every_block_is_exercised() -> None:
    assert len(BLOCKS) == 27


def test_first_call(service: respx.MockRouter, capsys: pytest.CaptureFixture[str]) -> None:
    run(block("async def main() -> None:\n    async with AsyncDialer(code="))

    assert "Campaign1 True 23" in capsys.readouterr().out
    assert service.calls.last.request.url.path.endswith("/AddCall")


def test_try_it_without_an_account(capsys: pytest.CaptureFixture[str]) -> None:
    # No mocked service: the example brings its own (the fake, in-process).
    run(block("async def try_it"))

    assert capsys.readouterr().out.splitlines() == ["2501 2500 1", "2501 pending", "Dana Levi"]


def test_scheduling() -> None:
    namespace = run(block("at_nine_in_tel_aviv"))

    assert namespace["at_nine_account_time"].originate_time.tzinfo is None
    assert namespace["now"].custom_data == {"var_LeadID": 1234567}


def test_error_handling(service: respx.MockRouter) -> None:
    add_lead = run(block("async def add_lead(dialer"))["add_lead"]

    async def scenario() -> list[str]:
        async with AsyncDialer() as dialer:
            return [
                await add_lead(dialer, "CAMPAIGN", "972501234567"),
                await add_lead(dialer, "CAMPAIGN", "not a number"),
            ]

    added, invalid = asyncio.run(scenario())
    assert added == "added"
    assert invalid.startswith("fix the input: target 'not a number' is not a phone number")


def test_retry_configuration() -> None:
    namespace = run(block("RetryPolicy(max_retries=4"))

    assert namespace["custom"]._core._retry.max_retry_after == 60.0


def test_custom_http_client(service: respx.MockRouter) -> None:
    asyncio.run(run(block("async def with_my_client"))["with_my_client"]())

    assert service.calls.last.request.url.path.endswith("/StartCampaign")


def test_fastapi_lifespan(service: respx.MockRouter) -> None:
    app = run(block("FastAPI(lifespan=lifespan)"))["app"]

    async def scenario() -> tuple[httpx.Response, httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                ok = await client.post("/campaigns/C1/leads", params={"phone": "0501234567"})
                bad = await client.post("/campaigns/C1/leads", params={"phone": "nope"})
                return ok, bad

    ok, bad = asyncio.run(scenario())
    assert ok.json() == {"status": "queued"}
    assert bad.status_code == 422


def test_fastapi_bulk_writer(service: respx.MockRouter) -> None:
    app = run(block("bulk_writer(CAMPAIGN"))["app"]

    async def scenario() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                posts = [
                    client.post("/leads", params={"phone": phone, "name": "Dana"})
                    for phone in ("0501234567", "0501234568", "nope")
                ]
                return list(await asyncio.gather(*posts))

    responses = asyncio.run(scenario())
    bulk = [call.request for call in service.calls if call.request.url.path.endswith("Bulk")]
    assert len(bulk) == 1  # the two valid leads went out together
    assert [len(json.loads(request.content)) for request in bulk] == [2]
    assert [r.json()["status"] for r in responses] == ["accepted", "accepted", "failed"]
    # Positions are the order calls entered chunks: the invalid one, settled at once, too.
    assert sorted(r.json()["index"] for r in responses) == [0, 1, 2]
    assert "not a phone number" in responses[2].json()["reason"]


def test_auto_concurrency_and_flush_after(
    service: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = run(block("upload_from_queue"))

    async def leads() -> Any:
        for i in range(3):
            yield Call(f"97250123456{i}")

    async def scenario() -> BulkReport:
        async with AsyncDialer() as dialer:
            report: BulkReport = await namespace["upload_from_queue"](dialer, "C1", leads())
            return report

    report = asyncio.run(scenario())
    assert report.ok
    assert report.total == 3
    out = capsys.readouterr().out
    assert re.search(r"^3 done, \d+ chunks in flight$", out, flags=re.MULTILINE)
    assert "settled at 4 chunks in flight" in out  # where "auto" starts


def test_aiohttp_cleanup_context(service: respx.MockRouter) -> None:
    app = run(block("app.cleanup_ctx.append"))["app"]

    async def scenario() -> Any:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            response = await client.get("/campaigns")
            return await response.json()

    service.route(host="127.0.0.1").pass_through()
    assert asyncio.run(scenario()) == [
        {"name": "Campaign1", "enabled": True},
        {"name": "Campaign2", "enabled": False},
    ]


def test_bulk_upload(
    service: respx.MockRouter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    rows = "".join(f"97250{i:07d},Lead {i},{i}\n" for i in range(2500))
    (tmp_path / "leads.csv").write_text("phone,name,id\n" + rows)

    run(block('leads("leads.csv")'))

    out = capsys.readouterr().out
    assert "2500 2500 0 0" in out
    assert "2500 done: 2500 accepted, 0 failed" in out


def test_retry_safe_ones(service: respx.MockRouter) -> None:
    retry_safe_ones = run(block("async def retry_safe_ones"))["retry_safe_ones"]
    # 972525599100 is held by the campaign (PENDING_CALLS): it must not be sent again.
    held, missing, refused = Call("972525599100"), Call("972501111111"), Call("972502222222")
    unknown = DialerError("timeout", outcome_unknown=True)
    report = BulkReport(
        total=3,
        accepted=0,
        failed=[
            FailedCall(0, held, unknown),
            FailedCall(1, missing, unknown),
            FailedCall(2, refused, DialerError("503")),
        ],
    )

    async def scenario() -> BulkReport:
        async with AsyncDialer() as dialer:
            result: BulkReport = await retry_safe_ones(dialer, "CAMPAIGN", report)
            return result

    again = asyncio.run(scenario())
    assert again.total == 2
    sent = json.loads(service.calls.last.request.content)
    assert sorted(item["Target"] for item in sent) == ["972501111111", "972502222222"]


def test_streaming_form(service: respx.MockRouter, capsys: pytest.CaptureFixture[str]) -> None:
    upload_and_log = run(block("async def upload_and_log"))["upload_and_log"]

    async def scenario() -> None:
        async with AsyncDialer() as dialer:
            await upload_and_log(dialer, "CAMPAIGN", [Call(f"97250{i:07d}") for i in range(2500)])

    asyncio.run(scenario())
    out = capsys.readouterr().out
    assert "calls 2000..2499: 500 accepted" in out


def test_fixture_example(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_signup=block("def test_signup_queues_a_call"))

    result = pytester.runpytest_subprocess("-o", "asyncio_mode=auto", "-p", "no:cacheprovider")

    result.assert_outcomes(passed=1)


def test_fake_over_loopback_with_faults(capsys: pytest.CaptureFixture[str]) -> None:
    run(block("Faults({"))

    total, accepted, failed, held = map(int, capsys.readouterr().out.split())
    assert total == 10_000
    assert accepted + failed == total
    assert accepted <= held <= total  # failed leads whose answer was lost may be held


def test_pacing_example() -> None:
    dialer = run(block("requests_per_second=5"))["dialer"]

    assert dialer._core._pacer is not None
    assert dialer._core._pacer.interval == 0.2
    assert dialer._core._deadline == 20.0


def test_resumable_upload_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from voicenter_dialer.testing import FakeDialer

    monkeypatch.chdir(tmp_path)
    upload_resumably = run(block("async def upload_resumably"))["upload_resumably"]
    fake = FakeDialer()
    campaign = fake.add_campaign("Resumable")
    calls = [Call(f"9725{i:08d}") for i in range(2500)]

    async def scenario() -> tuple[BulkReport, BulkReport]:
        async with fake.client() as dialer:
            first: BulkReport = await upload_resumably(dialer, campaign.code, calls)
            again: BulkReport = await upload_resumably(dialer, campaign.code, calls, rerun=True)
            return first, again

    first, again = asyncio.run(scenario())
    assert first.accepted == again.accepted == 2500
    assert len(campaign.calls) == 2500  # the second run sent nothing
    assert (tmp_path / "leads.journal").exists()


def test_per_call_options(service: respx.MockRouter) -> None:
    namespace = run(block("async def nightly_import"))
    campaign = Campaign(code=CAMPAIGN_CODE)

    async def scenario() -> tuple[int | None, int]:
        async with AsyncDialer(code=ACCOUNT_CODE) as dialer:
            pending = await namespace["dashboard"](dialer, campaign)
            accepted = await namespace["nightly_import"](dialer, campaign, [Call("972501234567")])
            return pending, accepted

    pending, accepted = asyncio.run(scenario())
    assert pending is not None
    assert accepted == 1
    timeouts = [call.request.extensions["timeout"]["read"] for call in service.calls]
    assert timeouts == [2, 120]


def test_returning_models_from_a_web_service(service: respx.MockRouter) -> None:
    app = run(block("to_dict(report)"))["app"]

    async def scenario() -> tuple[Any, Any]:
        async with AsyncDialer(code=ACCOUNT_CODE) as dialer:
            app.state.dialer = dialer
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                listed = (await client.get("/campaigns")).json()
                uploaded = await client.post(
                    "/campaigns/C1/upload", json=["972501234567", "972501234568"]
                )
                return listed, uploaded.json()

    listed, report = asyncio.run(scenario())
    assert [(c["name"], c["code"]) for c in listed] == [("Campaign1", None), ("Campaign2", None)]
    assert (report["total"], report["accepted"], report["rejected"]) == (2, 2, [])


def test_synchronous_use(
    service: respx.MockRouter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    run(block("with Dialer(code="))

    assert capsys.readouterr().out.splitlines() == ["1 accepted", "1 accepted in a chunk"]
    assert (tmp_path / "leads.journal").exists()


def test_logging_configuration() -> None:
    try:
        run(block('logging.getLogger("voicenter_dialer").setLevel(logging.INFO)'))
        assert logging.getLogger("voicenter_dialer").isEnabledFor(logging.INFO)
    finally:
        logging.getLogger("voicenter_dialer").setLevel(logging.NOTSET)


def test_raw_responses_and_the_default_client(service: respx.MockRouter) -> None:
    details_with_headers = run(block("async def details_with_headers"))["details_with_headers"]
    status, content_type, extra = asyncio.run(details_with_headers(ACCOUNT_CODE, CAMPAIGN_CODE))
    assert status == 200
    assert content_type == "application/json"
    assert extra == {}
    assert service.calls.last.request.headers["X-Team"] == "crm"


def test_rows_as_mappings_strictly(service: respx.MockRouter) -> None:
    upload_rows = run(block("async def upload_rows"))["upload_rows"]
    rows = [{"phone": f"9725{i:08d}", "customer_name": "Dana"} for i in range(5)]

    async def scenario() -> BulkReport:
        async with AsyncDialer(ACCOUNT_CODE) as dialer:
            report: BulkReport = await upload_rows(dialer, CAMPAIGN_CODE, rows)
            return report

    report = asyncio.run(scenario())
    assert report.total == report.accepted == 5


def test_fleet_key_from_the_environment(
    service: respx.MockRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIALER_KEYS", str(tmp_path / "keys.sqlite"))
    add_order = run(block("async def add_order"))["add_order"]

    asyncio.run(add_order("CAMPAIGN", "1042", "972501234567"))
    asyncio.run(add_order("CAMPAIGN", "1042", "972501234567"))  # replayed: nothing sent

    assert [c.request.url.path.rsplit("/", 1)[-1] for c in service.calls] == ["AddCall"]


def test_fleet_keys_in_bulk(service: respx.MockRouter, tmp_path: Path) -> None:
    namespace = run(block("async def upload_orders"))
    leads = [{"phone": "972501234567", "order_id": "7"}, {"phone": "972501234568", "order_id": "8"}]

    async def scenario() -> tuple[BulkReport, BulkReport, Any, Any]:
        async with AsyncDialer(idempotency_store=tmp_path / "keys.sqlite") as dialer:
            first = await namespace["upload_orders"](dialer, "CAMPAIGN", leads)
            again = await namespace["upload_orders"](dialer, "CAMPAIGN", leads)
            one = await namespace["add_one"](dialer, "CAMPAIGN")
            one_again = await namespace["add_one"](dialer, "CAMPAIGN")
            return first, again, one, one_again

    first, again, one, one_again = asyncio.run(scenario())
    assert (first.accepted, again.accepted) == (2, 2)
    bulk = [c.request for c in service.calls if c.request.url.path.endswith("AddCallsBulk")]
    assert [len(json.loads(request.content)) for request in bulk] == [2, 1]  # then "order-1042"
    assert not one.replayed
    assert one_again.replayed


def test_fleet_webhook_delivered_twice_dials_once(
    service: respx.MockRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIALER_KEYS", str(tmp_path / "keys.sqlite"))
    app = run(block("async def lead_webhook"))["app"]

    async def scenario() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                lead = {"lead_id": "L-77", "phone": "972501234567"}
                at_once = [client.post("/webhooks/lead", json=lead) for _ in range(2)]
                return [
                    *await asyncio.gather(*at_once),
                    await client.post("/webhooks/lead", json=lead),
                ]

    responses = asyncio.run(scenario())
    assert [r.json() for r in responses] == [{"status": "queued"}] * 3
    added = [c for c in service.calls if c.request.url.path.endswith("/AddCall")]
    assert len(added) == 1


def test_fleet_retry_after_outcome_unknown(service: respx.MockRouter, tmp_path: Path) -> None:
    add_lead_surely = run(block("async def add_lead_surely"))["add_lead_surely"]
    lost = {"answers": 0}

    def lose_the_first_answers(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/AddCall") and lost["answers"] < 3:
            lost["answers"] += 1  # applied, then the answer is lost: outcome unknown
            return httpx.Response(502)
        return answer(request)

    service.routes.clear()
    service.post(url__startswith="https://api.voicenter.com/").mock(
        side_effect=lose_the_first_answers
    )

    async def scenario() -> str:
        async with AsyncDialer(idempotency_store=tmp_path / "keys.sqlite", max_retries=0) as dialer:
            return str(await add_lead_surely(dialer, "CAMPAIGN", "77", "972501234567"))

    async def no_sleep(seconds: float) -> None:
        pass

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("anyio.sleep", no_sleep)
        assert asyncio.run(scenario()) == "added"
    methods = [c.request.url.path.rsplit("/", 1)[-1] for c in service.calls]
    # Each retry looked in the campaign first (the number is not there), then sent.
    assert methods == ["AddCall", *["GetCampaignPendingCalls", "AddCall"] * 3]
