"""The defaults the command line shows in its --help, apart from :mod:`._options` (which
imports httpx) so that showing them imports nothing but this."""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_MAX_RETRIES"]

DEFAULT_BASE_URL: Final = "https://api.voicenter.com/ForwardDialer/Dialer/"
"""The service's address; a method's URL is ``base_url + MethodName``."""
DEFAULT_MAX_RETRIES: Final = 2
"""Retries after the first attempt, when neither ``max_retries`` nor ``retry_policy`` is given."""
