"""Commands around the bundled fake dialer: ``demo`` and ``fake-server``."""

from __future__ import annotations

import argparse
import contextlib
import importlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

from voicenter_dialer._client import AsyncDialer
from voicenter_dialer._models import Call
from voicenter_dialer.testing import FakeDialer, Faults, bind, make_server, serve

from ._commands import bulk_options, command, positive
from ._leads import LineMap
from ._output import EXIT_INCOMPLETE, EXIT_OK, Output, UsageError
from ._progress import upload_with_progress as upload
from ._report import campaign_line, upload_report

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


#: How to install what serving the fake over HTTP needs.
_INSTALL_FAKE = "pip install 'voicenter-dialer[fake]'"


def _can_serve() -> bool:
    """Whether uvicorn, which serves the fake over HTTP (the ``fake`` extra), is installed."""
    try:
        importlib.import_module("uvicorn")
    except ImportError:
        return False
    return True


@contextlib.asynccontextmanager
async def _demo_dialer(fake: FakeDialer, out: Output) -> AsyncIterator[AsyncDialer]:
    """A dialer of *fake*: over loopback HTTP, or in-process without uvicorn."""
    if not _can_serve():
        out.note(
            "uvicorn is not installed: the fake dialer answers in-process, without HTTP "
            f"({_INSTALL_FAKE} to serve it on loopback)"
        )
        async with fake.client() as dialer:
            yield dialer
        return
    out.note("Starting the fake dialer on loopback…")
    with serve(fake) as server:
        out.note(f"  serving at {server.base_url}")
        async with AsyncDialer(fake.account_code, base_url=server.base_url) as dialer:
            yield dialer


async def _demo(args: argparse.Namespace, out: Output) -> int:
    fake = FakeDialer()
    fake.add_campaign("Demo campaign", kind="agent")
    async with _demo_dialer(fake, out) as dialer:
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
            show=not out.quiet,
        )
        upload_report(
            out,
            uploaded,
            campaign.code,
            account=fake.account_code,
            source="generated",
            lines=LineMap(),
        )
        pending = await dialer.get_campaign_pending_calls(campaign)
        out.note(f"The campaign now holds {pending.campaign.total_pending_calls:,} pending calls.")
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
    if not _can_serve():
        raise UsageError(f"fake-server needs uvicorn: {_INSTALL_FAKE}")
    fake = FakeDialer(args.account_code, faults=faults)
    campaign = fake.add_campaign("Fake campaign", code=args.campaign_code)
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from None
    with sock:
        server = make_server(fake, log_level=args.log_level)
        base_url = f"http://{args.host}:{sock.getsockname()[1]}/ForwardDialer/Dialer/"
        # Machine-readable first line (or document), for scripts that start it on port 0.
        out.document(
            {
                "base_url": base_url,
                "account_code": fake.account_code,
                "campaign_code": campaign.code,
            }
        )
        out.say(f"listening {base_url}")
        out.say(f"account code {fake.account_code}")
        out.say(f"campaign code {campaign.code}")
        await server.serve(sockets=[sock])
    return EXIT_OK


def register(commands: Subparsers) -> None:
    demo = command(
        commands,
        "demo",
        "upload generated leads to the bundled fake dialer",
        _demo,
        connection=False,
    )
    demo.add_argument(
        "--leads", type=positive, default=100_000, help="how many to generate (default 100,000)"
    )
    bulk_options(demo)

    fake = command(
        commands, "fake-server", "serve the fake dialer over HTTP", _fake_server, connection=False
    )
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
