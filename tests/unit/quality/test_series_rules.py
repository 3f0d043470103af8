"""Stale runs, return outliers and cross-venue deviation, on hand-built series."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from arbx.domain.errors import InvalidInput
from arbx.domain.quality import Rule, ValidationConfig, validate_series
from tests.builders import key as series_key
from tests.builders import make_bars

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def flat_run(bars: pl.DataFrame, start: int, length: int) -> pl.DataFrame:
    """Make rows start..start+length-1 repeat the close of row start-1 with zero volume."""
    price = bars["close"][start - 1]
    inside = pl.int_range(pl.len()).is_between(start, start + length - 1)
    return (
        bars.with_columns(
            *(
                pl.when(inside).then(price).otherwise(pl.col(c)).alias(c)
                for c in ("open", "high", "low", "close")
            ),
            pl.when(inside).then(0.0).otherwise(pl.col("volume")).alias("volume"),
        )
        .with_columns(  # the bar after the run opens where the run closed
            pl.when(pl.int_range(pl.len()) == start + length)
            .then(price)
            .otherwise(pl.col("open"))
            .alias("open")
        )
        .with_columns(
            pl.max_horizontal("high", "open").alias("high"),
            pl.min_horizontal("low", "open").alias("low"),
        )
    )


def findings(
    bars: pl.DataFrame, rule: str, key: str = "binance:BTC/USDC:1m", **kwargs: object
) -> pl.DataFrame:
    result = validate_series(series_key(key), bars, now=NOW, **kwargs)  # type: ignore[arg-type]
    return result.issues.filter(pl.col("rule") == rule)


def test_stale_run_of_n_bars_is_one_info_finding_on_its_first_bar() -> None:
    bars = flat_run(flat_run(make_bars(100), 20, 6), 60, 4)

    stale = findings(bars, Rule.STALE_RUN, config=ValidationConfig(stale_min_bars=5))

    assert stale.get_column("ts").to_list() == [bars["ts"][20]]
    assert stale.get_column("observed").to_list() == [6.0]
    assert stale.get_column("severity").to_list() == ["info"]


def test_stale_bars_lower_their_score_and_the_series_stale_share() -> None:
    bars = flat_run(make_bars(100), 20, 10)
    result = validate_series(series_key(), bars, now=NOW)

    scores = result.bars.get_column("quality_score")
    assert scores[25] == pytest.approx(0.8)
    assert scores[19] == 1.0
    assert result.score.stale_bars == 10
    assert result.score.stale_share == pytest.approx(0.1)


def test_zero_volume_bars_whose_price_moves_are_not_stale() -> None:
    bars = make_bars(50).with_columns(pl.lit(0.0).alias("volume"))
    assert findings(bars, Rule.STALE_RUN).is_empty()


def spiked(n: int = 600, at: int = 400, factor: float = 1.05) -> pl.DataFrame:
    bars = make_bars(n, volatility=0.0005)
    close = bars["close"].to_numpy().copy()
    close[at] *= factor
    open_ = np.concatenate(([bars["open"][0]], close[:-1]))
    return bars.with_columns(
        pl.Series("close", close),
        pl.Series("open", open_),
        pl.Series("high", np.maximum(open_, close) * 1.0001),
        pl.Series("low", np.minimum(open_, close) * 0.9999),
    )


def test_a_spike_is_a_robust_z_outlier_into_and_out_of_it() -> None:
    bars = spiked()

    mad = findings(bars, Rule.RETURN_OUTLIER_MAD)
    iqr = findings(bars, Rule.RETURN_OUTLIER_IQR)

    assert mad.get_column("ts").to_list() == [bars["ts"][400], bars["ts"][401]]
    assert (mad.get_column("observed") > 12.0).all()
    assert mad.get_column("severity").unique().to_list() == ["warning"]
    assert set(iqr.get_column("ts")) == {bars["ts"][400], bars["ts"][401]}


def test_a_calm_random_walk_has_no_outliers() -> None:
    bars = make_bars(2000, volatility=0.001)
    assert findings(bars, Rule.RETURN_OUTLIER_MAD).is_empty()
    assert findings(bars, Rule.RETURN_OUTLIER_IQR).is_empty()


def test_a_pegged_market_ticking_by_one_unit_is_not_an_outlier() -> None:
    rng = np.random.default_rng(1)
    close = 1.0 + rng.integers(-1, 2, 1000) * 1e-4
    bars = make_bars(1000, close=close, open=close, high=close + 1e-4, low=close - 1e-4)
    assert findings(bars, Rule.RETURN_OUTLIER_MAD).is_empty()


def test_a_return_across_a_hole_is_scaled_by_the_bars_it_spans() -> None:
    bars = make_bars(600, volatility=0.001)
    holed = pl.concat([bars[:300], bars[336:]])  # one 36-bar return, about 6 sigma unscaled
    assert findings(holed, Rule.RETURN_OUTLIER_MAD).is_empty()


def venues(n: int = 200) -> dict[str, pl.DataFrame]:
    base = make_bars(n, seed=1)
    return {
        "binance": base,
        "kraken": base.with_columns(pl.col(c) * 1.0005 for c in ("open", "high", "low", "close")),
        "coinbase": base.with_columns(pl.col(c) * 0.9995 for c in ("open", "high", "low", "close")),
        "bitstamp": base.with_columns(pl.col(c) * 1.0002 for c in ("open", "high", "low", "close")),
    }


def cross(subject: str, frames: dict[str, pl.DataFrame], **kwargs: object) -> pl.DataFrame:
    others = {series_key(f"{v}:BTC/USDC:1m"): f for v, f in frames.items() if v != subject}
    return findings(
        frames[subject],
        Rule.CROSS_VENUE_DEVIATION,
        f"{subject}:BTC/USDC:1m",
        others=others,
        **kwargs,
    )


def test_a_venue_off_the_others_median_is_a_warning_on_that_venue_only() -> None:
    frames = venues()
    frames["kraken"] = frames["kraken"].with_columns(
        pl.when(pl.int_range(pl.len()) == 50).then(pl.col(c) * 1.05).otherwise(pl.col(c))
        for c in ("open", "high", "low", "close")
    )

    kraken = cross("kraken", frames)

    assert kraken.get_column("ts").to_list() == [frames["kraken"]["ts"][50]]
    assert kraken.get_column("severity").to_list() == ["warning"]
    assert kraken.get_column("observed")[0] == pytest.approx(500.0, abs=10.0)
    assert cross("binance", frames).is_empty()
    assert cross("coinbase", frames).is_empty()


def test_all_venues_moving_together_is_not_flagged() -> None:
    frames = {
        name: bars.with_columns(
            pl.when(pl.int_range(pl.len()) >= 100).then(pl.col(c) * 1.12).otherwise(pl.col(c))
            for c in ("open", "high", "low", "close")
        )
        for name, bars in venues().items()
    }
    for venue in frames:
        assert cross(venue, frames).is_empty()


def test_two_venues_that_disagree_are_only_info() -> None:
    frames = venues()
    del frames["coinbase"], frames["bitstamp"]
    frames["kraken"] = frames["kraken"].with_columns(pl.col("close") * 1.04, pl.col("high") * 1.04)

    kraken = cross("kraken", frames)

    assert kraken.height == 200
    assert kraken.get_column("severity").unique().to_list() == ["info"]


def test_zero_volume_bars_are_not_compared() -> None:
    frames = venues()
    frames["kraken"] = (
        frames["kraken"]
        .with_columns(
            pl.when(pl.int_range(pl.len()) == 50).then(pl.col(c) * 1.05).otherwise(pl.col(c))
            for c in ("open", "high", "low", "close")
        )
        .with_columns(
            pl.when(pl.int_range(pl.len()) == 50)
            .then(0.0)
            .otherwise(pl.col("volume"))
            .alias("volume")
        )
    )
    assert cross("kraken", frames).is_empty()


def test_a_reference_of_another_pair_is_invalid_input() -> None:
    with pytest.raises(InvalidInput) as err:
        validate_series(
            series_key("kraken:BTC/USDC:1m"),
            make_bars(10),
            now=NOW,
            others={series_key("binance:BTC/USDT:1m"): make_bars(10)},
        )
    assert err.value.field == "others"


def test_config_rejects_nonsense_thresholds() -> None:
    with pytest.raises(InvalidInput) as err:
        ValidationConfig(stale_min_bars=0)
    assert err.value.field == "stale_min_bars"
