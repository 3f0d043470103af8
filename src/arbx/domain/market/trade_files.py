"""Trade-history files as venues and libraries publish them, read into trade frames.

Formats (``TradeFormat``), each as its source writes it:

- ``kraken-csv``: Kraken's downloadable "Time and Sales" files (``Kraken_Trading_History.zip``,
  one ``<PAIR>.csv`` per pair): no header, ``timestamp,price,volume`` with the time in epoch
  seconds. The files carry no trade id and no side: each trade gets the id
  ``<epoch µs>-<n>`` (``n`` counts the trades of that instant in file order, so importing the
  same file again stores nothing new) and a null side ("not said").
- ``binance-trades``: data.binance.vision ``<SYMBOL>-trades-<date>.csv`` (spot: ``id, price,
  qty, quote_qty, time, is_buyer_maker, is_best_match``; futures: without ``is_best_match``),
  with or without a header row.
- ``binance-aggtrades``: data.binance.vision ``<SYMBOL>-aggTrades-<date>.csv`` (spot:
  ``agg_trade_id, price, quantity, first_trade_id, last_trade_id, transact_time,
  is_buyer_maker, is_best_match``; futures: without ``is_best_match``), with or without a
  header row. The id is the aggregate trade id, as the Binance WebSocket ``@aggTrade`` stream
  and REST ``/api/v3/aggTrades`` give it, so the three agree.
  Binance times are epoch milliseconds up to 2024 and microseconds in the spot files from
  2025 on; each value is read by its size (>= 10^14 is microseconds).
- ``ccxt-json``: a JSON list of ccxt trade structures (``exchange.fetch_trades`` output):
  ``id``, ``timestamp`` (ms), ``price``, ``amount``, ``side``; a null id gets the
  ``<epoch µs>-<n>`` id.

``is_buyer_maker`` true means the taker sold: the side is the taker's, as everywhere in arbx.
A file that cannot be read raises ``InvalidInput`` naming the line (1-based, as an editor
counts) and the column; nothing is half read.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from enum import StrEnum

import msgspec
import polars as pl

from arbx.domain.errors import InvalidInput
from arbx.domain.market.trades import TRADE_COLUMNS, TRADE_SCHEMA, empty_trades

MICROS_FROM = 10**14  # Binance times at or above this are microseconds (2025 spot files)
SECONDS_BELOW = 10**11  # a Binance time below this is seconds, not a Binance time at all


class TradeFormat(StrEnum):
    AUTO = "auto"
    KRAKEN_CSV = "kraken-csv"
    BINANCE_TRADES = "binance-trades"
    BINANCE_AGGTRADES = "binance-aggtrades"
    CCXT_JSON = "ccxt-json"


@dataclass(frozen=True, slots=True)
class _Layout:
    """A CSV layout: its column names (one per field, in order) and where the trade is."""

    columns: tuple[str, ...]
    trade_id: str | None
    ts: str
    price: str
    qty: str
    buyer_maker: str | None


_KRAKEN = _Layout(("timestamp", "price", "volume"), None, "timestamp", "price", "volume", None)
_BINANCE_TRADES = {
    7: _Layout(
        ("id", "price", "qty", "quote_qty", "time", "is_buyer_maker", "is_best_match"),
        "id",
        "time",
        "price",
        "qty",
        "is_buyer_maker",
    ),
    6: _Layout(
        ("id", "price", "qty", "quote_qty", "time", "is_buyer_maker"),
        "id",
        "time",
        "price",
        "qty",
        "is_buyer_maker",
    ),
}
_AGG = (
    "agg_trade_id",
    "price",
    "quantity",
    "first_trade_id",
    "last_trade_id",
    "transact_time",
    "is_buyer_maker",
)
_BINANCE_AGG = {
    8: _Layout(
        (*_AGG, "is_best_match"),
        "agg_trade_id",
        "transact_time",
        "price",
        "quantity",
        "is_buyer_maker",
    ),
    7: _Layout(_AGG, "agg_trade_id", "transact_time", "price", "quantity", "is_buyer_maker"),
}


def detect_format(data: bytes, name: str = "") -> TradeFormat:
    """The format of a trade file from its name (Binance's ``-trades-``/``-aggTrades-``) and
    its first line; ``InvalidInput`` when it matches none."""
    head = data.lstrip()[:1]
    if head in (b"[", b"{"):
        return TradeFormat.CCXT_JSON
    lowered = name.lower()
    if "-aggtrades-" in lowered:
        return TradeFormat.BINANCE_AGGTRADES
    if "-trades-" in lowered:
        return TradeFormat.BINANCE_TRADES
    first = _first_line(data)
    fields = [f.strip().lower() for f in first.split(",")]
    if "agg_trade_id" in fields or "first_trade_id" in fields:
        return TradeFormat.BINANCE_AGGTRADES
    if "quote_qty" in fields or "is_buyer_maker" in fields:
        return TradeFormat.BINANCE_TRADES
    if len(fields) == 3:
        return TradeFormat.KRAKEN_CSV
    if len(fields) == 8:
        return TradeFormat.BINANCE_AGGTRADES
    if len(fields) in (6, 7) and _is_bool(fields[5]):
        return TradeFormat.BINANCE_TRADES  # spot/futures trades: the 6th field is is_buyer_maker
    if len(fields) == 7:
        return TradeFormat.BINANCE_AGGTRADES  # futures aggTrades: the 6th field is a time
    raise InvalidInput(
        f"cannot tell the format of {name or 'the file'}: its first line has {len(fields)}"
        f" fields ({first[:80]!r}); give --format kraken-csv, binance-trades,"
        " binance-aggtrades or ccxt-json",
        field="format",
    )


def parse_trade_file(data: bytes, fmt: TradeFormat, name: str = "") -> pl.DataFrame:
    """The trades of a file as a ``TRADE_SCHEMA`` frame, in file order."""
    if fmt is TradeFormat.AUTO:
        fmt = detect_format(data, name)
    if fmt is TradeFormat.CCXT_JSON:
        return _parse_ccxt(data, name)
    if not data.strip():
        return empty_trades()
    if fmt is TradeFormat.KRAKEN_CSV:
        layouts = {3: _KRAKEN}
    elif fmt is TradeFormat.BINANCE_TRADES:
        layouts = _BINANCE_TRADES
    else:
        layouts = _BINANCE_AGG
    return _parse_csv(data, fmt, layouts, name)


# -- CSV -------------------------------------------------------------------------------------


def _first_line(data: bytes) -> str:
    end = data.find(b"\n")
    line = data if end < 0 else data[:end]
    return line.decode("utf-8", "replace").strip().lstrip("\ufeff")


def _is_bool(text: str) -> bool:
    return text.strip().lower() in ("true", "false")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_csv(
    data: bytes, fmt: TradeFormat, layouts: dict[int, _Layout], name: str
) -> pl.DataFrame:
    first = [f.strip() for f in _first_line(data).split(",")]
    layout = layouts.get(len(first))
    if layout is None:
        counts = " or ".join(str(n) for n in sorted(layouts))
        raise InvalidInput(
            f"{_where(name)}line 1 has {len(first)} fields; a {fmt} file has {counts}",
            field="format",
        )
    header = not _is_number(first[0])
    width = len(layout.columns)
    try:
        raw = pl.read_csv(
            io.BytesIO(data),
            has_header=False,
            new_columns=list(layout.columns),
            schema_overrides=dict.fromkeys(layout.columns, pl.String),
            infer_schema=False,
            skip_rows=1 if header else 0,
            truncate_ragged_lines=False,
        )
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
        raise _ragged(data, width, fmt, name, exc) from None
    if raw.width != width:
        raise _ragged(data, width, fmt, name, None)
    first_line = 2 if header else 1  # row 0 is line 1, or line 2 after a header
    raw = raw.with_columns(
        (pl.int_range(pl.len(), dtype=pl.Int64) + first_line).alias("_line")
    ).filter(~pl.all_horizontal(pl.col(layout.columns).is_null()))  # blank lines
    offset = raw.get_column("_line")
    ts = _numbers(raw, layout.ts, pl.Float64(), offset, name)
    price = _numbers(raw, layout.price, pl.Float64(), offset, name)
    qty = _numbers(raw, layout.qty, pl.Float64(), offset, name)
    frame = pl.DataFrame({"ts": ts, "price": price, "qty": qty})
    if fmt is TradeFormat.KRAKEN_CSV:
        ts_us = (frame.get_column("ts") * 1_000_000).round(0).cast(pl.Int64)
    else:
        ints = _numbers(raw, layout.ts, pl.Int64(), offset, name)
        small = ints < SECONDS_BELOW
        if small.any():
            row = int(small.arg_max() or 0)
            raise InvalidInput(
                f"{_where(name)}line {offset[row]}, column {layout.ts}: {raw[layout.ts][row]!r}"
                " is not a Binance time (epoch milliseconds or microseconds)",
                field=layout.ts,
            )
        ts_us = pl.select(
            pl.when(pl.lit(ints) >= MICROS_FROM).then(pl.lit(ints)).otherwise(pl.lit(ints) * 1000)
        ).to_series()
    frame = frame.with_columns(ts_us.alias("ts_us"))
    _check_values(frame, layout, offset, name)
    if layout.trade_id is None:
        ids = _made_ids(frame.get_column("ts_us"))
    else:
        ids = _numbers(raw, layout.trade_id, pl.Int64(), offset, name).cast(pl.String)
    if layout.buyer_maker is None:
        side = pl.Series("side", [None] * raw.height, dtype=pl.String)
    else:
        maker = raw.get_column(layout.buyer_maker).str.strip_chars().str.to_lowercase()
        bad = ~maker.is_in(["true", "false"]).fill_null(False)
        if bad.any():
            row = int(bad.arg_max() or 0)
            raise InvalidInput(
                f"{_where(name)}line {offset[row]}, column {layout.buyer_maker}:"
                f" {raw[layout.buyer_maker][row]!r} is not True or False",
                field=layout.buyer_maker,
            )
        side = pl.select(
            pl.when(pl.lit(maker) == "true").then(pl.lit("sell")).otherwise(pl.lit("buy"))
        ).to_series()
    return _trade_frame(ids, frame.get_column("ts_us"), price, qty, side)


def _where(name: str) -> str:
    return f"{name}: " if name else ""


def _numbers(
    raw: pl.DataFrame, column: str, dtype: pl.DataType, offset: pl.Series, name: str
) -> pl.Series:
    text = raw.get_column(column).str.strip_chars()
    values = text.cast(dtype, strict=False)
    bad = values.is_null()
    if bad.any():
        row = int(bad.arg_max() or 0)
        kind = "an integer" if dtype == pl.Int64 else "a number"
        raise InvalidInput(
            f"{_where(name)}line {offset[row]}, column {column}: {raw[column][row]!r} is not"
            f" {kind}",
            field=column,
        )
    return values.alias(column)


def _check_values(frame: pl.DataFrame, layout: _Layout, offset: pl.Series, name: str) -> None:
    for column, label in (("price", layout.price), ("qty", layout.qty)):
        values = frame.get_column(column)
        bad = ~(values.is_finite() & (values > 0))
        if bad.any():
            row = int(bad.arg_max() or 0)
            raise InvalidInput(
                f"{_where(name)}line {offset[row]}, column {label}: {values[row]!r}; prices"
                " and quantities are positive and finite",
                field=label,
            )
    ts = frame.get_column("ts_us")
    bad = ts <= 0
    if bad.any():
        row = int(bad.arg_max() or 0)
        raise InvalidInput(
            f"{_where(name)}line {offset[row]}, column {layout.ts}: time {frame['ts'][row]!r}"
            " is not after 1970",
            field=layout.ts,
        )


def _ragged(
    data: bytes, width: int, fmt: TradeFormat, name: str, exc: Exception | None
) -> InvalidInput:
    """Find the first line whose field count differs (only on the error path)."""
    for number, line in enumerate(data.splitlines(), 1):
        text = line.strip()
        if not text:
            continue
        try:
            decoded = text.decode("utf-8")
        except UnicodeDecodeError:
            return InvalidInput(
                f"{_where(name)}line {number} is not UTF-8 text; is this a {fmt} file?",
                field="file",
            )
        fields = decoded.count(",") + 1
        if fields != width:
            return InvalidInput(
                f"{_where(name)}line {number} has {fields} fields, not {width} as a {fmt} file"
                f" has: {decoded[:80]!r}",
                field="file",
            )
    reason = f": {exc}" if exc is not None else ""
    return InvalidInput(f"{_where(name)}cannot read the file as {fmt}{reason}", field="file")


def _made_ids(ts_us: pl.Series) -> pl.Series:
    """``<epoch µs>-<n>``: n counts the trades of one instant in file order (zero-padded, so
    text order is file order)."""
    frame = pl.DataFrame({"ts": ts_us}).with_columns(pl.int_range(pl.len()).over("ts").alias("n"))
    return frame.select(
        pl.format("{}-{}", pl.col("ts"), pl.col("n").cast(pl.String).str.zfill(6))
    ).to_series()


def _trade_frame(
    ids: pl.Series, ts_us: pl.Series, price: pl.Series, qty: pl.Series, side: pl.Series
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "trade_id": ids.cast(pl.String),
            "ts": ts_us.cast(pl.Int64).cast(pl.Datetime("us", "UTC")),
            "price": price.cast(pl.Float64),
            "qty": qty.cast(pl.Float64),
            "side": side.cast(pl.String),
        },
        schema=TRADE_SCHEMA,
    ).select(TRADE_COLUMNS)


# -- ccxt JSON -------------------------------------------------------------------------------


class _CcxtTrade(msgspec.Struct):
    """One ccxt trade structure (the fields arbx reads; ccxt's others are ignored)."""

    timestamp: int
    price: float
    amount: float
    id: str | int | None = None
    side: str | None = None


_CCXT = msgspec.json.Decoder(list[_CcxtTrade])


def _parse_ccxt(data: bytes, name: str) -> pl.DataFrame:
    try:
        rows = _CCXT.decode(data)
    except msgspec.ValidationError as exc:
        raise InvalidInput(
            f"{_where(name)}not a list of ccxt trades (id, timestamp in ms, price, amount,"
            f" side): {exc}",
            field="file",
        ) from None
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"{_where(name)}not valid JSON: {exc}", field="file") from None
    for i, row in enumerate(rows):
        where = f'{_where(name)}trade {i} ("$[{i}]")'
        if row.side is not None and row.side not in ("buy", "sell"):
            raise InvalidInput(f"{where}: side {row.side!r} is not buy or sell", field="side")
        for label, value in (("price", row.price), ("amount", row.amount)):
            if not (value == value and 0 < value < float("inf")):
                raise InvalidInput(
                    f"{where}: {label} {value!r}; prices and amounts are positive and finite",
                    field=label,
                )
        if row.timestamp < SECONDS_BELOW:
            raise InvalidInput(
                f"{where}: timestamp {row.timestamp} is not epoch milliseconds",
                field="timestamp",
            )
    ts_us = pl.Series([r.timestamp * 1000 for r in rows], dtype=pl.Int64)
    made = _made_ids(ts_us)
    ids = pl.Series(
        [str(r.id) if r.id is not None else made[i] for i, r in enumerate(rows)], dtype=pl.String
    )
    return _trade_frame(
        ids,
        ts_us,
        pl.Series([r.price for r in rows], dtype=pl.Float64),
        pl.Series([r.amount for r in rows], dtype=pl.Float64),
        pl.Series([r.side for r in rows], dtype=pl.String),
    )
