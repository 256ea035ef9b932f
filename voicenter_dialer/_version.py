"""The distribution's version, read by hatchling at build time."""

__all__ = ["__version__"]

__version__ = "0.1.0"
"""This release's version, as PyPI and ``pip show`` report it."""
