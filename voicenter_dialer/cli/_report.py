"""What a command reports when it is done: an upload's outcome, a journal's summary."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

import attrs

from voicenter_dialer._exceptions import DialerError
from voicenter_dialer._journal import JournalSummary
from voicenter_dialer._models import (
    AddResult,
    BulkReport,
    CallInput,
    Campaign,
    FailedCall,
    RejectedCall,
    given_target,
)
from voicenter_dialer._resume import JournalSpec
from voicenter_dialer._secrets import mask, mask_url, redact

from ._leads import LeadFile, LineMap, delimiter_name
from ._output import Output, for_shell
from ._progress import Upload

__all__ = [
    "RefusedLead",
    "campaign_line",
    "dry_run_report",
    "journal_name",
    "journal_report",
    "refused_leads",
    "upload_report",
]


@attrs.frozen
class RefusedLead:
    """A lead an upload did not get accepted."""

    index: int
    #: The line it starts on in the input (None for generated leads).
    line: int | None
    #: ``unknown``: it failed but may have been added; ``invalid``: a dry run's, that
    #: validation refuses.
    status: Literal["rejected", "failed", "unknown", "invalid"]
    call: CallInput | None
    #: The service's code for a rejected lead.
    error_code: int | None
    #: Why, without the codes in *secrets*.
    reason: str


def refused_leads(
    report: BulkReport, lines: LineMap, secrets: Sequence[str | None]
) -> Iterator[RefusedLead]:
    """Each lead of *report* that was not accepted, in input order (from
    :meth:`BulkReport.outcomes`, the one per-lead view), its reason redacted of *secrets*
    (the service may echo a code)."""
    for outcome in report.outcomes():
        if not outcome.accepted:
            yield _refused(
                outcome.index, outcome.call, outcome.result, outcome.error, lines, secrets
            )


def _refused(
    index: int,
    call: CallInput | None,
    result: AddResult | None,
    error: DialerError | None,
    lines: LineMap,
    secrets: Sequence[str | None],
) -> RefusedLead:
    """The lead at *index* the service refused (*result*) or that failed (*error*); its
    reason names the CLI's flags, not the library's keywords."""
    line = lines.get(index)
    if result is not None:
        reason = redact(result.description or str(result.error_code), secrets)
        return RefusedLead(index, line, "rejected", call, result.error_code, reason)
    assert error is not None  # a lead not accepted was rejected or failed
    status: Literal["failed", "unknown"] = "unknown" if error.outcome_unknown else "failed"
    return RefusedLead(index, line, status, call, None, for_shell(redact(error.message, secrets)))


def _first_refused(
    report: BulkReport, lines: LineMap, secrets: Sequence[str | None]
) -> Iterator[RefusedLead]:
    """The first few rejected leads, then the first few failed ones: what a text report
    shows (without walking every outcome, as :func:`refused_leads` does)."""
    entries: list[RejectedCall | FailedCall] = [*report.rejected[:_SHOWN], *report.failed[:_SHOWN]]
    for entry in entries:
        if isinstance(entry, RejectedCall):
            yield _refused(entry.index, entry.call, entry.result, None, lines, secrets)
        else:
            yield _refused(entry.index, entry.call, None, entry.error, lines, secrets)


#: Refused leads a text report lists, of each kind.
_SHOWN = 3


def _lead_line(lead: RefusedLead) -> str:
    """A refused lead as a text report lists it: where it is, its number, why."""
    where = "" if lead.line is None else f" (line {lead.line})"
    target = given_target(lead.call) or None
    return f"    {lead.status} #{lead.index}{where}: {target!r}: {lead.reason}"


def _settled_note(settled: int) -> str:
    return f"; {settled:,} settled by earlier runs (the journal)" if settled else ""


def _lead_entry(lead: RefusedLead) -> dict[str, Any]:
    return {
        "index": lead.index,
        "line": lead.line,
        "status": lead.status,
        "target": given_target(lead.call) or None,
        "error_code": lead.error_code,
        "reason": lead.reason,
    }


def upload_report(
    out: Output,
    upload: Upload,
    campaign: str,
    *,
    account: str | None,
    source: str,
    lines: LineMap,
    delimiter: str | None = None,
    settled: int = 0,
    rejects: tuple[str, int] | None = None,
) -> None:
    """The upload's outcome; *account*: the account code (kept out of what is printed);
    *delimiter*: a CSV source's; *settled*: leads a journal had settled before this run;
    *rejects*: the rejects file written and how many leads it holds."""
    report = upload.report
    secrets = (campaign, account)
    unknown = sum(1 for entry in report.failed if entry.error.outcome_unknown)
    sent = max(report.total - settled, 0)
    document: dict[str, Any] = {
        "source": source,
        "delimiter": delimiter,
        "campaign": mask(campaign),
        "ok": report.ok,
        "total": report.total,
        "settled_earlier": settled,
        "accepted": report.accepted,
        "rejected": len(report.rejected),
        "failed": len(report.failed) - unknown,
        "unknown": unknown,
        "seconds": round(upload.seconds, 3),
        "concurrency": {"mode": "auto" if upload.auto else "fixed", "settled": report.concurrency},
    }
    if rejects is None:
        document["leads"] = [_lead_entry(lead) for lead in refused_leads(report, lines, secrets)]
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
    _delimiter_line(out, source, delimiter)
    out.say(f"  accepted  {report.accepted:>10,}")
    out.say(f"  rejected  {len(report.rejected):>10,}")
    out.say(
        f"  failed    {len(report.failed):>10,}"
        + (f"  ({unknown:,} may have been added)" if unknown else "")
    )
    if upload.auto and report.concurrency is not None:
        out.say(f"  concurrency: auto, settled at {report.concurrency}")
    shown = 0
    for lead in _first_refused(report, lines, secrets):
        out.say(_lead_line(lead))
        shown += 1
    if len(report.rejected) + len(report.failed) > shown:
        more = len(report.rejected) + len(report.failed) - shown
        out.say(f"    … and {more:,} more (--rejects or --json lists them all)")
    if rejects is not None:
        out.say(f"{rejects[1]:,} rejected and failed leads written to {rejects[0]}")


def _delimiter_line(out: Output, source: str, delimiter: str | None) -> None:
    if delimiter is not None:
        out.say(f"  (read {source} as CSV with columns separated by {delimiter_name(delimiter)})")


def dry_run_report(
    out: Output,
    lead_file: LeadFile,
    invalid: Sequence[RefusedLead],
    *,
    would_send: int,
    journal: tuple[JournalSpec, JournalSummary] | None,
) -> None:
    """What ``upload --dry-run`` found: *invalid* leads, how many would be sent, and the
    counts of the *journal* it was compared with."""
    valid = lead_file.rows - len(invalid)
    out.document(
        {
            "source": lead_file.name,
            "delimiter": lead_file.delimiter,
            "dry_run": True,
            "total": lead_file.rows,
            "valid": valid,
            "invalid": len(invalid),
            "would_be_sent": would_send,
            "journal": None
            if journal is None
            else {"name": journal_name(journal[0]), **attrs.asdict(journal[1])},
            "leads": [_lead_entry(lead) for lead in invalid],
        }
    )
    out.say(f"Checked {lead_file.name}: {lead_file.rows:,} leads; nothing sent (dry run)")
    _delimiter_line(out, lead_file.name, lead_file.delimiter)
    out.say(f"  valid       {valid:>10,}")
    out.say(f"  invalid     {len(invalid):>10,}")
    out.say(f"  would send  {would_send:>10,}")
    for lead in invalid[:_SHOWN]:
        out.say(_lead_line(lead))
    if len(invalid) > _SHOWN:
        out.say(f"    … and {len(invalid) - _SHOWN:,} more (--json lists them all)")
    if journal is not None:
        summary = journal[1]
        out.say(
            f"  journal {journal_name(journal[0])}: {summary.accepted:,} accepted, "
            f"{summary.rejected:,} rejected, {summary.failed:,} failed, "
            f"{summary.unknown:,} unknown (compared by its counts, read only)"
        )


def journal_name(spec: JournalSpec) -> str:
    """*spec* as it may be shown: a URL without its password or query (which may hold one),
    as the journal describes itself in its errors."""
    return mask_url(str(spec))


def journal_report(out: Output, spec: JournalSpec, summary: JournalSummary) -> bool:
    """Print what a journal holds; True when nothing is left to do."""
    name = journal_name(spec)
    remaining = summary.remaining
    # A rerun with a shorter input records a smaller total than the chunks already recorded.
    surplus = -remaining if remaining is not None and remaining < 0 else 0
    if surplus:
        remaining = 0
    out.document(
        {
            "journal": name,
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
    out.say(f"Journal {name}: {total} leads in the input")
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
