"""The ``voicenter-dialer`` command.

Each command module registers its subcommands and their handlers (``register``);
:func:`main` parses once and dispatches once. Where words go is ``_output``; an upload's
progress ``_progress``, its outcome ``_report``, its rejects file ``_rejects``; lead files are
read by ``_leads`` and their fields made calls by ``_calls``.
"""

from ._main import main

__all__ = ["main"]
