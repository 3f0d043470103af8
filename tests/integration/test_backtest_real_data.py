"""Both arbitrage strategies and both engines on the real March 2023 USDC de-peg data.

Assertions are accounting identities, never a hoped-for profit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from arbx.domain.backtest.costs import FeeSchedule, SlippageModel
from arbx.domain.backtest.events import run_events
from arbx.domain.backtest.execution import BarArrays, Execution
from arbx.domain.backtest.request import decode_request, validate_request
from arbx.domain.backtest.runner import run
from arbx.domain.backtest.vectorized import run_vectorized
from arbx.domain.market import SeriesKey
from arbx.domain.strategies import STRATEGIES

pytestmark = pytest.mark.shared_data

FILES = {
    "kraken:BTC/USDC:1m": "kraken_BTC-USDC_1m.csv",
    "kraken:BTC/USD:1m": "kraken_BTC-USD_1m.csv",
    "kraken:USDC/USD:1m": "kraken_USDC-USD_1m.csv",
    "binanceus:BTC/USDT:1m": "binanceus_BTC-USDT_1m.csv",
    "kraken:BTC/USDT:1m": "kraken_BTC-USDT_1m.csv",
}


@pytest.fixture(scope="module")
def svb(shared_data: Path) -> dict[SeriesKey, pl.DataFrame]:
    out = {}
    for text, name in FILES.items():
        raw = pl.read_csv(shared_data / "svb_2023-03" / name)
        out[SeriesKey.parse(text)] = raw.select(
            pl.col("timestamp").cast(pl.Datetime("ms", "UTC")).alias("ts"),
            *[pl.col(c).cast(pl.Float64) for c in ("open", "high", "low", "close", "volume")],
        )
    return out


CASES = [
    (["kraken:BTC/USDC:1m", "kraken:BTC/USD:1m"], {"kraken:BTC/USDC:1m": "kraken:USDC/USD:1m"}),
    (["binanceus:BTC/USDT:1m", "kraken:BTC/USDT:1m"], {}),
]


@pytest.mark.parametrize("strategy", ["threshold_arb", "stat_arb"])
@pytest.mark.parametrize(("series", "conversions"), CASES, ids=["usdc-usd", "usdt"])
def test_arbitrage_accounting_on_the_depeg(
    svb: dict[SeriesKey, pl.DataFrame],
    strategy: str,
    series: list[str],
    conversions: dict[str, str],
) -> None:
    params = {"threshold_bps": 5.0, "max_qty": 0.5} if strategy == "threshold_arb" else {}
    request = decode_request(
        {
            "strategy": strategy,
            "params": params,
            "series": series,
            "conversions": conversions,
            "start": "2023-03-01",
            "end": "2023-03-22",
            "capital": 100_000.0,
            # fees of the venues this case trades (a fee for another venue is refused)
            "fees": {
                venue: fee
                for venue, fee in {
                    "kraken": {"taker_bps": 10.0},
                    "binanceus": {"taker_bps": 5.0},
                }.items()
                if any(text.startswith(f"{venue}:") for text in series)
            },
            "arbitrage": {"transfer_delay_bars": 20, "transfer_fee_bps": 5.0},
        }
    )
    valid = validate_request(request)
    result = run(valid, svb)
    bal, opp, legs = result.balances, result.opportunities, result.trades
    assert bal is not None
    assert opp is not None
    labels = [f"{k.exchange}:{k.symbol}" for k in valid.keys]
    # every opportunity is either taken or skipped for a named reason
    assert opp.seen == (
        opp.taken
        + opp.skipped_below_threshold_after_costs
        + opp.skipped_no_balance
        + opp.skipped_size_limit
        + opp.skipped_in_position
        + opp.skipped_no_market
        + opp.skipped_risk_rule
        + opp.skipped_fill_delay
    )
    assert opp.seen > 0
    table = result.opportunity_table
    assert table is not None
    assert table["duration_bars"].sum() == opp.seen
    assert int(table["taken"].sum()) == opp.grouped_taken
    assert sum(opp.net_spread_counts) == opp.grouped == table.height
    # no venue ever holds a negative balance
    for label in labels:
        assert bal[f"{label}:base"].min() >= -1e-9
        assert bal[f"{label}:quote"].min() >= -1e-6
    # a round trip moves base between venues and never creates it: the total only falls
    # by base transfer fees
    total = (
        sum(bal[f"{label}:base"].to_numpy() for label in labels) + bal["transit_base"].to_numpy()
    )
    base_fees = legs.filter(pl.col("side") == "withdraw_base")["fee"].sum()
    assert total[0] - total[-1] == pytest.approx(base_fees, abs=1e-9)
    # each round trip's legs have equal quantities and both pay their venue's fee
    trades = legs.filter(pl.col("trade_id") >= 0)
    if trades.height:
        per = trades.group_by("trade_id", "purpose").agg(
            pl.col("qty").filter(pl.col("side") == "buy").sum().alias("bought"),
            pl.col("qty").filter(pl.col("side") == "sell").sum().alias("sold"),
        )
        np.testing.assert_allclose(per["bought"].to_numpy(), per["sold"].to_numpy())
        assert (trades["fee"] > 0).all()
    # equity is finite at every bar and the metrics are defined numbers or null
    equity = result.curve["equity"].to_numpy()
    assert np.isfinite(equity).all()
    # the P&L attribution adds up to the cent
    attribution = result.attribution
    assert attribution is not None
    assert attribution.total_pnl == pytest.approx(equity[-1] - 100_000.0, abs=1e-9)
    assert sum(attribution.parts().values()) == pytest.approx(attribution.total_pnl, abs=0.01)
    # at a bar where funds land and nothing is traded, equity moves only with the marks and
    # rates of what was held (no jump when a transfer leaves or lands)
    marks, rates = _marks(svb, valid, result.curve["ts"])
    held_base = np.vstack(
        [bal[f"{x}:base"].to_numpy() + bal[f"{x}:transit_base"].to_numpy() for x in labels]
    )
    held_quote = np.vstack(
        [bal[f"{x}:quote"].to_numpy() + bal[f"{x}:transit_quote"].to_numpy() for x in labels]
    )
    np.testing.assert_allclose(
        equity, (held_base * marks * rates).sum(0) + (held_quote * rates).sum(0), rtol=1e-12
    )
    busy = set(legs.filter(~pl.col("side").str.starts_with("deposit"))["bar"].to_list())
    landed = [b for b in legs.filter(pl.col("side").str.starts_with("deposit"))["bar"] if b]
    quiet = [b for b in landed if b not in busy]
    reval = (held_base[:, :-1] * np.diff(marks * rates, axis=1)).sum(0) + (
        held_quote[:, :-1] * np.diff(rates, axis=1)
    ).sum(0)
    if strategy == "threshold_arb":
        assert quiet  # rebalancing happened: transfers landed on bars without a trade
    for b in quiet:
        assert equity[b] - equity[b - 1] == pytest.approx(reval[b - 1], abs=1e-6)
    assert result.metrics.bars == result.curve.height
    assert result.metrics.fees_paid >= 0


def _marks(
    svb: dict[SeriesKey, pl.DataFrame], valid: object, ts: pl.Series
) -> tuple[np.ndarray, np.ndarray]:
    """(V, n) last close and last conversion rate at or before each curve bar."""
    axis = pl.DataFrame({"ts": ts})

    def last(key: SeriesKey) -> np.ndarray:
        src = svb[key].select("ts", "close").sort("ts")
        return axis.join_asof(src, on="ts", strategy="backward")["close"].to_numpy()

    keys = valid.keys  # type: ignore[attr-defined]
    conversions = valid.conversions  # type: ignore[attr-defined]
    marks = np.vstack([last(k) for k in keys])
    rates = np.vstack(
        [last(conversions[k]) if k in conversions else np.ones(ts.len()) for k in keys]
    )
    return marks, rates


def test_engines_agree_on_real_bars(svb: dict[SeriesKey, pl.DataFrame]) -> None:
    key = SeriesKey.parse("binanceus:BTC/USDT:1m")
    bars = BarArrays.from_frame(svb[key], key.timeframe, "binanceus", "BTC/USDT")
    ex = Execution(
        capital=10_000.0,
        fees=FeeSchedule(taker_bps=10.0),
        slippage=SlippageModel("volume_share", k_bps=20.0),
        lot_size=0.0001,
    )
    for name, params in [
        ("sma_cross", {"fast": 10, "slow": 50}),
        ("mean_reversion", {"window": 30}),
        ("rsi", {}),
    ]:
        strategy = STRATEGIES[name]
        assert strategy.target is not None
        target = strategy.target(bars, strategy.params(**params))
        a = run_vectorized(bars, target, ex)
        b = run_events(bars, ex, target=target)
        assert a.trades["entry_bar"].to_list() == b.trades["entry_bar"].to_list(), name
        np.testing.assert_allclose(
            a.curve["equity"].to_numpy(), b.curve["equity"].to_numpy(), rtol=1e-9
        )
        assert a.trades.height > 10
