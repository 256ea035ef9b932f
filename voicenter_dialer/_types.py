"""Small types shared by the whole package."""

from __future__ import annotations

import enum
from typing import Final

__all__ = ["NOT_GIVEN", "NotGiven"]


class NotGiven(enum.Enum):
    """An argument left out: keep what there is (``None`` has a meaning of its own, such as
    "no bound")."""

    NOT_GIVEN = "NOT_GIVEN"

    def __repr__(self) -> str:
        return "NOT_GIVEN"


#: The one "not given" value of the package.
NOT_GIVEN: Final = NotGiven.NOT_GIVEN
