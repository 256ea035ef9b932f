"""The built site: `mkdocs build --strict` into a temporary directory, then its HTML read back.

The reference is generated, so what a reader sees is checked on the HTML, not on the sources:
field descriptions written as ``#:`` comments, the models' constructor signatures, no
``attrs.field(...)`` in place of a default.
"""

from __future__ import annotations

import ast
import html
import inspect
import os
import re
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import attrs
import pytest

import voicenter_dialer
import voicenter_dialer.testing

pytest.importorskip("mkdocs", reason="the docs group is not installed")
# `make docs` builds on Python 3.11; uv.lock's docs tools for 3.10 (mkdocstrings 1.0.6 with
# pymdown-extensions 12.3) fail on any page with an API reference, so nox's 3.10 sessions skip.
pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="the locked docs tools cannot build the site on 3.10"
)

ROOT = Path(__file__).parent.parent
PUBLIC_CLASSES = [
    (f"{module.__name__}.{name}", obj)
    for module in (voicenter_dialer, voicenter_dialer.testing)
    for name in module.__all__
    if inspect.isclass(obj := getattr(module, name))
]
_TAG = re.compile(r"<[^>]+>")
_ROLE = re.compile(r":(?:py:)?[a-z]+:`~?\.?([^`]+)`")
# A private name (``_extra``), not a dunder (``__version__``).
_PRIVATE_NAME = re.compile(r"(?<![\w.])_[A-Za-z]\w*")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=True,
        timeout=300,
    )
    return out


@pytest.fixture(scope="module")
def reference(site: Path) -> str:
    return "".join(page.read_text() for page in sorted((site / "reference").rglob("*.html")))


def _text(fragment: str) -> str:
    return " ".join(html.unescape(_TAG.sub("", fragment)).split())


def _section(page: str, anchor: str) -> str:
    """The HTML of one documented object: from its heading to the next object's heading."""
    start = page.index(f'id="{anchor}"')
    following = page.find('id="voicenter_dialer.', start + len(anchor) + 5)
    return page[start : following if following != -1 else None]


def _signature(page: str, anchor: str) -> str:
    section = _section(page, anchor)
    start = section.index('class="doc-signature')
    return _text(section[start : section.index("</code>", start)].partition(">")[2])


def _field_comments(cls: type) -> dict[str, str]:
    """The ``#:`` comment block right above each attribute declared in the class body."""
    lines, _ = inspect.getsourcelines(cls)
    body = ast.parse(textwrap.dedent("".join(lines))).body[0]
    assert isinstance(body, ast.ClassDef)
    comments: dict[str, str] = {}
    for node in body.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            above: list[str] = []
            index = node.lineno - 2
            while index >= 0 and (line := lines[index].strip()).startswith("#:"):
                above.insert(0, line[2:].strip())
                index -= 1
            if above:
                comments[node.target.id] = " ".join(above)
    return comments


def _as_shown(comment: str) -> str:
    # Roles and ``literals`` are rendered as code: only their text remains once tags are gone.
    return " ".join(_ROLE.sub(r"\1", comment).replace("``", "").split())


def test_field_comments_are_on_the_site(reference: str) -> None:
    expected = {
        f"{path}.{name}": _as_shown(comment)
        for path, cls in PUBLIC_CLASSES
        for name, comment in _field_comments(cls).items()
        if not name.startswith("_")
    }
    missing = {
        anchor: comment
        for anchor, comment in expected.items()
        if comment not in _text(_section(reference, anchor))
    }

    assert len(expected) >= 40
    assert missing == {}


def test_the_unredacted_body_warning_and_the_backoff_are_shown(reference: str) -> None:
    response = _text(_section(reference, "voicenter_dialer.DialerError.response"))
    wait_initial = _text(_section(reference, "voicenter_dialer.RetryPolicy.wait_initial"))

    assert "response.content is the raw body as received: not redacted" in response
    assert "Backoff before the first retry" in wait_initial
    assert "wait_initial: float = 0.5" in wait_initial


def test_a_model_shows_its_constructor_signature(reference: str) -> None:
    signature = _signature(reference, "voicenter_dialer.Call")

    # Compared without spaces: how the signature is wrapped depends on the formatter found.
    flat = "".join(signature.split())
    assert flat.startswith("Call(target:str,*,customer_name:str|None=None,")
    assert "custom_data: Mapping[str, CustomValue] = dict()" in signature


