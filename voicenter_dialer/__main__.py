"""``python -m voicenter_dialer``: the same as the ``voicenter-dialer`` command."""

import sys

from .cli import main

sys.exit(main())
