"""Reading and writing tabular files (CSV, Parquet, ccxt JSON) for import and export."""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Protocol, TypeAlias

import polars as pl

Location: TypeAlias = Path | str
"""A file on disk, or (a ``str``) an ``s3://BUCKET/KEY`` object where object storage is set up."""


def location_name(location: Location) -> str:
    """The file name of a path or an object URL (``s3://b/x/kraken_BTC-USD_1m.csv`` ->
    ``kraken_BTC-USD_1m.csv``)."""
    return location.name if isinstance(location, Path) else location.rstrip("/").rsplit("/", 1)[-1]


class TableFiles(Protocol):
    """Raw tables in and out of files; no interpretation of the columns.

    A location is a local path or an ``s3://BUCKET/KEY`` URL (where the adapter supports it;
    a path-only adapter takes ``Path(location)``).
    ``read`` chooses the format from the suffix (.csv, .csv.gz, .parquet, .json) and raises
    ``InvalidInput`` naming the file when it is missing, unreadable or not that format.
    ``write`` writes atomically (a temp file then a rename): a failure leaves no partial file;
    the suffix picks the format (``.csv.gz`` is gzip; ``.json`` is ccxt rows for bars, a list
    of row objects for any other table).
    """

    @abstractmethod
    def read(
        self, path: Location, *, skip_rows: int = 0, has_header: bool = True
    ) -> pl.DataFrame: ...

    @abstractmethod
    def write(self, frame: pl.DataFrame, path: Location) -> None: ...
