"""Lead files: CSV or JSONL, read as a stream, checked first, turned into calls.

The whole input is checked (:func:`open_leads`) before anything is sent, so a bad file is
refused with its line number, and its leads are counted (for progress and the journal); then
:class:`LeadStream` yields one call per lead, as a plain mapping of its fields. Both passes
walk the file with the one record reader (:class:`_Records`), so they agree on what a lead
is. Nothing is ever held whole, not even a line: one longer than :data:`MAX_LINE_BYTES` is
refused as it is read.

An input that cannot be read twice (standard input ``-``, a pipe, ``/dev/stdin``) is read
once: copied to an anonymous temporary file while it is checked, and the leads are read from
that copy. The trade-off: disk space the size of the input, and the upload starts once the
input has ended, in exchange for every file error being refused before anything is sent and
a known total. A regular file is read twice, in place; if it changes in between or during the
upload, the upload stops with a :class:`LeadFileError` instead of sending what it now holds.

A CSV's columns are separated by commas, semicolons or tabs (whichever its header holds
most of outside quotes), or by the delimiter given.

Per-lead problems (a bad number, a non-integer priority) are not file errors: they reach the
bulk report as failed leads.
"""

from __future__ import annotations

import bisect
import codecs
import contextlib
import csv
import itertools
import json
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal

import attrs

from voicenter_dialer._exceptions import LeadFileError

from ._calls import NAME_COLUMNS, PHONE_COLUMNS, lead_fields

__all__ = [
    "DELIMITERS",
    "MAX_LINE_BYTES",
    "STDIN",
    "KeyedLead",
    "LeadFile",
    "LeadStream",
    "LineMap",
    "delimiter_name",
    "open_leads",
]

Format = Literal["csv", "jsonl"]

#: The name that reads the lead file from standard input.
STDIN = "-"

#: The longest line a lead file may hold, in bytes: a lead is a few hundred; a longer line
#: is not a lead file (and reading it whole could take the machine's memory).
MAX_LINE_BYTES = 1 << 20

#: The delimiters a CSV's header is searched for, the first preferred on a tie: commas,
#: and what spreadsheets write where the comma is the decimal mark (semicolons) or on
#: "text (tab-delimited)" (tabs). Others are given with ``--delimiter``.
DELIMITERS = {",": "commas", ";": "semicolons", "\t": "tabs"}

# A JSON escape of a surrogate: only a line holding one can decode to a lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
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

    def get(self, index: int) -> int | None:
        """The line lead *index* starts on; None for a lead never read (the demo's)."""
        return self[index] if index < self._count else None


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
    #: The CSV's delimiter, given or found from its header (None for JSONL).
    delimiter: str | None = None

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


def _lines(file: IO[bytes], name: str) -> Iterator[bytes]:
    """The lines of *file*, each read only up to :data:`MAX_LINE_BYTES` (a longer one is
    refused there, never held whole)."""
    limit = MAX_LINE_BYTES
    number = 0
    while line := file.readline(limit + 1):
        number += 1
        if len(line) > limit:
            raise LeadFileError(
                f"{name}:{number}: a line longer than {limit:,} bytes: not a lead file"
            )
        yield line


def _tee(lines: Iterable[bytes], copy: IO[bytes]) -> Iterator[bytes]:
    """*lines*, each written to *copy* as it is read."""
    for line in lines:
        copy.write(line)
        yield line


def delimiter_name(delimiter: str) -> str:
    """How a message names *delimiter*: ``semicolons``, or the character quoted."""
    return DELIMITERS.get(delimiter) or repr(delimiter)


