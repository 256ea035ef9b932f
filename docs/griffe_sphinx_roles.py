"""Griffe extension: the package's reST-flavoured docstrings, as mkdocstrings' Markdown.

The docstrings use Sphinx roles (``:class:`Call```) and literal blocks (``text::``), which read
well in ``help()`` and in an editor. This rewrites them for the API reference only:

- a role naming a public object (``voicenter_dialer.X``, ``voicenter_dialer.testing.X``, or a
  member of the class the docstring belongs to) becomes a cross-reference, which
  ``mkdocs build --strict`` fails on when its target is not in the reference;
- any other role (a private helper, the standard library) becomes inline code;
- a paragraph ending in ``::`` ends in ``:`` and its indented block becomes fenced Python.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|exc|data|obj):`(~?)\.?([^`]+)`")
_PUBLIC_MODULES = ("voicenter_dialer", "voicenter_dialer.testing")


class SphinxRoles(griffe.Extension):
    """Rewrite every docstring of the package once it is loaded (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Map the public names to their documented paths, then rewrite each docstring."""
        if pkg.path != "voicenter_dialer":
            return
        public: dict[str, str] = {}  # a name as docstrings write it -> its reference path
        documented: dict[str, str] = {}  # an object's own path -> its reference path
        for module_path in _PUBLIC_MODULES:
            module = pkg if module_path == pkg.path else pkg[module_path.split(".", 1)[1]]
            for export in module.exports or ():
                name = str(export)
                path = f"{module_path}.{name}"
                public.setdefault(name, path)
                member = module.members.get(name)
                if isinstance(member, griffe.Alias):
                    documented[member.target_path] = path
        _rewrite(pkg, public, documented)


def _rewrite(obj: griffe.Object, public: dict[str, str], documented: dict[str, str]) -> None:
    if obj.docstring is not None:
        # Inside a documented class, a bare name may be one of its members (":meth:`send`").
        owner = obj if obj.is_class else obj.parent
        scope = documented.get(owner.path) if isinstance(owner, griffe.Class) else None
        members = set(owner.members) if scope is not None and owner is not None else set()
        obj.docstring.value = _literal_blocks(
            _ROLE.sub(lambda m: _reference(m, public, scope, members), obj.docstring.value)
        )
    for member in obj.members.values():
        if isinstance(member, griffe.Object):  # an alias's target is rewritten where it lives
            _rewrite(member, public, documented)


def _reference(
    match: re.Match[str], public: dict[str, str], scope: str | None, members: set[str]
) -> str:
    short, target = match.group(1), match.group(2)
    shown = f"`{target.rsplit('.', 1)[-1] if short else target}`"
    head, _, rest = target.partition(".")
    if head in public:
        return f"[{shown}][{public[head]}{'.' + rest if rest else ''}]"
    if target in members:
        return f"[{shown}][{scope}.{target}]"
    return shown


def _literal_blocks(text: str) -> str:
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.rstrip().endswith("::"):
            out.append(line)
            i += 1
            continue
        # "text::" reads "text:"; a lone "::" (or "text ::") only introduces the block.
        intro = line.rstrip()[:-2].rstrip()
        if intro and not line.rstrip()[:-2].endswith(" "):
            intro += ":"
        if intro:
            out.append(intro)
        i += 1
        block: list[str] = []
        while i < len(lines) and (not lines[i].strip() or lines[i].startswith((" ", "\t"))):
            block.append(lines[i])
            i += 1
        while block and not block[-1].strip():
            block.pop()
        code = textwrap.dedent("\n".join(block)).strip("\n")
        out += ["", "```python", *code.splitlines(), "```", ""]
    return "\n".join(out)
