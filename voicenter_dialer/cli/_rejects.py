"""The rejects file: the leads an upload did not get accepted, as a CSV to fix and upload
again (its ``_`` columns are ignored on upload)."""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Mapping, Sequence
from typing import TextIO

from voicenter_dialer._models import BulkReport, Call

from ._leads import LeadFile, LineMap
from ._output import UsageError
from ._report import refused_leads

__all__ = ["close_quietly", "open_rejects", "write_rejects"]


def open_rejects(path: str, lead_file: LeadFile) -> TextIO:
    """*path* opened for the rejects, before anything is sent: a path that cannot be
    written is refused (:class:`UsageError`) while refusing costs nothing."""
    if lead_file.stamp is not None:  # opening would empty the lead file about to be read
        try:
            info = os.stat(path)
        except OSError:
            pass
        else:
            if (info.st_dev, info.st_ino) == lead_file.stamp[:2]:
                raise UsageError(f"--rejects: it is the lead file ({path}): name another file")
    try:
        # backslashreplace: a reason the encoding cannot hold must not lose the file.
        return open(path, "w", encoding="utf-8", errors="backslashreplace", newline="")
    except OSError as exc:
        raise UsageError(f"--rejects {path}: cannot write: {exc.strerror}") from None


def write_rejects(
    file: TextIO, report: BulkReport, lines: LineMap, secrets: Sequence[str | None]
) -> int:
    """Write the leads of *report* that were not accepted to *file*, and close it; return
    their count. :class:`OSError` when it cannot be written (a full disk).

    Columns: ``phone``, ``name``, ``priority``, ``caller_id``, the custom data fields, then
    ``_line`` (where the lead starts in the input), ``_status`` (rejected, failed, or unknown
    when the lead may have been added) and ``_reason`` (without the codes in *secrets*).
    """
    refused = list(refused_leads(report, lines, secrets))
    custom_keys: dict[str, None] = {}
    for lead in refused:
        if isinstance(lead.call, Call) and isinstance(lead.call.custom_data, Mapping):
            custom_keys.update(dict.fromkeys(str(key) for key in lead.call.custom_data))
    columns = [
        "phone",
        "name",
        "priority",
        "caller_id",
        *custom_keys,
        "_line",
        "_status",
        "_reason",
    ]
    writer = csv.DictWriter(file, columns)
    writer.writeheader()
    for lead in refused:
        row: dict[str, object] = {
            "_line": "" if lead.line is None else lead.line,
            "_status": lead.status,
            "_reason": lead.reason,
        }
        call = lead.call
        if isinstance(call, Call):
            row.update(
                phone=call.target,
                name=call.customer_name or "",
                priority="" if call.priority is None else call.priority,
                caller_id=call.caller_id or "",
            )
            if isinstance(call.custom_data, Mapping):
                row.update({str(k): v for k, v in call.custom_data.items()})
        writer.writerow(row)
    file.close()  # a full disk shows here: the last buffer is written on closing
    return len(refused)


def close_quietly(file: TextIO) -> None:
    """Close a rejects file left behind (the upload failed): what it could not write is
    said elsewhere, or moot."""
    with contextlib.suppress(OSError):
        file.close()
