"""Griffe extension: an attribute set in ``__init__`` from its arguments shows no value.

griffe gives an attribute the value of its last assignment; for ``self.response = response``
in ``__init__`` that is the parameter's name, which reads like a default the reference does
not have (``response: Response | None = response``). A value computed from ``__init__``'s
parameters is dropped, so the reference shows the attribute and its type only; an attribute
with no annotation of its own that is a parameter given as is takes that parameter's.
"""

from __future__ import annotations

from typing import Any

import griffe

__all__ = ["InitAttributes"]


class InitAttributes(griffe.Extension):
    """Drop the values of ``__init__``'s assignments that depend on its parameters."""

    def on_attribute_instance(
        self, *, attr: griffe.Attribute, agent: griffe.Visitor | griffe.Inspector, **kwargs: Any
    ) -> None:
        """Compare the assigned expression with the parameters of the ``__init__`` it is in."""
        init = agent.current if isinstance(agent, griffe.Visitor) else None
        if not isinstance(init, griffe.Function) or init.name != "__init__":
            return
        if not isinstance(attr.value, griffe.Expr):
            return
        parameters = {parameter.name: parameter for parameter in init.parameters}
        names = {part.name for part in attr.value.iterate() if isinstance(part, griffe.ExprName)}
        if names.isdisjoint(parameters):
            return  # a fresh value (``self.requests: list[str] = []``) is the initial one
        if attr.annotation is None and isinstance(attr.value, griffe.ExprName):
            attr.annotation = parameters[attr.value.name].annotation
        attr.value = None
