"""Validation, resampling and tick aggregation at scale, with pandas as the reference.

    .venv/bin/python bench/processing.py [--bars 10000000] [--ticks 20000000] [--repeat 3]

Prints rows/s for: validating N 1m bars (all integrity and series rules, scores), resampling
N 1m bars to 1h with arbx and with ``pandas.DataFrame.resample`` in the same run (ratio = how
many times faster arbx is), and aggregating M ticks to 1m bars. Best of ``--repeat`` runs.
Targets: resample >= 5x faster than pandas; validation >= 5M bars/s.
pandas comes from the ``bench`` dependency group (``uv sync --group bench --group dev``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import numpy as np
import pandas as pd
import polars as pl

from arbx.domain.market import BAR_SCHEMA, SeriesKey, Timeframe, to_ms
from arbx.domain.processing import resample, ticks_to_bars
from arbx.domain.quality import validate_series

T = TypeVar("T")
KEY = SeriesKey.of("binanceus", "BTC/USDC", "1m")
START = datetime(2005, 1, 1, tzinfo=UTC)
NOW = datetime(2100, 1, 1, tzinfo=UTC)


def make_bars(rows: int, seed: int = 1) -> pl.DataFrame:
    """A 1m random walk with Binance.US-like quiet minutes (2% stale) and rare spikes."""
    rng = np.random.default_rng(seed)
    ts = to_ms(START) + np.arange(rows, dtype=np.int64) * 60_000
    close = 20_000.0 * np.exp(np.cumsum(rng.normal(0.0, 5e-4, rows)))
    quiet = rng.random(rows) < 0.02
    quiet[0] = False
    for _ in range(3):  # stretch quiet minutes into runs
        quiet[1:] |= quiet[:-1] & (rng.random(rows - 1) < 0.5)
    idx = np.arange(rows)
    last_active = np.maximum.accumulate(np.where(~quiet, idx, 0))
    close = close[last_active]
    spikes = rng.choice(rows, size=max(1, rows // 200_000), replace=False)
    close[spikes] *= 1.05
    open_ = np.concatenate(([close[0]], close[:-1]))
    wiggle = np.where(quiet, 0.0, np.abs(rng.normal(0.0, 2e-4, rows)) * close)
    volume = np.where(quiet, 0.0, rng.gamma(2.0, 0.5, rows))
    return pl.DataFrame(
        {
            "ts": ts,
            "open": open_,
            "high": np.maximum(open_, close) + wiggle,
            "low": np.minimum(open_, close) - wiggle,
            "close": close,
            "volume": volume,
        }
    ).with_columns(pl.col("ts").cast(BAR_SCHEMA["ts"]))


def make_ticks(rows: int, seed: int = 2) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    ts = to_ms(START) + np.sort(rng.integers(0, rows * 150, rows))  # ~0.4 trades/s
    price = 20_000.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-4, rows)))
    side = np.where(rng.random(rows) < 0.5, "buy", "sell")
    return pl.DataFrame({"ts": ts, "price": price, "qty": rng.random(rows), "side": side})


def best(repeat: int, fn: Callable[[], T]) -> tuple[float, T]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    assert result is not None
    return min(times), result


def line(label: str, rows: int, seconds: float, extra: str = "") -> None:
    print(f"{label:<44} {seconds:8.3f} s  {rows / seconds / 1e6:8.2f} M rows/s  {extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=10_000_000)
    parser.add_argument("--ticks", type=int, default=20_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"polars {pl.__version__}, pandas {pd.__version__}, numpy {np.__version__}")

    bars = make_bars(args.bars)
    seconds, result = best(args.repeat, lambda: validate_series(KEY, bars, now=NOW))
    counts = result.score.issue_counts
    line(
        f"validate {args.bars:,} 1m bars",
        args.bars,
        seconds,
        f"(score {result.score.score:.3f}, findings {dict(sorted(counts.items()))})",
    )
    rate = args.bars / seconds
    print(f"  validation target >= 5M bars/s: {'met' if rate >= 5e6 else 'NOT met'}")

    how = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    holed = bars.filter(pl.int_range(pl.len()) % 97 != 13)  # 1% of minutes missing
    for label, series in (("every minute", bars), ("1% of minutes missing", holed)):
        arbx_s, arbx_h = best(
            args.repeat,
            lambda series=series: resample(series, Timeframe.M1, Timeframe.H1, incomplete="keep"),
        )
        frame = pd.DataFrame(
            {c: series.get_column(c).to_numpy() for c in how},
            index=pd.DatetimeIndex(
                series.get_column("ts").to_physical().to_numpy() * 1_000_000, tz="UTC"
            ),
        )
        pandas_s, pandas_h = best(
            args.repeat,
            lambda frame=frame: frame.resample("1h", label="left", closed="left").agg(how),
        )
        assert len(pandas_h) == arbx_h.height
        assert np.allclose(pandas_h["close"].to_numpy(), arbx_h["close"].to_numpy())
        assert np.allclose(pandas_h["volume"].to_numpy(), arbx_h["volume"].to_numpy())
        rows = series.height
        line(f"resample {rows:,} 1m -> 1h, {label} (arbx)", rows, arbx_s)
        line(f"resample {rows:,} 1m -> 1h, {label} (pandas)", rows, pandas_s)
        ratio = pandas_s / arbx_s
        print(
            f"  arbx is {ratio:.1f}x faster than pandas (target >= 5x: "
            f"{'met' if ratio >= 5 else 'NOT met'})"
        )

    ticks = make_ticks(args.ticks)
    tick_s, minute = best(args.repeat, lambda: ticks_to_bars(ticks, Timeframe.M1))
    line(f"aggregate {args.ticks:,} ticks -> 1m", args.ticks, tick_s, f"({minute.height:,} bars)")


if __name__ == "__main__":
    main()
