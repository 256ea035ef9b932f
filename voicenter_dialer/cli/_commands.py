"""The API's commands (campaigns, calls, members), ``upload`` and ``journal``."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
from collections.abc import Awaitable, Callable
from typing import Any

from voicenter_dialer._client import AsyncDialer
from voicenter_dialer._concurrency import AUTO, Concurrency
from voicenter_dialer._exceptions import JournalError
from voicenter_dialer._models import Call
from voicenter_dialer._resume import JournalSpec, summarise_journal
from voicenter_dialer._secrets import mask
from voicenter_dialer._session import DEFAULT_CHUNK_SIZE, DEFAULT_CONCURRENCY, MAX_CHUNK_SIZE

from ._calls import option_call, phone_normaliser
from ._leads import LeadStream, open_leads
from ._output import EPILOG, EXIT_INCOMPLETE, EXIT_OK, Incomplete, Output, UsageError, jsonable
from ._progress import upload_with_progress
from ._rejects import close_quietly, open_rejects, write_rejects
from ._report import campaign_line, journal_report, upload_report
from ._shared import connection_options, output_options

__all__ = [
    "DEFAULT_REGION",
    "bulk_options",
    "campaign_argument",
    "campaign_code",
    "command",
    "positive",
    "region_option",
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


def command(
    commands: Subparsers, name: str, help_text: str, run: Run, *, connection: bool = True
) -> argparse.ArgumentParser:
    """Add the command *name*, which runs *run*. It takes the output options and (unless not
    *connection*) the connection options, as the main parser does."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=help_text,
        description=help_text[0].upper() + help_text[1:] + ".",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    output_options(parser, after_command=True)
    if connection:
        connection_options(parser, after_command=True)
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


_CAMPAIGN_HELP = "the campaign code (default: $VOICENTER_CAMPAIGN, which keeps it out of 'ps')"


def campaign_argument(parser: argparse.ArgumentParser, *, positional: bool = True) -> None:
    """The campaign code: ``--campaign CODE``, or (when *positional*) the first argument
    after the command; optional when $VOICENTER_CAMPAIGN holds it. :func:`campaign_code`
    reads it."""
    parser.add_argument("--campaign", metavar="CODE", help=_CAMPAIGN_HELP)
    if positional:
        parser.add_argument(
            "campaign_positional",
            nargs="?",
            metavar="CAMPAIGN",
            help="the campaign code, as --campaign gives it",
        )


def campaign_code(args: argparse.Namespace) -> str:
    """The campaign a command names (:func:`campaign_argument`), else $VOICENTER_CAMPAIGN."""
    given = {code for code in (args.campaign, getattr(args, "campaign_positional", None)) if code}
    if len(given) > 1:  # neither code is shown: they are credentials
        raise UsageError("two campaigns given (as CAMPAIGN and as --campaign): give one")
    campaign = next(iter(given), None) or os.environ.get("VOICENTER_CAMPAIGN")
    if not campaign:
        raise UsageError(
            "no campaign code: set VOICENTER_CAMPAIGN (it keeps the code out of 'ps'), or "
            "give --campaign CODE"
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
            "--code CODE"
        )
    campaigns = await dialer.get_campaign_list()
    out.document({"campaigns": jsonable(campaigns, show_codes=args.show_codes)})
    for campaign in campaigns:
        out.say(campaign_line(campaign, args.show_codes))
    if not campaigns:
        out.say("No campaigns.")
    return EXIT_OK


async def _details(dialer: AsyncDialer, args: argparse.Namespace, out: Output) -> int:
    campaign = await dialer.get_campaign_details(campaign_code(args))
    out.document({"campaign": jsonable(campaign)})
    out.say(campaign_line(campaign, show_codes=False))
    out.say(f"priorities {campaign.min_priority}..{campaign.max_priority}")
    return EXIT_OK


async def _pending(dialer: AsyncDialer, args: argparse.Namespace, out: Output) -> int:
    pending = await dialer.get_campaign_pending_calls(campaign_code(args))
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
        campaign = campaign_code(args)
        await action(dialer, campaign)
        out.document({"campaign": mask(campaign), "done": done.lower()})
        out.say(f"{done} campaign {mask(campaign)}.")
        return EXIT_OK

    return handler


async def _members(dialer: AsyncDialer, args: argparse.Namespace, out: Output) -> int:
    members = await dialer.get_members_list(campaign_code(args))
    out.document({"members": jsonable(members)})
    for member in members:
        out.say(f"{member.member:<20} {member.display_name}")
    if not members:
        out.say("No members.")
    return EXIT_OK


async def _add_member(dialer: AsyncDialer, args: argparse.Namespace, out: Output) -> int:
    added = await dialer.add_member(campaign_code(args), args.member)
    out.document({"member": args.member, "added": added})
    out.say(f"Added {args.member} ({added} added).")
    return EXIT_OK


async def _remove_member(dialer: AsyncDialer, args: argparse.Namespace, out: Output) -> int:
    removed = await dialer.remove_member(campaign_code(args), args.member)
    out.document({"member": args.member, "removed": removed})
    out.say(f"Removed {args.member} ({removed} removed).")
    return EXIT_OK if removed else EXIT_INCOMPLETE


