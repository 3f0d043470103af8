"""Shared hypothesis strategies for arbx's property tests."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
from hypothesis import strategies as st

from arbx.domain.market import BAR_SCHEMA, Timeframe

timeframes = st.sampled_from(list(Timeframe))
assets = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=15)
exchange_ids = st.from_regex(r"[a-z][a-z0-9_]{1,31}", fullmatch=True)
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@st.composite
def price_paths(draw: st.DrawFn, min_size: int = 2, max_size: int = 300) -> np.ndarray:
    """Positive price paths: a random walk of log returns from a random level."""
    n = draw(st.integers(min_size, max_size))
    level = draw(st.floats(1e-3, 1e5))
    seed = draw(st.integers(0, 2**32 - 1))
    vol = draw(st.floats(1e-5, 0.05))
    rng = np.random.default_rng(seed)
    return level * np.exp(np.cumsum(rng.normal(0.0, vol, n)))


@st.composite
def bar_series(
    draw: st.DrawFn, timeframe: Timeframe = Timeframe.M1, min_size: int = 1, max_size: int = 300
) -> pl.DataFrame:
    """A valid canonical bar frame on ``timeframe``'s grid, consecutive bars."""
    close = draw(price_paths(min_size=min_size, max_size=max_size))
    n = close.size
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    open_ = np.concatenate(([close[0]], close[:-1]))
    wiggle = np.abs(rng.normal(0.0, 0.001, n)) * close
    # bars open between 2017 and ~2030, like real crypto data
    start = (1_483_228_800_000 // timeframe.ms + draw(st.integers(0, 400_000))) * timeframe.ms
    volume = rng.gamma(2.0, 5.0, n) * (rng.random(n) > 0.1)
    return pl.DataFrame(
        {
            "ts": start + np.arange(n, dtype=np.int64) * timeframe.ms,
            "open": open_,
            "high": np.maximum(open_, close) + wiggle,
            "low": np.minimum(open_, close) - wiggle,
            "close": close,
            "volume": volume,
        }
    ).with_columns(pl.col("ts").cast(BAR_SCHEMA["ts"]))