def _found_delimiter(header: str) -> str:
    """The delimiter of a CSV whose first line is *header*: of :data:`DELIMITERS`, the one
    occurring most often outside quoted fields (a quoted column name may hold the others)."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for character in header:
        if character == '"':
            quoted = not quoted  # a doubled quote inside quotes toggles twice: no change
        elif not quoted and character in counts:
            counts[character] += 1
    return max(counts, key=lambda delimiter: counts[delimiter])  # the first on a tie


@attrs.frozen
class _Checked:
    header: tuple[str, ...]
    rows: int
    delimiter: str | None


@contextlib.contextmanager
def open_leads(
    source: str, format: Format | None = None, delimiter: str | None = None
) -> Iterator[LeadFile]:
    """Check the lead file *source* (a path, or ``-`` for standard input) whole.

    A CSV's *delimiter*, when not given, is found from its header. Raises
    :class:`LeadFileError` on the first problem, naming the line. A pipe is copied to a
    temporary file while it is checked; the copy is removed on leaving the block.
    """
    name = "<stdin>" if source == STDIN else source
    fmt = _format("" if source == STDIN else source, format)
    if delimiter is not None and fmt != "csv":
        raise LeadFileError(f"{name}: --delimiter is for CSV files; this one is read as JSONL")
    with contextlib.ExitStack() as stack:
        file = sys.stdin.buffer if source == STDIN else stack.enter_context(_open_path(source))
        if source != STDIN and stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            stamp = _stamp(file)
            checked = _check(name, fmt, _lines(file, name), delimiter)
            lead_file = LeadFile(
                name,
                fmt,
                checked.rows,
                checked.header,
                lambda: _open_path(source),
                stamp,
                checked.delimiter,
            )
            lead_file.check_unchanged(file, "end")
        else:  # read once: a copy is read again
            copy = stack.enter_context(tempfile.TemporaryFile(prefix="voicenter-leads-"))
            checked = _check(name, fmt, _tee(_lines(file, name), copy), delimiter)
            copy.flush()

            def reopen() -> IO[bytes]:
                again = os.fdopen(os.dup(copy.fileno()), "rb")
                again.seek(0)
                return again

            lead_file = LeadFile(
                name, fmt, checked.rows, checked.header, reopen, delimiter=checked.delimiter
            )
        yield lead_file


def _check(name: str, format: Format, lines: Iterable[bytes], delimiter: str | None) -> _Checked:
    """The check pass: the header, the number of leads and the delimiter, or the first file
    error."""
    records = _Records(name, format, lines, delimiter, fields=False)
    rows = sum(1 for _ in records)
    if rows == 0:
        what = "a header but no rows" if format == "csv" else "no JSON object"
        raise LeadFileError(f"{name}: no leads: the file holds {what}")
    return _Checked(records.header, rows, records.delimiter)


def _text(lines: Iterable[bytes], name: str) -> Iterator[str]:
    """Decode *lines* as UTF-8 one at a time, so that an undecodable byte names its line."""
    for number, line in enumerate(lines, start=1):
        if number == 1 and line.startswith(codecs.BOM_UTF8):
            line = line[len(codecs.BOM_UTF8) :]  # Excel's UTF-8 mark
        nul = line.find(b"\0")
        if nul >= 0:  # valid UTF-8, but not text: UTF-16 without its mark, or binary
            raise LeadFileError(
                f"{name}:{number}: a NUL byte at column {nul + 1}: not a text file "
                "(UTF-16? save it as UTF-8)"
            )
        try:
            yield line.decode()
        except UnicodeDecodeError as exc:
            byte = line[exc.start : exc.start + 1]
            raise LeadFileError(
                f"{name}:{number}: not UTF-8 text (byte {byte!r} at column {exc.start + 1}); "
                "save the file as UTF-8 (in Excel: 'CSV UTF-8')"
            ) from None


#: A lead as read: the line it starts on, its fields, and the key of its phone field.
Record = tuple[int, dict[str, Any], str]


class _Records:
    """The leads of a lead file, in order, as :data:`Record`; a :class:`LeadFileError` at
    the first that cannot be read. The check pass and the read pass both walk this.

    A CSV's *delimiter* is found from its header when not given. Not *fields*: a CSV
    record's fields are left empty (the check pass needs none, and making a dict per row
    would double its time).
    """

    def __init__(
        self,
        name: str,
        format: Format,
        lines: Iterable[bytes],
        delimiter: str | None = None,
        *,
        fields: bool = True,
    ) -> None:
        self.name = name
        #: The CSV header, once read (empty for JSONL).
        self.header: tuple[str, ...] = ()
        #: The CSV's delimiter, once known (None for JSONL).
        self.delimiter = delimiter
        #: The line the record being read starts on.
        self.line = 1
        text = _text(lines, name)
        self._records = self._csv(text, fields) if format == "csv" else self._jsonl(text)

    def __iter__(self) -> Iterator[Record]:
        return self._records

    def _csv(self, text: Iterator[str], fields: bool) -> Iterator[Record]:
        name = self.name
        if self.delimiter is None:
            first = next(text, "")
            self.delimiter = _found_delimiter(first)
            text = itertools.chain([first], text)
        reader = csv.reader(text, delimiter=self.delimiter, strict=True)
        try:
            header = next(reader, None)
            if header is None or not any(cell.strip() for cell in header):
                raise LeadFileError(f"{name}: the file is empty: expected a header row")
            columns = _columns(name, "1", header)
            self.header = tuple(header)
            self.line = reader.line_num + 1
            for row in reader:
                if row:
                    if len(row) != len(header):
                        raise LeadFileError(
                            f"{name}:{self.line}: malformed row: {len(row)} fields where the "
                            f"header has {len(header)}"
                        )
                    for position in columns.unnamed:
                        if row[position].strip():
                            raise LeadFileError(
                                f"{name}:{self.line}: column {position + 1} has no name in "
                                "the header but holds a value: name it, or remove it"
                            )
                    yield (
                        self.line,
                        dict(zip(header, row, strict=True)) if fields else {},
                        columns.phone,
                    )
                self.line = reader.line_num + 1
        except csv.Error as exc:
            if "new-line character" in str(exc):  # the csv module's words for it
                raise LeadFileError(
                    f"{name}:{self.line}: lines end with a bare carriage return (an old Mac "
                    "format): save the file with LF or CRLF line ends"
                ) from None
            raise LeadFileError(f"{name}:{self.line}: malformed CSV: {exc}") from None

    def _jsonl(self, text: Iterator[str]) -> Iterator[Record]:
        for number, line in enumerate(text, start=1):
            self.line = number
            if line.strip():
                lead = _lead_object(self.name, number, line)
                yield number, lead, _columns(self.name, str(number), lead, "key").phone


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
    for group in (PHONE_COLUMNS, NAME_COLUMNS):
        present = [seen[column] for column in group if column in seen]
        if len(present) > 1:
            raise LeadFileError(
                f"{name}:{where}: both {present[0]!r} and {present[1]!r}: they are the same "
                "field, keep one"
            )
    phone = next((seen[column] for column in PHONE_COLUMNS if column in seen), None)
    if phone is None:
        found = ", ".join(repr(key) for key in seen.values())
        one_column = what == "column" and len(seen) == 1
        raise LeadFileError(
            f"{name}:{where}: no phone {what}: expected a 'phone' or 'target' {what} "
            f"(found: {found or 'nothing'}"
            + ("; separated by another character? give --delimiter)" if one_column else ")")
        )
    return _Columns(phone, tuple(unnamed))


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's dict; :class:`_DuplicateKey` when a key appears twice (json keeps the
    last value silently, as a CSV with two same columns would not)."""
    fields = dict(pairs)
    if len(fields) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return fields


