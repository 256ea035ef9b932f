"""Codes the service echoes where this version does not expect them (fields kept in
``.extra``) are masked in everything the CLI prints, as the known fields are."""

from __future__ import annotations

import json
from typing import Any

import respx

from .examples import ACCOUNT_CODE, CAMPAIGN_CODE, CAMPAIGN_DETAILS, CAMPAIGN_LIST
from .test_cli import run_main


def _echoing(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The campaigns of *answer*, each echoing its own code and the account's in new fields."""
    return [
        {**campaign, "CampaignCode": campaign["Code"], "Owner": ACCOUNT_CODE}
        for campaign in answer["Data"]
    ]


def test_campaigns_masks_each_campaigns_code_echoed_in_an_unknown_field(
    api: respx.MockRouter,
) -> None:
    api.post("GetCampaignList").respond(json={**CAMPAIGN_LIST, "Data": _echoing(CAMPAIGN_LIST)})

    run = run_main("campaigns", "--json", env={"VOICENTER_CODE": ACCOUNT_CODE})

    assert run.code == 0, run.err
    campaigns = json.loads(run.out)["campaigns"]
    assert [c["extra"]["CampaignCode"] for c in campaigns] == [c["code"] for c in campaigns]
    for campaign in CAMPAIGN_LIST["Data"]:
        assert campaign["Code"] not in run.out
    assert ACCOUNT_CODE not in run.out


def test_campaigns_show_codes_prints_them_in_full_but_not_the_account_code(
    api: respx.MockRouter,
) -> None:
    api.post("GetCampaignList").respond(json={**CAMPAIGN_LIST, "Data": _echoing(CAMPAIGN_LIST)})

    run = run_main(
        "campaigns",
        "--json",
        "--show-codes",
        env={"VOICENTER_CODE": ACCOUNT_CODE, "VOICENTER_CAMPAIGN": "XXXXXXXXXXXXXXXXXXXXXXXXXXXXX"},
    )

    assert run.code == 0, run.err
    campaigns = json.loads(run.out)["campaigns"]
    assert [c["code"] for c in campaigns] == [c["Code"] for c in CAMPAIGN_LIST["Data"]]
    assert ACCOUNT_CODE not in run.out


def test_details_text_masks_a_code_echoed_in_the_name(api: respx.MockRouter) -> None:
    data = {**CAMPAIGN_DETAILS["Data"], "Name": f"Sales {CAMPAIGN_CODE}"}
    api.post("GetCampaignDetails").respond(json={**CAMPAIGN_DETAILS, "Data": data})

    run = run_main(
        "details", env={"VOICENTER_CODE": ACCOUNT_CODE, "VOICENTER_CAMPAIGN": CAMPAIGN_CODE}
    )

    assert run.code == 0, run.err
    assert CAMPAIGN_CODE not in run.out + run.err
    assert "…" + CAMPAIGN_CODE[-4:] in run.out
