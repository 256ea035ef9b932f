"""Griffe extension: a ``#:`` comment block right above an attribute is its docstring.

The package documents fields the way Sphinx's autodoc reads them::

    #: Backoff before the first retry; doubles each time up to ``wait_max``, plus jitter.
    wait_initial: float = 0.5

griffe only knows a string below an attribute; this gives it the comments too, for class and
module attributes alike. An attribute that has a string docstring keeps it. (griffe-sphinx does
the same, but needs Python 3.11 and the docs are built on 3.10 too.)
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import griffe

__all__ = ["FieldComments"]


class FieldComments(griffe.Extension):
    """Take the ``#:`` lines directly above an attribute as its docstring."""

    def on_attribute_instance(
        self, *, attr: griffe.Attribute, agent: griffe.Visitor | griffe.Inspector, **kwargs: Any
    ) -> None:
        """Read the source lines above the attribute's first line (see the module docstring)."""
        # An inspected (compiled) module has no source lines to read.
        if attr.docstring is not None or attr.lineno is None or not isinstance(attr.filepath, Path):
            return
        lines = attr.lines_collection[attr.filepath]
        index = attr.lineno - 2  # the line above, 0-based
        comment: list[str] = []
        while index >= 0 and (line := lines[index].strip()).startswith("#:"):
            comment.insert(0, line[2:])
            index -= 1
        if comment:
            attr.docstring = griffe.Docstring(
                textwrap.dedent("\n".join(comment)).strip(),
                lineno=index + 2,
                endlineno=attr.lineno - 1,
                parent=attr,
                parser=agent.docstring_parser,
                parser_options=agent.docstring_options,
            )
