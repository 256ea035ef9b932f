"""pytest fixtures for testing code that uses voicenter-dialer, with no Voicenter account.

Registered through the ``pytest11`` entry point, so they are available as soon as
voicenter-dialer is installed:

- ``voicenter_fake``: a fresh :class:`FakeDialer` (empty account; add campaigns to it).
- ``voicenter_client``: an :class:`AsyncDialer` wired to it in-process (no network).

The fixtures are synchronous, so they work with pytest-asyncio, anyio's plugin or trio alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # imported by the fixtures: pytest loads this plugin in every run
    from voicenter_dialer import AsyncDialer

    from ._http import FakeDialer

__all__ = ["voicenter_client", "voicenter_fake"]


@pytest.fixture
def voicenter_fake() -> FakeDialer:
    """A fresh, empty fake dialer."""
    from ._http import FakeDialer

    return FakeDialer()


@pytest.fixture
def voicenter_client(voicenter_fake: FakeDialer) -> AsyncDialer:
    """An AsyncDialer whose requests are answered by ``voicenter_fake``, in-process."""
    return voicenter_fake.client()
