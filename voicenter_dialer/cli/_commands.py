"""The API's commands (campaigns, calls, members, strategy), and what every command's
parser is made of (:func:`command`, the campaign, the region, the bulk options)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
from collections.abc import Awaitable, Callable
from typing import Any

from voicenter_dialer._client import AsyncDialer
from voicenter_dialer._concurrency import AUTO, Concurrency
from voicenter_dialer._models import Call
from voicenter_dialer._secrets import mask
from voicenter_dialer._session import DEFAULT_CHUNK_SIZE, DEFAULT_CONCURRENCY, MAX_CHUNK_SIZE

from ._calls import DEFAULT_REGION, option_call, region_normaliser
from ._output import EPILOG, EXIT_INCOMPLETE, EXIT_OK, Output, UsageError, jsonable
from ._report import campaign_line
from ._shared import connection_options, output_options, sendable, sendable_text

__all__ = [
    "account_code",
    "api_command",
    "bulk_options",
    "campaign_argument",
    "campaign_code",
    "command",
    "optional_campaign_code",
    "positive",
    "region_option",
    "register",
]

Subparsers = Any  # argparse's _SubParsersAction is private
Handler = Callable[[AsyncDialer, argparse.Namespace, Output], Awaitable[int]]
Run = Callable[[argparse.Namespace, Output], Awaitable[int]]


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
    parser.add_argument("--campaign", type=sendable, metavar="CODE", help=_CAMPAIGN_HELP)
    if positional:
        parser.add_argument(
            "campaign_positional",
            type=sendable,
            nargs="?",
            metavar="CAMPAIGN",
            help="the campaign code, as --campaign gives it",
        )


def campaign_code(args: argparse.Namespace) -> str:
    """The campaign a command names (:func:`campaign_argument`), else $VOICENTER_CAMPAIGN."""
    campaign = optional_campaign_code(args)
    if not campaign:
        raise UsageError(
            "no campaign code: set VOICENTER_CAMPAIGN (it keeps the code out of 'ps'), or "
            "give --campaign CODE"
        )
    return campaign


def optional_campaign_code(args: argparse.Namespace) -> str | None:
    """:func:`campaign_code`, None when no campaign is named."""
    given = {code for code in (args.campaign, getattr(args, "campaign_positional", None)) if code}
    if len(given) > 1:  # neither code is shown: they are credentials
        raise UsageError("two campaigns given (as CAMPAIGN and as --campaign): give one")
    campaign = next(iter(given), None) or os.environ.get("VOICENTER_CAMPAIGN") or None
    return None if campaign is None else sendable_text(campaign, "the campaign code")


def account_code(args: argparse.Namespace) -> str | None:
    code: str | None = args.code or os.environ.get("VOICENTER_CODE") or None
    return None if code is None else sendable_text(code, "the account code")


def _with_dialer(handler: Handler) -> Run:
    """*handler* given a dialer made from the connection options, closed afterwards."""

    async def run(args: argparse.Namespace, out: Output) -> int:
        async with AsyncDialer(
            account_code(args),
            base_url=args.base_url,
            max_retries=args.max_retries,
            allow_insecure_http=args.allow_insecure_http,
            requests_per_second=args.requests_per_second,
            idempotency_store=getattr(args, "idempotency_store", None),  # upload's only
        ) as dialer:
            return await handler(dialer, args, out)

    return run


def api_command(
    commands: Subparsers, name: str, help_text: str, handler: Handler
) -> argparse.ArgumentParser:
    return command(commands, name, help_text, _with_dialer(handler))


# --- handlers ----------------------------------------------------------------------------


async def _campaigns(dialer: AsyncDialer, args: argparse.Namespace, out: Output) -> int:
    if account_code(args) is None:
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
            region_normaliser(args.region),
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
    target = region_normaliser(args.region)(args.phone)
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


# --- registration ------------------------------------------------------------------------


def register(commands: Subparsers) -> None:
    listing = api_command(commands, "campaigns", "list the account's campaigns", _campaigns)
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
        campaign_argument(api_command(commands, name, help_text, handler))
    pending = api_command(commands, "pending", "list a campaign's pending calls", _pending)
    campaign_argument(pending)
    pending.add_argument(
        "--limit", type=int, default=50, help="calls to print as text (default 50; --json: all)"
    )
    for name, help_text, member_handler in [
        ("add-member", "add an agent to a campaign", _add_member),
        ("remove-member", "remove an agent from a campaign", _remove_member),
    ]:
        member = api_command(commands, name, help_text, member_handler)
        campaign_argument(member)
        member.add_argument("member", type=sendable, help="the extension's SIP code")

    _register_call_commands(commands)


def region_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--region",
        help=f"ISO country code of national numbers, any case (default {DEFAULT_REGION}); "
        "needs the 'phone' extra (without it, numbers are only stripped of separators)",
    )


def _custom_field(text: str) -> tuple[str, str]:
    key, equals, value = sendable(text).partition("=")
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
        parser = api_command(commands, name, help_text, handler)
        campaign_argument(parser)
        fields = parser.add_argument_group("the call")
        fields.add_argument(
            "--phone", "--target", type=sendable, required=True, help="the number to call"
        )
        fields.add_argument("--name", type=sendable, help="the customer's name")
        fields.add_argument(
            "--caller-id", type=sendable, metavar="NUMBER", help="the number shown to them"
        )
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

    remove = api_command(
        commands, "remove-call", "remove every call to a number from a campaign", _remove_call
    )
    campaign_argument(remove)
    remove.add_argument("--phone", "--target", type=sendable, required=True, help="the number")
    region_option(remove)

    strategy = api_command(
        commands, "update-strategy", "set an agent campaign's dialling strategy", _update_strategy
    )
    campaign_argument(strategy)
    for option, help_text in [
        ("--queue-for-monitoring", "the queue the campaign watches"),
        ("--queue-maximum-callers", "callers waiting in it at most (more than 0)"),
        ("--coefficient", "the dialling coefficient (more than 1)"),
    ]:
        strategy.add_argument(option, type=int, required=True, metavar="N", help=help_text)
