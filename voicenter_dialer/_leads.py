"""Lead files for the CLI: CSV or JSONL, read as a stream, checked first, turned into Calls.

The whole input is checked (:func:`open_leads`) before anything is sent, so a bad file is
refused with its line number, and its leads are counted (for progress and the journal); then
:class:`LeadStream` yields one :class:`Call` per lead. Nothing is ever held whole.

An input that cannot be read twice (standard input ``-``, a pipe, ``/dev/stdin``) is read
once: copied to an anonymous temporary file while it is checked, and the leads are read from
that copy. The trade-off: disk space the size of the input, and the upload starts once the
input has ended, in exchange for every file error being refused before anything is sent and
a known total. A regular file is read twice, in place; if it changes in between or during the
upload, the upload stops with a :class:`LeadFileError` instead of sending what it now holds.

Per-lead problems (a bad number, a non-integer priority) are not file errors: they reach the
bulk report as failed leads.
"""

from __future__ import annotations

import bisect
import codecs
import contextlib
import csv
import json
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, Literal

import attrs

from ._exceptions import LeadFileError
from ._models import BulkReport, Call

__all__ = [
    "STDIN",
    "LeadFile",
    "LeadStream",
    "LineMap",
    "open_leads",
    "phone_normaliser",
    "write_rejects",
]

Format = Literal["csv", "jsonl"]

#: The name that reads the lead file from standard input.
STDIN = "-"

# Columns (or JSON keys) that name the same field: a file may hold one of each group.
_PHONE_COLUMNS = ("phone", "target")
_NAME_COLUMNS = ("name", "customer_name")
# Separators people type in numbers; the vendor wants digits.
_SEPARATORS = re.compile(r"[\s\-().]")
# A number a spreadsheet stored as a float: "972501234567.0".
_FLOAT_ARTEFACT = re.compile(r"\s*(\+?\d+)\.0+\s*")
# How often (in leads) the read pass checks that a regular file is still the one checked.
_CHANGE_CHECK_EVERY = 1000


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
        """Record that the next lead starts on *line*."""
        if not self._shifts or line != self._count + self._shifts[-1]:
            self._indexes.append(self._count)
            self._shifts.append(line - self._count)
        self._count += 1

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> int:
        return index + self._shifts[bisect.bisect_right(self._indexes, index) - 1]


# A regular file's identity and state: if any of it changes, the file was rewritten.
_Stamp = tuple[int, int, int, int]


def _stamp(file: IO[bytes]) -> _Stamp:
    info = os.fstat(file.fileno())
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


@attrs.frozen
class LeadFile:
    """A checked lead file, ready to be read again (:meth:`open`)."""

    #: How messages name it: the path, or ``<stdin>``.
    name: str
    format: Format
    rows: int
    #: CSV header as written (empty for JSONL).
    header: tuple[str, ...]
    #: Opens the input again, at its start, for the read pass.
    reopen: Callable[[], IO[bytes]] = attrs.field(repr=False)
    #: The regular file's state when it was checked (None for a copy of a pipe).
    stamp: _Stamp | None = None

    def changed(self, line: int | str) -> LeadFileError:
        """The error of an input that is no longer what was checked."""
        return LeadFileError(
            f"{self.name}:{line}: the file changed after it was checked; the upload stopped "
            "there (the leads before it may have been sent). Upload a file that nothing "
            "writes to while it is uploaded: a copy, or standard input ('-')"
        )

    def check_unchanged(self, file: IO[bytes], line: int | str) -> None:
        if self.stamp is not None and _stamp(file) != self.stamp:
            raise self.changed(line)


def _format(name: str, format: Format | None) -> Format:
    if format is not None:
        return format
    return "jsonl" if Path(name).suffix.lower() in {".jsonl", ".ndjson", ".json"} else "csv"


def _open_path(path: str) -> IO[bytes]:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise LeadFileError(f"{path}: cannot open: {exc.strerror}") from None


