"""Root fixtures: shared data location, support plugins, CI strictness."""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
IN_CI = bool(os.environ.get("CI"))

# Support plugins (one per technology), each owned by the adapter that needs it.
pytest_plugins = [
    name
    for name in (
        "tests.support.parquet",
        "tests.support.postgres",
        "tests.support.exchanges",
        "tests.support.objectstore",
    )
    if find_spec(name) is not None
]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data: real exchange candles. Skips (outside CI only) when absent."""
    if not SHARED_DATA.is_dir():
        if IN_CI:
            pytest.fail(f"{SHARED_DATA} is missing; CI must run the shared-data tests")
        pytest.skip(f"{SHARED_DATA} is absent (a user's clone); shared-data tests need it")
    return SHARED_DATA
