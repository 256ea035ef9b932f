"""A scripted AddCallsBulk endpoint that records what it really added, for bulk tests.

Each call carries its input index as ``CustomData["lead"]``, so the server side can count how
many times each lead was added, whatever the client reports.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Callable
from typing import Any, Literal

import anyio
import attrs
import httpx

from voicenter_dialer import AsyncDialer, Call

#: What the server does with one request.
#: ok: add and answer. refuse: 503 without adding. lost: add, then the answer is lost
#: (read timeout). crash: add, then 500. no_result: add, answer without AddResult.
#: short: the last call is not added and has no AddResult. invalid_campaign: ErrorCode 1.
Behaviour = Literal["ok", "refuse", "lost", "crash", "no_result", "short", "invalid_campaign"]


@attrs.define
class BulkServer:
    #: Targets answered with a per-target -2 "Number is invalid".
    reject: set[str] = attrs.Factory(set)
    #: Behaviour of the n-th request (0-based); "ok" for the rest.
    script: dict[int, Behaviour] = attrs.Factory(dict)
    #: Or a function of the request number, when given.
    behaviour: Callable[[int], Behaviour] | None = None
    #: Lead index -> times added.
    added: collections.Counter[int] = attrs.Factory(collections.Counter)
    requests: int = 0
    sizes: list[int] = attrs.Factory(list)
    in_flight: int = 0
    max_in_flight: int = 0
    #: Called with the request number when a request arrives (for streaming checks).
    on_request: Callable[[int], None] | None = None

    def dialer(self, **kwargs: Any) -> AsyncDialer:
        client = httpx.AsyncClient(
            transport=httpx.MockTransport(self.handle), base_url="http://127.0.0.1"
        )
        return AsyncDialer(http_client=client, base_url="http://127.0.0.1/", **kwargs)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/AddCallsBulk"
        number = self.requests
        self.requests += 1
        if self.on_request is not None:
            self.on_request(number)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await anyio.sleep(0.001)  # let other chunks overlap
            return self._answer(number, json.loads(request.content), request)
        finally:
            self.in_flight -= 1

    def _answer(
        self, number: int, body: list[dict[str, Any]], request: httpx.Request
    ) -> httpx.Response:
        self.sizes.append(len(body))
        how = self.behaviour(number) if self.behaviour else self.script.get(number, "ok")
        if how == "refuse":
            return httpx.Response(503, headers={"Retry-After": "0"})
        if how == "invalid_campaign":
            return httpx.Response(
                200, json={"ErrorCode": 1, "Description": "Invalid campaign code"}
            )
        results = []
        if how == "short":  # the last call is neither added nor answered for
            body = body[:-1]
        for item in body:
            if item["Target"] in self.reject:
                results.append(
                    {"Target": item["Target"], "ErrorCode": -2, "Description": "Number is invalid"}
                )
            else:
                self.added[int(item["CustomData"]["lead"])] += 1
                results.append({"Target": item["Target"], "ErrorCode": 0, "Description": "OK"})
        if how == "lost":
            raise httpx.ReadTimeout("answer lost", request=request)
        if how == "crash":
            return httpx.Response(500, text="<html>Internal Server Error</html>")
        if how == "no_result":
            return httpx.Response(200, json={"ErrorCode": 0, "Description": "OK"})
        return httpx.Response(200, json={"AddResult": results, "ErrorCode": 0, "Description": "OK"})


def lead(index: int, target: str | None = None) -> Call:
    """Lead *index*: a distinct phone number unless *target* is given."""
    return Call(target or f"97250{index:07d}", custom_data={"lead": index})
