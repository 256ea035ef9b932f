"""What the command prints: text or one JSON document, progress, reports, exit codes.

Text goes to stdout. With ``--json`` stdout holds one JSON document and nothing else;
progress and narration go to stderr either way.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TextIO

import attrs

from voicenter_dialer._bulk import BulkProgress
from voicenter_dialer._client import AsyncDialer
from voicenter_dialer._concurrency import Concurrency
from voicenter_dialer._dicts import jsonable as library_jsonable
from voicenter_dialer._journal import JournalSummary
from voicenter_dialer._leads import LineMap
from voicenter_dialer._models import BulkReport, Call, Campaign
from voicenter_dialer._resume import JournalSpec
from voicenter_dialer._secrets import mask, mask_url, redact

__all__ = [
    "EPILOG",
    "EXIT_INCOMPLETE",
    "EXIT_OK",
    "EXIT_USAGE",
    "Output",
    "Upload",
    "UsageError",
    "campaign_line",
    "for_shell",
    "journal_report",
    "jsonable",
    "log_to_stderr",
    "upload_report",
    "upload_with_progress",
]

EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE = 0, 1, 2

#: Every command's --help ends with this.
EPILOG = """\
exit status:
  0    success (upload: every lead accepted)
  1    the service refused something, or some leads were rejected or failed
  2    usage, input or journal error: nothing was sent (unless a lead file changed
       during its upload: the upload stops there)
  130  interrupted

environment:
  VOICENTER_CODE      the account code (instead of --code)
  VOICENTER_CAMPAIGN  the campaign code (instead of --campaign or CAMPAIGN); prefer it:
                      other users of the machine see a command line in 'ps'
  VOICENTER_BASE_URL  the API's base URL (instead of --base-url)
"""


class UsageError(Exception):
    """A usage or input error: printed, exit status 2."""


# The library's messages name its keyword arguments; a shell user knows the flags.
_FLAGS = {
    "allow_insecure_http=True": "--allow-insecure-http",
    "allow_insecure_http": "--allow-insecure-http",
    "base_url": "--base-url",
    "chunk_size": "--chunk-size",
    "max_retries": "--max-retries",
    "requests_per_second": "--requests-per-second",
}
_KEYWORDS = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, _FLAGS)) + r")(?![\w=])")


def for_shell(message: str) -> str:
    """*message* with the library's keyword arguments named as the CLI's flags."""
    return _KEYWORDS.sub(lambda match: _FLAGS[match[1]], message)


def jsonable(value: object, *, show_codes: bool = False) -> Any:
    """A JSON-ready form of a model, report, error or plain value (:func:`to_dict`'s), with a
    campaign's code masked unless *show_codes*."""
    return library_jsonable(value, mask_codes=not show_codes)


class Output:
    """Where a command's words go, by ``--json``.

    :meth:`say` is the result as text (stdout; nothing with ``--json``), :meth:`note` is
    narration (stdout as text, stderr with ``--json``), :meth:`document` the result as JSON
    (stdout with ``--json``, once; nothing as text).
    """

    def __init__(self, json_mode: bool) -> None:
        self.json = json_mode
        self.documented = False

    def say(self, text: str) -> None:
        if not self.json:
            print(text, flush=True)

    def note(self, text: str) -> None:
        print(text, file=sys.stderr if self.json else sys.stdout, flush=True)

    def document(self, data: Mapping[str, Any]) -> None:
        if self.json and not self.documented:
            self.documented = True
            json.dump(data, sys.stdout, ensure_ascii=False)
            print(flush=True)

    def error(self, message: str, error: BaseException, status: int) -> None:
        """Report a failure: on stderr, and as the JSON document when none was printed."""
        label = "error: " if status == EXIT_USAGE else ""
        print(f"voicenter-dialer: {label}{message}", file=sys.stderr)
        kind = "UsageError" if isinstance(error, UsageError) else type(error).__name__
        self.document({"error": {"type": kind, "message": message}, "exit_status": status})


_LIBRARY_LOGGER = logging.getLogger("voicenter_dialer")


class _StderrLines(logging.Handler):
    """The library's log lines on stderr, looked up when written: a progress bar redirects it
    to print above itself."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"voicenter-dialer: {self.format(record)}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def log_to_stderr(verbose: bool) -> Iterator[None]:
    """With ``-v``, the library's INFO lines (each retry, each upload's counts) on stderr."""
    if not verbose:
        yield
        return
    handler, level = _StderrLines(), _LIBRARY_LOGGER.level
    _LIBRARY_LOGGER.addHandler(handler)
    _LIBRARY_LOGGER.setLevel(logging.INFO)
    try:
        yield
    finally:
        _LIBRARY_LOGGER.removeHandler(handler)
        _LIBRARY_LOGGER.setLevel(level)


class _RetryCounter(logging.Handler):
    """Counts the library's retries (its retry log records) for the progress line."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.retries = 0

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "voicenter_dialer_retry"):
            self.retries += 1

    def __enter__(self) -> _RetryCounter:
        self._level = _LIBRARY_LOGGER.level
        _LIBRARY_LOGGER.addHandler(self)
        if not _LIBRARY_LOGGER.isEnabledFor(logging.INFO):
            _LIBRARY_LOGGER.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        _LIBRARY_LOGGER.removeHandler(self)
        _LIBRARY_LOGGER.setLevel(self._level)

    def note(self) -> str:
        return f", {self.retries:,} retried" if self.retries else ""


