"""The parser, the options every command shares, and the one dispatch."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import traceback
from collections.abc import Coroutine, Sequence
from typing import Any, NoReturn

from voicenter_dialer._exceptions import DialerError, JournalError, ValidationError
from voicenter_dialer._version import __version__

from . import _commands, _completion, _fake, _upload
from ._output import (
    EPILOG,
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    Incomplete,
    Output,
    UsageError,
    for_shell,
    log_to_stderr,
    write,
)
from ._shared import check_shared, connection_options, output_options

__all__ = ["main"]


class _ArgumentError(UsageError):
    """A command line argparse refused; *parser* (the command's) gives the usage."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose errors are raised rather than printed and exited on: under
    ``--json`` they too must be a JSON document. Its subcommands' parsers are of this class."""

    def error(self, message: str) -> NoReturn:
        raise _ArgumentError(self, message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="voicenter-dialer",
        description="Voicenter auto-dialer (ForwardDialer) from the command line.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    output_options(parser, after_command=False)
    connection_options(parser, after_command=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (_commands, _upload, _fake):
        module.register(commands)
    _completion.register(commands, parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    # Before parsing, which may fail: then the error is a JSON document too.
    out = Output("--json" in argv)
    try:
        args = _parser().parse_args(argv)
    except _ArgumentError as exc:
        if not out.json:
            exc.parser.print_usage(sys.stderr)
        out.error(str(exc), exc, EXIT_USAGE, prog=exc.parser.prog)
        return EXIT_USAGE
    try:
        check_shared(args)
        out.quiet = args.quiet
        with log_to_stderr(args.verbose):
            status: int = asyncio.run(_interruptible(args.handler(args, out)))
    except (UsageError, ValidationError, JournalError) as exc:
        out.error(for_shell(str(exc)), exc, EXIT_USAGE)
        return EXIT_USAGE
    except (DialerError, Incomplete) as exc:
        out.error(for_shell(str(exc)), exc, EXIT_INCOMPLETE)
        return EXIT_INCOMPLETE
    except BaseException as exc:
        if _interrupted(exc):
            out.error("interrupted", KeyboardInterrupt(), EXIT_INTERRUPTED)
            return EXIT_INTERRUPTED
        if not isinstance(exc, Exception):  # SystemExit and the like are not failures
            raise
        if isinstance(exc, BrokenPipeError):  # stdout's reader left (| head): nobody to tell
            _discard_stdout()
            return EXIT_INCOMPLETE
        # A bug: its message may hold anything (a code), so only where and its type are shown.
        if args.verbose:
            write("".join(traceback.format_tb(exc.__traceback__)).rstrip(), sys.stderr)
        message = f"internal error ({type(exc).__name__}); -v shows where: please report it"
        out.error(message, exc, EXIT_INCOMPLETE)
        return EXIT_INCOMPLETE
    return status


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush does not fail too."""
    try:
        fileno = sys.stdout.fileno()
    except (OSError, ValueError):  # not a file (captured), or closed already
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fileno)
    os.close(devnull)


async def _interruptible(command: Coroutine[Any, Any, int]) -> int:
    """*command*, cancelled by Ctrl-C, as ``asyncio.run`` does from Python 3.11 on.

    On 3.10 a KeyboardInterrupt is raised wherever the loop happens to be, which may be in
    the middle of a task group or a journal commit; a cancellation unwinds it in order.
    """
    if sys.version_info >= (3, 11) or signal.getsignal(signal.SIGINT) is not (
        signal.default_int_handler
    ):  # 3.11 does it already; or Ctrl-C is ignored (a background job) or handled elsewhere
        return await command
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        task.cancel()

    loop.add_signal_handler(signal.SIGINT, interrupt)
    try:
        return await command
    except asyncio.CancelledError:
        if interrupted:
            raise KeyboardInterrupt from None
        raise
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def _interrupted(exc: BaseException) -> bool:
    """Ctrl-C: a KeyboardInterrupt, or (Python 3.10, whose asyncio.run does not turn SIGINT into
    a cancellation) a task group's exception group holding only KeyboardInterrupts."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    inner = getattr(exc, "exceptions", None)
    return isinstance(inner, tuple) and bool(inner) and all(_interrupted(e) for e in inner)
