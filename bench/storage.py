"""Write and read N 1m bars through ParquetBarStore and through bare polars, in the same run.

    .venv/bin/python bench/storage.py [--rows 10000000] [--repeat 3] [--dir /tmp/x]

Prints rows/s for each and the store's cost as a ratio of bare polars (1.0 = as fast).
Targets: read within 1.5x, write within 2x of bare ``polars.write_parquet``/``read_parquet``.
The store's write includes what bare polars does not do: validating every bar, splitting into
monthly partitions, fsyncing each file and folder, and the atomic commit.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import numpy as np
import polars as pl

from arbx.adapters.parquet import ParquetBarStore
from arbx.adapters.parquet.cache import read_cache
from arbx.domain.market import BAR_SCHEMA, SeriesKey, TimeSpan, to_ms
from arbx.entrypoints.settings import StorageSettings

T = TypeVar("T")
CACHE_BYTES = StorageSettings().bars_cache_bytes
KEY = SeriesKey.of("binance", "BTC/USDC", "1m")
START = datetime(2010, 1, 1, tzinfo=UTC)


def make_bars(rows: int, seed: int = 1) -> pl.DataFrame:
    """``rows`` valid consecutive 1m bars: a random walk with consistent OHLC."""
    rng = np.random.default_rng(seed)
    ts = to_ms(START) + np.arange(rows, dtype=np.int64) * 60_000
    close = 20_000.0 * np.exp(np.cumsum(rng.normal(0.0, 5e-4, rows)))
    open_ = np.concatenate(([20_000.0], close[:-1]))
    spread = np.abs(rng.normal(0.0, 2e-4, rows)) * close
    return pl.DataFrame(
        {
            "ts": pl.Series(ts).cast(BAR_SCHEMA["ts"]),
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.gamma(2.0, 5.0, rows),
        }
    )


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    began = time.perf_counter()
    result = fn()
    return time.perf_counter() - began, result


async def atimed(fn: Callable[[], Awaitable[T]]) -> tuple[float, T]:
    began = time.perf_counter()
    result = await fn()
    return time.perf_counter() - began, result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="bars to write and read")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best counts")
    parser.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temp)")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="arbx-bench-", dir=args.dir))
    bars = make_bars(args.rows)
    everything = TimeSpan.everything()
    print(f"{args.rows:,} 1m bars, {bars.estimated_size('mb'):.0f} MB in memory, in {scratch}")
    try:
        polars_write, polars_read, store_write, store_read, store_rewrite = [], [], [], [], []
        for run in range(args.repeat):
            bare = scratch / f"bare-{run}.parquet"
            polars_write.append(timed(lambda: bars.write_parquet(bare))[0])  # noqa: B023
            seconds, back = timed(lambda: pl.read_parquet(bare))  # noqa: B023
            polars_read.append(seconds)
            assert back.height == args.rows

            store = ParquetBarStore(scratch / f"store-{run}", cache=read_cache(CACHE_BYTES))
            seconds, written = await atimed(lambda: store.write(KEY, bars))  # noqa: B023
            store_write.append(seconds)
            assert written == args.rows, written
            # read from disk: a fresh store (another process, as it were) with no cache
            cold = ParquetBarStore(scratch / f"store-{run}", cache=read_cache(0))
            seconds, got = await atimed(lambda: cold.read(KEY, everything))  # noqa: B023
            store_read.append(seconds)
            assert got.equals(bars), "the store must read back exactly what it wrote"
            seconds, unchanged = await atimed(lambda: store.write(KEY, bars))  # noqa: B023
            store_rewrite.append(seconds)
            assert unchanged == 0
            files = sorted((scratch / f"store-{run}").rglob("*.parquet"))
            del got, back

        def line(name: str, seconds: float) -> str:
            return f"  {name:<34} {seconds:7.3f} s  {args.rows / seconds / 1e6:7.2f} M rows/s"

        pw, pr, sw, sr, su = (
            min(x) for x in (polars_write, polars_read, store_write, store_read, store_rewrite)
        )
        print(f"best of {args.repeat}; the store wrote {len(files)} monthly files")
        print(line("bare polars write_parquet", pw))
        print(line("ParquetBarStore.write (new)", sw))
        print(line("ParquetBarStore.write (same again)", su))
        print(line("bare polars read_parquet", pr))
        print(line("ParquetBarStore.read (disk, no cache)", sr))
        print(f"  write ratio store/polars: {sw / pw:5.2f}x  (target <= 2.0x)")
        print(f"  read  ratio store/polars: {sr / pr:5.2f}x  (target <= 1.5x)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
