"""Lead files: line numbers, number normalisation, columns (the CLI tests cover the rest)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from voicenter_dialer import BulkProgress, LeadFileError
from voicenter_dialer.cli._calls import phone_normaliser
from voicenter_dialer.cli._leads import LeadStream, LineMap, open_leads
from voicenter_dialer.testing import FakeDialer


def test_line_map_stores_only_shifts() -> None:
    lines = LineMap()
    physical = [2, 3, 4, 6, 7, 10, 11]  # a blank line before 6, a 3-line record ending at 10
    for line in physical:
        lines.append(line)

    assert [lines[i] for i in range(len(physical))] == physical
    assert len(lines._shifts) == 3  # not one entry per lead


def test_line_map_of_an_ordinary_file_is_constant_size() -> None:
    lines = LineMap()
    for i in range(100_000):
        lines.append(i + 2)
    assert lines[99_999] == 100_001
    assert len(lines._shifts) == 1


def test_csv_with_blank_lines_and_multiline_fields(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text('phone,name\n0501234567,a\n\n0501234568,"two\nlines"\n0501234569,c\n')

    with open_leads(str(path)) as lead_file:
        stream = LeadStream(lead_file, phone_normaliser(None))
        calls = list(stream)

    assert [c["phone"] for c in calls] == ["0501234567", "0501234568", "0501234569"]
    assert calls[1]["customer_name"] == "two\nlines"
    # A multi-line record is on the line it starts on (issue 11 item 17: was its last, 5).
    assert [stream.lines[i] for i in range(3)] == [2, 4, 6]


@pytest.mark.parametrize(
    ("region", "raw", "expected"),
    [
        (None, " 050-123 4567 ", "0501234567"),
        (None, "(03) 555.1234", "035551234"),
        ("IL", "050-123-4567", "972501234567"),
        ("IL", "+44 20 7946 0018", "442079460018"),
        ("IL", "not a number", "notanumber"),  # left for validation to report
        ("IL", "12", "12"),
        # A spreadsheet's float (issue 11 item 7: was 9725012345670).
        (None, "972501234567.0", "972501234567"),
        ("IL", "972501234567.0", "972501234567"),
        ("IL", "+972501234567.00", "972501234567"),
        ("il", "050-123-4567", "972501234567"),  # issue 11 item 8: any case
        (" Il ", "050-123-4567", "972501234567"),
    ],
)
def test_phone_normaliser(region: str | None, raw: str, expected: str) -> None:
    assert phone_normaliser(region)(raw) == expected


def test_an_unknown_region_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown region 'ISR'.*two-letter"):
        phone_normaliser("ISR")


def test_json_numbers_are_numbers(tmp_path: Path) -> None:
    path = tmp_path / "leads.jsonl"
    path.write_text('{"phone": 972501234567}\n{"phone": 972501234568.0}\n{"phone": true}\n')

    with open_leads(str(path)) as lead_file:
        targets = [call["phone"] for call in LeadStream(lead_file, phone_normaliser(None))]

    assert targets == ["972501234567", "972501234568", True]  # validation reports the last


def _numbers(path: Path, count: int, first: int = 0) -> None:
    path.write_text("phone\n" + "".join(f"9725{i:08d}\n" for i in range(first, first + count)))


def test_a_file_rewritten_after_its_check_is_refused(tmp_path: Path) -> None:
    """Issue 11 item 10: a file rewritten between the check and the read ended in
    ``ValueError: zip() argument 2 is shorter``; now a LeadFileError before any lead."""
    path = tmp_path / "leads.csv"
    _numbers(path, 10)

    with open_leads(str(path)) as lead_file:
        path.write_text("phone,name\n0501234567,Dana\n")
        with pytest.raises(LeadFileError, match=r"leads\.csv:1: the file changed after"):
            list(LeadStream(lead_file, phone_normaliser(None)))


async def test_a_file_rewritten_during_the_upload_stops_it(tmp_path: Path) -> None:
    """Issue 11 item 10: the upload stops with a clear error where the change is seen."""
    path = tmp_path / "leads.csv"
    _numbers(path, 5000)
    fake = FakeDialer()
    campaign = fake.add_campaign("Rewritten")

    def rewrite(progress: BulkProgress) -> None:
        if progress.done == 1000:  # same size, other numbers: only the stamp tells
            _numbers(path, 5000, first=10_000)

    async with fake.client() as dialer:
        with open_leads(str(path)) as lead_file:
            stream = LeadStream(lead_file, phone_normaliser(None))
            with pytest.raises(LeadFileError, match="the file changed after it was checked"):
                await dialer.add_calls_bulk(
                    campaign.code, stream, chunk_size=1000, concurrency=1, on_progress=rewrite
                )

    assert all(int(target[4:]) < 5000 for target in campaign.targets())  # none of the new
    assert len(campaign.calls) < 5000


def test_a_pipe_is_read_once(tmp_path: Path) -> None:
    """Issue 11 item 10: a FIFO (what /dev/stdin is under a pipe) cannot be read twice."""
    fifo = tmp_path / "leads.csv"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: _numbers(fifo, 3))
    writer.start()

    with open_leads(str(fifo)) as lead_file:
        writer.join()
        targets = [call["phone"] for call in LeadStream(lead_file, phone_normaliser(None))]

    assert targets == ["972500000000", "972500000001", "972500000002"]
