"""What starting costs: importing the library, ``voicenter-dialer --help``, the pytest plugin.

    .venv/bin/python benchmarks/startup.py [--rounds 7] [--bytecode source|cached|both]

Each figure is measured beside its baseline in the same run, every measurement a fresh
process, the processes of one round interleaved; medians over the rounds:

- imports (``-X importtime``, cumulative µs of what the code imports, less what the bare
  interpreter imports): ``import httpx`` (the baseline), ``import voicenter_dialer``, and what
  a program that makes calls imports, ``from voicenter_dialer import AsyncDialer, Call``;
- wall time: ``python -c "import httpx"`` (the baseline), ``voicenter-dialer --help``, and
  ``python -c pass`` (the interpreter alone);
- the pytest plugin: wall time of ``pytest --collect-only`` on one trivial test, with the
  plugin and without it (``-p no:voicenter_dialer``).

Bytecode: ``source`` runs as these machines do, with PYTHONDONTWRITEBYTECODE set and no
``.pyc`` files, so that every import compiles its module's source; ``cached`` first writes the
bytecode to a temporary PYTHONPYCACHEPREFIX (the virtualenv is left as it is), then reads it.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

PYTHON = sys.executable
CLI = str(Path(PYTHON).with_name("voicenter-dialer"))

IMPORTS = {
    "import httpx": "import httpx",
    "import voicenter_dialer": "import voicenter_dialer",
    "from voicenter_dialer import AsyncDialer, Call": (
        "from voicenter_dialer import AsyncDialer, Call"
    ),
}
PLUGIN = "voicenter_dialer.testing.pytest_plugin"
_TOP_LEVEL = re.compile(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$")


def imported_us(code: str, env: Mapping[str, str], cwd: Path, module: str | None = None) -> int:
    """Cumulative µs of every module imported at the top level while running *code*, the
    interpreter's own start included (:func:`report` takes it off); or of *module* only."""
    done = subprocess.run(  # noqa: S603 (this interpreter, this file's own code)
        [PYTHON, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=cwd,
    )
    lines = [match for line in done.stderr.splitlines() if (match := _TOP_LEVEL.match(line))]
    return sum(int(m.group(1)) for m in lines if module is None or m.group(2) == module)


def timed(command: list[str], env: Mapping[str, str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run of *command*."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(  # noqa: S603 (this interpreter, this file's own commands)
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env, cwd=cwd
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def _pyc_files() -> int:
    """.pyc files beside the sources of httpx and of the library (none: every run compiles)."""
    import httpx

    import voicenter_dialer

    folders = [Path(httpx.__file__).parent, Path(voicenter_dialer.__file__).parent]
    return sum(len(list(folder.rglob("*.pyc"))) for folder in folders)


def measure(rounds: int, env: Mapping[str, str]) -> dict[str, list[float]]:
    """Every measurement's values, one a round: ``wall: X`` and ``cpu: X`` in seconds,
    ``importtime: X`` in µs."""
    # Every run starts here, not in the checkout: `python -c` would import the checkout's
    # voicenter_dialer first, whatever PYTHONPATH names (see docs/performance.md).
    project = Path(tempfile.mkdtemp(prefix="startup-"))
    (project / "test_one.py").write_text("def test_one():\n    pass\n")
    pytest = [PYTHON, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    commands = {
        "python -c pass": [PYTHON, "-c", "pass"],
        'python -c "import httpx"': [PYTHON, "-c", "import httpx"],
        "voicenter-dialer --help": [CLI, "--help"],
        "pytest, without the plugin": [*pytest, "-p", "no:voicenter_dialer"],
        "pytest, with the plugin": pytest,
    }
    codes = {"bare interpreter": "pass", **IMPORTS}
    results: dict[str, list[float]] = collections.defaultdict(list)
    try:
        for counted in [False] + [True] * rounds:  # the first writes any bytecode cached
            for label, command in commands.items():
                wall, cpu = timed(command, env, project)
                if counted:
                    results[f"wall: {label}"].append(wall)
                    results[f"cpu: {label}"].append(cpu)
            for label, code in codes.items():
                us = imported_us(code, env, project)
                if counted:
                    results[f"importtime: {label}"].append(us)
            # The plugin as pytest loads it: pytest (and what it imports) already there.
            us = imported_us(f"import pytest; import {PLUGIN}", env, project, PLUGIN)
            if counted:
                results["importtime: the plugin"].append(us)
    finally:
        shutil.rmtree(project)
    return results


def report(results: Mapping[str, list[float]]) -> None:
    median = {label: statistics.median(values) for label, values in results.items()}

    def imported(label: str) -> float:
        return median[f"importtime: {label}"] - median["importtime: bare interpreter"]

    httpx_us = imported("import httpx")
    print("imports (-X importtime, cumulative, less the bare interpreter's; median):")
    for label in IMPORTS:
        us = imported(label)
        print(f"  {label:<50} {us / 1000:7.1f} ms  {us / httpx_us:5.2f}x import httpx")
    print("processes (median wall, median CPU):")
    baseline = 'python -c "import httpx"'
    for label in ("python -c pass", baseline, "voicenter-dialer --help"):
        wall, cpu = median[f"wall: {label}"], median[f"cpu: {label}"]
        print(
            f"  {label:<36} {wall * 1000:7.1f} ms {wall / median[f'wall: {baseline}']:5.2f}x "
            f"{cpu * 1000:7.1f} ms CPU {cpu / median[f'cpu: {baseline}']:5.2f}x"
        )
    print("the pytest plugin:")
    plugin_ms = median["importtime: the plugin"] / 1000
    print(f"  importing it after pytest: {plugin_ms:.1f} ms (-X importtime, cumulative)")
    for label in ("pytest, without the plugin", "pytest, with the plugin"):
        wall, cpu = median[f"wall: {label}"], median[f"cpu: {label}"]
        print(f"  {label:<36} {wall * 1000:7.1f} ms {cpu * 1000:12.1f} ms CPU")
    for kind in ("wall", "cpu"):
        added = [
            with_plugin - without
            for with_plugin, without in zip(
                results[f"{kind}: pytest, with the plugin"],
                results[f"{kind}: pytest, without the plugin"],
                strict=True,
            )
        ]
        print(
            f"  pytest --collect-only, {kind} added: median {statistics.median(added) * 1000:.0f}"
            f" ms (same-round differences {min(added) * 1000:.0f} to {max(added) * 1000:.0f} ms)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--bytecode", choices=["source", "cached", "both"], default="both")
    args = parser.parse_args()
    import voicenter_dialer  # which copy: PYTHONPATH may name another (an older version)

    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.rounds} rounds")
    print(f"voicenter_dialer {voicenter_dialer.__version__} from {voicenter_dialer.__file__}")
    modes = ["source", "cached"] if args.bytecode == "both" else [args.bytecode]
    for mode in modes:
        env = dict(os.environ)
        prefix = None
        if mode == "source":
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            found = _pyc_files()
            print(f"\n== bytecode not cached ({found} .pyc files beside the sources) ==")
            if found:  # PYTHONDONTWRITEBYTECODE stops writing them, not reading them
                print("warning: they are read, so this is not a run from source: delete them")
        else:
            prefix = tempfile.mkdtemp(prefix="startup-pycache-")
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = prefix
            print(f"\n== bytecode cached (in {prefix}) ==")
        try:
            report(measure(args.rounds, env))
        finally:
            if prefix is not None:
                shutil.rmtree(prefix)


if __name__ == "__main__":
    main()
