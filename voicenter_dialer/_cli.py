"""The ``voicenter-dialer`` command.

Exit status: 0 when everything succeeded (for ``upload``: every lead accepted); 1 when the
service refused something or some leads were rejected or failed; 2 for usage and input errors.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs

from ._bulk import MAX_CHUNK_SIZE, BulkProgress
from ._client import DEFAULT_BASE_URL, AsyncDialer
from ._exceptions import DialerError, ValidationError
from ._journal import JournalError, summarise
from ._leads import LeadFileError, LeadStream, LineMap, phone_normaliser, scan, write_rejects
from ._models import BulkReport, Call, Campaign
from ._secrets import mask
from ._version import __version__

__all__ = ["main"]

EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE = 0, 1, 2


class _Usage(Exception):
    """A usage or input error: printed, exit status 2."""


# --- progress and reports ---------------------------------------------------------------


class _PlainProgress:
    """Progress as occasional lines, for logs and pipes."""

    def __init__(self, total: int | None, out: TextIO) -> None:
        self._total = total
        self._out = out
        self._next = 0.0

    def __enter__(self) -> _PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, progress: BulkProgress) -> None:
        share = progress.done / self._total if self._total else 0.0
        if share >= self._next or progress.done == self._total:
            total = f"/{self._total:,}" if self._total else ""
            print(
                f"  {progress.done:,}{total} leads: {progress.accepted:,} accepted, "
                f"{progress.rejected:,} rejected, {progress.failed:,} failed",
                file=self._out,
                flush=True,
            )
            self._next = share + 0.1


class _RichProgress:
    """A progress bar, on a terminal with rich installed (the ``cli`` extra)."""

    def __init__(self, total: int | None, out: TextIO) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("[bold]Uploading"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(file=out),
        )
        self._task = self._bar.add_task("upload", total=total, detail="")

    def __enter__(self) -> _RichProgress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(None, None, None)

    def update(self, progress: BulkProgress) -> None:
        detail = f"{progress.rejected:,} rejected, {progress.failed:,} failed"
        self._bar.update(self._task, completed=progress.done, detail=detail)


def _progress(total: int | None, out: TextIO) -> _PlainProgress | _RichProgress:
    if out.isatty():
        try:
            return _RichProgress(total, out)
        except ImportError:
            pass
    return _PlainProgress(total, out)


@attrs.frozen
class _Upload:
    report: BulkReport
    seconds: float


async def _upload(
    dialer: AsyncDialer,
    campaign: str,
    calls: Iterable[Call],
    *,
    total: int | None,
    chunk_size: int,
    concurrency: int,
    journal: str | None = None,
    reconcile: bool = False,
) -> _Upload:
    sys.stdout.flush()  # what was printed so far comes before the progress lines
    started = time.perf_counter()
    with _progress(total, sys.stderr) as progress:
        report = await dialer.add_calls_bulk(
            campaign,
            calls,
            chunk_size=chunk_size,
            concurrency=concurrency,
            on_progress=progress.update,
            journal=journal,
            reconcile=reconcile,
        )
    return _Upload(report, time.perf_counter() - started)


def _print_report(upload: _Upload, campaign: str) -> None:
    report = upload.report
    rate = report.total / upload.seconds if upload.seconds else 0.0
    print(
        f"Uploaded {report.total:,} leads to campaign {mask(campaign)} in "
        f"{upload.seconds:.1f} s ({rate:,.0f} leads/s)"
    )
    unknown = sum(1 for entry in report.failed if entry.error.outcome_unknown)
    print(f"  accepted  {report.accepted:>10,}")
    print(f"  rejected  {len(report.rejected):>10,}")
    print(
        f"  failed    {len(report.failed):>10,}"
        + (f"  ({unknown:,} may have been added)" if unknown else "")
    )
    for entry in report.rejected[:3]:
        print(f"    rejected #{entry.index}: {entry.call.target!r}: {entry.result.description}")
    for failed in report.failed[:3]:
        print(f"    failed #{failed.index}: {failed.error.message}")


# --- commands ----------------------------------------------------------------------------


def _campaign_line(campaign: Campaign, show_codes: bool) -> str:
    code = campaign.code if show_codes else mask(campaign.code)
    awaiting = "-" if campaign.total_awaiting_calls in (None, -1) else campaign.total_awaiting_calls
    return (
        f"{campaign.name:<30} {campaign.status_name:<9} pending {campaign.total_pending_calls} "
        f"awaiting {awaiting}  code {code}"
    )


async def _campaigns(dialer: AsyncDialer, args: argparse.Namespace) -> int:
    campaigns = await dialer.get_campaign_list()
    for campaign in campaigns:
        print(_campaign_line(campaign, args.show_codes))
    if not campaigns:
        print("No campaigns.")
    return EXIT_OK


async def _details(dialer: AsyncDialer, args: argparse.Namespace) -> int:
    campaign = await dialer.get_campaign_details(args.campaign)
    print(_campaign_line(campaign, show_codes=False))
    print(f"priorities {campaign.min_priority}..{campaign.max_priority}")
    return EXIT_OK


async def _pending(dialer: AsyncDialer, args: argparse.Namespace) -> int:
    pending = await dialer.get_campaign_pending_calls(args.campaign)
    print(_campaign_line(pending.campaign, show_codes=False))
    for call in pending.calls[: args.limit]:
        status = call.call_status.description if call.call_status else ""
        print(f"  {call.phone:<16} priority {call.priority}  {status:<10} {call.customer_name}")
    if len(pending.calls) > args.limit:
        print(f"  … and {len(pending.calls) - args.limit:,} more")
    return EXIT_OK


def _simple(
    action: Callable[[AsyncDialer, str], Awaitable[None]], done: str
) -> Callable[[AsyncDialer, argparse.Namespace], Awaitable[int]]:
    async def command(dialer: AsyncDialer, args: argparse.Namespace) -> int:
        await action(dialer, args.campaign)
        print(f"{done} campaign {mask(args.campaign)}.")
        return EXIT_OK

    return command


async def _members(dialer: AsyncDialer, args: argparse.Namespace) -> int:
    members = await dialer.get_members_list(args.campaign)
    for member in members:
        print(f"{member.member:<20} {member.display_name}")
    if not members:
        print("No members.")
    return EXIT_OK


async def _add_member(dialer: AsyncDialer, args: argparse.Namespace) -> int:
    added = await dialer.add_member(args.campaign, args.member)
    print(f"Added {args.member} ({added} added).")
    return EXIT_OK


async def _remove_member(dialer: AsyncDialer, args: argparse.Namespace) -> int:
    removed = await dialer.remove_member(args.campaign, args.member)
    print(f"Removed {args.member} ({removed} removed).")
    return EXIT_OK if removed else EXIT_INCOMPLETE


async def _upload_file(dialer: AsyncDialer, args: argparse.Namespace) -> int:
    try:
        lead_file = scan(Path(args.file), args.format)
    except LeadFileError as exc:
        raise _Usage(str(exc)) from None
    lines = LineMap()
    calls = LeadStream(lead_file, phone_normaliser(args.region), lines)
    try:
        upload = await _upload(
            dialer,
            args.campaign,
            calls,
            total=lead_file.rows,
            chunk_size=args.chunk_size,
            concurrency=args.concurrency,
            journal=args.journal,
            reconcile=args.reconcile,
        )
    except (LeadFileError, JournalError) as exc:  # e.g. the file changed since it was checked
        raise _Usage(str(exc)) from None
    _print_report(upload, args.campaign)
    report = upload.report
    if args.rejects and not report.ok:
        written = write_rejects(Path(args.rejects), report, lines)
        print(f"{written:,} rejected and failed leads written to {args.rejects}")
    return EXIT_OK if report.ok else EXIT_INCOMPLETE


COMMANDS: dict[str, Callable[[AsyncDialer, argparse.Namespace], Awaitable[int]]] = {
    "campaigns": _campaigns,
    "details": _details,
    "pending": _pending,
    "start": _simple(AsyncDialer.start_campaign, "Started"),
    "stop": _simple(AsyncDialer.stop_campaign, "Stopped"),
    "clear": _simple(AsyncDialer.clear_campaign_calls, "Cleared"),
    "members": _members,
    "add-member": _add_member,
    "remove-member": _remove_member,
    "upload": _upload_file,
}


# --- the fake dialer: demo and fake-server --------------------------------------------------


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


async def _demo(args: argparse.Namespace) -> int:
    from .testing import FakeDialer, serve

    fake = FakeDialer()
    fake.add_campaign("Demo campaign", kind="agent")
    print("Starting the fake dialer on loopback…")
    with serve(fake) as server:
        print(f"  serving at {server.base_url}")
        async with AsyncDialer(fake.account_code, base_url=server.base_url) as dialer:
            campaign = (await dialer.get_campaign_list())[0]
            print(f"Campaign: {_campaign_line(campaign, show_codes=False)}")
            print(f"Uploading {args.leads:,} generated leads (a few invalid on purpose)…")
            upload = await _upload(
                dialer,
                campaign.code,
                _demo_leads(args.leads),
                total=args.leads,
                chunk_size=args.chunk_size,
                concurrency=args.concurrency,
            )
            _print_report(upload, campaign.code)
            pending = await dialer.get_campaign_pending_calls(campaign)
            print(f"The campaign now holds {pending.campaign.total_pending_calls:,} pending calls.")
            await dialer.stop_campaign(campaign)
            stopped = await dialer.get_campaign_details(campaign)
            await dialer.start_campaign(campaign)
            started = await dialer.get_campaign_details(campaign)
            print(f"Stop, then start: {stopped.status_name} -> {started.status_name}")
            for member in ("SIP100", "SIP101"):
                await dialer.add_member(campaign, member)
            await dialer.remove_member(campaign, "SIP101")
            members = await dialer.get_members_list(campaign)
            print(f"Members after adding two and removing one: {[m.member for m in members]}")
            await dialer.update_campaign_strategy(
                campaign, queue_for_monitoring=1001, queue_maximum_callers=5, coefficient=2
            )
            print("Strategy updated. Demo complete.")
    expected = upload.report.total == args.leads and upload.report.accepted > 0
    return EXIT_OK if expected else EXIT_INCOMPLETE


def _journal(args: argparse.Namespace) -> int:
    try:
        summary = summarise(args.path)
    except JournalError as exc:
        raise _Usage(str(exc)) from None
    total = "unknown" if summary.total is None else f"{summary.total:,}"
    print(f"Journal {args.path}: {total} leads in the input")
    print(f"  accepted   {summary.accepted:>10,}")
    print(f"  rejected   {summary.rejected:>10,}")
    print(f"  failed     {summary.failed:>10,}")
    print(
        f"  unknown    {summary.unknown:>10,}"
        + ("  (maybe added: rerun with --reconcile)" if summary.unknown else "")
    )
    if summary.remaining is None:
        print("  remaining     unknown  (the input was never read to its end)")
    else:
        print(
            f"  remaining  {summary.remaining:>10,}"
            + ("  (never sent: a rerun sends them)" if summary.remaining else "")
        )
    return EXIT_OK if not summary.unknown and not summary.remaining else EXIT_INCOMPLETE


def _fake_server(args: argparse.Namespace) -> int:
    from .testing import FakeDialer, Faults
    from .testing._server import bind, make_server

    rates: dict[Any, float] = {}
    for fault in args.fault:
        name, _, rate = fault.partition("=")
        try:
            rates[name] = float(rate)
        except ValueError:
            raise _Usage(f"--fault takes NAME=RATE, e.g. 503=0.05; got {fault!r}") from None
    try:
        faults = Faults(
            rates,
            latency=args.latency,
            seed=args.seed,
            retry_after=args.retry_after,
            slow_seconds=args.slow_seconds,
        )
    except ValueError as exc:
        raise _Usage(str(exc)) from None
    fake = FakeDialer(args.account_code, faults=faults)
    campaign = fake.add_campaign("Fake campaign", code=args.campaign_code)
    sock = bind(args.host, args.port)
    port = sock.getsockname()[1]
    # Machine-readable first line, for scripts that start the server on port 0.
    print(f"listening http://{args.host}:{port}/ForwardDialer/Dialer/", flush=True)
    print(f"account code {fake.account_code}", flush=True)
    print(f"campaign code {campaign.code}", flush=True)
    make_server(fake, log_level=args.log_level).run(sockets=[sock])
    return EXIT_OK


# --- argument parsing --------------------------------------------------------------------


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voicenter-dialer",
        description="Voicenter auto-dialer (ForwardDialer) from the command line.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, help="the API's base URL")
    parser.add_argument(
        "--code",
        default=os.environ.get("VOICENTER_CODE"),
        help="the account code (default: $VOICENTER_CODE); needed by 'campaigns'",
    )
    parser.add_argument("--max-retries", type=int, default=2, help="retries per request")
    parser.add_argument(
        "--requests-per-second",
        type=float,
        metavar="RATE",
        help="pace every request (calls, retries, bulk chunks) to at most RATE a second",
    )
    parser.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="accept a plain http:// base URL off this machine (codes travel in clear text)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listing = commands.add_parser("campaigns", help="list the account's campaigns")
    listing.add_argument("--show-codes", action="store_true", help="print codes in full")
    for name, help_text in [
        ("details", "show a campaign"),
        ("start", "start (resume) a campaign"),
        ("stop", "stop (pause) a campaign"),
        ("clear", "remove every destination of a campaign"),
        ("members", "list a campaign's agents"),
    ]:
        commands.add_parser(name, help=help_text).add_argument("campaign")
    pending = commands.add_parser("pending", help="list a campaign's pending calls")
    pending.add_argument("campaign")
    pending.add_argument("--limit", type=int, default=50, help="calls to print (default 50)")
    for name, help_text in [("add-member", "add an agent"), ("remove-member", "remove an agent")]:
        member = commands.add_parser(name, help=help_text)
        member.add_argument("campaign")
        member.add_argument("member", help="the extension's SIP code")

    upload = commands.add_parser("upload", help="upload a CSV or JSONL lead file")
    upload.add_argument("file", help="CSV with a header (a 'phone' or 'target' column) or JSONL")
    upload.add_argument("--campaign", required=True, help="the campaign code")
    upload.add_argument("--format", choices=["csv", "jsonl"], help="default: from the extension")
    upload.add_argument("--rejects", help="write rejected and failed leads to this CSV")
    upload.add_argument(
        "--journal",
        metavar="PATH",
        help="record each chunk's outcome in this SQLite file; rerun with it to resume",
    )
    upload.add_argument(
        "--reconcile",
        action="store_true",
        help="with --journal: settle leads of unknown outcome against the campaign's pending "
        "calls, re-sending only those it does not hold",
    )
    upload.add_argument(
        "--region",
        default="IL",
        help="region of national numbers (needs the 'phone' extra; default IL)",
    )
    _bulk_options(upload)

    journal = commands.add_parser("journal", help="summarise an upload journal")
    journal.add_argument("path")

    demo = commands.add_parser("demo", help="upload generated leads to the bundled fake dialer")
    demo.add_argument("--leads", type=_positive, default=100_000, help="default 100,000")
    _bulk_options(demo)

    fake = commands.add_parser("fake-server", help="serve the fake dialer over HTTP")
    fake.add_argument("--host", default="127.0.0.1")
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
    fake.add_argument("--seed", type=int, default=0, help="seed of the fault sequence")
    fake.add_argument("--log-level", default="warning", help="uvicorn's log level")
    return parser


def _bulk_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--chunk-size",
        type=_positive,
        default=1000,
        help=f"calls per request (max {MAX_CHUNK_SIZE})",
    )
    parser.add_argument("--concurrency", type=_positive, default=4, help="requests in flight")


async def _run(args: argparse.Namespace) -> int:
    if args.command == "demo":
        return await _demo(args)
    async with AsyncDialer(
        args.code,
        base_url=args.base_url,
        max_retries=args.max_retries,
        allow_insecure_http=args.allow_insecure_http,
        requests_per_second=args.requests_per_second,
    ) as dialer:
        return await COMMANDS[args.command](dialer, args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "fake-server":
            return _fake_server(args)
        if args.command == "journal":
            return _journal(args)
        return asyncio.run(_run(args))
    except (_Usage, ValidationError) as exc:
        print(f"voicenter-dialer: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DialerError as exc:
        print(f"voicenter-dialer: {exc}", file=sys.stderr)
        return EXIT_INCOMPLETE
    except KeyboardInterrupt:
        print("voicenter-dialer: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
