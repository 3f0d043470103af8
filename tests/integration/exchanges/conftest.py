"""Helpers shared by the exchange adapter tests."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

from arbx.adapters.exchanges.common.venue import VenueClient
from arbx.domain.market import BAR_SCHEMA, Symbol, Timeframe, TimeSpan, to_ms
from arbx.ports.exchange import OhlcvPage
from tests.support.exchanges import Candles


async def fetch_all(
    client: VenueClient, symbol: str, timeframe: str, start: datetime, end: datetime
) -> tuple[pl.DataFrame, list[OhlcvPage]]:
    """Follow ``next_start`` from ``start`` to ``end``; return all bars and the pages."""
    pages: list[OhlcvPage] = []
    cursor: datetime | None = start
    while cursor is not None:
        page = await client.fetch_ohlcv(
            Symbol.parse(symbol), Timeframe.parse(timeframe), TimeSpan.of(cursor, end)
        )
        pages.append(page)
        cursor = page.next_start
    return pl.concat([p.bars for p in pages]), pages


def expected_bars(candles: Candles, timeframe: str, start: datetime, end: datetime) -> pl.DataFrame:
    """What the venue holds in [start, end), aggregated to ``timeframe`` (the test oracle)."""
    step = Timeframe.parse(timeframe).ms
    window = candles.aggregate(step).window(to_ms(start), to_ms(end))
    return pl.DataFrame(
        {
            "ts": window.ts,
            "open": window.open,
            "high": window.high,
            "low": window.low,
            "close": window.close,
            "volume": window.volume,
        }
    ).with_columns(pl.col("ts").cast(BAR_SCHEMA["ts"]))


def assert_same_bars(got: pl.DataFrame, want: pl.DataFrame) -> None:
    """Same ts; values equal up to the 8 decimals venues print."""
    assert got.schema == pl.Schema(BAR_SCHEMA)
    assert got["ts"].to_list() == want["ts"].to_list()
    for column in ("open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(
            got[column].to_numpy(), want[column].to_numpy(), rtol=1e-9, atol=1e-8
        )
