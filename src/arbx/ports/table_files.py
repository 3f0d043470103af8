"""Reading and writing tabular files (CSV, Parquet, ccxt JSON) for import and export."""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Protocol

import polars as pl


class TableFiles(Protocol):
    """Raw tables in and out of files; no interpretation of the columns.

    ``read`` chooses the format from the suffix (.csv, .csv.gz, .parquet, .json) and raises
    ``InvalidInput`` naming the file when it is missing, unreadable or not that format.
    ``write`` writes atomically (a temp file then a rename): a failure leaves no partial file;
    the suffix picks the format (``.csv.gz`` is gzip; ``.json`` is ccxt rows for bars, a list
    of row objects for any other table).
    """

    @abstractmethod
    def read(self, path: Path, *, skip_rows: int = 0, has_header: bool = True) -> pl.DataFrame: ...

    @abstractmethod
    def write(self, frame: pl.DataFrame, path: Path) -> None: ...
