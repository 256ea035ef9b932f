"""The options every command shares (output, connection), accepted before the command and
after it alike."""

from __future__ import annotations

import argparse
import os
from typing import Any

from voicenter_dialer._defaults import DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES

from ._output import UsageError

__all__ = [
    "check_shared",
    "connection_options",
    "environment_codes",
    "given_codes",
    "output_options",
    "sendable",
    "sendable_text",
]

_NOT_UTF8 = "not UTF-8 text (it holds bytes that are not UTF-8, so it cannot be sent)"


def sendable_text(text: str, what: str) -> str:
    """*text*, a value to send named *what*; :class:`UsageError` if it cannot be sent (a byte
    of argv or the environment that is not UTF-8 reaches Python as a lone surrogate). The
    value is not shown: it may be a code."""
    try:
        text.encode()
    except UnicodeEncodeError:
        raise UsageError(f"{what}: {_NOT_UTF8}") from None
    return text


def sendable(text: str) -> str:
    """An argparse type: :func:`sendable_text` for an option's value."""
    try:
        text.encode()
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(_NOT_UTF8) from None
    return text


def _default(value: Any, *, after_command: bool) -> Any:
    # argparse copies a subcommand's whole namespace over the main one: a default there
    # would undo what was given before the command, so the copies after it have none.
    return argparse.SUPPRESS if after_command else value


def output_options(parser: argparse.ArgumentParser, *, after_command: bool) -> None:
    """``--json``, ``-q`` and ``-v``."""
    group = parser.add_argument_group("output")
    group.add_argument(
        "--json",
        action="store_true",
        default=_default(False, after_command=after_command),
        help="print one JSON document on stdout (progress and messages go to stderr)",
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=_default(False, after_command=after_command),
        help="print the result only: no progress, no narration (errors and warnings still)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=_default(False, after_command=after_command),
        help="log each retry (method, attempt, wait, why)",
    )


def connection_options(parser: argparse.ArgumentParser, *, after_command: bool) -> None:
    """Where and how to reach the service."""
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--base-url",
        default=_default(
            os.environ.get("VOICENTER_BASE_URL") or DEFAULT_BASE_URL, after_command=after_command
        ),
        help=f"the API's base URL (default: $VOICENTER_BASE_URL, else {DEFAULT_BASE_URL})",
    )
    group.add_argument(
        "--code",
        type=sendable,
        default=_default(None, after_command=after_command),
        help="the account code, needed by 'campaigns' (default: $VOICENTER_CODE; the "
        "variable keeps it out of 'ps')",
    )
    group.add_argument(
        "--max-retries",
        type=int,
        default=_default(None, after_command=after_command),
        help=f"retries per request (default {DEFAULT_MAX_RETRIES})",
    )
    group.add_argument(
        "--requests-per-second",
        type=float,
        metavar="RATE",
        default=_default(None, after_command=after_command),
        help="pace every request (calls, retries, bulk chunks) to at most RATE a second",
    )
    group.add_argument(
        "--allow-insecure-http",
        action="store_true",
        default=_default(False, after_command=after_command),
        help="accept a plain http:// base URL off this machine (codes travel in clear text)",
    )


def check_shared(args: argparse.Namespace) -> None:
    """Refuse shared options that contradict each other (given anywhere on the line)."""
    if args.quiet and args.verbose:
        raise UsageError("-q/--quiet and -v/--verbose contradict each other: give one")


def environment_codes() -> tuple[str, ...]:
    """The codes the environment holds (the account's, the campaign's)."""
    codes = (os.environ.get("VOICENTER_CODE"), os.environ.get("VOICENTER_CAMPAIGN"))
    return tuple(code for code in codes if code)


def given_codes(args: argparse.Namespace) -> tuple[str, ...]:
    """The codes the command must never print in full: the account's and the campaign's, given
    on the command line or in the environment (but for ``--show-codes``, which asks for the
    campaigns' codes in full: then the account's only)."""
    account = (getattr(args, "code", None), os.environ.get("VOICENTER_CODE"))
    campaign = (
        getattr(args, "campaign", None),
        getattr(args, "campaign_positional", None),
        os.environ.get("VOICENTER_CAMPAIGN"),
    )
    codes = account if getattr(args, "show_codes", False) else account + campaign
    return tuple(code for code in codes if code)
