"""The package's public surface and metadata."""

from __future__ import annotations

import importlib
import importlib.metadata
import pkgutil
from pathlib import Path

import voicenter_dialer

DESIGN_EXPORTS = {
    "AsyncDialer",
    "Campaign",
    "Call",
    "PendingCall",
    "PendingCalls",
    "CallStatus",
    "Member",
    "AddResult",
    "BulkReport",
    "DialerError",
    "APIError",
    "TransportError",
    "ResponseError",
    "ValidationError",
    "DEFAULT_BASE_URL",
}


def test_design_contract_names_are_exported() -> None:
    assert set(voicenter_dialer.__all__) >= DESIGN_EXPORTS
    for name in voicenter_dialer.__all__:
        assert hasattr(voicenter_dialer, name)


def test_default_base_url() -> None:
    assert voicenter_dialer.DEFAULT_BASE_URL == "https://api.voicenter.com/ForwardDialer/Dialer/"


def test_every_private_module_declares_all() -> None:
    modules = pkgutil.walk_packages(voicenter_dialer.__path__, prefix="voicenter_dialer.")
    for module in modules:
        if module.name.endswith("__main__"):
            continue
        imported = importlib.import_module(module.name)
        assert isinstance(getattr(imported, "__all__", None), list), module.name
        for name in imported.__all__:
            assert hasattr(imported, name), f"{module.name}.{name}"


def test_version_matches_metadata() -> None:
    assert importlib.metadata.version("voicenter-dialer") == voicenter_dialer.__version__


def test_typed_and_framework_classifiers() -> None:
    assert (Path(voicenter_dialer.__file__).parent / "py.typed").exists()
    metadata = importlib.metadata.metadata("voicenter-dialer")
    classifiers = metadata.get_all("Classifier") or []
    assert "Framework :: AsyncIO" in classifiers
    assert "Framework :: Trio" in classifiers
    assert "Typing :: Typed" in classifiers
    assert metadata["Requires-Python"] == ">=3.10"