def _lead_object(name: str, number: int, line: str) -> dict[str, Any]:
    """A JSONL line's lead; :class:`LeadFileError` if it is not one."""
    try:
        lead = json.loads(line, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:  # which of the values was meant is unknown
        raise LeadFileError(
            f"{name}:{number}: the key {exc.key!r} appears twice in one object: keep one"
        ) from None
    except ValueError as exc:
        raise LeadFileError(f"{name}:{number}: malformed JSON: {exc}") from None
    except RecursionError:
        raise LeadFileError(f"{name}:{number}: malformed JSON: nested too deeply") from None
    if not isinstance(lead, dict):
        raise LeadFileError(f"{name}:{number}: expected a JSON object per line")
    if _SURROGATE_ESCAPE.search(line):
        _refuse_lone_surrogates(name, number, lead)
    return lead


def _refuse_lone_surrogates(name: str, number: int, lead: dict[str, Any]) -> None:
    """Refuse a lead holding a lone surrogate (``\\ud83d``): not a character, it cannot be
    sent as UTF-8; refused here rather than by an upload that stops halfway."""
    try:
        json.dumps(lead, ensure_ascii=False).encode()
    except UnicodeEncodeError as exc:
        surrogate = exc.object[exc.start : exc.end].encode("unicode-escape").decode()
        raise LeadFileError(
            f"{name}:{number}: a lone surrogate ({surrogate}): half of an escaped character "
            "pair, not text; fix the line"
        ) from None


class KeyedLead(dict[str, Any]):
    """A lead's call (as :func:`lead_fields` makes it) and its idempotency key, read from
    ``--key-column`` (None when the lead has none)."""

    __slots__ = ("key",)

    def __init__(self, fields: dict[str, Any], key: str | None) -> None:
        super().__init__(fields)
        self.key = key


def _key(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # a JSONL lead's numeric id
    return value if isinstance(value, str) and value else None


@attrs.frozen
class LeadStream:
    """A checked lead file as an iterable of calls (plain mappings of their fields, see
    :func:`lead_fields`) with a length (for progress and journals).

    Iterating reads the file again, recording in :attr:`lines` the line each lead starts on.
    """

    lead_file: LeadFile
    normalise: Callable[[str], str]
    lines: LineMap = attrs.field(factory=LineMap)
    #: The column holding each lead's idempotency key: left out of the call, which is then
    #: a :class:`KeyedLead`.
    key_column: str | None = None

    def __len__(self) -> int:
        return self.lead_file.rows

    def __iter__(self) -> Iterator[dict[str, Any]]:
        lead_file, lines, normalise = self.lead_file, self.lines, self.normalise
        key_column = self.key_column
        with lead_file.reopen() as file:
            lead_file.check_unchanged(file, 1)
            for line, fields, phone_key in self._records(file):
                if len(lines) == lead_file.rows:
                    raise lead_file.changed(line)
                if len(lines) % _CHANGE_CHECK_EVERY == 0:
                    lead_file.check_unchanged(file, line)
                lines.append(line)
                if key_column is None:
                    yield lead_fields(fields, phone_key, normalise)
                else:
                    key = _key(fields.get(key_column))
                    rest = {name: value for name, value in fields.items() if name != key_column}
                    yield KeyedLead(lead_fields(rest, phone_key, normalise), key)
            lead_file.check_unchanged(file, "end")
        if len(lines) != lead_file.rows:
            raise lead_file.changed("end")

    def _records(self, file: IO[bytes]) -> Iterator[Record]:
        """The records of the read pass: any file error means the file is not the one
        checked (it passed the check)."""
        lead_file = self.lead_file
        records = _Records(
            lead_file.name, lead_file.format, _lines(file, lead_file.name), lead_file.delimiter
        )
        try:
            for record in records:
                if records.header != lead_file.header:
                    raise lead_file.changed(1)
                yield record
        except LeadFileError:
            raise lead_file.changed(records.line) from None
