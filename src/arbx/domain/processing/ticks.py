"""Trades (ticks) to OHLCV bars.

A tick frame has ``ts`` (Datetime or epoch milliseconds, UTC), ``price`` (> 0), ``qty``
(base amount, >= 0) and optionally ``side`` ("buy"/"sell": the taker's side). Ticks are
ordered by ts, ties kept in the caller's order (exchanges number trades in that order), so the
bar's open is the first trade of the interval and its close the last. Intervals without trades
produce no bar (as Kraken and Coinbase do).
"""

from __future__ import annotations

import polars as pl

from arbx.domain.errors import InvalidInput
from arbx.domain.market import Timeframe
from arbx.domain.market.bars import TS_DTYPE

TICK_COLUMNS = ("ts", "price", "qty")
SIDES = ("buy", "sell")


def coerce_ticks(ticks: pl.DataFrame) -> pl.DataFrame:
    """Canonical tick columns and dtypes; raises ``InvalidInput`` naming the bad column/row."""
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
    if "side" in ticks.columns:
        columns.append(pl.col("side").cast(pl.String).str.to_lowercase())
    frame = ticks.select(columns)
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
                ~pl.col("side").is_in(list(SIDES)).fill_null(True),
                "side must be 'buy' or 'sell' (or empty)",
            )
        )
    flags = frame.select(*(expr.any().alias(name) for name, expr, _ in checks))
    for name, expr, message in checks:
        if flags.get_column(name)[0]:
            row = int(frame.select(expr.arg_max()).item())
            raise InvalidInput(f"tick row {row}: {message}", field=name)
    return frame


def ticks_to_bars(
    ticks: pl.DataFrame, timeframe: Timeframe, *, with_flow: bool = False
) -> pl.DataFrame:
    """OHLCV bars of ``timeframe`` from trades; ``with_flow`` adds ``trades``, ``buy_volume``.

    Bars are labelled at their open on the epoch grid, sorted, one per interval with trades.
    """
    frame = coerce_ticks(ticks)
    if not frame.get_column("ts").is_sorted():
        frame = frame.sort("ts", maintain_order=True)
    frame = frame.with_columns(pl.col("ts").set_sorted())
    aggs = [
        pl.col("price").first().alias("open"),
        pl.col("price").max().alias("high"),
        pl.col("price").min().alias("low"),
        pl.col("price").last().alias("close"),
        pl.col("qty").sum().alias("volume"),
    ]
    if with_flow:
        aggs.append(pl.len().cast(pl.Int64).alias("trades"))
        if "side" in frame.columns:
            aggs.append(pl.col("qty").filter(pl.col("side") == "buy").sum().alias("buy_volume"))
        else:
            aggs.append(pl.lit(None, dtype=pl.Float64).alias("buy_volume"))
    return frame.group_by_dynamic(
        "ts", every=timeframe.polars_every, label="left", closed="left"
    ).agg(aggs)
