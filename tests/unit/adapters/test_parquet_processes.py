"""Several processes writing one series of one ParquetBarStore root lose nothing.

This is the `arbx serve` + `arbx data import` case: two processes, one folder. Each process
writes interleaved slices of the same months, so every write is a read-modify-write of files
another process is changing too; the per-series lock file must serialize them.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from arbx.domain.market import SeriesKey, TimeSpan
from tests.builders import make_bars
from tests.support.parquet import cached_store

KEY = SeriesKey.of("binance", "BTC/USDC", "15m")
WRITERS = 3
SLICES = 12
BARS = make_bars(96 * 40, start=datetime(2024, 1, 20, tzinfo=UTC), timeframe="15m")  # 2 months


def slices_of(writer: int) -> list[pl.DataFrame]:
    """Writer ``w`` owns every WRITERS-th slice, so all writers touch both months in turn."""
    size = BARS.height // (WRITERS * SLICES)
    return [BARS.slice((i * WRITERS + writer) * size, size) for i in range(SLICES)]


def write_slices(root: str, writer: int, start: Any, counts: Any) -> None:
    async def run() -> int:
        store = cached_store(Path(root))
        await store.ping()
        start.wait(timeout=60)  # every writer starts at once
        return sum([await store.write(KEY, chunk) for chunk in slices_of(writer)])

    counts.put(asyncio.run(run()))


@pytest.mark.slow
async def test_writers_in_several_processes_lose_nothing(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    start, counts = context.Barrier(WRITERS), context.Queue()
    writers = [
        context.Process(target=write_slices, args=(str(tmp_path), w, start, counts))
        for w in range(WRITERS)
    ]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=120)
    assert [p.exitcode for p in writers] == [0] * WRITERS

    expected = pl.concat([chunk for w in range(WRITERS) for chunk in slices_of(w)]).sort("ts")
    got = await cached_store(tmp_path).read(KEY, TimeSpan.everything())
    assert sum(counts.get(timeout=5) for _ in range(WRITERS)) == expected.height
    assert got.equals(expected)
