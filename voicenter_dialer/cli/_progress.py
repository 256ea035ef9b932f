"""Progress of an upload on stderr: occasional lines, or a bar on a terminal (rich)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

import attrs

from voicenter_dialer._client import AsyncDialer
from voicenter_dialer._concurrency import AUTO, Concurrency
from voicenter_dialer._models import BulkReport, CallInput
from voicenter_dialer._resume import JournalSpec
from voicenter_dialer._session import BulkProgress

from ._output import LIBRARY_LOGGER, write_stderr

__all__ = ["Upload", "upload_with_progress"]


class _RetryCounter(logging.Handler):
    """Counts the library's retries (its retry log records) for the progress line."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.retries = 0

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "voicenter_dialer_retry"):
            self.retries += 1

    def __enter__(self) -> _RetryCounter:
        self._level = LIBRARY_LOGGER.level
        LIBRARY_LOGGER.addHandler(self)
        if not LIBRARY_LOGGER.isEnabledFor(logging.INFO):
            LIBRARY_LOGGER.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        LIBRARY_LOGGER.removeHandler(self)
        LIBRARY_LOGGER.setLevel(self._level)

    def note(self) -> str:
        return f", {self.retries:,} retried" if self.retries else ""


def _limit_note(progress: BulkProgress, auto: bool) -> str:
    """Where ``--concurrency auto`` stands now (nothing to say of a fixed one)."""
    return f"; concurrency {progress.concurrency} (auto)" if auto and progress.concurrency else ""


class _PlainProgress:
    """Progress as occasional lines, for logs and pipes (dropped if stderr fails: 2>/dev/full)."""

    def __init__(self, total: int | None, auto: bool) -> None:
        self._total = total
        self._auto = auto
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
            write_stderr(
                f"  {progress.done:,}{total} leads: {progress.accepted:,} accepted, "
                f"{progress.rejected:,} rejected, {progress.failed:,} failed"
                f"{self.retries.note()}{_limit_note(progress, self._auto)}"
            )
            self._next = share + 0.1


class _RichProgress:
    """A progress bar, on a terminal with rich installed (the ``cli`` extra)."""

    def __init__(self, total: int | None, out: TextIO, auto: bool) -> None:
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
        self._auto = auto
        self.retries = _RetryCounter()

    def __enter__(self) -> _RichProgress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(None, None, None)

    def update(self, progress: BulkProgress) -> None:
        detail = f"{progress.rejected:,} rejected, {progress.failed:,} failed"
        detail += self.retries.note() + _limit_note(progress, self._auto)
        self._bar.update(self._task, completed=progress.done, detail=detail)


class _NoProgress:
    """No progress (``-q``); retries are still counted, not logged."""

    def __init__(self) -> None:
        self.retries = _RetryCounter()

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, progress: BulkProgress) -> None:
        return None


def _progress(
    total: int | None, show: bool, auto: bool
) -> _PlainProgress | _RichProgress | _NoProgress:
    out = sys.stderr
    if not show or out is None:  # None: stderr closed (2>&-), nobody to show it to
        return _NoProgress()
    if out.isatty():
        try:
            return _RichProgress(total, out, auto)
        except ImportError:
            pass
    return _PlainProgress(total, auto)


@attrs.frozen
class Upload:
    report: BulkReport
    seconds: float
    #: ``--concurrency auto``: the report's ``concurrency`` is where it settled.
    auto: bool = False


async def upload_with_progress(
    dialer: AsyncDialer,
    campaign: str,
    calls: Iterable[CallInput],
    *,
    total: int | None,
    chunk_size: int,
    concurrency: Concurrency,
    journal: JournalSpec | None = None,
    reconcile: bool = False,
    max_chunk_bytes: int | None = None,
    show: bool = True,
    idempotency_key: Callable[[Any], str | None] | None = None,
) -> Upload:
    """Upload *calls* with progress on stderr (none unless *show*)."""
    sys.stdout.flush()  # what was printed so far comes before the progress lines
    started = time.perf_counter()
    auto = concurrency == AUTO
    with _progress(total, show, auto) as progress, progress.retries:
        report = await dialer.add_calls_bulk(
            campaign,
            calls,
            chunk_size=chunk_size,
            concurrency=concurrency,
            on_progress=progress.update,
            journal=journal,
            reconcile=reconcile,
            max_chunk_bytes=max_chunk_bytes,
            idempotency_key=idempotency_key,
        )
    return Upload(report, time.perf_counter() - started, auto)
