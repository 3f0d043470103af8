"""TableFiles on polars readers and writers."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import msgspec
import polars as pl

from arbx.domain.errors import InvalidInput
from arbx.ports.table_files import TableFiles

_CCXT_COLUMNS = ["timestamp", "open", "high", "low", "close", "volume"]


def _format_of(path: Path) -> str:
    name = path.name.lower()
    for suffix, fmt in (
        (".csv", "csv"),
        (".csv.gz", "csv"),
        (".txt", "csv"),
        (".parquet", "parquet"),
        (".pq", "parquet"),
        (".json", "json"),
        (".arrow", "ipc"),
        (".ipc", "ipc"),
    ):
        if name.endswith(suffix):
            return fmt
    raise InvalidInput(
        f"cannot tell the format of {path.name}; use a .csv, .csv.gz, .parquet, .arrow or .json file",
        field="path",
    )


class PolarsTableFiles(TableFiles):
    def read(self, path: Path, *, skip_rows: int = 0, has_header: bool = True) -> pl.DataFrame:
        fmt = _format_of(path)
        if not path.is_file():
            raise InvalidInput(f"file {path} does not exist", field="path")
        try:
            if fmt == "csv":
                return pl.read_csv(
                    path,
                    skip_rows=skip_rows,
                    has_header=has_header,
                    infer_schema_length=10_000,
                    try_parse_dates=False,
                )
            if fmt == "parquet":
                return pl.read_parquet(path)
            if fmt == "ipc":
                return pl.read_ipc(path)
            rows = msgspec.json.decode(path.read_bytes(), type=list[list[float]])
            if rows and len(rows[0]) < 6:
                raise InvalidInput(
                    f"{path.name}: expected ccxt OHLCV rows [ms, open, high, low, close, volume]",
                    field="path",
                )
            return pl.DataFrame(
                [r[:6] for r in rows], schema=_CCXT_COLUMNS, orient="row"
            ).with_columns(pl.col("timestamp").cast(pl.Int64))
        except InvalidInput:
            raise
        except (pl.exceptions.PolarsError, msgspec.DecodeError, OSError, ValueError) as exc:
            raise InvalidInput(f"cannot read {path.name} as {fmt}: {exc}", field="path") from exc

    def write(self, frame: pl.DataFrame, path: Path) -> None:
        fmt = _format_of(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        try:
            if fmt == "csv":
                frame.write_csv(tmp)
            elif fmt == "parquet":
                frame.write_parquet(tmp)
            elif fmt == "ipc":
                frame.write_ipc(tmp)
            else:
                out = (
                    frame.with_columns(pl.col("ts").dt.epoch("ms"))
                    if "ts" in frame.columns
                    else frame
                )
                Path(tmp).write_bytes(msgspec.json.encode(out.rows()))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