def _call_action(
    action: Callable[[AsyncDialer, str, Call], Awaitable[None]], done: str, where: str
) -> Handler:
    async def handler(dialer: AsyncDialer, args: argparse.Namespace, out: Output) -> int:
        campaign = campaign_code(args)
        call = option_call(
            args.phone,
            _normaliser(args.region),
            customer_name=args.name,
            caller_id=args.caller_id,
            priority=args.priority,
            custom=args.custom,
            originate_time=args.at,
            ignore_dnc_status=args.ignore_dnc,
        )
        await action(dialer, campaign, call)
        out.document({"campaign": mask(campaign), "done": done.lower(), "call": jsonable(call)})
        out.say(f"{done} {call.target} {where} campaign {mask(campaign)}.")
        return EXIT_OK

    return handler


async def _remove_call(dialer: AsyncDialer, args: argparse.Namespace, out: Output) -> int:
    campaign = campaign_code(args)
    target = _normaliser(args.region)(args.phone)
    await dialer.remove_call(campaign, target)
    out.document({"campaign": mask(campaign), "done": "removed", "target": target})
    out.say(f"Removed {target} from campaign {mask(campaign)} (if it held it).")
    return EXIT_OK


async def _update_strategy(dialer: AsyncDialer, args: argparse.Namespace, out: Output) -> int:
    campaign = campaign_code(args)
    strategy = {
        "queue_for_monitoring": args.queue_for_monitoring,
        "queue_maximum_callers": args.queue_maximum_callers,
        "coefficient": args.coefficient,
    }
    await dialer.update_campaign_strategy(campaign, **strategy)
    out.document({"campaign": mask(campaign), "done": "updated strategy", **strategy})
    out.say(
        f"Updated the strategy of campaign {mask(campaign)}: queue {args.queue_for_monitoring}, "
        f"at most {args.queue_maximum_callers} waiting callers, coefficient {args.coefficient}."
    )
    return EXIT_OK


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
    campaign = campaign_code(args)
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
                show=not out.quiet,
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

    _register_call_commands(commands)

    upload = _api_command(commands, "upload", "upload a CSV or JSONL lead file", _upload)
    upload.add_argument(
        "file",
        help="CSV with a header (a 'phone' or 'target' column) or JSONL; '-' reads standard "
        "input (copied to a temporary file first, so that it is checked before anything is sent)",
    )
    campaign_argument(upload, positional=False)
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
    region_option(upload)
    bulk_options(upload)

    journal = command(
        commands, "journal", "summarise an upload journal", _journal, connection=False
    )
    journal.add_argument(
        "path", help="the journal: an SQLite file or a postgresql://...#UPLOAD_NAME URL"
    )


def region_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--region",
        help=f"ISO country code of national numbers, any case (default {DEFAULT_REGION}); "
        "needs the 'phone' extra (without it, numbers are only stripped of separators)",
    )


def _custom_field(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _when(text: str) -> int | dt.datetime:
    """``--at``: epoch seconds, or an ISO 8601 date and time (``Z`` for UTC too, which
    Python 3.10's parser does not read)."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        return dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO date and time (2030-01-02T09:00, the account's clock; with "
            f"+02:00 or Z, that instant) or epoch seconds, got {text!r}"
        ) from None


def _register_call_commands(commands: Subparsers) -> None:
    add = _call_action(AsyncDialer.add_call, "Added", "to")
    update = _call_action(AsyncDialer.update_call, "Updated", "in")
    for name, help_text, handler in [
        ("add-call", "add one call (destination) to a campaign", add),
        ("update-call", "update a campaign's call to a number (added when it holds none)", update),
    ]:
        parser = _api_command(commands, name, help_text, handler)
        campaign_argument(parser)
        fields = parser.add_argument_group("the call")
        fields.add_argument("--phone", "--target", required=True, help="the number to call")
        fields.add_argument("--name", help="the customer's name")
        fields.add_argument("--caller-id", metavar="NUMBER", help="the number shown to them")
        fields.add_argument("--priority", type=int, help="the call's priority (a whole number)")
        fields.add_argument(
            "--custom",
            type=_custom_field,
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a custom data field (var_LeadID=7); repeatable",
        )
        fields.add_argument(
            "--at",
            type=_when,
            metavar="WHEN",
            help="when to call: an ISO date and time (2030-01-02T09:00 is the account's "
            "clock; with an offset, +02:00 or Z, that instant) or epoch seconds",
        )
        fields.add_argument(
            "--ignore-dnc", action="store_true", help="call even if the number is on DNC lists"
        )
        region_option(parser)

    remove = _api_command(
        commands, "remove-call", "remove every call to a number from a campaign", _remove_call
    )
    campaign_argument(remove)
    remove.add_argument("--phone", "--target", required=True, help="the number")
    region_option(remove)

    strategy = _api_command(
        commands, "update-strategy", "set an agent campaign's dialling strategy", _update_strategy
    )
    campaign_argument(strategy)
    for option, help_text in [
        ("--queue-for-monitoring", "the queue the campaign watches"),
        ("--queue-maximum-callers", "callers waiting in it at most (more than 0)"),
        ("--coefficient", "the dialling coefficient (more than 1)"),
    ]:
        strategy.add_argument(option, type=int, required=True, metavar="N", help=help_text)
