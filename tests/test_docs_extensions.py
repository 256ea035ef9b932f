"""The griffe extensions of the docs build (docs/griffe_*.py), on small packages of their own."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("griffe", reason="the docs group is not installed")
import griffe

DOCS = Path(__file__).parent.parent / "docs"
Load = Callable[[str, str], griffe.Module]


@pytest.fixture
def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Load]:
    """Load a one-module package (importable too: the attrs extension imports it) with the
    docs build's extensions."""
    monkeypatch.syspath_prepend(str(DOCS))
    monkeypatch.syspath_prepend(str(tmp_path))
    names: list[str] = []

    def _load(name: str, source: str) -> griffe.Module:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        names.append(name)
        extensions = griffe.load_extensions(
            "griffe_field_comments:FieldComments",
            "griffe_attrs:AttrsInit",
            "griffe_init_attributes:InitAttributes",
        )
        module = griffe.load(name, search_paths=[tmp_path], extensions=extensions)
        assert isinstance(module, griffe.Module)
        return module

    yield _load
    for name in names:
        sys.modules.pop(name, None)
    importlib.invalidate_caches()


def _docstring(obj: griffe.Object | griffe.Alias) -> str | None:
    return obj.docstring.value if obj.docstring else None


def test_a_comment_block_above_an_attribute_is_its_docstring(load: Load) -> None:
    module = load(
        "commented",
        '''
        #: A module constant,
        #: on two lines.
        LIMIT = 3

        # A plain comment is not documentation.
        OTHER = 4

        #: Not this comment, the string below.
        NAMED = 5
        """The string."""


        class Thing:
            #: A class attribute.
            size: int = 1

            def __init__(self) -> None:
                #: Set in __init__.
                self.count = 0
        ''',
    )

    assert _docstring(module["LIMIT"]) == "A module constant,\non two lines."
    assert _docstring(module["OTHER"]) is None
    assert _docstring(module["NAMED"]) == "The string."
    assert _docstring(module["Thing.size"]) == "A class attribute."
    assert _docstring(module["Thing.count"]) == "Set in __init__."


def test_an_attrs_class_gets_the_init_attrs_writes(load: Load) -> None:
    module = load(
        "models",
        """
        from typing import Any

        import attrs


        @attrs.define
        class Base:
            first: int


        NONE_GIVEN = object()


        def _kept() -> Any:
            return attrs.field(default=NONE_GIVEN, kw_only=True)


        @attrs.frozen
        class Model(Base):
            #: Keyword-only, though declared before a positional field.
            flag: bool = attrs.field(default=False, kw_only=True)
            items: list[int] = attrs.field(factory=list)
            _secret: str = attrs.field(default="", repr=False)
            hidden: int = attrs.field(default=0, init=False)
            #: Built by a helper: only attrs knows its default.
            kept: object = _kept()


        @attrs.define(init=False)
        class Own:
            x: int

            def __init__(self, y: str) -> None:
                self.x = int(y)
        """,
    )
    init = module["Model"].members["__init__"]
    parameters = [(p.name, p.kind.value, str(p.default)) for p in init.parameters]

    assert parameters == [
        ("self", "positional or keyword", "None"),
        ("first", "positional or keyword", "None"),
        ("items", "positional or keyword", "list()"),
        ("secret", "positional or keyword", "''"),
        ("flag", "keyword-only", "False"),
        ("kept", "keyword-only", "NONE_GIVEN"),
    ]
    assert init.parameters["flag"].docstring.value.startswith("Keyword-only")
    assert str(module["Model.items"].value) == "list()"
    assert str(module["Model.hidden"].value) == "0"
    assert str(module["Model.kept"].value) == "NONE_GIVEN"
    assert module["Base.first"].value is None
    assert [p.name for p in module["Own"].members["__init__"].parameters] == ["self", "y"]


def test_an_attribute_set_from_init_arguments_shows_no_value(load: Load) -> None:
    module = load(
        "assigned",
        """
        class Thing:
            size: int

            def __init__(self, size: int, name: str, items: list[int] | None = None) -> None:
                self.size = size
                self.name = name
                self.items = items or []
                self.seen: list[str] = []
        """,
    )
    shown = {
        name: (str(module[f"Thing.{name}"].annotation), str(module[f"Thing.{name}"].value))
        for name in ("size", "name", "items", "seen")
    }

    assert shown == {
        "size": ("int", "None"),
        "name": ("str", "None"),
        "items": ("None", "None"),
        "seen": ("list[str]", "[]"),
    }