class _PlainProgress:
    """Progress as occasional lines, for logs and pipes."""

    def __init__(self, total: int | None, out: TextIO) -> None:
        self._total = total
        self._out = out
        self._next = 0.0
        self.retries = _RetryCounter()

    def __enter__(self) -> _PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, progress: BulkProgress) -> None:
        share = progress.done / self._total if self._total else 0.0
        if share >= self._next or progress.done == self._total:
            total = f"/{self._total:,}" if self._total else ""
            print(
                f"  {progress.done:,}{total} leads: {progress.accepted:,} accepted, "
                f"{progress.rejected:,} rejected, {progress.failed:,} failed"
                f"{self.retries.note()}",
                file=self._out,
                flush=True,
            )
            self._next = share + 0.1


class _RichProgress:
    """A progress bar, on a terminal with rich installed (the ``cli`` extra)."""

    def __init__(self, total: int | None, out: TextIO) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("[bold]Uploading"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(file=out),
        )
        self._task = self._bar.add_task("upload", total=total, detail="")
        self.retries = _RetryCounter()

    def __enter__(self) -> _RichProgress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(None, None, None)

    def update(self, progress: BulkProgress) -> None:
        detail = f"{progress.rejected:,} rejected, {progress.failed:,} failed"
        detail += self.retries.note()
        self._bar.update(self._task, completed=progress.done, detail=detail)


def _progress(total: int | None, out: TextIO) -> _PlainProgress | _RichProgress:
    if out.isatty():
        try:
            return _RichProgress(total, out)
        except ImportError:
            pass
    return _PlainProgress(total, out)


@attrs.frozen
class Upload:
    report: BulkReport
    seconds: float


async def upload_with_progress(
    dialer: AsyncDialer,
    campaign: str,
    calls: Iterable[Call],
    *,
    total: int | None,
    chunk_size: int,
    concurrency: Concurrency,
    journal: JournalSpec | None = None,
    reconcile: bool = False,
) -> Upload:
    """Upload *calls* with progress on stderr."""
    sys.stdout.flush()  # what was printed so far comes before the progress lines
    started = time.perf_counter()
    with _progress(total, sys.stderr) as progress, progress.retries:
        report = await dialer.add_calls_bulk(
            campaign,
            calls,
            chunk_size=chunk_size,
            concurrency=concurrency,
            on_progress=progress.update,
            journal=journal,
            reconcile=reconcile,
        )
    return Upload(report, time.perf_counter() - started)


def _settled_note(settled: int) -> str:
    return f"; {settled:,} settled by earlier runs (the journal)" if settled else ""


def _lead_entries(report: BulkReport, lines: LineMap, campaign: str) -> list[dict[str, Any]]:
    """Each rejected or failed lead, in input order; server text redacted of the code."""
    entries: list[dict[str, Any]] = [
        {
            "index": entry.index,
            "line": lines[entry.index] if entry.index < len(lines) else None,
            "status": "rejected",
            "target": _target(entry.call),
            "error_code": entry.result.error_code,
            "reason": redact(entry.result.description, [campaign]),
        }
        for entry in report.rejected
    ]
    entries += [
        {
            "index": entry.index,
            "line": lines[entry.index] if entry.index < len(lines) else None,
            "status": "unknown" if entry.error.outcome_unknown else "failed",
            "target": _target(entry.call),
            "error_code": None,
            "reason": redact(entry.error.message, [campaign]),
        }
        for entry in report.failed
    ]
    return sorted(entries, key=lambda entry: int(entry["index"]))


