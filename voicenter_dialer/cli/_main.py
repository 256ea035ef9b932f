"""The parser, the options every command shares, and the one dispatch."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from voicenter_dialer._exceptions import DialerError, JournalError, ValidationError
from voicenter_dialer._version import __version__

from . import _commands, _fake
from ._output import (
    EPILOG,
    EXIT_INCOMPLETE,
    EXIT_USAGE,
    Output,
    UsageError,
    for_shell,
    log_to_stderr,
)

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voicenter-dialer",
        description="Voicenter auto-dialer (ForwardDialer) from the command line.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log each retry (method, attempt, wait, why)"
    )
    _commands.connection_options(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (_commands, _fake):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    out = Output(args.json)
    try:
        with log_to_stderr(args.verbose):
            status: int = asyncio.run(args.handler(args, out))
    except (UsageError, ValidationError, JournalError) as exc:
        out.error(for_shell(str(exc)), exc, EXIT_USAGE)
        return EXIT_USAGE
    except DialerError as exc:
        out.error(for_shell(str(exc)), exc, EXIT_INCOMPLETE)
        return EXIT_INCOMPLETE
    except KeyboardInterrupt:
        out.error("interrupted", KeyboardInterrupt(), 130)
        return 130
    return status
