"""The parser, the options every command shares, and the one dispatch."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
import sys
import traceback
from collections.abc import Coroutine, Sequence
from typing import Any, Final, NoReturn

from voicenter_dialer._exceptions import DialerError, JournalError, ValidationError
from voicenter_dialer._version import __version__

from ._output import (
    EPILOG,
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    Incomplete,
    Output,
    UsageError,
    discard,
    for_shell,
    log_to_stderr,
    write_stderr,
)
from ._shared import (
    check_shared,
    connection_options,
    environment_codes,
    given_codes,
    output_options,
)

__all__ = ["main"]


class _ArgumentError(UsageError):
    """A command line argparse refused; *parser* (the command's) gives the usage."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose errors are raised rather than printed and exited on: under
    ``--json`` they too must be a JSON document. Its subcommands' parsers are of this class.

    It reads a unique prefix of an option as the option (``--js`` as ``--json``), as argparse
    does by default: :func:`_json_requested` reads ``--json`` the same way.
    """

    def error(self, message: str) -> NoReturn:
        raise _ArgumentError(self, message)


#: Every command, in the order --help lists them: the module that registers it (its
#: ``register``) and its help line. A module is imported once the command line names one of its
#: commands, so that --help, --version and a usage error import none of the commands' library.
#: tests/test_startup.py checks this against what the modules register.
COMMANDS: Final = {
    "campaigns": ("_commands", "list the account's campaigns"),
    "details": ("_commands", "show a campaign"),
    "start": ("_commands", "start (resume) a campaign"),
    "stop": ("_commands", "stop (pause) a campaign"),
    "clear": ("_commands", "remove every destination of a campaign"),
    "members": ("_commands", "list a campaign's agents"),
    "pending": ("_commands", "list a campaign's pending calls"),
    "add-member": ("_commands", "add an agent to a campaign"),
    "remove-member": ("_commands", "remove an agent from a campaign"),
    "add-call": ("_commands", "add one call (destination) to a campaign"),
    "update-call": ("_commands", "update a campaign's call to a number (added when it holds none)"),
    "remove-call": ("_commands", "remove every call to a number from a campaign"),
    "update-strategy": ("_commands", "set an agent campaign's dialling strategy"),
    "upload": ("_upload", "upload a CSV or JSONL lead file"),
    "journal": ("_upload", "summarise an upload journal"),
    "demo": ("_fake", "upload generated leads to the bundled fake dialer"),
    "fake-server": ("_fake", "serve the fake dialer over HTTP"),
    "completion": ("_completion", "print a shell completion script (needs the 'cli' extra)"),
}
#: The modules that register commands, in COMMANDS' order.
MODULES: Final = tuple(dict.fromkeys(module for module, _ in COMMANDS.values()))


def _parser(modules: Sequence[str] | None = MODULES) -> argparse.ArgumentParser:
    """The command line, with the commands *modules* register; None: only COMMANDS' names
    and help lines, enough to tell which command is given (or to show --help)."""
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
    if modules is None:
        for name, (_, help_text) in COMMANDS.items():
            # What follows the command is the real parser's to read: left unrecognised here.
            commands.add_parser(name, help=help_text, add_help=False)
    for module in modules or ():
        registered = importlib.import_module(f"{__package__}.{module}")
        if module == "_completion":  # its script covers the whole command line
            registered.register(commands, parser)
        else:
            registered.register(commands)
    return parser


def _command_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser of the command *argv* names, with that command's module only (completion's
    script covers every command: all of them). Raises :class:`_ArgumentError` as it would."""
    command = _parser(None).parse_known_args(argv)[0].command
    module = COMMANDS[command][0]
    return _parser(MODULES if module == "_completion" else [module])


def _json_requested(argv: Sequence[str]) -> bool:
    """Whether *argv* asks for ``--json`` as the parser reads it: the flag or a prefix of it
    (``--js``), before any ``--``. Known before parsing, which may fail: its error is then a
    JSON document too."""
    for word in argv:
        if word == "--":
            return False
        flag = word.partition("=")[0]
        if len(flag) > 2 and "--json".startswith(flag):
            return True
    return False


def _argv_secrets(argv: Sequence[str]) -> tuple[str, ...]:
    """What a usage error must not echo in full: the environment's codes, and every value on
    the command line but the command's name. The parse failed, so which value is a code is
    unknown (a campaign code where none is taken, ``upload leads.csv CODE``, is the usual
    mistake): each is masked where argparse quotes it."""
    values = (word.partition("=")[2] if word.startswith("-") else word for word in argv)
    return (*environment_codes(), *(value for value in values if value not in COMMANDS))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    out = Output(_json_requested(argv))
    try:
        args = _command_parser(argv).parse_args(argv)
    except _ArgumentError as exc:
        out.secrets = _argv_secrets(argv)
        if not out.json:
            write_stderr(exc.parser.format_usage().rstrip())
        out.error(str(exc), exc, EXIT_USAGE, prog=exc.parser.prog)
        return EXIT_USAGE
    out.json, out.secrets = args.json, given_codes(args)
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
            discard(sys.stdout)
            return EXIT_INCOMPLETE
        # A bug: its message may hold anything (a code), so only where and its type are shown.
        if args.verbose:
            write_stderr("".join(traceback.format_tb(exc.__traceback__)).rstrip())
        message = f"internal error ({type(exc).__name__}); -v shows where: please report it"
        out.error(message, exc, EXIT_INCOMPLETE)
        return EXIT_INCOMPLETE
    return status


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
