"""Griffe extension: attrs classes get the ``__init__`` that attrs writes for them.

griffe reads source, where an attrs class has no ``__init__`` (attrs generates it on import)
and a field's value is the ``attrs.field(...)`` call that configures it. For every class
decorated with ``attrs`` (``@attrs.frozen``, ``@attrs.define``, ...) this:

- adds the ``__init__`` attrs generates, so the reference shows the constructor's signature:
  the fields in attrs' order (a base class's first), under their ``alias``, keyword-only where
  attrs makes them so, ``init=False`` ones left out;
- replaces each field's value by its default, as written (``None``, ``dict()`` for
  ``factory=dict``), and removes it from a field without one. A default the source does not
  show (a helper's field) is named where a reader can import it from, else shown as its value
  (a private empty mapping as ``{}``).

Which fields there are, and how ``__init__`` takes them, comes from attrs itself on the
imported class (a field may be built by a helper the source does not show through); their
annotations and defaults come from the source, so they link to the reference as written.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from types import ModuleType
from typing import Any, cast

import attrs
import griffe

__all__ = ["AttrsInit"]

_FIELD = frozenset({"attrs.field", "attr.ib", "attr.attrib", "attr.field"})
# mypy checks as Python 3.10, where griffe's StrEnum members read as plain str.
_POSITIONAL = cast("griffe.ParameterKind", griffe.ParameterKind.positional_or_keyword)
_KEYWORD_ONLY = cast("griffe.ParameterKind", griffe.ParameterKind.keyword_only)


class AttrsInit(griffe.Extension):
    """Give every attrs class of a loaded package its ``__init__`` (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Walk the package's modules and classes, own ones only (not imported aliases)."""
        _walk(pkg)


def _walk(obj: griffe.Module | griffe.Class) -> None:
    if isinstance(obj, griffe.Class) and _is_attrs(obj):
        _document(obj)
    for member in obj.members.values():
        if isinstance(member, (griffe.Module, griffe.Class)):
            _walk(member)


def _is_attrs(cls: griffe.Class) -> bool:
    return any(
        isinstance(decorator.value, griffe.Expr)
        and decorator.value.canonical_path.split(".")[0] in ("attr", "attrs")
        for decorator in cls.decorators
    )


def _document(cls: griffe.Class) -> None:
    runtime = griffe.dynamic_import(cls.path)
    fields = attrs.fields(runtime)
    module = sys.modules[runtime.__module__]
    for field in fields:
        member = cls.members.get(field.name)
        if isinstance(member, griffe.Attribute):
            member.value = _default(field, member, module)
            # attrs takes fields off the class: one lives on the instance, its default in __init__.
            member.labels.discard("class-attribute")
    # A class that writes its own __init__ has it in the source already; init=False has none,
    # unless the class builds its fields in a __new__ of its own (Call: see its comment).
    builds = "__init__" in vars(runtime) or "__new__" in vars(runtime)
    if "__init__" in cls.members or not builds:
        return
    parameters = [griffe.Parameter("self", kind=_POSITIONAL)]
    # attrs puts the keyword-only fields last, wherever they are declared.
    for field in sorted((f for f in fields if f.init), key=lambda f: f.kw_only):
        member = cls.all_members.get(field.name)
        attribute = member if isinstance(member, griffe.Attribute) else None
        parameters.append(
            griffe.Parameter(
                field.alias,
                annotation=attribute.annotation if attribute else field.type,
                kind=_KEYWORD_ONLY if field.kw_only else _POSITIONAL,
                default=_default(field, attribute, module),
                docstring=attribute.docstring if attribute else None,
            )
        )
    init = griffe.Function(
        "__init__",
        lineno=cls.lineno,
        endlineno=cls.lineno,
        parent=cls,
        parameters=griffe.Parameters(*parameters),
        returns="None",
    )
    cls.set_member("__init__", init)


def _default(
    field: attrs.Attribute[Any], attribute: griffe.Attribute | None, module: ModuleType
) -> str | griffe.Expr | None:
    if field.default is attrs.NOTHING:
        return None
    value = attribute.value if attribute else None
    if isinstance(value, griffe.ExprCall) and value.canonical_path in _FIELD:
        given = {
            arg.name: arg.value for arg in value.arguments if isinstance(arg, griffe.ExprKeyword)
        }
        if "default" in given:
            return given["default"]
        if isinstance(factory := given.get("factory"), griffe.Expr):
            return griffe.ExprCall(function=factory, arguments=[])
    elif value is not None and not isinstance(value, griffe.ExprCall):
        return value
    # A helper's field (``extra: ... = _extra()``): attrs knows the default, the source does not.
    default: Any = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]  # a class, typed as a function
        return f"{default.factory.__qualname__}()"
    if (name := _public_name(default, module)) is not None:
        return name
    # A private constant is shown as what it holds: a reader cannot import its name.
    return repr(dict(default)) if isinstance(default, Mapping) else repr(default)


def _public_name(value: object, module: ModuleType) -> str | None:
    """The name *value* is importable under from *module* or a public package above it."""
    parts = module.__name__.split(".")
    for depth in range(len(parts), 0, -1):
        if any(part.startswith("_") for part in parts[:depth]):
            continue
        holder = sys.modules.get(".".join(parts[:depth]))
        if holder is None:
            continue
        for name in getattr(holder, "__all__", None) or list(vars(holder)):
            if not name.startswith("_") and getattr(holder, name, None) is value:
                return str(name)
    return None