@pytest.mark.parametrize(
    ("path", "cls"), [(path, cls) for path, cls in PUBLIC_CLASSES if attrs.has(cls)]
)
def test_every_model_shows_every_init_parameter(reference: str, path: str, cls: type) -> None:
    signature = _signature(reference, path)
    parameters = [field.alias for field in attrs.fields(cls) if field.init]

    assert [name for name in parameters if not re.search(rf"[( ]{name}:", signature)] == []


def test_no_field_shows_attrs_field_as_its_value(reference: str) -> None:
    assert "attrs.field(" not in _text(reference)


def test_the_sitemap_has_absolute_addresses(site: Path) -> None:
    # Without site_url, mkdocs writes an empty sitemap and a 404 page whose links are relative.
    sitemap = (site / "sitemap.xml").read_text()

    assert re.findall(r"<loc>https://[^<]+/reference/models/</loc>", sitemap) != []


def test_an_attribute_set_in_init_shows_its_type_not_the_constructors_code(reference: str) -> None:
    assert _signature(reference, "voicenter_dialer.DialerError.response") == (
        "response: Response | None"
    )
    assert _signature(reference, "voicenter_dialer.RawResponse.http_response") == (
        "http_response: Response"
    )
    assert _signature(reference, "voicenter_dialer.testing.FakeService.faults") == "faults"


class _Attributes(HTMLParser):
    """Each documented attribute of a page: its anchor, signature and description, as text."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, dict[str, str]] = {}
        self._divs: list[str] = []  # the role of each open <div>: attribute, part or other
        self._anchor = ""
        self._part = ""  # "signature" or "description" while inside one

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        anchor = dict(attrs).get("id")
        if tag != "div":
            if anchor and self._divs and self._divs[-1] == "attribute" and not self._anchor:
                self._anchor = anchor
                self.found[anchor] = {"signature": "", "description": ""}
            return
        role = "other"
        if "doc-attribute" in classes and "doc-object" in classes:
            role, self._anchor = "attribute", ""
        elif self._anchor and not self._part and self._divs[-1] == "attribute":
            if "doc-signature" in classes:
                role, self._part = "part", "signature"
            elif "doc-contents" in classes:
                role, self._part = "part", "description"
        self._divs.append(role)

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self._divs:
            role = self._divs.pop()
            if role == "part":
                self._part = ""
            elif role == "attribute":
                self._anchor = ""

    def handle_data(self, data: str) -> None:
        if self._part and self._anchor:
            self.found[self._anchor][self._part] += data


@pytest.fixture(scope="module")
def attributes(site: Path) -> dict[str, dict[str, str]]:
    """Every attribute the reference documents (fields, properties, class and instance
    attributes, module constants), by anchor: its signature and description as text."""
    found: dict[str, dict[str, str]] = {}
    for page in sorted((site / "reference").rglob("*.html")):
        parser = _Attributes()
        parser.feed(page.read_text())
        found.update(parser.found)
    return {
        anchor: {part: " ".join(text.split()) for part, text in parts.items()}
        for anchor, parts in found.items()
    }


def test_every_attribute_in_the_reference_has_a_description(
    attributes: dict[str, dict[str, str]],
) -> None:
    undescribed = sorted(anchor for anchor, parts in attributes.items() if not parts["description"])
    # Every public field of every attrs class shown is among them: none is left out unseen.
    shown = {anchor.rpartition(".")[0] for anchor in attributes}
    fields = {
        f"{path}.{field.name}"
        for path, cls in PUBLIC_CLASSES
        if attrs.has(cls) and path in shown
        for field in attrs.fields(cls)
        if not field.name.startswith("_")
    }

    assert len(attributes) >= 150
    assert sorted(fields - attributes.keys()) == []
    assert undescribed == []


def test_no_attribute_shows_a_private_name(attributes: dict[str, dict[str, str]]) -> None:
    private = {
        anchor: names
        for anchor, parts in attributes.items()
        if (names := _PRIVATE_NAME.findall(f"{parts['signature']} {parts['description']}"))
    }

    assert private == {}


def test_extra_shows_an_empty_mapping_as_its_default(
    attributes: dict[str, dict[str, str]], reference: str
) -> None:
    extras = {anchor: parts for anchor, parts in attributes.items() if anchor.endswith(".extra")}
    signature = _signature(reference, "voicenter_dialer.Campaign")

    assert len(extras) >= 6
    assert {parts["signature"] for parts in extras.values()} == {"extra: Mapping[str, object] = {}"}
    assert "extra: Mapping[str, object] = {}" in signature
    assert "NO_EXTRA" not in _text(reference)
