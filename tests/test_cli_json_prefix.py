"""A prefix of --json is --json (argparse reads it so): the output, errors included, is JSON."""

from __future__ import annotations

import json

import pytest

from .test_cli import run_main


@pytest.mark.parametrize("flag", ["--js", "--jso", "--json"])
def test_an_argument_error_with_a_json_prefix_is_a_json_document(flag: str) -> None:
    run = run_main("campaigns", flag, "--no-such-option")

    assert run.code == 2
    assert json.loads(run.out)["error"]["type"] == "UsageError"


def test_json_after_a_double_dash_is_not_the_flag() -> None:
    run = run_main("journal", "--", "--json")

    assert run.code == 2
    assert run.out == ""
