"""voicenter-dialer: an asyncio-native client for Voicenter's auto-dialer (ForwardDialer) API.

from voicenter_dialer import AsyncDialer, Call

async with AsyncDialer(code="...") as dialer:
    campaigns = await dialer.get_campaign_list()
    await dialer.add_call(campaigns[0], Call("972501234567", customer_name="Dana"))

``Dialer`` is the same without ``await`` (Django, Celery, scripts); ``to_dict`` turns any
model or report into a JSON-ready dict.
"""

from ._bulk import DEFAULT_CHUNK_SIZE, DEFAULT_CONCURRENCY, MAX_CHUNK_SIZE, BulkProgress
from ._chunk import ChunkOutcome
from ._client import AsyncDialer
from ._dicts import to_dict
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
from ._journal import JournalSummary
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
from ._options import (
    DEFAULT_BASE_URL,
    DEFAULT_LIMITS,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    default_http_client,
)
from ._raw import RawResponse
from ._resume import summarise_journal
from ._retry import RetryPolicy
from ._sync import Dialer, SyncBulkWriter
from ._version import __version__
from ._writer import BulkWriter

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
