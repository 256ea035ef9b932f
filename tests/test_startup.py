"""A fast start: importing the package, the pytest plugin and the command line's help load
only what they use. Behaviour only (which modules a fresh process holds), never timings."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from types import ModuleType

import pytest

import voicenter_dialer
import voicenter_dialer.testing
from voicenter_dialer.cli import _main as cli_main

#: What most programs never touch: journal stores, telemetry, the fake's server, the CLI's
#: progress bar. None of it may be loaded by ``import voicenter_dialer``.
HEAVY = ("psycopg", "sqlite3", "opentelemetry", "uvicorn", "starlette", "rich")

#: httpx imports its own command line (rich, click) when click is installed, as it is in this
#: environment (uvicorn needs it); without click it imports neither. Blocking that one module
#: is the plain install's view, so that a heavy import is ours, not httpx's.
_PLAIN_HTTPX = "import sys; sys.modules['httpx._main'] = None\n"


def _loaded_after(code: str, *, prelude: str = _PLAIN_HTTPX) -> set[str]:
    """The modules a fresh interpreter loads to run *code*, and their top-level packages."""
    script = (
        f"{prelude}import json, sys\n"
        "before = set(sys.modules)\n"
        f"{code}\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    names = set(json.loads(result.stdout.splitlines()[-1]))
    return names | {name.partition(".")[0] for name in names}


@pytest.mark.parametrize("package", [voicenter_dialer, voicenter_dialer.testing])
def test_every_public_name_is_importable(package: ModuleType) -> None:
    names: list[str] = package.__all__
    namespace: dict[str, object] = {}
    exec(f"from {package.__name__} import *", namespace)  # noqa: S102
    for name in names:
        assert namespace[name] is getattr(package, name), name
        assert name in dir(package), name


@pytest.mark.parametrize("package", [voicenter_dialer, voicenter_dialer.testing])
def test_a_name_not_exported_is_an_attribute_error(package: ModuleType) -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        package.no_such_name  # noqa: B018


def test_public_names_are_the_defining_modules_objects() -> None:
    from voicenter_dialer._client import AsyncDialer
    from voicenter_dialer._journal_records import JournalSummary
    from voicenter_dialer._options import DEFAULT_LIMITS
    from voicenter_dialer.testing._http import FakeDialer

    assert voicenter_dialer.AsyncDialer is AsyncDialer
    assert voicenter_dialer.JournalSummary is JournalSummary
    assert voicenter_dialer.DEFAULT_LIMITS is DEFAULT_LIMITS
    assert voicenter_dialer.testing.FakeDialer is FakeDialer


def test_import_loads_nothing_heavy() -> None:
    loaded = _loaded_after("import voicenter_dialer")

    assert not loaded & set(HEAVY)


def test_a_client_in_use_loads_no_store_telemetry_or_server() -> None:
    """A program that makes calls (through the fake, in-process) loads no journal store, no
    telemetry, no server and no progress bar."""
    code = (
        "import anyio\n"
        "from voicenter_dialer import AsyncDialer, Call, Dialer, to_dict\n"
        "from voicenter_dialer.testing import FakeDialer\n"
        "fake = FakeDialer()\n"
        "campaign = fake.add_campaign('Sales')\n"
        "async def main():\n"
        "    async with fake.client() as dialer:\n"
        "        await dialer.add_call(campaign.code, Call('972501234567'))\n"
        "        await dialer.add_calls_bulk(campaign.code, [Call('972501234568')])\n"
        "anyio.run(main)\n"
        "assert campaign.targets() == ['972501234567', '972501234568']\n"
    )

    loaded = _loaded_after(code)

    assert not loaded & set(HEAVY)


def test_a_journal_loads_its_store_only() -> None:
    loaded = _loaded_after(
        "import sys, tempfile\n"
        "from voicenter_dialer import summarise_journal, JournalError\n"
        "try:\n"
        "    summarise_journal(tempfile.mkdtemp() + '/missing.journal')\n"
        "except JournalError:\n"
        "    pass\n"
    )

    assert "sqlite3" in loaded
    assert not loaded & {"psycopg", "opentelemetry"}


def test_the_pytest_plugin_loads_nothing_until_its_fixtures_are_used() -> None:
    loaded = _loaded_after("import voicenter_dialer.testing.pytest_plugin", prelude="")

    assert not loaded & {"httpx", "anyio", "attrs", "cattrs", "stamina", *HEAVY}
    assert "voicenter_dialer.testing._http" not in loaded


def test_help_loads_no_library_module() -> None:
    """``voicenter-dialer --help`` needs argparse and the command line's own words only."""
    code = (
        "import contextlib, io\n"
        "from voicenter_dialer.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
    )

    loaded = _loaded_after(code, prelude="")

    assert not loaded & {"httpx", "anyio", "cattrs", "stamina", *HEAVY}


def _registered(parser: argparse.ArgumentParser) -> dict[str, str | None]:
    """Each command of *parser*, and its help line."""
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {action.dest: action.help for action in commands._choices_actions}


def test_the_command_table_is_what_the_modules_register() -> None:
    """--help lists COMMANDS without importing the commands' modules: the table must say
    what they register, in the same order, each command by the module it names."""
    registered = _registered(cli_main._parser(cli_main.MODULES))

    assert registered == {name: help_text for name, (_, help_text) in cli_main.COMMANDS.items()}
    assert list(registered) == list(cli_main.COMMANDS)
    for name, (module, _) in cli_main.COMMANDS.items():
        assert name in _registered(cli_main._parser([module])), name


def test_help_is_the_whole_command_lines() -> None:
    assert cli_main._parser(None).format_help() == cli_main._parser().format_help()


def test_spans_are_recorded_once_the_application_sets_up_tracing_later() -> None:
    """opentelemetry is loaded by the library only once the application has loaded it: a
    provider set up after the library's first calls still gets every later call's span."""
    script = (
        "import sys, anyio\n"
        "from voicenter_dialer import Call\n"
        "from voicenter_dialer.testing import FakeDialer\n"
        "fake = FakeDialer()\n"
        "campaign = fake.add_campaign('Sales').code\n"
        "async def call(target):\n"
        "    async with fake.client() as dialer:\n"
        "        await dialer.add_call(campaign, Call(target))\n"
        "anyio.run(call, '972501234567')\n"
        "assert 'opentelemetry' not in sys.modules\n"
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import (\n"
        "    InMemorySpanExporter)\n"
        "exporter = InMemorySpanExporter()\n"
        "provider = TracerProvider()\n"
        "provider.add_span_processor(SimpleSpanProcessor(exporter))\n"
        "trace.set_tracer_provider(provider)\n"
        "anyio.run(call, '972501234568')\n"
        "print([span.name for span in exporter.get_finished_spans()])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.replace("'", '"')) == ["voicenter_dialer AddCall"]
