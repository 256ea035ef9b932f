"""``completion``: a shell's completion script for the whole command line (shtab, the
``cli`` extra)."""

from __future__ import annotations

import argparse
from typing import Any

from ._commands import command
from ._output import EXIT_OK, Output, UsageError

__all__ = ["register"]

Subparsers = Any  # argparse's _SubParsersAction is private

SHELLS = ("bash", "zsh", "fish")


def register(commands: Subparsers, root: argparse.ArgumentParser) -> None:
    """Add ``completion``, whose script covers *root* (the whole command line)."""

    async def completion(args: argparse.Namespace, out: Output) -> int:
        try:
            import shtab
        except ImportError:
            raise UsageError(
                "completion needs the shtab package: pip install 'voicenter-dialer[cli]'"
            ) from None
        script: str = shtab.complete(root, shell=args.shell).rstrip("\n")
        out.document({"shell": args.shell, "script": script})
        out.say(script)
        return EXIT_OK

    parser = command(
        commands,
        "completion",
        "print a shell completion script (needs the 'cli' extra)",
        completion,
        connection=False,
    )
    parser.add_argument(
        "shell",
        choices=SHELLS,
        help="bash: source it, or put it in /etc/bash_completion.d/; zsh: as _voicenter-dialer "
        "on $fpath; fish: in ~/.config/fish/completions/voicenter-dialer.fish",
    )
