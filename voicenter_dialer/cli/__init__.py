"""The ``voicenter-dialer`` command.

Each command module registers its subcommands and their handlers (``register``): the API's
in ``_commands``, ``upload`` and ``journal`` in ``_upload``, the fake's in ``_fake``; the
options every command shares are ``_shared``'s. :func:`main` parses once and dispatches
once. Where words go is ``_output``; an upload's progress ``_progress``, its outcome
``_report``, its rejects file ``_rejects``; lead files are read by ``_leads`` and their
fields (or a command's options) made calls by ``_calls``.
"""

import os
import sys
from typing import NoReturn

from ._main import main
from ._output import EXIT_INTERRUPTED

__all__ = ["console", "main"]


def console() -> NoReturn:
    """The ``voicenter-dialer`` console script: :func:`main`, then exit with its status.

    After Ctrl-C the process ends at once: a journal statement the interrupt abandoned may
    still hold a worker thread (until its connect or statement timeout), and the interpreter
    would wait for it before exiting. What it was doing errs on the safe side (a chunk
    recorded as sent, or not, before it left), as a kill would.
    """
    status = main()
    if status == EXIT_INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)
