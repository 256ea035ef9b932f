"""Lead files for the CLI: CSV or JSONL, read as a stream, checked first, turned into Calls.

A file is read twice, never held whole: :func:`scan` checks every row (so a bad file is
refused with its line number before anything is sent) and counts them; :func:`read_calls`
then yields one :class:`Call` per row. Per-lead problems (a bad number, a non-integer
priority) are not file errors: they reach the bulk report as failed leads.
"""

from __future__ import annotations

import bisect
import csv
import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, Literal

import attrs

from ._exceptions import LeadFileError
from ._models import BulkReport, Call

__all__ = [
    "LeadFile",
    "LeadStream",
    "LineMap",
    "phone_normaliser",
    "read_calls",
    "scan",
    "write_rejects",
]

Format = Literal["csv", "jsonl"]

_PHONE_COLUMNS = ("phone", "target")
_NAME_COLUMNS = ("name", "customer_name")
# Separators people type in numbers; the vendor wants digits.
_SEPARATORS = re.compile(r"[\s\-().]")


class LineMap:
    """Input index -> line number in the file, in constant memory for ordinary files.

    Lead *i* is on line ``i + 2`` of a CSV (after the header) unless blank lines or
    multi-line quoted fields came before it; only those shifts are stored.
    """

    def __init__(self) -> None:
        self._indexes: list[int] = []
        self._shifts: list[int] = []
        self._count = 0

    def append(self, line: int) -> None:
        """Record that the next lead is on *line*."""
        if not self._shifts or line != self._count + self._shifts[-1]:
            self._indexes.append(self._count)
            self._shifts.append(line - self._count)
        self._count += 1

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> int:
        return index + self._shifts[bisect.bisect_right(self._indexes, index) - 1]


@attrs.frozen
class LeadFile:
    path: Path
    format: Format
    rows: int
    #: CSV header as written (empty for JSONL).
    header: tuple[str, ...] = ()


def _open(path: Path) -> IO[str]:
    try:
        return path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise LeadFileError(f"{path}: cannot open: {exc.strerror}") from exc


def _format(path: Path, format: Format | None) -> Format:
    if format is not None:
        return format
    return "jsonl" if path.suffix.lower() in {".jsonl", ".ndjson", ".json"} else "csv"


def _phone_key(keys: Mapping[str, object] | tuple[str, ...]) -> str | None:
    lowered = {key.strip().lower(): key for key in keys}
    for name in _PHONE_COLUMNS:
        if name in lowered:
            return lowered[name]
    return None


def scan(path: Path, format: Format | None = None) -> LeadFile:
    """Check the whole file and count its leads; :class:`LeadFileError` on the first problem."""
    format = _format(path, format)
    with _open(path) as file:
        try:
            return _scan_csv(path, file) if format == "csv" else _scan_jsonl(path, file)
        except UnicodeDecodeError as exc:
            raise LeadFileError(
                f"{path}: not UTF-8 text (byte {exc.start} of a read block cannot be decoded); "
                "save the file as UTF-8"
            ) from None


def _scan_csv(path: Path, file: IO[str]) -> LeadFile:
    reader = csv.reader(file, strict=True)
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise LeadFileError(f"{path}: the file is empty: expected a header row")
        if _phone_key(tuple(header)) is None:
            raise LeadFileError(
                f"{path}:1: no phone column: the header needs a 'phone' or 'target' column "
                f"(found: {', '.join(header)})"
            )
        rows = 0
        for row in reader:
            if not row:
                continue  # blank line
            if len(row) != len(header):
                raise LeadFileError(
                    f"{path}:{reader.line_num}: malformed row: {len(row)} fields where the "
                    f"header has {len(header)}"
                )
            rows += 1
    except csv.Error as exc:
        raise LeadFileError(f"{path}:{reader.line_num}: malformed CSV: {exc}") from None
    return LeadFile(path, "csv", rows, tuple(header))


def _scan_jsonl(path: Path, file: IO[str]) -> LeadFile:
    rows = 0
    for number, line in enumerate(file, start=1):
        if not line.strip():
            continue
        try:
            lead = json.loads(line)
        except ValueError as exc:
            raise LeadFileError(f"{path}:{number}: malformed JSON: {exc}") from None
        if not isinstance(lead, dict):
            raise LeadFileError(f"{path}:{number}: expected a JSON object per line")
        if _phone_key(lead) is None:
            raise LeadFileError(f"{path}:{number}: no 'phone' or 'target' key")
        rows += 1
    if rows == 0:
        raise LeadFileError(f"{path}: the file is empty: expected one JSON object per line")
    return LeadFile(path, "jsonl", rows)


