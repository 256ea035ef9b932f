"""``voicenter-dialer completion bash|zsh|fish``: scripts the shells accept and complete with."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .test_cli import run_main


def bash_completions(script: Path, *words: str) -> list[str]:
    """What bash, having sourced *script*, offers for the command line *words* (the last
    one being completed), by calling the completion function registered for the command."""
    line = " ".join(words)
    program = f"""
source {script}
function=$(complete -p voicenter-dialer | sed -E 's/.* -F ([^ ]+) .*/\\1/')
COMP_WORDS=({line})
COMP_CWORD={len(words) - 1}
COMP_LINE="{line}"
COMP_POINT=${{#COMP_LINE}}
"$function" voicenter-dialer "{words[-1]}" "{words[-2]}"
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    bash = shutil.which("bash")
    assert bash is not None
    completed = subprocess.run(
        [bash, "--norc", "--noprofile", "-c", program],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.split()


@pytest.fixture
def bash_script(tmp_path: Path) -> Path:
    run = run_main("completion", "bash")
    assert run.code == 0, run.err
    script = tmp_path / "voicenter-dialer.bash"
    script.write_text(run.out)
    return script


def test_bash_completes_commands(bash_script: Path) -> None:
    assert "upload" in bash_completions(bash_script, "voicenter-dialer", "up")
    assert bash_completions(bash_script, "voicenter-dialer", "upl") == ["upload"]
    assert "update-strategy" in bash_completions(bash_script, "voicenter-dialer", "up")


def test_bash_completes_a_command_s_options(bash_script: Path) -> None:
    assert bash_completions(bash_script, "voicenter-dialer", "upload", "--dry") == ["--dry-run"]
    # The shared options after the command too.
    assert "--base-url" in bash_completions(bash_script, "voicenter-dialer", "campaigns", "--ba")


@pytest.mark.parametrize(("shell", "check"), [("zsh", ["-n"]), ("fish", ["--no-execute"])])
def test_zsh_and_fish_scripts(tmp_path: Path, shell: str, check: list[str]) -> None:
    run = run_main("completion", shell)

    assert run.code == 0, run.err
    assert "voicenter-dialer" in run.out
    assert "upload" in run.out
    executable = shutil.which(shell)
    if executable is None:
        return  # generated and non-empty is what can be checked here
    script = tmp_path / f"completion.{shell}"
    script.write_text(run.out)
    checked = subprocess.run(
        [executable, *check, str(script)], capture_output=True, text=True, timeout=30, check=False
    )
    assert checked.returncode == 0, checked.stderr


def test_completion_under_json_is_one_document() -> None:
    run = run_main("completion", "bash", "--json")

    assert run.code == 0, run.err
    document = json.loads(run.out)
    assert document["shell"] == "bash"
    assert "complete" in document["script"]


def test_an_unknown_shell_is_a_usage_error() -> None:
    run = run_main("completion", "powershell-9")

    assert run.code == 2
    assert "invalid choice" in run.err


def test_without_shtab_it_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "shtab", None)  # import shtab raises ImportError

    run = run_main("completion", "bash")

    assert run.code == 2
    assert "pip install 'voicenter-dialer[cli]'" in run.err
