"""The validator, gap detector, repair and tick aggregation on real exchange data.

../shared/data/svb_2023-03: 1m candles of March 2023 on Binance.US, Coinbase and Kraken, with
the USDC de-peg (2023-03-10..13). See ../shared/data/README.md for the venue quirks checked here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from arbx.domain.market import BAR_COLUMNS, SeriesKey, Timeframe, coerce_bars
from arbx.domain.processing import ticks_to_bars
from arbx.domain.quality import (
    GapCause,
    RepairPolicy,
    Rule,
    Severity,
    detect_gaps,
    repair_gaps,
    validate_series,
)

pytestmark = pytest.mark.shared_data

NOW = datetime(2024, 1, 1, tzinfo=UTC)
DEPEG = (datetime(2023, 3, 10, tzinfo=UTC), datetime(2023, 3, 14, tzinfo=UTC))
FILES = {
    "binanceus:BTC/USDT": "binanceus_BTC-USDT_1m.csv",
    "binanceus:BTC/USDC": "binanceus_BTC-USDC_1m.csv",
    "binanceus:USDC/USDT": "binanceus_USDC-USDT_1m.csv",
    "coinbase:BTC/USD": "coinbase_BTC-USD_1m.csv",
    "coinbase:BTC/USDT": "coinbase_BTC-USDT_1m.csv",
    "kraken:BTC/USD": "kraken_BTC-USD_1m.csv",
    "kraken:BTC/USDT": "kraken_BTC-USDT_1m.csv",
    "kraken:BTC/USDC": "kraken_BTC-USDC_1m.csv",
}


@pytest.fixture(scope="module")
def svb(shared_data: Path) -> dict[SeriesKey, pl.DataFrame]:
    folder = shared_data / "svb_2023-03"
    return {
        SeriesKey.parse(f"{name}:1m"): coerce_bars(
            pl.read_csv(folder / file).rename({"timestamp": "ts"}).select(BAR_COLUMNS)
        )
        for name, file in FILES.items()
    }


def peers(svb: dict[SeriesKey, pl.DataFrame], key: SeriesKey) -> dict[SeriesKey, pl.DataFrame]:
    return {k: v for k, v in svb.items() if k.symbol == key.symbol and k != key}


def in_depeg(issues: pl.DataFrame) -> pl.DataFrame:
    return issues.filter(pl.col("ts").is_between(*DEPEG, closed="left"))


def test_no_svb_file_breaks_an_integrity_rule(svb: dict[SeriesKey, pl.DataFrame]) -> None:
    for key, bars in svb.items():
        result = validate_series(key, bars, now=NOW)
        assert result.score.error_bars == 0, key
        assert result.dropped.is_empty(), key


def test_binance_us_stale_minutes_are_found_as_stale_runs(
    svb: dict[SeriesKey, pl.DataFrame],
) -> None:
    shares = {}
    for pair in ("BTC/USDT", "BTC/USDC", "USDC/USDT"):
        key = SeriesKey.parse(f"binanceus:{pair}:1m")
        bars = svb[key]
        result = validate_series(key, bars, now=NOW)
        stale = result.issues.filter(pl.col("rule") == Rule.STALE_RUN)
        zero_volume_share = float((bars.get_column("volume") == 0).mean())  # type: ignore[arg-type]
        shares[pair] = result.score.stale_share
        # a stale run is made of zero-volume minutes: the share cannot exceed theirs
        assert result.score.stale_share <= zero_volume_share
        flagged = result.bars.filter(pl.col("quality_score") < 1.0)
        run_starts = bars.join(stale.select("ts"), on="ts")
        assert (run_starts.get_column("volume") == 0).all()
        assert flagged.height >= result.score.stale_bars
    # README: zero-volume minutes are 2% on BTC/USDT, 43% on BTC/USDC, 83% on USDC/USDT
    assert shares["BTC/USDT"] < 0.02 < shares["BTC/USDC"] < shares["USDC/USDT"]
    assert shares["USDC/USDT"] > 0.5


@pytest.mark.parametrize(
    ("name", "missing"),
    [
        ("kraken:BTC/USD", 60),
        ("coinbase:BTC/USD", 290),
        ("kraken:BTC/USDC", 14520),
        ("binanceus:BTC/USDC", 0),
    ],
)
def test_omitted_minutes_are_exactly_the_gaps(
    svb: dict[SeriesKey, pl.DataFrame], name: str, missing: int
) -> None:
    key = SeriesKey.parse(f"{name}:1m")
    gaps = detect_gaps(key, svb[key], evidence=peers(svb, key))
    assert sum(g.bars_missing for g in gaps) == missing


def test_omitted_minutes_on_kraken_are_mostly_no_trades(
    svb: dict[SeriesKey, pl.DataFrame],
) -> None:
    key = SeriesKey.parse("kraken:BTC/USD:1m")
    gaps = detect_gaps(key, svb[key], evidence=peers(svb, key))
    causes = {g.cause for g in gaps}
    short = [g for g in gaps if g.bars_missing <= 60]
    assert all(g.cause is GapCause.NO_TRADES for g in short)
    assert causes <= {GapCause.NO_TRADES, GapCause.OUTAGE, GapCause.UNKNOWN}


def test_the_depeg_is_not_flagged_where_venues_moved_together(
    svb: dict[SeriesKey, pl.DataFrame],
) -> None:
    for name in (
        "binanceus:BTC/USDT",
        "coinbase:BTC/USDT",
        "kraken:BTC/USDT",
        "coinbase:BTC/USD",
        "kraken:BTC/USD",
    ):
        key = SeriesKey.parse(f"{name}:1m")
        result = validate_series(key, svb[key], now=NOW, others=peers(svb, key))
        cross = result.issues.filter(pl.col("rule") == Rule.CROSS_VENUE_DEVIATION)
        assert cross.is_empty(), name


def test_usdc_pairs_moved_with_the_depeg_and_their_disagreement_is_never_a_warning(
    svb: dict[SeriesKey, pl.DataFrame],
) -> None:
    kraken = SeriesKey.parse("kraken:BTC/USDC:1m")
    binance = SeriesKey.parse("binanceus:BTC/USDC:1m")
    # BTC priced in USDC rose on both venues as USDC lost its peg
    for key in (kraken, binance):
        closes = svb[key].filter(pl.col("ts").is_between(*DEPEG, closed="left"))["close"]
        usd = svb[SeriesKey.parse("kraken:BTC/USD:1m")]
        ratio = (
            svb[key]
            .join(usd, on="ts", suffix="_usd")
            .filter(pl.col("ts").is_between(*DEPEG, closed="left"))
            .select((pl.col("close") / pl.col("close_usd")).max())
            .item()
        )
        assert closes.len() > 0
        assert ratio > 1.03  # USDC worth 3% less than USD at some minute: a real move
    for key in (kraken, binance):
        result = validate_series(key, svb[key], now=NOW, others=peers(svb, key))
        cross = result.issues.filter(pl.col("rule") == Rule.CROSS_VENUE_DEVIATION)
        assert cross.filter(pl.col("severity") != Severity.INFO.value).is_empty()
        assert in_depeg(cross).height == cross.height  # only while USDC was off its peg


def test_a_planted_bad_print_is_flagged_against_the_other_venues(
    svb: dict[SeriesKey, pl.DataFrame],
) -> None:
    key = SeriesKey.parse("kraken:BTC/USDT:1m")
    at = datetime(2023, 3, 11, 7, 30, tzinfo=UTC)
    bars = svb[key].with_columns(
        pl.when(pl.col("ts") == at).then(pl.col(c) * 1.08).otherwise(pl.col(c))
        for c in ("open", "high", "low", "close")
    )
    result = validate_series(key, bars, now=NOW, others=peers(svb, key))
    cross = result.issues.filter(pl.col("rule") == Rule.CROSS_VENUE_DEVIATION)
    assert cross.get_column("ts").to_list() == [at]
    assert cross.get_column("severity").to_list() == [Severity.WARNING.value]


def test_kraken_usdc_filled_from_binance_us_passes_validation(
    svb: dict[SeriesKey, pl.DataFrame],
) -> None:
    key = SeriesKey.parse("kraken:BTC/USDC:1m")
    ref = SeriesKey.parse("binanceus:BTC/USDC:1m")
    gaps = detect_gaps(key, svb[key])

    result = repair_gaps(key, svb[key], gaps, RepairPolicy.FROM_VENUE, reference=(ref, svb[ref]))

    assert result.filled_bars == 14520  # Binance.US printed every minute
    checked = validate_series(key, result.bars.select(BAR_COLUMNS), now=NOW)
    assert checked.score.error_bars == 0
    assert result.bars.filter(~pl.col("is_filled")).select(BAR_COLUMNS).equals(svb[key])


def test_trades_aggregate_to_the_venue_own_1m_candles(shared_data: Path) -> None:
    folder = shared_data / "xrp-eth_2019-10"
    trades = pl.read_csv(folder / "XRP-ETH_trades.csv").select(
        pl.col("timestamp").alias("ts"), "price", pl.col("amount").alias("qty"), "side"
    )
    candles = coerce_bars(pl.read_csv(folder / "XRP-ETH_1m.csv").rename({"timestamp": "ts"}))

    bars = ticks_to_bars(trades, Timeframe.M1)

    assert bars.select("ts", "open", "high", "low", "close").equals(
        candles.select("ts", "open", "high", "low", "close")
    )
    assert (bars["volume"] - candles["volume"]).abs().max() < 1e-9  # type: ignore[operator]
