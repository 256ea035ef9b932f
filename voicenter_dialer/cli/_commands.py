"""The API's commands (campaigns, calls, members), ``upload`` and ``journal``."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Awaitable, Callable
from typing import Any

from voicenter_dialer._client import AsyncDialer
from voicenter_dialer._concurrency import AUTO, Concurrency
from voicenter_dialer._exceptions import JournalError
from voicenter_dialer._options import DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES
from voicenter_dialer._resume import JournalSpec, summarise_journal
from voicenter_dialer._secrets import mask
from voicenter_dialer._session import DEFAULT_CHUNK_SIZE, DEFAULT_CONCURRENCY, MAX_CHUNK_SIZE

from ._calls import phone_normaliser
from ._leads import LeadStream, open_leads
from ._output import EPILOG, EXIT_INCOMPLETE, EXIT_OK, Incomplete, Output, UsageError, jsonable
from ._progress import upload_with_progress
from ._rejects import close_quietly, open_rejects, write_rejects
from ._report import campaign_line, journal_report, upload_report

__all__ = [
    "DEFAULT_REGION",
    "bulk_options",
    "campaign_argument",
    "command",
    "connection_options",
    "positive",
    "register",
]

Subparsers = Any  # argparse's _SubParsersAction is private
Handler = Callable[[AsyncDialer, argparse.Namespace, Output], Awaitable[int]]
Run = Callable[[argparse.Namespace, Output], Awaitable[int]]

#: National numbers in lead files are read as this region's when phonenumbers is installed.
DEFAULT_REGION = "IL"


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def command(commands: Subparsers, name: str, help_text: str, run: Run) -> argparse.ArgumentParser:
    """Add the command *name*, which takes ``--json`` and runs *run*."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=help_text,
        description=help_text[0].upper() + help_text[1:] + ".",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout (progress and messages go to stderr)",
    )
    parser.set_defaults(handler=run)
    return parser


def bulk_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--chunk-size",
        type=positive,
        default=DEFAULT_CHUNK_SIZE,
        help=f"calls per request (default {DEFAULT_CHUNK_SIZE}, max {MAX_CHUNK_SIZE})",
    )
    parser.add_argument(
        "--concurrency",
        type=concurrency,
        default=DEFAULT_CONCURRENCY,
        help=f"requests in flight, or 'auto' to find the service's room "
        f"(default {DEFAULT_CONCURRENCY})",
    )


def concurrency(text: str) -> Concurrency:
    return AUTO if text == AUTO else positive(text)


