"""Commands around the bundled fake dialer: ``demo`` and ``fake-server``."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

from voicenter_dialer._client import AsyncDialer
from voicenter_dialer._leads import LineMap
from voicenter_dialer._models import Call
from voicenter_dialer.testing import FakeDialer, Faults, bind, make_server, serve

from ._commands import bulk_options, command, positive
from ._output import (
    EXIT_INCOMPLETE,
    EXIT_OK,
    Output,
    UsageError,
    campaign_line,
    upload_report,
)
from ._output import upload_with_progress as upload

__all__ = ["register"]

Subparsers = Any  # argparse's _SubParsersAction is private


def _demo_leads(count: int) -> Iterable[Call]:
    """Generated leads; a few numbers are bad on purpose."""
    for i in range(count):
        if i % 25_000 == 7:
            target = f"05O-{i}"  # a letter O: refused locally, reported as failed
        elif i % 20_000 == 3:
            target = f"{i % 1000:06d}"  # too short for the service: rejected by it
        else:
            target = f"9725{i:08d}"
        yield Call(target, customer_name=f"Lead {i}", custom_data={"var_LeadID": i})


async def _demo(args: argparse.Namespace, out: Output) -> int:
    fake = FakeDialer()
    fake.add_campaign("Demo campaign", kind="agent")
    out.note("Starting the fake dialer on loopback…")
    with serve(fake) as server:
        out.note(f"  serving at {server.base_url}")
        async with AsyncDialer(fake.account_code, base_url=server.base_url) as dialer:
            campaign = (await dialer.get_campaign_list())[0]
            out.note(f"Campaign: {campaign_line(campaign, show_codes=False)}")
            out.note(f"Uploading {args.leads:,} generated leads (a few invalid on purpose)…")
            uploaded = await upload(
                dialer,
                campaign.code,
                _demo_leads(args.leads),
                total=args.leads,
                chunk_size=args.chunk_size,
                concurrency=args.concurrency,
            )
            upload_report(out, uploaded, campaign.code, source="generated", lines=LineMap())
            pending = await dialer.get_campaign_pending_calls(campaign)
            out.note(
                f"The campaign now holds {pending.campaign.total_pending_calls:,} pending calls."
            )
            await dialer.stop_campaign(campaign)
            stopped = await dialer.get_campaign_details(campaign)
            await dialer.start_campaign(campaign)
            started = await dialer.get_campaign_details(campaign)
            out.note(f"Stop, then start: {stopped.status_name} -> {started.status_name}")
            for member in ("SIP100", "SIP101"):
                await dialer.add_member(campaign, member)
            await dialer.remove_member(campaign, "SIP101")
            members = await dialer.get_members_list(campaign)
            out.note(f"Members after adding two and removing one: {[m.member for m in members]}")
            await dialer.update_campaign_strategy(
                campaign, queue_for_monitoring=1001, queue_maximum_callers=5, coefficient=2
            )
            out.note("Strategy updated. Demo complete.")
    expected = uploaded.report.total == args.leads and uploaded.report.accepted > 0
    return EXIT_OK if expected else EXIT_INCOMPLETE


async def _fake_server(args: argparse.Namespace, out: Output) -> int:
    rates: dict[Any, float] = {}
    for fault in args.fault:
        name, _, rate = fault.partition("=")
        try:
            rates[name] = float(rate)
        except ValueError:
            raise UsageError(f"--fault takes NAME=RATE, e.g. 503=0.05; got {fault!r}") from None
    try:
        faults = Faults(
            rates,
            latency=args.latency,
            seed=args.seed,
            retry_after=args.retry_after,
            slow_seconds=args.slow_seconds,
            capacity=args.capacity,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    fake = FakeDialer(args.account_code, faults=faults)
    campaign = fake.add_campaign("Fake campaign", code=args.campaign_code)
    sock = bind(args.host, args.port)
    port = sock.getsockname()[1]
    base_url = f"http://{args.host}:{port}/ForwardDialer/Dialer/"
    # Machine-readable first line (or document), for scripts that start it on port 0.
    out.document(
        {"base_url": base_url, "account_code": fake.account_code, "campaign_code": campaign.code}
    )
    out.say(f"listening {base_url}")
    out.say(f"account code {fake.account_code}")
    out.say(f"campaign code {campaign.code}")
    await make_server(fake, log_level=args.log_level).serve(sockets=[sock])
    return EXIT_OK


def register(commands: Subparsers) -> None:
    demo = command(commands, "demo", "upload generated leads to the bundled fake dialer", _demo)
    demo.add_argument(
        "--leads", type=positive, default=100_000, help="how many to generate (default 100,000)"
    )
    bulk_options(demo)

    fake = command(commands, "fake-server", "serve the fake dialer over HTTP", _fake_server)
    fake.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    fake.add_argument("--port", type=int, default=8080, help="0 for a free port")
    fake.add_argument("--account-code", help="the fake account's code (default: random)")
    fake.add_argument("--campaign-code", help="the code of its one campaign (default: random)")
    fake.add_argument("--latency", type=float, default=0.0, help="seconds added to each answer")
    fake.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME=RATE",
        help="inject a fault (503, 429, 500, reset, truncated, html, slow) at RATE; repeatable",
    )
    fake.add_argument("--retry-after", type=float, default=0.0, help="Retry-After of 503/429")
    fake.add_argument("--slow-seconds", type=float, default=5.0, help="delay of 'slow' answers")
    fake.add_argument(
        "--capacity", type=positive, help="requests served at once; more are answered 429"
    )
    fake.add_argument("--seed", type=int, default=0, help="seed of the fault sequence")
    fake.add_argument("--log-level", default="warning", help="uvicorn's log level")