def _tee(source: IO[bytes], copy: IO[bytes]) -> Iterator[bytes]:
    """The lines of *source*, each written to *copy* as it is read."""
    for line in source:
        copy.write(line)
        yield line


@contextlib.contextmanager
def open_leads(source: str, format: Format | None = None) -> Iterator[LeadFile]:
    """Check the lead file *source* (a path, or ``-`` for standard input) whole.

    Raises :class:`LeadFileError` on the first problem, naming the line. A pipe is copied
    to a temporary file while it is checked; the copy is removed on leaving the block.
    """
    name = "<stdin>" if source == STDIN else source
    fmt = _format("" if source == STDIN else source, format)
    with contextlib.ExitStack() as stack:
        file = sys.stdin.buffer if source == STDIN else stack.enter_context(_open_path(source))
        if source != STDIN and stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            stamp = _stamp(file)
            header, rows = _scan(name, fmt, file)
            lead_file = LeadFile(name, fmt, rows, header, lambda: _open_path(source), stamp)
            lead_file.check_unchanged(file, "end")
        else:  # read once: a copy is read again
            copy = stack.enter_context(tempfile.TemporaryFile(prefix="voicenter-leads-"))
            header, rows = _scan(name, fmt, _tee(file, copy))
            copy.flush()

            def reopen() -> IO[bytes]:
                again = os.fdopen(os.dup(copy.fileno()), "rb")
                again.seek(0)
                return again

            lead_file = LeadFile(name, fmt, rows, header, reopen)
        yield lead_file


def _text(lines: Iterable[bytes], name: str) -> Iterator[str]:
    """Decode *lines* as UTF-8 one at a time, so that an undecodable byte names its line."""
    for number, line in enumerate(lines, start=1):
        if number == 1 and line.startswith(codecs.BOM_UTF8):
            line = line[len(codecs.BOM_UTF8) :]  # Excel's UTF-8 mark
        try:
            yield line.decode()
        except UnicodeDecodeError as exc:
            byte = line[exc.start : exc.start + 1]
            raise LeadFileError(
                f"{name}:{number}: not UTF-8 text (byte {byte!r} at column {exc.start + 1}); "
                "save the file as UTF-8 (in Excel: 'CSV UTF-8')"
            ) from None


def _scan(name: str, format: Format, lines: Iterable[bytes]) -> tuple[tuple[str, ...], int]:
    text = _text(lines, name)
    header, rows = _scan_csv(name, text) if format == "csv" else ((), _scan_jsonl(name, text))
    if rows == 0:
        what = "a header but no rows" if format == "csv" else "no JSON object"
        raise LeadFileError(f"{name}: no leads: the file holds {what}")
    return header, rows


@attrs.frozen
class _Columns:
    """What a header's columns are; :func:`_columns` refuses headers that cannot be read."""

    phone: str
    #: Positions of columns without a name (must stay empty).
    unnamed: tuple[int, ...]


def _columns(name: str, where: str, keys: Iterable[str], what: str = "column") -> _Columns:
    seen: dict[str, str] = {}
    unnamed: list[int] = []
    for position, key in enumerate(keys):
        lowered = key.strip().lower()
        if not lowered:
            unnamed.append(position)
            continue
        if lowered in seen:
            raise LeadFileError(
                f"{name}:{where}: {seen[lowered]!r} and {key!r} name the same {what} "
                "(names are compared ignoring case and spaces): keep one"
            )
        seen[lowered] = key
    for group in (_PHONE_COLUMNS, _NAME_COLUMNS):
        present = [seen[column] for column in group if column in seen]
        if len(present) > 1:
            raise LeadFileError(
                f"{name}:{where}: both {present[0]!r} and {present[1]!r}: they are the same "
                "field, keep one"
            )
    phone = next((seen[column] for column in _PHONE_COLUMNS if column in seen), None)
    if phone is None:
        found = ", ".join(repr(key) for key in seen.values())
        raise LeadFileError(
            f"{name}:{where}: no phone {what}: expected a 'phone' or 'target' {what} "
            f"(found: {found or 'nothing'})"
        )
    return _Columns(phone, tuple(unnamed))


