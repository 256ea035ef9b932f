"""The rejects file: the leads an upload did not get accepted, as a CSV to fix and upload
again (its ``_`` columns are ignored on upload)."""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Mapping, Sequence
from typing import TextIO

from voicenter_dialer._models import BulkReport, Call, CallInput, given_target

from ._leads import LeadFile, LineMap
from ._output import UsageError
from ._report import refused_leads

__all__ = ["close_quietly", "open_rejects", "write_rejects"]


def open_rejects(path: str, lead_file: LeadFile, journal: str | None = None) -> TextIO:
    """*path* opened for the rejects, before anything is sent: a path that cannot be
    written, or that names the *journal* (an SQLite file), is refused (:class:`UsageError`)
    while refusing costs nothing."""
    if journal is not None and _same_file(path, journal):  # the CSV would overwrite it
        raise UsageError(f"--rejects: it is the journal ({path}): name another file")
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


def _same_file(path: str, other: str) -> bool:
    """Whether *path* and *other* name one file: the same one if both exist, else the same
    place (one not created yet)."""
    try:
        return os.path.samefile(path, other)
    except OSError:
        return os.path.realpath(path) == os.path.realpath(other)


def write_rejects(
    file: TextIO, report: BulkReport, lines: LineMap, secrets: Sequence[str | None]
) -> int:
    """Write the leads of *report* that were not accepted to *file*, and close it; return
    their count. :class:`OSError` when it cannot be written (a full disk).

    Columns: ``phone``, ``name``, ``priority``, ``caller_id``, the custom data fields, then
    ``_line`` (where the lead starts in the input), ``_status`` (rejected, failed, or unknown
    when the lead may have been added) and ``_reason`` (without the codes in *secrets*).
    """
    refused = [(lead, _fields(lead.call)) for lead in refused_leads(report, lines, secrets)]
    custom_keys: dict[str, None] = {}
    for _, (_, custom) in refused:
        custom_keys.update(dict.fromkeys(custom))
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
    for lead, (fields, custom) in refused:
        writer.writerow(
            {
                **fields,
                **custom,
                "_line": "" if lead.line is None else lead.line,
                "_status": lead.status,
                "_reason": lead.reason,
            }
        )
    file.close()  # a full disk shows here: the last buffer is written on closing
    return len(refused)


def _fields(call: CallInput | None) -> tuple[dict[str, object], dict[str, object]]:
    """The columns of *call* (a :class:`Call`, or a mapping of its fields, as the CLI sends
    leads), and those of its custom data; nothing of a call of neither kind."""
    values: tuple[object, object, object, object]
    if isinstance(call, Call):
        values = (call.customer_name, call.priority, call.caller_id, call.custom_data)
    elif isinstance(call, Mapping):
        get = call.get
        values = (get("customer_name"), get("priority"), get("caller_id"), get("custom_data"))
    else:
        return {}, {}
    name, priority, caller_id, custom = values
    fields: dict[str, object] = {
        "phone": given_target(call),
        "name": "" if name is None else name,
        "priority": "" if priority is None else priority,
        "caller_id": "" if caller_id is None else caller_id,
    }
    custom_fields: dict[str, object] = (
        {str(key): value for key, value in custom.items()} if isinstance(custom, Mapping) else {}
    )
    return fields, custom_fields


def close_quietly(file: TextIO) -> None:
    """Close a rejects file left behind (the upload failed): what it could not write is
    said elsewhere, or moot."""
    with contextlib.suppress(OSError):
        file.close()
