"""The CLI's upload, run in this process, then its peak RSS: ``cli_upload.py ARGS...``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import cpu_seconds, peak_rss_mb

from voicenter_dialer.cli import main

started, cpu = time.perf_counter(), cpu_seconds()
status = main(sys.argv[1:])
elapsed = time.perf_counter() - started
result = {"status": status, "seconds": elapsed, "cpu": cpu_seconds() - cpu, "rss": peak_rss_mb()}
print(json.dumps(result), flush=True)
