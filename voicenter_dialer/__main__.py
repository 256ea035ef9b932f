"""``python -m voicenter_dialer``: the same as the ``voicenter-dialer`` command."""

from .cli import console

console()
