"""The parser, the options every command shares, and the one dispatch."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from voicenter_dialer._exceptions import DialerError, JournalError, ValidationError
from voicenter_dialer._version import __version__

from . import _commands, _fake
from ._output import EXIT_INCOMPLETE, EXIT_USAGE, UsageError

__all__ = ["main"]

_EPILOG = """\
exit status:
  0    everything succeeded (upload: every lead accepted)
  1    the service refused something, or some leads were rejected or failed
  2    usage or input error (nothing was sent)
  130  interrupted
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voicenter-dialer",
        description="Voicenter auto-dialer (ForwardDialer) from the command line.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _commands.connection_options(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (_commands, _fake):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        status: int = asyncio.run(args.handler(args))
    except (UsageError, ValidationError, JournalError) as exc:
        print(f"voicenter-dialer: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DialerError as exc:
        print(f"voicenter-dialer: {exc}", file=sys.stderr)
        return EXIT_INCOMPLETE
    except KeyboardInterrupt:
        print("voicenter-dialer: interrupted", file=sys.stderr)
        return 130
    return status
