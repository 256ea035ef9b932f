"""The API's commands (campaigns, calls, members), ``upload`` and ``journal``."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from voicenter_dialer._bulk import DEFAULT_CHUNK_SIZE, DEFAULT_CONCURRENCY, MAX_CHUNK_SIZE
from voicenter_dialer._client import DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, AsyncDialer
from voicenter_dialer._leads import LeadStream, LineMap, phone_normaliser, scan, write_rejects
from voicenter_dialer._resume import summarise_journal
from voicenter_dialer._secrets import mask

from ._output import (
    EXIT_INCOMPLETE,
    EXIT_OK,
    campaign_line,
    print_journal,
    print_report,
    upload_with_progress,
)

__all__ = ["bulk_options", "connection_options", "positive", "register"]

Subparsers = Any  # argparse's _SubParsersAction is private
Handler = Callable[[AsyncDialer, argparse.Namespace], Awaitable[int]]


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def bulk_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--chunk-size",
        type=positive,
        default=DEFAULT_CHUNK_SIZE,
        help=f"calls per request (default {DEFAULT_CHUNK_SIZE}, max {MAX_CHUNK_SIZE})",
    )
    parser.add_argument(
        "--concurrency",
        type=positive,
        default=DEFAULT_CONCURRENCY,
        help=f"requests in flight (default {DEFAULT_CONCURRENCY})",
    )


def connection_options(parser: argparse.ArgumentParser) -> None:
    """Where and how to reach the service, given before the command."""
    group = parser.add_argument_group("connection (before the command)")
    group.add_argument("--base-url", default=DEFAULT_BASE_URL, help="the API's base URL")
    group.add_argument(
        "--code", help="the account code (default: $VOICENTER_CODE); needed by 'campaigns'"
    )
    group.add_argument(
        "--max-retries",
        type=int,
        help=f"retries per request (default {DEFAULT_MAX_RETRIES})",
    )
    group.add_argument(
        "--requests-per-second",
        type=float,
        metavar="RATE",
        help="pace every request (calls, retries, bulk chunks) to at most RATE a second",
    )
    group.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="accept a plain http:// base URL off this machine (codes travel in clear text)",
    )


def _with_dialer(handler: Handler) -> Callable[[argparse.Namespace], Awaitable[int]]:
    """*handler* given a dialer made from the connection options, closed afterwards."""

    async def run(args: argparse.Namespace) -> int:
        async with AsyncDialer(
            args.code,
            base_url=args.base_url,
            max_retries=args.max_retries,
            allow_insecure_http=args.allow_insecure_http,
            requests_per_second=args.requests_per_second,
        ) as dialer:
            return await handler(dialer, args)

    return run


def _command(
    commands: Subparsers, name: str, help_text: str, handler: Handler
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help_text)
    parser.set_defaults(handler=_with_dialer(handler))
    return parser


# --- handlers ----------------------------------------------------------------------------


async def _campaigns(dialer: AsyncDialer, args: argparse.Namespace) -> int:
    campaigns = await dialer.get_campaign_list()
    for campaign in campaigns:
        print(campaign_line(campaign, args.show_codes))
    if not campaigns:
        print("No campaigns.")
    return EXIT_OK


async def _details(dialer: AsyncDialer, args: argparse.Namespace) -> int:
    campaign = await dialer.get_campaign_details(args.campaign)
    print(campaign_line(campaign, show_codes=False))
    print(f"priorities {campaign.min_priority}..{campaign.max_priority}")
    return EXIT_OK


async def _pending(dialer: AsyncDialer, args: argparse.Namespace) -> int:
    pending = await dialer.get_campaign_pending_calls(args.campaign)
    print(campaign_line(pending.campaign, show_codes=False))
    for call in pending.calls[: args.limit]:
        status = call.call_status.description if call.call_status else ""
        print(f"  {call.phone:<16} priority {call.priority}  {status:<10} {call.customer_name}")
    if len(pending.calls) > args.limit:
        print(f"  … and {len(pending.calls) - args.limit:,} more")
    return EXIT_OK


def _campaign_action(action: Callable[[AsyncDialer, str], Awaitable[None]], done: str) -> Handler:
    async def handler(dialer: AsyncDialer, args: argparse.Namespace) -> int:
        await action(dialer, args.campaign)
        print(f"{done} campaign {mask(args.campaign)}.")
        return EXIT_OK

    return handler


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


async def _upload(dialer: AsyncDialer, args: argparse.Namespace) -> int:
    lead_file = scan(Path(args.file), args.format)
    lines = LineMap()
    calls = LeadStream(lead_file, phone_normaliser(args.region), lines)
    upload = await upload_with_progress(
        dialer,
        args.campaign,
        calls,
        total=lead_file.rows,
        chunk_size=args.chunk_size,
        concurrency=args.concurrency,
        journal=args.journal,
        reconcile=args.reconcile,
    )
    print_report(upload, args.campaign)
    report = upload.report
    if args.rejects and not report.ok:
        written = write_rejects(Path(args.rejects), report, lines)
        print(f"{written:,} rejected and failed leads written to {args.rejects}")
    return EXIT_OK if report.ok else EXIT_INCOMPLETE


async def _journal(args: argparse.Namespace) -> int:
    summary = summarise_journal(args.path)
    print_journal(args.path, summary)
    return EXIT_OK if not summary.unknown and not summary.remaining else EXIT_INCOMPLETE


# --- registration ------------------------------------------------------------------------


def register(commands: Subparsers) -> None:
    listing = _command(commands, "campaigns", "list the account's campaigns", _campaigns)
    listing.add_argument("--show-codes", action="store_true", help="print codes in full")
    start = _campaign_action(AsyncDialer.start_campaign, "Started")
    stop = _campaign_action(AsyncDialer.stop_campaign, "Stopped")
    clear = _campaign_action(AsyncDialer.clear_campaign_calls, "Cleared")
    simple: list[tuple[str, str, Handler]] = [
        ("details", "show a campaign", _details),
        ("start", "start (resume) a campaign", start),
        ("stop", "stop (pause) a campaign", stop),
        ("clear", "remove every destination of a campaign", clear),
        ("members", "list a campaign's agents", _members),
    ]
    for name, help_text, handler in simple:
        _command(commands, name, help_text, handler).add_argument(
            "campaign", help="the campaign code"
        )
    pending = _command(commands, "pending", "list a campaign's pending calls", _pending)
    pending.add_argument("campaign", help="the campaign code")
    pending.add_argument("--limit", type=int, default=50, help="calls to print (default 50)")
    for name, help_text, member_handler in [
        ("add-member", "add an agent", _add_member),
        ("remove-member", "remove an agent", _remove_member),
    ]:
        member = _command(commands, name, help_text, member_handler)
        member.add_argument("campaign", help="the campaign code")
        member.add_argument("member", help="the extension's SIP code")

    upload = _command(commands, "upload", "upload a CSV or JSONL lead file", _upload)
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
    bulk_options(upload)

    journal = commands.add_parser("journal", help="summarise an upload journal")
    journal.add_argument("path", help="the journal (an SQLite file)")
    journal.set_defaults(handler=_journal)
