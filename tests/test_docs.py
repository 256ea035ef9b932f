"""Every public name is documented: it has a docstring and a place in the API reference."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import voicenter_dialer
import voicenter_dialer.testing

ROOT = Path(__file__).parent.parent
REFERENCE = ROOT / "docs" / "reference"
PUBLIC = [
    f"{module.__name__}.{name}"
    for module in (voicenter_dialer, voicenter_dialer.testing)
    for name in module.__all__
]


def test_every_public_name_is_in_the_reference() -> None:
    shown = {
        match
        for page in REFERENCE.glob("*.md")
        for match in re.findall(r"^::: (\S+)$", page.read_text(), flags=re.MULTILINE)
    }

    assert sorted(set(PUBLIC) - shown) == []


def test_the_readme_links_to_pages_that_exist() -> None:
    # mkdocs checks the links between pages; the README, outside the site, is checked here.
    links = re.findall(r"\]\((docs/[^)#]+)", (ROOT / "README.md").read_text())

    assert len(links) > 10
    assert [link for link in links if not (ROOT / link).is_file()] == []


def test_every_public_name_and_member_has_a_docstring() -> None:
    # griffe reads docstrings as the reference does, constants' attribute docstrings included.
    griffe = pytest.importorskip("griffe", reason="the docs extra is not installed")
    package = griffe.load("voicenter_dialer", resolve_aliases=True)
    undocumented: list[str] = []
    for path in PUBLIC:
        obj = package[path.split(".", 1)[1]].final_target
        # A class's methods and properties; its fields by `#:` comments (see test_docs_site.py).
        methods = [
            member
            for name, member in (obj.members.items() if obj.is_class else ())
            if not name.startswith("_") and (member.is_function or "property" in member.labels)
        ]
        for each in (obj, *methods):
            if not (each.docstring and each.docstring.value.strip()):
                undocumented.append(path if each is obj else f"{path}.{each.name}")

    assert undocumented == []


def test_the_readme_and_the_guides_agree_on_what_make_test_runs() -> None:
    # `make test` runs its prerequisites; each description names every one of them.
    prerequisites = re.search(r"^test: (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert prerequisites is not None
    named_by = {"lint": "ruff", "typecheck": "mypy", "unit": "test suite", "docs": "docs"}
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    descriptions = {
        match
        for page in pages
        for match in re.findall(r"^make test +# (.+)$", page.read_text(), re.MULTILINE)
    }

    assert len(descriptions) == 1
    (description,) = descriptions
    assert [
        target for target in prerequisites[1].split() if named_by[target] not in description
    ] == []
