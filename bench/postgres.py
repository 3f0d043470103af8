"""PostgresBarStore throughput against the practical limit, ``psql \\copy`` into a bare table.

Run: ``.venv/bin/python bench/postgres.py [--rows 2000000] [--series 4] [--rounds 3]
[--url URL]`` (URL defaults to ARBX_TEST_DATABASE_URL or postgresql://postgres@127.0.0.1:5432/test).

Each round, in one scratch schema (dropped at the end), measures:
1. the rows as CSV through ``psql \\copy`` into a bare table (no keys, no indexes), and into
   a table with market_data's unique key and indexes (what maintaining the key costs);
2. first insert of N 1m bars through ``PostgresBarStore.write`` (one call per series);
3. an upsert of the same rows (nothing changes: the store must still check every row);
4. reading every series back through ``PostgresBarStore.read``;
5. the same reads as ``psql \\copy (SELECT ...) TO /dev/null (FORMAT binary)``.
Rounds interleave the store and its references so load from other processes hits both; the
best time of each is reported. Targets: first insert >= 70 % of the bare COPY rate; read >=
1,000,000 rows/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import psycopg
from psycopg import sql

from arbx.adapters.postgres.bar_store import PostgresBarStore
from arbx.adapters.postgres.migrate import upgrade
from arbx.adapters.postgres.pool import PoolConfig, open_pool
from arbx.domain.market import BAR_SCHEMA, SeriesKey, TimeSpan

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
START_MS = int(datetime(2019, 1, 1, tzinfo=UTC).timestamp() * 1000)


def synthetic_bars(n: int, seed: int) -> pl.DataFrame:
    """``n`` consistent 1m bars: a seeded random walk."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    spread = np.abs(rng.normal(0.0, 0.0005, n)) * close
    frame = pl.DataFrame(
        {
            "ts": START_MS + np.arange(n, dtype=np.int64) * 60_000,
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.gamma(2.0, 5.0, n),
        }
    )
    return frame.with_columns(pl.col("ts").cast(BAR_SCHEMA["ts"]))


def rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:>12,.0f} rows/s  ({seconds:6.2f} s)"


