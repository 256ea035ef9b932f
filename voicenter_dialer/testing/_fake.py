"""The fake dialer's state and the API's semantics, quirks included.

Everything here is plain data and synchronous functions of it, and nothing of the client:
:mod:`._http` puts it behind HTTP (in-process transport and ASGI app), applies faults, and
makes the :class:`FakeDialer` that hands out clients.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs

from ._faults import Faults

__all__ = ["MAX_BULK_RESULTS", "Destination", "FakeCampaign", "FakeService"]

MAX_BULK_RESULTS = 3000
"""Above this many targets, AddCallsBulk answers without AddResult (as reported of the service)."""

# What the fake service accepts as a number: digits, an optional "+", 7 to 15 digits.
_VALID_NUMBER = re.compile(r"\+?[0-9]{7,15}")

Answer = dict[str, Any]
Kind = Literal["ivr", "agent"]


def _ok(**extra: Any) -> Answer:
    return {"ErrorCode": 0, "Description": "OK", **extra}


def _error(code: int, description: str) -> Answer:
    return {"ErrorCode": code, "Description": description}


_INVALID_CAMPAIGN = _error(1, "Invalid campaign code")
_CAMPAIGN_MISSING = _error(1, "Campaign code missing")


@attrs.define
class Destination:
    """A call destination held by a fake campaign."""

    #: ``Target``: the number, as sent (without a leading ``+``).
    target: str
    #: ``CustomerName`` as sent ("" when not sent).
    customer_name: str = ""
    #: ``CallerID`` as sent ("" when not sent).
    caller_id: str = ""
    #: ``Priority`` as sent (0 when not sent).
    priority: int = 0
    #: ``CustomData`` as sent, every value as text (as the service stores it).
    custom_data: dict[str, str] = attrs.Factory(dict)
    #: ``OriginateTime`` as sent, epoch seconds (None when not sent).
    originate_time: int | None = None
    #: ``IsDateLocal`` as sent (None when not sent).
    is_date_local: bool | None = None
    #: 1 Pending, 2 Originated.
    status: int = 1

    def to_wire(self) -> Answer:
        """This destination as GetCampaignPendingCalls lists it."""
        return {
            "Phone": self.target,
            "CallerID": self.caller_id,
            "CallerName": "",
            "OriginateTime": self.originate_time,
            "Priority": self.priority,
            "CustomerName": self.customer_name,
            "CallStatus": {
                "Status": self.status,
                "Description": "Pending" if self.status == 1 else "Originated",
            },
            "CustomData": dict(self.custom_data),
        }


@attrs.define
class FakeCampaign:
    """A campaign of the fake dialer; its lists may be read and changed by tests."""

    #: ``Name``: the campaign's name.
    name: str
    #: ``Code``: the campaign code clients send (kept out of the ``repr``).
    code: str = attrs.field(repr=False)
    #: ``"ivr"`` or ``"agent"`` (an agent dialer campaign: members, strategy, and the
    #: vendor's ``TotalAwaitingCalls`` quirk).
    kind: Kind = "ivr"
    #: True when ``StatusName`` is ``"Enabled"``; StartCampaign and StopCampaign set it.
    enabled: bool = True
    #: Every destination added and not removed, in the order added (duplicates included).
    calls: list[Destination] = attrs.Factory(list)
    #: Member (extension SIP code) -> display name.
    members: dict[str, str] = attrs.Factory(dict)
    #: The last UpdateCampaignStrategy values, once set.
    strategy: dict[str, int] = attrs.Factory(dict)

    @property
    def pending(self) -> list[Destination]:
        """The destinations not yet originated (status 1), in the order added."""
        return [call for call in self.calls if call.status == 1]

    def targets(self) -> list[str]:
        """Every destination's number, in the order added (duplicates included)."""
        return [call.target for call in self.calls]

    def to_wire(self, *, listing: bool, with_originated: bool = False) -> Answer:
        """This campaign as GetCampaignList (*listing*) or GetCampaignDetails describes it.

        *with_originated* adds TotalOriginatedCalls, as GetCampaignPendingCalls does.
        """
        priorities = [call.priority for call in self.calls]
        pending = len(self.pending)
        if self.kind == "ivr":
            awaiting: int | None = pending
        else:
            # The vendor's quirk: null in GetCampaignList, -1 elsewhere, for agent campaigns.
            awaiting = None if listing else -1
        wire: Answer = {
            "Name": self.name,
            "StatusName": "Enabled" if self.enabled else "Disabled",
            "TotalPendingCalls": pending,
            "MaxPriority": max(priorities, default=0),
            "MinPriority": min(priorities, default=0),
            "TotalAwaitingCalls": awaiting,
            "Code": self.code,
        }
        if with_originated:
            wire["TotalOriginatedCalls"] = len(self.calls) - pending
        return wire