def connection_options(parser: argparse.ArgumentParser) -> None:
    """Where and how to reach the service, given before the command."""
    group = parser.add_argument_group("connection (before the command)")
    group.add_argument(
        "--base-url",
        default=os.environ.get("VOICENTER_BASE_URL") or DEFAULT_BASE_URL,
        help=f"the API's base URL (default: $VOICENTER_BASE_URL, else {DEFAULT_BASE_URL})",
    )
    group.add_argument(
        "--code",
        help="the account code, needed by 'campaigns' (default: $VOICENTER_CODE; the "
        "variable keeps it out of 'ps')",
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


def campaign_argument(parser: argparse.ArgumentParser, *, option: bool = False) -> None:
    """The campaign code, optional when $VOICENTER_CAMPAIGN holds it."""
    help_text = "the campaign code (default: $VOICENTER_CAMPAIGN, which keeps it out of 'ps')"
    if option:
        parser.add_argument("--campaign", metavar="CODE", help=help_text)
    else:
        parser.add_argument("campaign", nargs="?", metavar="CAMPAIGN", help=help_text)


def _campaign(args: argparse.Namespace) -> str:
    campaign: str | None = args.campaign or os.environ.get("VOICENTER_CAMPAIGN")
    if not campaign:
        raise UsageError(
            "no campaign code: set VOICENTER_CAMPAIGN (it keeps the code out of 'ps'), or "
            + ("give --campaign CODE" if args.command == "upload" else "give it after the command")
        )
    return campaign


def _account_code(args: argparse.Namespace) -> str | None:
    code: str | None = args.code or os.environ.get("VOICENTER_CODE") or None
    return code


def _with_dialer(handler: Handler) -> Run:
    """*handler* given a dialer made from the connection options, closed afterwards."""

    async def run(args: argparse.Namespace, out: Output) -> int:
        async with AsyncDialer(
            _account_code(args),
            base_url=args.base_url,
            max_retries=args.max_retries,
            allow_insecure_http=args.allow_insecure_http,
            requests_per_second=args.requests_per_second,
        ) as dialer:
            return await handler(dialer, args, out)

    return run


def _api_command(
    commands: Subparsers, name: str, help_text: str, handler: Handler
) -> argparse.ArgumentParser:
    return command(commands, name, help_text, _with_dialer(handler))


# --- handlers ----------------------------------------------------------------------------


async def _campaigns(dialer: AsyncDialer, args: argparse.Namespace, out: Output) -> int:
    if _account_code(args) is None:
        raise UsageError(
            "no account code: set VOICENTER_CODE (it keeps the code out of 'ps'), or give "
            "--code CODE before the command"
        )
    campaigns = await dialer.get_campaign_list()
    out.document({"campaigns": jsonable(campaigns, show_codes=args.show_codes)})
    for campaign in campaigns:
        out.say(campaign_line(campaign, args.show_codes))
    if not campaigns:
        out.say("No campaigns.")
    return EXIT_OK


async def _details(dialer: AsyncDialer, args: argparse.Namespace, out: Output) -> int:
    campaign = await dialer.get_campaign_details(_campaign(args))
    out.document({"campaign": jsonable(campaign)})
    out.say(campaign_line(campaign, show_codes=False))
    out.say(f"priorities {campaign.min_priority}..{campaign.max_priority}")
    return EXIT_OK


async def _pending(dialer: AsyncDialer, args: argparse.Namespace, out: Output) -> int:
    pending = await dialer.get_campaign_pending_calls(_campaign(args))
    out.document(jsonable(pending))
    out.say(campaign_line(pending.campaign, show_codes=False))
    for call in pending.calls[: args.limit]:
        status = call.call_status.description if call.call_status else ""
        out.say(f"  {call.phone:<16} priority {call.priority}  {status:<10} {call.customer_name}")
    if len(pending.calls) > args.limit:
        out.say(f"  … and {len(pending.calls) - args.limit:,} more")
    return EXIT_OK


def _campaign_action(action: Callable[[AsyncDialer, str], Awaitable[None]], done: str) -> Handler:
    async def handler(dialer: AsyncDialer, args: argparse.Namespace, out: Output) -> int:
        campaign = _campaign(args)
        await action(dialer, campaign)
        out.document({"campaign": mask(campaign), "done": done.lower()})
        out.say(f"{done} campaign {mask(campaign)}.")
        return EXIT_OK

    return handler


async def _members(dialer: AsyncDialer, args: argparse.Namespace, out: Output) -> int:
    members = await dialer.get_members_list(_campaign(args))
    out.document({"members": jsonable(members)})
    for member in members:
        out.say(f"{member.member:<20} {member.display_name}")
    if not members:
        out.say("No members.")
    return EXIT_OK


async def _add_member(dialer: AsyncDialer, args: argparse.Namespace, out: Output) -> int:
    added = await dialer.add_member(_campaign(args), args.member)
    out.document({"member": args.member, "added": added})
    out.say(f"Added {args.member} ({added} added).")
    return EXIT_OK


async def _remove_member(dialer: AsyncDialer, args: argparse.Namespace, out: Output) -> int:
    removed = await dialer.remove_member(_campaign(args), args.member)
    out.document({"member": args.member, "removed": removed})
    out.say(f"Removed {args.member} ({removed} removed).")
    return EXIT_OK if removed else EXIT_INCOMPLETE


def _normaliser(region: str | None) -> Callable[[str], str]:
    """The number normaliser of ``--region``: refused when it cannot be honoured."""
    if region is None:
        try:
            return phone_normaliser(DEFAULT_REGION)
        except ImportError:  # without the 'phone' extra, numbers are only cleaned up
            return phone_normaliser(None)
    try:
        return phone_normaliser(region)
    except ImportError:
        raise UsageError(
            f"--region {region} needs the phonenumbers package: "
            "pip install 'voicenter-dialer[phone]'"
        ) from None
    except ValueError as exc:
        raise UsageError(f"--region: {exc}") from None


def _settled(journal: JournalSpec | None) -> int:
    """How many leads the journal settled in earlier runs (a rerun does not send them)."""
    if journal is None:
        return 0
    try:
        return summarise_journal(journal).done
    except JournalError:  # no journal yet; or one the upload itself will refuse, saying why
        return 0


async def _upload(dialer: AsyncDialer, args: argparse.Namespace, out: Output) -> int:
    campaign = _campaign(args)
    normalise = _normaliser(args.region)
    if args.reconcile and args.journal is None:
        raise UsageError("--reconcile needs --journal: it settles what a journal left unknown")
    settled = _settled(args.journal)
    secrets = (campaign, _account_code(args))
    with contextlib.ExitStack() as stack:
        lead_file = stack.enter_context(open_leads(args.file, args.format))
        rejects_file = open_rejects(args.rejects, lead_file) if args.rejects else None
        if rejects_file is not None:
            stack.callback(close_quietly, rejects_file)
        calls = LeadStream(lead_file, normalise)
        try:
            upload = await upload_with_progress(
                dialer,
                campaign,
                calls,
                total=lead_file.rows,
                chunk_size=args.chunk_size,
                concurrency=args.concurrency,
                journal=args.journal,
                reconcile=args.reconcile,
            )
        except JournalError as exc:
            if len(calls.lines):  # leads were read, so some may have been sent
                raise Incomplete(exc) from None
            raise
        rejects = None
        if rejects_file is not None:
            try:
                written = write_rejects(rejects_file, upload.report, calls.lines, secrets)
                rejects = (args.rejects, written)
            except OSError as exc:  # a full disk, say: the report is printed all the same
                out.warn(
                    f"--rejects {args.rejects}: cannot write: {exc.strerror or exc}"
                    + ("; the --json document lists the leads instead" if out.json else "")
                )
    upload_report(
        out,
        upload,
        campaign,
        account=secrets[1],
        source=lead_file.name,
        lines=calls.lines,
        settled=settled,
        rejects=rejects,
    )
    return EXIT_OK if upload.report.ok and (rejects or not args.rejects) else EXIT_INCOMPLETE


async def _journal(args: argparse.Namespace, out: Output) -> int:
    summary = summarise_journal(args.path)
    return EXIT_OK if journal_report(out, args.path, summary) else EXIT_INCOMPLETE


# --- registration ------------------------------------------------------------------------


def register(commands: Subparsers) -> None:
    listing = _api_command(commands, "campaigns", "list the account's campaigns", _campaigns)
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
        campaign_argument(_api_command(commands, name, help_text, handler))
    pending = _api_command(commands, "pending", "list a campaign's pending calls", _pending)
    campaign_argument(pending)
    pending.add_argument(
        "--limit", type=int, default=50, help="calls to print as text (default 50; --json: all)"
    )
    for name, help_text, member_handler in [
        ("add-member", "add an agent to a campaign", _add_member),
        ("remove-member", "remove an agent from a campaign", _remove_member),
    ]:
        member = _api_command(commands, name, help_text, member_handler)
        campaign_argument(member)
        member.add_argument("member", help="the extension's SIP code")

    upload = _api_command(commands, "upload", "upload a CSV or JSONL lead file", _upload)
    upload.add_argument(
        "file",
        help="CSV with a header (a 'phone' or 'target' column) or JSONL; '-' reads standard "
        "input (copied to a temporary file first, so that it is checked before anything is sent)",
    )
    campaign_argument(upload, option=True)
    upload.add_argument(
        "--format",
        choices=["csv", "jsonl"],
        help="the file's format (default: from its extension; standard input: csv)",
    )
    upload.add_argument(
        "--rejects",
        metavar="PATH",
        help="write rejected and failed leads to this CSV (--json then gives their count)",
    )
    upload.add_argument(
        "--journal",
        metavar="PATH|URL",
        help="record each chunk's outcome in this SQLite file, or in PostgreSQL "
        "(postgresql://USER@HOST:PORT/DB#UPLOAD_NAME: resumable from another machine); "
        "rerun with it to resume",
    )
    upload.add_argument(
        "--reconcile",
        action="store_true",
        help="with --journal: settle leads of unknown outcome against the campaign's pending "
        "calls, re-sending only those it does not hold",
    )
    upload.add_argument(
        "--region",
        help=f"ISO country code of national numbers, any case (default {DEFAULT_REGION}); "
        "needs the 'phone' extra (without it, numbers are only stripped of separators)",
    )
    bulk_options(upload)

    journal = command(commands, "journal", "summarise an upload journal", _journal)
    journal.add_argument(
        "path", help="the journal: an SQLite file or a postgresql://...#UPLOAD_NAME URL"
    )
