"""Pytest plugin for the Parquet adapter: a ParquetBarStore on a fresh folder per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbx.adapters.parquet import ParquetBarStore


@pytest.fixture
def parquet_root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def parquet_bar_store(parquet_root: Path) -> ParquetBarStore:
    return ParquetBarStore(parquet_root)
