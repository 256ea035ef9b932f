"""voicenter-dialer: an asyncio-native client for Voicenter's auto-dialer (ForwardDialer) API.

from voicenter_dialer import AsyncDialer, Call

async with AsyncDialer(code="...") as dialer:
    campaigns = await dialer.get_campaign_list()
    await dialer.add_call(campaigns[0], Call("972501234567", customer_name="Dana"))

``Dialer`` is the same without ``await`` (Django, Celery, scripts); ``to_dict`` turns any
model or report into a JSON-ready dict.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._exceptions import (
    APIError,
    DialerError,
    IdempotencyConflict,
    InvalidCampaignError,
    InvalidTargetError,
    JournalError,
    LeadFileError,
    MemberError,
    ResponseError,
    TransportError,
    ValidationError,
)
from ._lazy import lazy_names
from ._version import __version__

if TYPE_CHECKING:
    from ._bulk import DEFAULT_CHUNK_SIZE, DEFAULT_CONCURRENCY, MAX_CHUNK_SIZE, BulkProgress
    from ._chunk import ChunkOutcome
    from ._client import AsyncDialer
    from ._defaults import DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES
    from ._dicts import to_dict
    from ._journal import summarise_journal
    from ._journal_records import JournalSummary
    from ._models import (
        AddResult,
        BulkError,
        BulkReport,
        Call,
        CallFields,
        CallStatus,
        Campaign,
        FailedCall,
        LeadOutcome,
        Member,
        PendingCall,
        PendingCalls,
        RejectedCall,
    )
    from ._options import DEFAULT_LIMITS, DEFAULT_TIMEOUT, default_http_client
    from ._raw import RawResponse
    from ._retry import RetryPolicy
    from ._sync import Dialer, SyncBulkWriter
    from ._writer import BulkWriter
else:
    # Imported on first use: ``import voicenter_dialer`` (which the command line's ``--help``
    # and the pytest plugin pay too) loads neither httpx, anyio, attrs nor cattrs, and no
    # program pays for what it never reaches for. The exceptions and the version are eager:
    # they need nothing but the standard library.
    _LAZY: dict[str, str] = {
        "BulkProgress": "_bulk",
        "DEFAULT_CHUNK_SIZE": "_bulk",
        "DEFAULT_CONCURRENCY": "_bulk",
        "MAX_CHUNK_SIZE": "_bulk",
        "ChunkOutcome": "_chunk",
        "AsyncDialer": "_client",
        "to_dict": "_dicts",
        "summarise_journal": "_journal",
        "JournalSummary": "_journal_records",
        "AddResult": "_models",
        "BulkError": "_models",
        "BulkReport": "_models",
        "Call": "_models",
        "CallFields": "_models",
        "CallStatus": "_models",
        "Campaign": "_models",
        "FailedCall": "_models",
        "LeadOutcome": "_models",
        "Member": "_models",
        "PendingCall": "_models",
        "PendingCalls": "_models",
        "RejectedCall": "_models",
        "DEFAULT_BASE_URL": "_defaults",
        "DEFAULT_LIMITS": "_options",
        "DEFAULT_MAX_RETRIES": "_defaults",
        "DEFAULT_TIMEOUT": "_options",
        "default_http_client": "_options",
        "RawResponse": "_raw",
        "RetryPolicy": "_retry",
        "Dialer": "_sync",
        "SyncBulkWriter": "_sync",
        "BulkWriter": "_writer",
    }

    __getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())


__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "MAX_CHUNK_SIZE",
    "APIError",
    "AddResult",
    "AsyncDialer",
    "BulkError",
    "BulkProgress",
    "BulkReport",
    "BulkWriter",
    "Call",
    "CallFields",
    "CallStatus",
    "Campaign",
    "ChunkOutcome",
    "Dialer",
    "DialerError",
    "FailedCall",
    "IdempotencyConflict",
    "InvalidCampaignError",
    "InvalidTargetError",
    "JournalError",
    "JournalSummary",
    "LeadFileError",
    "LeadOutcome",
    "Member",
    "MemberError",
    "PendingCall",
    "PendingCalls",
    "RawResponse",
    "RejectedCall",
    "ResponseError",
    "RetryPolicy",
    "SyncBulkWriter",
    "TransportError",
    "ValidationError",
    "__version__",
    "default_http_client",
    "summarise_journal",
    "to_dict",
]
