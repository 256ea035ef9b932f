"""What the command prints: progress while uploading, reports, campaign lines, exit codes."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import TextIO

import attrs

from voicenter_dialer._bulk import BulkProgress
from voicenter_dialer._client import AsyncDialer
from voicenter_dialer._journal import JournalSummary
from voicenter_dialer._models import BulkReport, Call, Campaign
from voicenter_dialer._resume import JournalSpec
from voicenter_dialer._secrets import mask

__all__ = [
    "EXIT_INCOMPLETE",
    "EXIT_OK",
    "EXIT_USAGE",
    "Upload",
    "UsageError",
    "campaign_line",
    "print_journal",
    "print_report",
    "upload_with_progress",
]

EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A usage or input error: printed, exit status 2."""


class _PlainProgress:
    """Progress as occasional lines, for logs and pipes."""

    def __init__(self, total: int | None, out: TextIO) -> None:
        self._total = total
        self._out = out
        self._next = 0.0

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
                f"{progress.rejected:,} rejected, {progress.failed:,} failed",
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

    def __enter__(self) -> _RichProgress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(None, None, None)

    def update(self, progress: BulkProgress) -> None:
        detail = f"{progress.rejected:,} rejected, {progress.failed:,} failed"
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
    concurrency: int,
    journal: JournalSpec | None = None,
    reconcile: bool = False,
) -> Upload:
    """Upload *calls* with progress on stderr."""
    sys.stdout.flush()  # what was printed so far comes before the progress lines
    started = time.perf_counter()
    with _progress(total, sys.stderr) as progress:
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


def print_report(upload: Upload, campaign: str) -> None:
    report = upload.report
    rate = report.total / upload.seconds if upload.seconds else 0.0
    print(
        f"Uploaded {report.total:,} leads to campaign {mask(campaign)} in "
        f"{upload.seconds:.1f} s ({rate:,.0f} leads/s)"
    )
    unknown = sum(1 for entry in report.failed if entry.error.outcome_unknown)
    print(f"  accepted  {report.accepted:>10,}")
    print(f"  rejected  {len(report.rejected):>10,}")
    print(
        f"  failed    {len(report.failed):>10,}"
        + (f"  ({unknown:,} may have been added)" if unknown else "")
    )
    for entry in report.rejected[:3]:
        print(f"    rejected #{entry.index}: {entry.call.target!r}: {entry.result.description}")
    for failed in report.failed[:3]:
        print(f"    failed #{failed.index}: {failed.error.message}")


def print_journal(spec: JournalSpec, summary: JournalSummary) -> None:
    total = "unknown" if summary.total is None else f"{summary.total:,}"
    print(f"Journal {spec}: {total} leads in the input")
    print(f"  accepted   {summary.accepted:>10,}")
    print(f"  rejected   {summary.rejected:>10,}")
    print(f"  failed     {summary.failed:>10,}")
    print(
        f"  unknown    {summary.unknown:>10,}"
        + ("  (maybe added: rerun with --reconcile)" if summary.unknown else "")
    )
    if summary.remaining is None:
        print("  remaining     unknown  (the input was never read to its end)")
    else:
        print(
            f"  remaining  {summary.remaining:>10,}"
            + ("  (never sent: a rerun sends them)" if summary.remaining else "")
        )


def campaign_line(campaign: Campaign, show_codes: bool) -> str:
    code = campaign.code if show_codes else mask(campaign.code)
    awaiting = "-" if campaign.total_awaiting_calls in (None, -1) else campaign.total_awaiting_calls
    return (
        f"{campaign.name:<30} {campaign.status_name:<9} pending {campaign.total_pending_calls} "
        f"awaiting {awaiting}  code {code}"
    )
