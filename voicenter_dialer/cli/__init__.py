"""The ``voicenter-dialer`` command.

Each command module registers its subcommands and their handlers (``register``): the API's
in ``_commands``, ``upload`` and ``journal`` in ``_upload``, the fake's in ``_fake``; the
options every command shares are ``_shared``'s. :func:`main` parses once and dispatches
once. Where words go is ``_output``; an upload's progress ``_progress``, its outcome
``_report``, its rejects file ``_rejects``; lead files are read by ``_leads`` and their
fields (or a command's options) made calls by ``_calls``.
"""

from ._main import main

__all__ = ["main"]
