"""``upload`` (a lead file to a campaign) and ``journal`` (what an upload's journal holds)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable
from typing import Any

from voicenter_dialer._chunk import fits, too_large, wire_size
from voicenter_dialer._client import AsyncDialer
from voicenter_dialer._concurrency import DEFAULT_MAX_CONCURRENCY
from voicenter_dialer._converter import call_to_wire
from voicenter_dialer._exceptions import JournalError, ValidationError
from voicenter_dialer._journal import JournalSummary
from voicenter_dialer._resume import JournalSpec, summarise_journal
from voicenter_dialer._secrets import redact
from voicenter_dialer._session import BulkOptions

from ._calls import region_normaliser
from ._commands import (
    account_code,
    api_command,
    bulk_options,
    campaign_argument,
    campaign_code,
    command,
    optional_campaign_code,
    positive,
    region_option,
)
from ._leads import KeyedLead, LeadStream, open_leads
from ._output import (
    EXIT_INCOMPLETE,
    EXIT_OK,
    EXIT_USAGE,
    Incomplete,
    Output,
    UsageError,
    for_shell,
)
from ._progress import upload_with_progress
from ._rejects import close_quietly, open_rejects, write_rejects
from ._report import RefusedLead, dry_run_report, journal_report, upload_report

__all__ = ["register"]

Subparsers = Any  # argparse's _SubParsersAction is private


async def _summary(journal: JournalSpec) -> JournalSummary:
    """:func:`summarise_journal` in a daemon thread of its own: a journal's server may hang,
    and Ctrl-C must end the command at once, without the interpreter waiting at exit for a
    thread still connecting (as it would for a worker of anyio's pool)."""
    loop = asyncio.get_running_loop()
    summary: asyncio.Future[JournalSummary] = loop.create_future()

    def deliver(outcome: Callable[[], None]) -> None:
        if not summary.done():  # not cancelled meanwhile
            outcome()

    def read() -> None:
        try:
            found = summarise_journal(journal)
        except BaseException as exc:
            reply = functools.partial(summary.set_exception, exc)
        else:
            reply = functools.partial(summary.set_result, found)
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(deliver, reply)

    threading.Thread(target=read, name="voicenter-dialer journal", daemon=True).start()
    return await summary


async def _settled(journal: JournalSpec | None) -> int:
    """How many leads the journal settled in earlier runs (a rerun does not send them)."""
    if journal is None:
        return 0
    try:
        return (await _summary(journal)).done
    except JournalError:  # no journal yet; or one the upload itself will refuse, saying why
        return 0


def _would_send(valid: int, rows: int, journal: JournalSummary | None) -> int:
    """How many of *valid* leads (of *rows*) an upload would send: all, less those *journal*
    settled or left unknown. An estimate from its counts (matching its chunks would need
    opening it for writing); the journal may have been started by a shorter input."""
    if journal is None:
        return valid
    if journal.remaining is not None and journal.total is not None:
        left = journal.remaining + rows - journal.total
    else:  # the input was never read to its end
        left = rows - journal.done - journal.unknown
    return min(valid, max(left, 0))


async def _dry_run(args: argparse.Namespace, out: Output) -> int:
    """Check the lead file and validate each lead; compare with the journal by its counts."""
    for option, given in (("--reconcile", args.reconcile), ("--rejects", args.rejects)):
        if given:
            raise UsageError(f"{option} and --dry-run: a dry run sends nothing, writes nothing")
    # The upload's own option checks: what it would refuse, the dry run refuses.
    options = BulkOptions.build(
        chunk_size=args.chunk_size,
        concurrency=args.concurrency,
        max_concurrency=DEFAULT_MAX_CONCURRENCY,
        flush_after=None,
        journal=args.journal,
        max_chunk_bytes=args.max_chunk_bytes,
    )
    campaign = optional_campaign_code(args)
    secrets = (campaign, account_code(args))
    max_bytes = options.max_chunk_bytes
    normalise = region_normaliser(args.region)
    journal = None
    if args.journal is not None:
        try:
            journal = await _summary(args.journal)
        except JournalError as exc:  # a first upload starts it; or it will refuse, saying why
            out.warn(f"--journal: {exc}")
    invalid: list[RefusedLead] = []
    with open_leads(args.file, args.format, args.delimiter) as lead_file:
        calls = LeadStream(lead_file, normalise)
        for index, call in enumerate(calls):
            try:  # the library's validation and size bound, as sent
                wire = call_to_wire(campaign or "", call, secrets[1])
                if max_bytes is not None and not fits(size := wire_size(wire), max_bytes):
                    raise too_large(size, max_bytes)
            except ValidationError as exc:
                line = calls.lines.get(index)
                reason = for_shell(redact(exc.message, secrets))
                invalid.append(RefusedLead(index, line, "invalid", call, None, reason))
    valid = lead_file.rows - len(invalid)
    dry_run_report(
        out,
        lead_file,
        invalid,
        would_send=_would_send(valid, lead_file.rows, journal),
        journal=None if journal is None else (args.journal, journal),
    )
    return EXIT_USAGE if invalid else EXIT_OK


async def _upload(dialer: AsyncDialer, args: argparse.Namespace, out: Output) -> int:
    if args.dry_run:
        return await _dry_run(args, out)
    campaign = campaign_code(args)
    normalise = region_normaliser(args.region)
    if args.reconcile and args.journal is None:
        raise UsageError("--reconcile needs --journal: it settles what a journal left unknown")
    if args.key_column is not None and args.idempotency_store is None:
        raise UsageError("--key-column needs --idempotency-store: where the keys are kept")
    settled = await _settled(args.journal)
    secrets = (campaign, account_code(args))
    with contextlib.ExitStack() as stack:
        lead_file = stack.enter_context(open_leads(args.file, args.format, args.delimiter))
        rejects_file = open_rejects(args.rejects, lead_file, args.journal) if args.rejects else None
        if rejects_file is not None:
            stack.callback(close_quietly, rejects_file)
        if args.journal is not None:
            # The whole file against the journal first: a rerun whose later chunk changed is
            # refused before the first request, not after replaying the chunks before it.
            await dialer.check_journal(
                campaign,
                LeadStream(lead_file, normalise),
                journal=args.journal,
                chunk_size=args.chunk_size,
                max_chunk_bytes=args.max_chunk_bytes,
            )
        key_column = args.key_column
        if (
            key_column is not None
            and lead_file.format == "csv"
            and key_column not in lead_file.header
        ):
            raise UsageError(f"--key-column {key_column!r}: {lead_file.name} has no such column")
        calls = LeadStream(lead_file, normalise, key_column=key_column)
        try:
            upload = await upload_with_progress(
                dialer,
                campaign,
                calls,
                total=lead_file.rows,
                chunk_size=args.chunk_size,
                concurrency=args.concurrency,
                show=not out.quiet,
                journal=args.journal,
                reconcile=args.reconcile,
                max_chunk_bytes=args.max_chunk_bytes,
                idempotency_key=None
                if key_column is None
                else functools.partial(_lead_key, key_column),
            )
        except JournalError as exc:
            if len(calls.lines):  # leads were read, so some may have been sent
                raise Incomplete(exc) from None
            raise
        rejects = None
        if rejects_file is not None:
            try:
                written = write_rejects(rejects_file, upload.report, calls.lines, secrets)
                rejects = (args.rejects, written)
            except OSError as exc:  # a full disk, say: the report is printed all the same
                out.warn(
                    f"--rejects {args.rejects}: cannot write: {exc.strerror or exc}"
                    + ("; the --json document lists the leads instead" if out.json else "")
                )
    upload_report(
        out,
        upload,
        campaign,
        account=secrets[1],
        source=lead_file.name,
        delimiter=lead_file.delimiter,
        lines=calls.lines,
        settled=settled,
        rejects=rejects,
    )
    return EXIT_OK if upload.report.ok and (rejects or not args.rejects) else EXIT_INCOMPLETE


def _lead_key(column: str, lead: object) -> str:
    """The idempotency key of a lead read with ``--key-column``; a lead without one fails."""
    key = lead.key if isinstance(lead, KeyedLead) else None
    if key is None:
        raise ValidationError(f"the lead has no {column!r} value (its idempotency key)")
    return key


async def _journal(args: argparse.Namespace, out: Output) -> int:
    summary = await _summary(args.path)
    return EXIT_OK if journal_report(out, args.path, summary) else EXIT_INCOMPLETE


_DELIMITER_NAMES = {"comma": ",", "semicolon": ";", "tab": "\t", "\\t": "\t"}


def _delimiter(text: str) -> str:
    delimiter = _DELIMITER_NAMES.get(text.lower(), text)
    if len(delimiter) != 1 or delimiter in '"\r\n':
        raise argparse.ArgumentTypeError(
            f"expected one character (not a quote or a line end), or comma, semicolon or "
            f"tab; got {text!r}"
        )
    return delimiter


def register(commands: Subparsers) -> None:
    upload = api_command(commands, "upload", "upload a CSV or JSONL lead file", _upload)
    upload.add_argument(
        "file",
        help="CSV with a header (a 'phone' or 'target' column) or JSONL; '-' reads standard "
        "input (copied to a temporary file first, so that it is checked before anything is sent)",
    )
    campaign_argument(upload, positional=False)
    upload.add_argument(
        "--format",
        choices=["csv", "jsonl"],
        help="the file's format (default: from its extension; standard input: csv)",
    )
    upload.add_argument(
        "--dry-run",
        action="store_true",
        help="check the file and validate every lead, compare with --journal (by its counts), "
        "and say how many would be sent; send nothing (exit 0 when every lead is valid, else 2; "
        "no campaign needed)",
    )
    upload.add_argument(
        "--delimiter",
        type=_delimiter,
        metavar="CHAR",
        help="what separates a CSV's columns: a character, or comma, semicolon or tab "
        "(default: whichever of those the header holds most of)",
    )
    upload.add_argument(
        "--rejects",
        metavar="PATH",
        help="write rejected and failed leads to this CSV (--json then gives their count)",
    )
    upload.add_argument(
        "--journal",
        metavar="PATH|URL",
        help="record each chunk's outcome in this SQLite file, or in PostgreSQL "
        "(postgresql://USER@HOST:PORT/DB#UPLOAD_NAME: resumable from another machine); "
        "rerun with it to resume",
    )
    upload.add_argument(
        "--reconcile",
        action="store_true",
        help="with --journal: settle leads of unknown outcome against the campaign's pending "
        "calls, re-sending only those it does not hold",
    )
    upload.add_argument(
        "--idempotency-store",
        metavar="PATH|URL",
        help="remember each lead's key (--key-column) in this SQLite file, or in PostgreSQL "
        "(postgresql://USER@HOST:PORT/DB#NAME): a lead whose key was added before, by any "
        "upload or worker using the store, is not sent again",
    )
    upload.add_argument(
        "--key-column",
        metavar="NAME",
        help="with --idempotency-store: the column (JSONL: the field) holding each lead's "
        "idempotency key; it is not sent, and a lead without one fails",
    )
    region_option(upload)
    bulk_options(upload)
    upload.add_argument(
        "--max-chunk-bytes",
        type=positive,
        metavar="N",
        help="no request body larger than N bytes: a chunk is split, and a lead whose "
        "request alone is larger fails (default: no bound)",
    )

    journal = command(
        commands, "journal", "summarise an upload journal", _journal, connection=False
    )
    journal.add_argument(
        "path", help="the journal: an SQLite file or a postgresql://...#UPLOAD_NAME URL"
    )
