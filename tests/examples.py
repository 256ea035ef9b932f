"""The vendor's response examples (wire-format.md), as valid JSON objects, and test codes."""

from __future__ import annotations

from typing import Any

from voicenter_dialer import DEFAULT_BASE_URL

BASE_URL = DEFAULT_BASE_URL
# Long enough that masking shows their tail: tests check the rest never leaks.
ACCOUNT_CODE = "ACCTSECRET0123456789abcdefWXYZ"
CAMPAIGN_CODE = "CAMPSECRETjngqka31F7n1ujPZbOeEJ"

CAMPAIGN_LIST: dict[str, Any] = {
    "Data": [
        {
            "Name": "Campaign1",
            "StatusName": "Enabled",
            "TotalPendingCalls": 23,
            "MaxPriority": 1,
            "MinPriority": 1,
            "TotalAwaitingCalls": 23,
            "Code": "XXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        },
        {
            "Name": "Campaign2",
            "StatusName": "Disabled",
            "TotalPendingCalls": 19,
            "MaxPriority": 52,
            "MinPriority": 1,
            "TotalAwaitingCalls": None,
            "Code": "YYYYYYYYYYYYYYYYYYYYYYYYYYYYY",
        },
    ],
    "ErrorCode": 0,
    "Description": "OK",
}

CAMPAIGN_DETAILS: dict[str, Any] = {
    "Data": {
        "Name": "Campaign1",
        "StatusName": "Enabled",
        "TotalPendingCalls": 23,
        "MaxPriority": 1,
        "MinPriority": 1,
        "TotalAwaitingCalls": 23,
        "Code": "XXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    },
    "ErrorCode": 0,
    "Description": "OK",
}

PENDING_CALLS: dict[str, Any] = {
    "Data": {
        "Calls": [
            {
                "Phone": "972525599100",
                "CallerID": "",
                "CallerName": "",
                "OriginateTime": 1602819000,
                "Priority": 42,
                "CustomerName": "John Doe",
                "CallStatus": {"Status": 1, "Description": "Pending"},
                "CustomData": {"var_test1": "1", "var_test2": "some value"},
            },
            {
                "Phone": "972525599100",
                "CallerID": "",
                "CallerName": "",
                "OriginateTime": 1602755000,
                "Priority": 42,
                "CustomerName": "John Doe",
                "CallStatus": {"Status": 2, "Description": "Originated"},
                "CustomData": {"var_test1": "1", "var_test2": "some value"},
            },
        ],
        "Campaign": {
            "Name": "Campaign2",
            "StatusName": "Enabled",
            "TotalPendingCalls": 4,
            "TotalOriginatedCalls": 0,
            "MaxPriority": 42,
            "MinPriority": 42,
            "TotalAwaitingCalls": -1,
            "Code": "jngqka31F7n1ujPZbOeEJsMzfVaoU2jp",
        },
    },
    "ErrorCode": 0,
    "Description": "OK",
}

MEMBERS: dict[str, Any] = {
    "Data": [
        {"Member": "SIPSIP1", "DisplayName": "Walter Melon"},
        {"Member": "SIPSIP2", "DisplayName": "John Doe"},
    ],
    "ErrorCode": 0,
    "Description": "OK",
}

OK: dict[str, Any] = {"ErrorCode": 0, "Description": "OK"}


def error(code: int, description: str) -> dict[str, Any]:
    return {"ErrorCode": code, "Description": description}