def _flag(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false", "1", "0"}:
        return value.lower() in {"true", "1"}
    return None


def _integer(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _custom_data(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    # The service stores custom data as text: numbers come back as strings.
    return {str(k): v if isinstance(v, str) else _text(v) for k, v in value.items()}


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class FakeService:
    """The fake service's state and the API's semantics: :class:`FakeDialer` is this, plus
    clients wired to it.

    Thread-safe: the loopback server runs it in its own thread.
    """

    def __init__(self, account_code: str | None = None, *, faults: Faults | None = None) -> None:
        #: The account ``Code`` GetCampaignList accepts (a random one unless given).
        self.account_code = account_code or "FAKE-ACCOUNT-" + secrets.token_hex(8)
        #: The faults injected into requests (none unless given).
        self.faults = faults or Faults()
        #: The campaigns, by code; :meth:`add_campaign` adds one.
        self.campaigns: dict[str, FakeCampaign] = {}
        #: The method of every request that reached the service, in order, including those
        #: answered with an injected fault.
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._methods: dict[str, Callable[[Any], Answer]] = {
            "GetCampaignList": self._get_campaign_list,
            "GetCampaignDetails": self._get_campaign_details,
            "GetCampaignPendingCalls": self._get_campaign_pending_calls,
            "AddCall": self._add_call,
            "AddCallsBulk": self._add_calls_bulk,
            "UpdateCall": self._update_call,
            "RemoveCall": self._remove_call,
            "ClearCampaignCalls": self._clear_campaign_calls,
            "GetMembersList": self._get_members_list,
            "AddMember": self._add_member,
            "RemoveMember": self._remove_member,
            "StartCampaign": self._start_campaign,
            "StopCampaign": self._stop_campaign,
            "UpdateCampaignStrategy": self._update_campaign_strategy,
        }

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} campaigns={len(self.campaigns)} requests={len(self.requests)}>"
        )

    def note_request(self, method: str) -> None:
        """Note that a request for *method* reached the service."""
        with self._lock:
            self.requests.append(method)

    @property
    def methods(self) -> frozenset[str]:
        """The API methods this fake answers; any other is an unknown method."""
        return frozenset(self._methods)

    def add_campaign(
        self,
        name: str = "Campaign",
        *,
        code: str | None = None,
        kind: Kind = "ivr",
        enabled: bool = True,
    ) -> FakeCampaign:
        """Create a campaign (with a random code unless given) and return it."""
        campaign = FakeCampaign(
            name=name, code=code or secrets.token_hex(16), kind=kind, enabled=enabled
        )
        with self._lock:
            self.campaigns[campaign.code] = campaign
        return campaign

    def handle(self, method: str, params: Any) -> Answer:
        """Apply one request (*params*: the decoded JSON body or query) and return its answer.

        *method* must be one of :attr:`methods`.
        """
        with self._lock:
            if method != "AddCallsBulk" and not isinstance(params, dict):
                return _CAMPAIGN_MISSING
            return self._methods[method](params)

    # --- helpers -------------------------------------------------------------------------

    def _campaign(self, params: Mapping[str, Any]) -> FakeCampaign | Answer:
        code = params.get("Campaign")
        if not code:
            return _CAMPAIGN_MISSING
        campaign = self.campaigns.get(str(code))
        return campaign if campaign is not None else _INVALID_CAMPAIGN

    def _destination(self, params: Mapping[str, Any]) -> Destination | Answer:
        target = params.get("Target")
        if target is None or target == "":
            return _error(2, "Target missing")
        target = str(target)
        if _VALID_NUMBER.fullmatch(target) is None:
            return _error(-2, "Number is invalid")
        get = params.get
        priority, custom, when, local = (
            get("Priority"),
            get("CustomData"),
            get("OriginateTime"),
            get("IsDateLocal"),
        )
        return Destination(
            target.removeprefix("+"),
            str(get("CustomerName") or ""),
            str(get("CallerID") or ""),
            0 if priority is None else _integer(priority) or 0,
            _custom_data(custom) if custom else {},
            None if when is None else _integer(when),
            None if local is None else _flag(local),
        )

    # --- methods -------------------------------------------------------------------------

    def _get_campaign_list(self, params: Mapping[str, Any]) -> Answer:
        # The page documents no error here; an unknown code is refused rather than answered
        # with an empty list, so a misconfigured test fails loudly.
        if params.get("Code") != self.account_code:
            return _error(1, "Invalid code")
        return _ok(Data=[c.to_wire(listing=True) for c in self.campaigns.values()])

    def _get_campaign_details(self, params: Mapping[str, Any]) -> Answer:
        campaign = self._campaign(params)
        if not isinstance(campaign, FakeCampaign):
            return campaign
        return _ok(Data=campaign.to_wire(listing=False))

    def _get_campaign_pending_calls(self, params: Mapping[str, Any]) -> Answer:
        campaign = self._campaign(params)
        if not isinstance(campaign, FakeCampaign):
            return _error(2, "Internal error occured")  # sic, the vendor's spelling
        return _ok(
            Data={
                "Calls": [call.to_wire() for call in campaign.calls],
                "Campaign": campaign.to_wire(listing=False, with_originated=True),
            }
        )

    def _add_call(self, params: Mapping[str, Any]) -> Answer:
        campaign = self._campaign(params)
        if not isinstance(campaign, FakeCampaign):
            return campaign
        destination = self._destination(params)
        if not isinstance(destination, Destination):
            return destination
        campaign.calls.append(destination)  # a target added twice is held twice
        return _ok()

    def _add_calls_bulk(self, params: Any) -> Answer:
        if not isinstance(params, list) or not params:
            return _error(2, "Target missing")
        first = params[0] if isinstance(params[0], dict) else {}
        campaign = self._campaign(first)
        if not isinstance(campaign, FakeCampaign):
            return campaign
        results = []
        for item in params:
            if isinstance(item, dict):
                answer, target, custom = (
                    self._add_call(item),
                    item.get("Target"),
                    item.get("CustomData"),
                )
            else:
                answer, target, custom = _CAMPAIGN_MISSING, None, None
            results.append(
                {
                    "Target": target,
                    "ErrorCode": answer["ErrorCode"],
                    "Description": answer["Description"],
                    "CustomData": custom if isinstance(custom, dict) else {},
                }
            )
        if len(params) > MAX_BULK_RESULTS:
            return _ok()
        return _ok(AddResult=results)

    def _update_call(self, params: Mapping[str, Any]) -> Answer:
        campaign = self._campaign(params)
        if not isinstance(campaign, FakeCampaign):
            return campaign
        update = self._destination(params)
        if not isinstance(update, Destination):
            return update
        for index, call in enumerate(campaign.calls):
            if call.target == update.target:
                # Only the fields sent are changed.
                campaign.calls[index] = attrs.evolve(
                    call,
                    customer_name=update.customer_name
                    if "CustomerName" in params
                    else call.customer_name,
                    caller_id=update.caller_id if "CallerID" in params else call.caller_id,
                    priority=update.priority if "Priority" in params else call.priority,
                    custom_data=update.custom_data if "CustomData" in params else call.custom_data,
                    originate_time=update.originate_time
                    if "OriginateTime" in params
                    else call.originate_time,
                    is_date_local=update.is_date_local
                    if "IsDateLocal" in params
                    else call.is_date_local,
                )
                return _ok()
        campaign.calls.append(update)  # the vendor's upsert
        return _ok()

    def _remove_call(self, params: Mapping[str, Any]) -> Answer:
        campaign = self._campaign(params)
        if not isinstance(campaign, FakeCampaign):
            return campaign
        target = params.get("Target")
        if not target:
            return _error(2, "Target missing")
        target = str(target).removeprefix("+")
        # Every duplicate goes; an absent target is still OK.
        campaign.calls[:] = [call for call in campaign.calls if call.target != target]
        return _ok()

    def _clear_campaign_calls(self, params: Mapping[str, Any]) -> Answer:
        campaign = self._campaign(params)
        if not isinstance(campaign, FakeCampaign):
            return _error(4, "Internal error occurred.")
        campaign.calls.clear()
        return _ok()

    def _get_members_list(self, params: Mapping[str, Any]) -> Answer:
        campaign = self._campaign(params)
        if not isinstance(campaign, FakeCampaign):
            return campaign
        members = [{"Member": m, "DisplayName": name} for m, name in campaign.members.items()]
        return _ok(Data=members)

    def _add_member(self, params: Mapping[str, Any]) -> Answer:
        member = params.get("Member")
        if not member:
            return _error(2, "Member Missing")
        campaign = self._campaign(params)
        # Member answers carry no Description, as reported of the service.
        if not isinstance(campaign, FakeCampaign) or campaign.kind != "agent":
            return {"Data": {"TotalAdded": -1}, "ErrorCode": 0}
        if str(member) in campaign.members:
            return {"Data": {"TotalAdded": 0}, "ErrorCode": 0}
        campaign.members[str(member)] = f"Extension {member}"
        return {"Data": {"TotalAdded": 1}, "ErrorCode": 0}

    def _remove_member(self, params: Mapping[str, Any]) -> Answer:
        member = params.get("Member")
        if not member:
            return _error(2, "Member Missing")
        campaign = self._campaign(params)
        if not isinstance(campaign, FakeCampaign):
            return {"Data": {"TotalRemoved": 0}, "ErrorCode": 0}
        removed = 1 if campaign.members.pop(str(member), None) is not None else 0
        return {"Data": {"TotalRemoved": removed}, "ErrorCode": 0}

    def _set_enabled(self, params: Mapping[str, Any], enabled: bool) -> Answer:
        campaign = self._campaign(params)
        if not isinstance(campaign, FakeCampaign):
            return _INVALID_CAMPAIGN
        campaign.enabled = enabled
        return _ok()

    def _start_campaign(self, params: Mapping[str, Any]) -> Answer:
        return self._set_enabled(params, True)

    def _stop_campaign(self, params: Mapping[str, Any]) -> Answer:
        return self._set_enabled(params, False)

    def _update_campaign_strategy(self, params: Mapping[str, Any]) -> Answer:
        campaign = self._campaign(params)
        if not isinstance(campaign, FakeCampaign):
            return campaign
        values = {
            key: _integer(params.get(key))
            for key in ("setQueueForMonitoring", "setQueueMaximumCallers", "setCoefficient")
        }
        campaign.strategy = {key: value for key, value in values.items() if value is not None}
        return _ok()
