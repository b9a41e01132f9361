from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
WIRE_CHECK = REPO.parent / "shared" / "tools" / "wire_check.py"
"""The project's wire conformance checker, kept beside the repository."""


@pytest.fixture(scope="session")
def wire_check() -> ModuleType:
    """The checker's functions, to run against bytes our encoders produce."""
    if not WIRE_CHECK.exists():
        pytest.skip(f"{WIRE_CHECK} not available")
    spec = importlib.util.spec_from_file_location("wire_check", WIRE_CHECK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