def _scan_csv(name: str, text: Iterator[str]) -> tuple[tuple[str, ...], int]:
    reader = csv.reader(text, strict=True)
    first = 1  # the line the record being read starts on
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise LeadFileError(f"{name}: the file is empty: expected a header row")
        columns = _columns(name, "1", header)
        rows = 0
        first = reader.line_num + 1
        for row in reader:
            if row:
                if len(row) != len(header):
                    raise LeadFileError(
                        f"{name}:{first}: malformed row: {len(row)} fields where the header "
                        f"has {len(header)}"
                    )
                for position in columns.unnamed:
                    if row[position].strip():
                        raise LeadFileError(
                            f"{name}:{first}: column {position + 1} has no name in the header "
                            "but holds a value: name it, or remove it"
                        )
                rows += 1
            first = reader.line_num + 1
    except csv.Error as exc:
        raise LeadFileError(f"{name}:{first}: malformed CSV: {exc}") from None
    return tuple(header), rows


def _lead_object(name: str, number: int, line: str) -> tuple[dict[str, Any], str]:
    """A JSONL line's lead and its phone key; :class:`LeadFileError` if it is not one."""
    try:
        lead = json.loads(line)
    except ValueError as exc:
        raise LeadFileError(f"{name}:{number}: malformed JSON: {exc}") from None
    if not isinstance(lead, dict):
        raise LeadFileError(f"{name}:{number}: expected a JSON object per line")
    return lead, _columns(name, str(number), lead, "key").phone


def _scan_jsonl(name: str, text: Iterator[str]) -> int:
    rows = 0
    for number, line in enumerate(text, start=1):
        if line.strip():
            _lead_object(name, number, line)
            rows += 1
    return rows


def phone_normaliser(region: str | None) -> Callable[[str], str]:
    """Turn typed numbers into the vendor's form.

    Separators (spaces, dashes, dots, parentheses) are dropped, and a trailing ``.0`` on a
    number (a spreadsheet's float: ``972501234567.0``) too. With the ``phone`` extra
    (phonenumbers) and a *region* (ISO 3166 alpha-2, any case), national numbers become
    international digits (``050-123-4567`` in IL -> ``972501234567``); what it cannot parse
    is left for the client's validation to report. Raises :class:`ValueError` for a region
    phonenumbers does not know, and :class:`ImportError` for a region without phonenumbers.
    """

    def plain(raw: str) -> str:
        artefact = _FLOAT_ARTEFACT.fullmatch(raw)
        return artefact[1] if artefact else _SEPARATORS.sub("", raw)

    if not region:
        return plain
    import phonenumbers

    region = region.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"unknown region {region!r}: expected a two-letter ISO 3166 country code, "
            "such as IL, US or GB"
        )
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    trunk_prefix = metadata.national_prefix if metadata is not None else None
    country_code = str(phonenumbers.country_code_for_region(region))

    def international(raw: str) -> str:
        digits = plain(raw)
        # Fast paths, since parsing costs ~10 µs a lead: an explicit "+", or the region's
        # country code where national numbers start with a trunk prefix (IL: "0") instead.
        if digits.startswith("+"):
            return digits[1:]
        if trunk_prefix and digits.startswith(country_code) and not digits.startswith(trunk_prefix):
            return digits
        try:
            number = phonenumbers.parse(digits, region)
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