async def run(url: str, total: int, n_series: int, rounds: int) -> None:
    schema = f"arbx_bench_{os.getpid()}"
    per_series = total // n_series
    keys = [SeriesKey.of("binance", f"B{i}/USDC", "1m") for i in range(n_series)]
    frames = [synthetic_bars(per_series, seed=i) for i in range(n_series)]
    rows = per_series * n_series
    best: dict[str, float] = {}

    def record(name: str, seconds: float) -> None:
        best[name] = min(seconds, best.get(name, float("inf")))

    pool = await open_pool(PoolConfig(url, min_size=2, max_size=4))
    try:
        async with pool.connection() as conn:
            await upgrade(conn, schema)
            await conn.execute(
                sql.SQL(
                    "CREATE TABLE {} (exchange text, symbol text, timeframe text,"
                    " ts timestamptz, open float8, high float8, low float8, close float8,"
                    " volume float8)"
                ).format(sql.Identifier(schema, "bare"))
            )
            # The same rows under the same unique key as market_data: what the key costs.
            await conn.execute(
                sql.SQL(
                    "CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
                    " INCLUDING INDEXES)"
                ).format(sql.Identifier(schema, "keyed"), sql.Identifier(schema, "market_data"))
            )
        store = PostgresBarStore(pool, schema)
        with tempfile.TemporaryDirectory() as tmp:
            csv_path = write_csv(Path(tmp), keys, frames)
            for round_no in range(1, rounds + 1):
                async with pool.connection() as conn:
                    await conn.execute(
                        sql.SQL("TRUNCATE {}, {}, {}").format(
                            sql.Identifier(schema, "market_data"),
                            sql.Identifier(schema, "bare"),
                            sql.Identifier(schema, "keyed"),
                        )
                    )
                    await conn.execute("CHECKPOINT")
                record("copy_in", psql(url, f"\\copy {schema}.bare FROM '{csv_path}' (FORMAT csv)"))
                keyed_columns = "exchange, symbol, timeframe, ts, open, high, low, close, volume"
                record(
                    "copy_keyed",
                    psql(
                        url,
                        f"\\copy {schema}.keyed ({keyed_columns}) FROM '{csv_path}' (FORMAT csv)",
                    ),
                )

                started = time.perf_counter()
                written = 0
                for key, frame in zip(keys, frames, strict=True):
                    written += await store.write(key, frame)
                record("insert", time.perf_counter() - started)
                assert written == rows, (written, rows)

                started = time.perf_counter()
                changed = 0
                for key, frame in zip(keys, frames, strict=True):
                    changed += await store.write(key, frame)
                record("upsert", time.perf_counter() - started)
                assert changed == 0, changed

                # Steady state for both readers: hint bits set, statistics known (what
                # autovacuum does after a bulk load).
                psql(url, f"VACUUM (ANALYZE) {schema}.market_data")
                started = time.perf_counter()
                read_rows = 0
                for key in keys:
                    read_rows += (await store.read(key, TimeSpan.everything())).height
                record("read", time.perf_counter() - started)
                assert read_rows == rows, (read_rows, rows)

                copy_out = sum(
                    psql(
                        url,
                        f"\\copy (SELECT ts, open, high, low, close, volume FROM"
                        f" {schema}.market_data WHERE exchange = '{key.exchange}' AND"
                        f" symbol = '{key.symbol}' AND timeframe = '1m' ORDER BY ts)"
                        " TO '/dev/null' (FORMAT binary)",
                    )
                    for key in keys
                )
                record("copy_out", copy_out)
                print(f"round {round_no}/{rounds} done", flush=True)
    finally:
        async with pool.connection() as conn:
            await conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )
        await pool.close()

    def line(label: str, name: str, note: str) -> None:
        print(f"  {label:<28}{rate(rows, best[name])}   {note}")

    print(f"PostgreSQL bar store, {rows:,} 1m bars in {n_series} series, best of {rounds} rounds")
    line("psql \\copy in, bare table", "copy_in", "reference")
    line(
        "psql \\copy in, keyed table",
        "copy_keyed",
        f"{best['copy_in'] / best['copy_keyed']:6.1%} of bare (market_data's key and indexes)",
    )
    line(
        "store.write, insert",
        "insert",
        f"{best['copy_in'] / best['insert']:6.1%} of bare, "
        f"{best['copy_keyed'] / best['insert']:.1%} of keyed (target >= 70% of bare)",
    )
    line(
        "store.write, upsert",
        "upsert",
        f"{best['copy_in'] / best['upsert']:6.1%} of bare (same rows again: nothing changes)",
    )
    line("psql \\copy out, binary", "copy_out", "reference")
    line(
        "store.read",
        "read",
        f"{best['copy_out'] / best['read']:6.1%} of copy out (target >= 1,000,000 rows/s)",
    )


def write_csv(directory: Path, keys: list[SeriesKey], frames: list[pl.DataFrame]) -> Path:
    path = directory / "bars.csv"
    parts = [
        frame.select(
            pl.lit(str(key.exchange)).alias("exchange"),
            pl.lit(str(key.symbol)).alias("symbol"),
            pl.lit(str(key.timeframe)).alias("timeframe"),
            pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "open",
            "high",
            "low",
            "close",
            "volume",
        )
        for key, frame in zip(keys, frames, strict=True)
    ]
    pl.concat(parts).write_csv(path, include_header=False, float_precision=None)
    return path


def psql(url: str, command: str) -> float:
    """Seconds ``psql -c command`` takes (process start included: a few ms)."""
    binary = shutil.which("psql")
    if binary is None:
        raise SystemExit("psql is not on PATH; it is the reference this benchmark needs")
    started = time.perf_counter()
    subprocess.run([binary, url, "-q", "-v", "ON_ERROR_STOP=1", "-c", command], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--series", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--url", default=os.environ.get("ARBX_TEST_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()
    try:
        asyncio.run(run(args.url, args.rows, args.series, args.rounds))
    except psycopg.Error as exc:
        raise SystemExit(f"benchmark failed: {exc}") from exc


if __name__ == "__main__":
    main()
