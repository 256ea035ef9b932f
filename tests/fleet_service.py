"""A web service that dials the leads its webhooks bring, for the fleet test that runs it as
two uvicorn processes (``uvicorn tests.fleet_service:app``), every webhook delivered to both.

Set up from the environment: ``VOICENTER_CODE`` and ``VOICENTER_BASE_URL`` (read by the
dialer itself), ``FLEET_CAMPAIGN`` (the campaign's code) and ``FLEET_IDEMPOTENCY_STORE`` (a
SQLite path or a ``postgresql://...#NAME`` URL).

``POST /leads {"lead_id": 7, "phone": "972500000007"}`` adds the call keyed ``lead-7`` and
answers 200 with ``{"lead_id": 7, "sent": N, "replayed": N == 0}``, N being the AddCall
requests this delivery put on the wire (none when the key's outcome was known, or found among
the campaign's pending calls). Errors: 409 for an IdempotencyConflict, 422 for a lead a retry
cannot cure (refused by the check or by the service), 503 for the rest (the outcome unknown,
the service unreachable): the sender retries those. ``GET /health`` answers once the dialer is
open.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import httpx
import pydantic
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from voicenter_dialer import (
    APIError,
    AsyncDialer,
    Call,
    DialerError,
    IdempotencyConflict,
    ValidationError,
    default_http_client,
)

__all__ = ["Lead", "app"]

# The AddCall requests of the delivery being handled (each handler's task has its own list).
_sent: ContextVar[list[str] | None] = ContextVar("sent", default=None)


class Lead(pydantic.BaseModel):
    lead_id: int
    phone: str


async def _note(request: httpx.Request) -> None:
    sent = _sent.get()
    if sent is not None and request.url.path.endswith("/AddCall"):
        sent.append(request.url.path)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with (
        default_http_client(event_hooks={"request": [_note]}) as client,
        AsyncDialer(
            http_client=client, idempotency_store=os.environ["FLEET_IDEMPOTENCY_STORE"]
        ) as dialer,
    ):
        app.state.dialer = dialer
        app.state.campaign = os.environ["FLEET_CAMPAIGN"]
        yield


app = FastAPI(lifespan=_lifespan)


@app.get("/health")
async def health() -> dict[str, bool]:
    return {"ok": True}


@app.post("/leads")
async def add_lead(lead: Lead, request: Request) -> JSONResponse:
    dialer: AsyncDialer = request.app.state.dialer
    sent: list[str] = []
    _sent.set(sent)
    answer: dict[str, Any] = {"lead_id": lead.lead_id}
    try:
        await dialer.add_call(
            request.app.state.campaign, Call(lead.phone), idempotency_key=f"lead-{lead.lead_id}"
        )
    except IdempotencyConflict:
        return JSONResponse({**answer, "error": "IdempotencyConflict"}, status_code=409)
    except (ValidationError, APIError) as exc:
        return JSONResponse({**answer, "error": type(exc).__name__}, status_code=422)
    except DialerError as exc:
        answer.update(error=type(exc).__name__, outcome_unknown=exc.outcome_unknown)
        return JSONResponse(answer, status_code=503)
    return JSONResponse({**answer, "sent": len(sent), "replayed": not sent})
