"""TableFiles on polars readers and writers."""

from __future__ import annotations

import gzip
import os
import tempfile
from pathlib import Path

import msgspec
import polars as pl

from arbx.domain.errors import InvalidInput
from arbx.ports.table_files import Location, TableFiles

_CCXT_COLUMNS = ["timestamp", "open", "high", "low", "close", "volume"]
_BAR_COLUMNS = ["ts", "open", "high", "low", "close", "volume"]


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


_FORMAT_NAMES = {"csv": "CSV", "parquet": "Parquet", "ipc": "Arrow IPC", "json": "ccxt JSON"}


def _first_lines(path: Path, count: int = 2) -> list[str]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as handle:
        return [line.rstrip("\r\n") for _, line in zip(range(count), handle, strict=False)]


def banner_lines(path: Path) -> int:
    """1 when the first line of a CSV is a banner above the header (CryptoDataDownload puts
    "Timestamps are UTC timezone,https://www.CryptoDataDownload.com" there): at most two
    fields where the next line has five or more; else 0."""
    try:
        lines = _first_lines(path)
    except (OSError, EOFError, gzip.BadGzipFile):
        return 0
    if len(lines) < 2:
        return 0
    first, second = lines
    return 1 if first.count(",") <= 1 and second.count(",") >= 4 else 0


def _unreadable(path: Path, fmt: str, exc: Exception, skip_rows: int) -> InvalidInput:
    """Say what is wrong with the file in arbx's words (no reader's message reaches the user)."""
    name, kind = path.name, _FORMAT_NAMES[fmt]
    text = str(exc)
    if fmt == "csv" and ("more fields" in text or "fewer fields" in text or "ragged" in text):
        hint = (
            "; if lines above the header hold a title or a URL, skip them with --skip-rows N"
            if skip_rows == 0
            else f" after skipping {skip_rows} line(s); check --skip-rows"
        )
        return InvalidInput(
            f"cannot read {name} as CSV: its lines do not all have as many fields as the"
            f" header{hint} (e.g. --skip-rows 1)",
            field="path",
        )
    if isinstance(exc, UnicodeDecodeError) or "utf-8" in text.lower():
        return InvalidInput(f"cannot read {name} as {kind}: it is not UTF-8 text", field="path")
    if isinstance(exc, OSError):
        return InvalidInput(f"cannot read {name}: {exc.strerror or 'I/O error'}", field="path")
    return InvalidInput(
        f"cannot read {name} as {kind}: the file is damaged or not in that format"
        " (formats are told by the suffix: .csv, .csv.gz, .parquet, .arrow, .json)",
        field="path",
    )


class PolarsTableFiles(TableFiles):
    def read(
        self, location: Location, *, skip_rows: int = 0, has_header: bool = True
    ) -> pl.DataFrame:
        path = Path(location)
        fmt = _format_of(path)
        if not path.is_file():
            raise InvalidInput(f"file {path} does not exist", field="path")
        try:
            if fmt == "csv":
                if skip_rows == 0 and has_header:
                    skip_rows = banner_lines(path)
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
            raise _unreadable(path, fmt, exc, skip_rows) from exc

    def write(self, frame: pl.DataFrame, location: Location) -> None:
        path = Path(location)
        fmt = _format_of(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        try:
            if fmt == "csv" and path.name.lower().endswith(".gz"):
                frame.write_csv(tmp, compression="gzip", check_extension=False)
            elif fmt == "csv":
                frame.write_csv(tmp)
            elif fmt == "parquet":
                frame.write_parquet(tmp)
            elif fmt == "ipc":
                frame.write_ipc(tmp)
            elif frame.columns == _BAR_COLUMNS:  # bars: ccxt rows [ms, o, h, l, c, v]
                out = frame.with_columns(pl.col("ts").dt.epoch("ms"))
                Path(tmp).write_bytes(msgspec.json.encode(out.rows()))
            else:  # any other table: a list of row objects, times as ISO-8601
                Path(tmp).write_bytes(msgspec.json.encode(frame.to_dicts()))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