def _target(call: object) -> object:
    return call.target if isinstance(call, Call) else None


def upload_report(
    out: Output,
    upload: Upload,
    campaign: str,
    *,
    source: str,
    lines: LineMap,
    settled: int = 0,
    rejects: tuple[str, int] | None = None,
) -> None:
    """The upload's outcome; *settled*: leads a journal had settled before this run;
    *rejects*: the rejects file written and how many leads it holds."""
    report = upload.report
    unknown = sum(1 for entry in report.failed if entry.error.outcome_unknown)
    sent = max(report.total - settled, 0)
    document: dict[str, Any] = {
        "source": source,
        "campaign": mask(campaign),
        "ok": report.ok,
        "total": report.total,
        "settled_earlier": settled,
        "accepted": report.accepted,
        "rejected": len(report.rejected),
        "failed": len(report.failed) - unknown,
        "unknown": unknown,
        "seconds": round(upload.seconds, 3),
    }
    if rejects is None:
        document["leads"] = _lead_entries(report, lines, campaign)
    else:
        document["rejects_file"], document["rejects_written"] = rejects
    out.document(document)

    if sent == 0 and report.total:
        out.say(
            f"Nothing sent: all {report.total:,} leads were settled by earlier runs (the journal)"
        )
    else:
        rate = sent / upload.seconds if upload.seconds else 0.0
        out.say(
            f"Uploaded {sent:,} leads to campaign {mask(campaign)} in {upload.seconds:.1f} s "
            f"({rate:,.0f} leads/s){_settled_note(settled)}"
        )
    out.say(f"  accepted  {report.accepted:>10,}")
    out.say(f"  rejected  {len(report.rejected):>10,}")
    out.say(
        f"  failed    {len(report.failed):>10,}"
        + (f"  ({unknown:,} may have been added)" if unknown else "")
    )
    for entry in report.rejected[:3]:
        description = redact(entry.result.description, [campaign])
        out.say(f"    rejected #{entry.index}: {entry.call.target!r}: {description}")
    for failed in report.failed[:3]:
        out.say(f"    failed #{failed.index}: {redact(failed.error.message, [campaign])}")
    if rejects is not None:
        out.say(f"{rejects[1]:,} rejected and failed leads written to {rejects[0]}")


def journal_report(out: Output, spec: JournalSpec, summary: JournalSummary) -> bool:
    """Print what a journal holds; True when nothing is left to do."""
    remaining = summary.remaining
    # A rerun with a shorter input records a smaller total than the chunks already recorded.
    surplus = -remaining if remaining is not None and remaining < 0 else 0
    if surplus:
        remaining = 0
    shown = mask_url(str(spec))
    out.document(
        {
            "journal": shown,
            "total": summary.total,
            "accepted": summary.accepted,
            "rejected": summary.rejected,
            "failed": summary.failed,
            "unknown": summary.unknown,
            "remaining": remaining,
            "recorded_beyond_input": surplus,
        }
    )
    total = "unknown" if summary.total is None else f"{summary.total:,}"
    out.say(f"Journal {shown}: {total} leads in the input")
    out.say(f"  accepted   {summary.accepted:>10,}")
    out.say(f"  rejected   {summary.rejected:>10,}")
    out.say(f"  failed     {summary.failed:>10,}")
    out.say(
        f"  unknown    {summary.unknown:>10,}"
        + ("  (maybe added: rerun with --reconcile)" if summary.unknown else "")
    )
    if remaining is None:
        out.say("  remaining     unknown  (the input was never read to its end)")
    else:
        out.say(
            f"  remaining  {remaining:>10,}"
            + ("  (not sent, or refused unprocessed: a rerun sends them)" if remaining else "")
        )
    if surplus:
        out.say(
            f"  (the journal records {surplus:,} more leads than the last input held: "
            "it was shorter)"
        )
    return not summary.unknown and not remaining


def campaign_line(campaign: Campaign, show_codes: bool) -> str:
    code = campaign.code if show_codes else mask(campaign.code)
    awaiting = "-" if campaign.total_awaiting_calls in (None, -1) else campaign.total_awaiting_calls
    return (
        f"{campaign.name:<30} {campaign.status_name:<9} pending {campaign.total_pending_calls} "
        f"awaiting {awaiting}  code {code}"
    )
