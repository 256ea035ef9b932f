"""The ``voicenter-dialer`` command.

Each command module registers its subcommands and their handlers (``register``);
:func:`main` parses once and dispatches once. Output and progress live in ``_output``.
"""

from ._main import main

__all__ = ["main"]
