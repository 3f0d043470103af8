"""Trades (ticks) to OHLCV bars.

A tick frame has ``ts`` (Datetime or epoch milliseconds, UTC), ``price`` (> 0), ``qty``
(base amount, >= 0) and optionally ``side`` ("buy"/"sell": the taker's side). Ticks are
ordered by ts, ties kept in the caller's order (exchanges number trades in that order), so the
bar's open is the first trade of the interval and its close the last. Intervals without trades
produce no bar (as Kraken and Coinbase do). The kernel is numpy ``reduceat`` over the sorted
ticks (20M ticks to 1m bars in well under a second; bench/processing.py).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from arbx.domain.errors import InvalidInput
from arbx.domain.market import Timeframe, empty_bars
from arbx.domain.market.bars import TS_DTYPE

TICK_COLUMNS = ("ts", "price", "qty")
SIDES = ("buy", "sell")


def coerce_ticks(ticks: pl.DataFrame, *, with_side: bool = True) -> pl.DataFrame:
    """Canonical tick columns and dtypes; raises ``InvalidInput`` naming the bad column/row.

    ``side`` is kept (lowercased, checked) only when present and ``with_side``.
    """
    missing = [c for c in TICK_COLUMNS if c not in ticks.columns]
    if missing:
        raise InvalidInput(
            f"tick frame lacks column(s) {', '.join(missing)}; ticks have ts, price, qty"
            " and optionally side",
            field=missing[0],
        )
    ts_dtype = ticks.schema["ts"]
    if isinstance(ts_dtype, pl.Datetime):
        ts = (
            pl.col("ts").dt.replace_time_zone("UTC")
            if ts_dtype.time_zone is None
            else pl.col("ts").dt.convert_time_zone("UTC")
        ).dt.cast_time_unit("ms")
    elif ts_dtype.is_integer():
        ts = pl.col("ts").cast(pl.Int64).cast(TS_DTYPE)
    else:
        raise InvalidInput(
            f"column ts has dtype {ts_dtype}; expected a datetime or epoch milliseconds",
            field="ts",
        )
    for name in ("price", "qty"):
        if not ticks.schema[name].is_numeric():
            raise InvalidInput(f"column {name} must be numeric", field=name)
    columns = [ts.alias("ts"), pl.col("price").cast(pl.Float64), pl.col("qty").cast(pl.Float64)]
    if with_side and "side" in ticks.columns:
        columns.append(pl.col("side").cast(pl.String))
    frame = ticks.select(columns)
    if "side" in frame.columns and not frame.select(_side_ok().all()).item():
        frame = frame.with_columns(pl.col("side").str.to_lowercase())
    checks: list[tuple[str, pl.Expr, str]] = [
        ("ts", pl.col("ts").is_null(), "ts is missing"),
        (
            "price",
            ~(pl.col("price").is_finite() & (pl.col("price") > 0)).fill_null(True),
            "price must be a finite number > 0",
        ),
        (
            "qty",
            ~(pl.col("qty").is_finite() & (pl.col("qty") >= 0)).fill_null(True),
            "qty must be a finite number >= 0",
        ),
    ]
    if "side" in frame.columns:
        checks.append(
            (
                "side",
                ~_side_ok(),
                "side must be 'buy' or 'sell' (or empty)",
            )
        )
    flags = frame.select(*(expr.any().alias(name) for name, expr, _ in checks))
    for name, expr, message in checks:
        if flags.get_column(name)[0]:
            row = int(frame.select(expr.arg_max()).item())
            raise InvalidInput(f"tick row {row}: {message}", field=name)
    return frame


def _side_ok() -> pl.Expr:
    return pl.col("side").is_in(list(SIDES)).fill_null(True)


def ticks_to_bars(
    ticks: pl.DataFrame, timeframe: Timeframe, *, with_flow: bool = False
) -> pl.DataFrame:
    """OHLCV bars of ``timeframe`` from trades; ``with_flow`` adds ``trades``, ``buy_volume``.

    Bars are labelled at their open on the epoch grid, sorted, one per interval with trades.
    """
    frame = coerce_ticks(ticks, with_side=with_flow)
    if not frame.get_column("ts").is_sorted():
        frame = frame.sort("ts", maintain_order=True)
    if frame.is_empty():
        bars = empty_bars()
        if with_flow:
            bars = bars.with_columns(
                pl.lit(0, dtype=pl.Int64).alias("trades"),
                pl.lit(None, dtype=pl.Float64).alias("buy_volume"),
            )
        return bars
    ms = frame.get_column("ts").to_physical().to_numpy()
    width = timeframe.ms
    bucket = ms // width
    starts = np.concatenate(([0], np.flatnonzero(bucket[1:] != bucket[:-1]) + 1))
    lasts = np.concatenate((starts[1:], [ms.size])) - 1
    price = frame.get_column("price").to_numpy()
    qty = frame.get_column("qty").to_numpy()
    columns: dict[str, np.ndarray] = {
        "ts": bucket[starts] * width,
        "open": price[starts],
        "high": np.maximum.reduceat(price, starts),
        "low": np.minimum.reduceat(price, starts),
        "close": price[lasts],
        "volume": np.add.reduceat(qty, starts),
    }
    if with_flow:
        columns["trades"] = (lasts - starts + 1).astype(np.int64)
        if "side" in frame.columns:
            bought = np.where(frame.get_column("side").to_numpy() == "buy", qty, 0.0)
            columns["buy_volume"] = np.add.reduceat(bought, starts)
    bars = pl.DataFrame(columns).with_columns(pl.col("ts").cast(TS_DTYPE))
    if with_flow and "buy_volume" not in bars.columns:
        bars = bars.with_columns(pl.lit(None, dtype=pl.Float64).alias("buy_volume"))
    return bars
