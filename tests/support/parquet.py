"""Pytest plugin for the Parquet adapter: a ParquetBarStore on a fresh folder per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbx.adapters.parquet import ParquetBarStore
from arbx.adapters.parquet.cache import read_cache
from arbx.entrypoints.settings import StorageSettings

# the local profile's read cache (storage.bars_cache_bytes, from the settings schema)
CACHE_BYTES = StorageSettings().bars_cache_bytes


def cached_store(root: Path, *, workers: int | None = None) -> ParquetBarStore:
    """A ParquetBarStore with the read cache the local profile gives it by default."""
    return ParquetBarStore(root, cache=read_cache(CACHE_BYTES), workers=workers)


@pytest.fixture
def parquet_root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def parquet_bar_store(parquet_root: Path) -> ParquetBarStore:
    return cached_store(parquet_root)
