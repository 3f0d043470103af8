"""Parquet storage: the local profile's bar store (a hive-partitioned dataset)."""

from arbx.adapters.parquet.bar_store import ParquetBarStore

__all__ = ["ParquetBarStore"]