def _number(value: object, normalise: Callable[[str], str]) -> object:
    """A number as text, normalised; JSON numbers (``972501234567``, ``…567.0``) too."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return normalise(value) if isinstance(value, str) else value  # validation reports others


def _call(fields: Mapping[str, Any], phone_key: str, normalise: Callable[[str], str]) -> Call:
    custom: dict[str, Any] = {}
    name = priority = caller_id = None
    for key, value in fields.items():
        lowered = key.strip().lower()
        if key == phone_key or not lowered or lowered.startswith("_") or value in (None, ""):
            continue
        if lowered in _NAME_COLUMNS:
            name = value
        elif lowered == "priority":
            priority = _integer_or_raw(value) if isinstance(value, str) else value
        elif lowered == "caller_id":
            caller_id = _number(value, normalise)
        elif lowered == "custom_data" and isinstance(value, Mapping):
            custom.update(value)
        else:
            custom[key] = value
    # Values of the wrong type are passed on as they are: validation reports them per lead.
    return Call(
        _number(fields.get(phone_key), normalise),  # type: ignore[arg-type]
        customer_name=name,
        priority=priority,  # type: ignore[arg-type]
        caller_id=caller_id,  # type: ignore[arg-type]
        custom_data=custom,
    )


@attrs.frozen
class LeadStream:
    """A checked lead file as an iterable of Calls with a length (for progress and journals).

    Iterating reads the file again, recording in :attr:`lines` the line each lead starts on.
    """

    lead_file: LeadFile
    normalise: Callable[[str], str]
    lines: LineMap = attrs.field(factory=LineMap)

    def __len__(self) -> int:
        return self.lead_file.rows

    def __iter__(self) -> Iterator[Call]:
        with self.lead_file.reopen() as file:
            self.lead_file.check_unchanged(file, 1)
            if self.lead_file.format == "csv":
                yield from self._csv(file)
            else:
                yield from self._jsonl(file)
            self.lead_file.check_unchanged(file, "end")

    def _csv(self, file: IO[bytes]) -> Iterator[Call]:
        lead_file, lines, normalise = self.lead_file, self.lines, self.normalise
        reader = csv.reader(_text(file, lead_file.name), strict=True)
        first = 1
        try:
            header = next(reader, None)
            if header is None or tuple(header) != lead_file.header:
                raise lead_file.changed(1)
            phone_key = _columns(lead_file.name, "1", header).phone
            first = reader.line_num + 1
            for row in reader:
                if row:
                    if len(row) != len(header) or len(lines) == lead_file.rows:
                        raise lead_file.changed(first)
                    if len(lines) % _CHANGE_CHECK_EVERY == 0:
                        lead_file.check_unchanged(file, first)
                    lines.append(first)
                    yield _call(dict(zip(header, row, strict=True)), phone_key, normalise)
                first = reader.line_num + 1
        except csv.Error:
            raise lead_file.changed(first) from None
        if len(lines) != lead_file.rows:
            raise lead_file.changed("end")

    def _jsonl(self, file: IO[bytes]) -> Iterator[Call]:
        lead_file, lines, normalise = self.lead_file, self.lines, self.normalise
        for number, line in enumerate(_text(file, lead_file.name), start=1):
            if line.strip():
                try:
                    lead, phone_key = _lead_object(lead_file.name, number, line)
                except LeadFileError:
                    raise lead_file.changed(number) from None
                if len(lines) == lead_file.rows:
                    raise lead_file.changed(number)
                if len(lines) % _CHANGE_CHECK_EVERY == 0:
                    lead_file.check_unchanged(file, number)
                lines.append(number)
                yield _call(lead, phone_key, normalise)
        if len(lines) != lead_file.rows:
            raise lead_file.changed("end")


def write_rejects(path: Path, report: BulkReport, lines: LineMap) -> int:
    """Write rejected and failed leads as a CSV ready to fix and re-upload; return the count.

    Columns: ``phone``, ``name``, ``priority``, ``caller_id``, the custom data fields, then
    ``_line`` (where the lead starts in the input), ``_status`` (rejected, failed, or unknown
    when the lead may have been added) and ``_reason``. Columns starting with ``_`` are
    ignored on upload.
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