def phone_normaliser(region: str | None) -> Callable[[str], str]:
    """Turn typed numbers into the vendor's form.

    Separators (spaces, dashes, dots, parentheses) are dropped. With the ``phone`` extra
    (phonenumbers) and a *region*, national numbers become international digits
    (``050-123-4567`` in IL -> ``972501234567``); what it cannot parse is left for the
    client's validation to report.
    """

    def plain(raw: str) -> str:
        return _SEPARATORS.sub("", raw)

    if not region:
        return plain
    try:
        import phonenumbers
    except ImportError:
        return plain

    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region.upper())
    trunk_prefix = metadata.national_prefix if metadata is not None else None
    country_code = str(phonenumbers.country_code_for_region(region.upper()))

    def international(raw: str) -> str:
        digits = plain(raw)
        # Fast paths, since parsing costs ~10 µs a lead: an explicit "+", or the region's
        # country code where national numbers start with a trunk prefix (IL: "0") instead.
        if digits.startswith("+"):
            return digits[1:]
        if trunk_prefix and digits.startswith(country_code) and not digits.startswith(trunk_prefix):
            return digits
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            return digits
        if not phonenumbers.is_possible_number(number):
            return digits
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]

    return international


def _integer_or_raw(value: str) -> int | str:
    try:
        return int(value)
    except ValueError:
        return value  # the client reports it as an invalid priority


def _call(fields: Mapping[str, Any], phone_key: str, normalise: Callable[[str], str]) -> Call:
    custom: dict[str, Any] = {}
    name = priority = caller_id = None
    for key, value in fields.items():
        lowered = key.strip().lower()
        if key == phone_key or lowered.startswith("_") or value is None or value == "":
            continue
        if lowered in _NAME_COLUMNS:
            name = value
        elif lowered == "priority":
            priority = _integer_or_raw(value) if isinstance(value, str) else value
        elif lowered == "caller_id":
            caller_id = normalise(value) if isinstance(value, str) else value
        elif lowered == "custom_data" and isinstance(value, Mapping):
            custom.update(value)
        else:
            custom[key] = value
    raw = fields.get(phone_key)
    target = normalise(raw) if isinstance(raw, str) else raw
    # Values of the wrong type are passed on as they are: validation reports them per lead.
    return Call(
        target,  # type: ignore[arg-type]
        customer_name=name,
        priority=priority,  # type: ignore[arg-type]
        caller_id=caller_id,
        custom_data=custom,
    )


@attrs.frozen
class LeadStream:
    """A checked lead file as an iterable of Calls with a length (for progress and journals)."""

    lead_file: LeadFile
    normalise: Callable[[str], str]
    lines: LineMap

    def __len__(self) -> int:
        return self.lead_file.rows

    def __iter__(self) -> Iterator[Call]:
        return read_calls(self.lead_file, self.normalise, self.lines)


def read_calls(
    lead_file: LeadFile, normalise: Callable[[str], str], lines: LineMap
) -> Iterator[Call]:
    """Yield the file's leads as Calls, recording each one's line number in *lines*."""
    with _open(lead_file.path) as file:
        if lead_file.format == "csv":
            reader = csv.reader(file, strict=True)
            header = next(reader)
            phone_key = _phone_key(tuple(header))
            assert phone_key is not None  # scan() checked it
            for row in reader:
                if row:
                    lines.append(reader.line_num)
                    yield _call(dict(zip(header, row, strict=True)), phone_key, normalise)
        else:
            for number, line in enumerate(file, start=1):
                if line.strip():
                    lead = json.loads(line)
                    phone_key = _phone_key(lead)
                    assert phone_key is not None
                    lines.append(number)
                    yield _call(lead, phone_key, normalise)


def write_rejects(path: Path, report: BulkReport, lines: LineMap) -> int:
    """Write rejected and failed leads as a CSV ready to fix and re-upload; return the count.

    Columns: ``phone``, ``name``, ``priority``, ``caller_id``, the custom data fields, then
    ``_line`` (in the input), ``_status`` (rejected, failed, or unknown when the lead may have
    been added) and ``_reason``. Columns starting with ``_`` are ignored on upload.
    """
    entries = [
        (
            entry.index,
            entry.call,
            "rejected",
            entry.result.description or str(entry.result.error_code),
        )
        for entry in report.rejected
    ] + [
        (
            entry.index,
            entry.call,
            "unknown" if entry.error.outcome_unknown else "failed",
            entry.error.message,
        )
        for entry in report.failed
    ]
    entries.sort(key=lambda entry: entry[0])
    custom_keys: dict[str, None] = {}
    for _, call, _, _ in entries:
        if isinstance(call, Call) and isinstance(call.custom_data, Mapping):
            custom_keys.update(dict.fromkeys(str(key) for key in call.custom_data))
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
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, columns)
        writer.writeheader()
        for index, call, status, reason in entries:
            row: dict[str, object] = {
                "_line": lines[index] if index < len(lines) else "",
                "_status": status,
                "_reason": reason,
            }
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
    return len(entries)
