"""Every adapter of a port runs the same contract suite.

An adapter joins by providing a fixture named ``<adapter>_bar_store`` (and so on for other
ports) in a support plugin, and by being listed here.
"""

from __future__ import annotations

import pytest

from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.ports.bar_store import BarStore

BAR_STORE_ADAPTERS = ["memory", "parquet", "postgres", "objectstore"]


@pytest.fixture
def memory_bar_store() -> BarStore:
    return MemoryBarStore()


@pytest.fixture(params=BAR_STORE_ADAPTERS)
def bar_store(request: pytest.FixtureRequest) -> BarStore:
    store: BarStore = request.getfixturevalue(f"{request.param}_bar_store")
    return store
