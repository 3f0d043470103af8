"""No look-ahead in arbitrage: changing anything after a cut changes nothing up to it.

Prices, volumes and conversion bars after the cut are perturbed (or removed); equity,
balances and legs up to the cut must be identical. Volumes are also perturbed alone from
the bar after the cut: a decision at the cut fills at the next open and may not know that
bar's volume either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from arbx.domain.backtest.arbitrage import (
    AlignedMarket,
    ArbitrageConfig,
    VenueSeries,
    execute_crosses,
    execute_pairs,
)
from arbx.domain.backtest.costs import FeeSchedule, SlippageModel
from arbx.domain.backtest.execution import BarArrays
from arbx.domain.backtest.result import BacktestResult
from arbx.domain.strategies.arbitrage import (
    StatArbParams,
    ThresholdArbParams,
    cross_decisions,
    pair_decisions,
)
from tests.unit.backtest.arb_builders import MINUTE, T0


@dataclass
class Raw:
    """Venues on an ``n``-slot minute grid; ``keep[i]`` the slots venue i has a bar at."""

    close: np.ndarray  # (V, n)
    open: np.ndarray
    volume: np.ndarray
    keep: np.ndarray  # (V, n) bool
    rate: np.ndarray  # (n,) conversion of venue 1's quote
    rate_keep: np.ndarray  # (n,) bool
    fees: list[float]

    def copy(self) -> Raw:
        return Raw(
            self.close.copy(),
            self.open.copy(),
            self.volume.copy(),
            self.keep.copy(),
            self.rate.copy(),
            self.rate_keep.copy(),
            list(self.fees),
        )

    def market(self) -> AlignedMarket:
        series = []
        for i in range(self.close.shape[0]):
            at = np.flatnonzero(self.keep[i])
            b = BarArrays(
                T0 + at * MINUTE,
                self.open[i, at],
                np.maximum(self.open[i, at], self.close[i, at]),
                np.minimum(self.open[i, at], self.close[i, at]),
                self.close[i, at],
                self.volume[i, at],
                MINUTE,
                f"v{i}",
            )
            conv = None
            if i == 1:
                rt = np.flatnonzero(self.rate_keep)
                r = self.rate[rt]
                conv = BarArrays(T0 + rt * MINUTE, r, r, r, r, np.ones(rt.size), MINUTE)
            quote = "USDC" if i == 1 else "USD"
            series.append(
                VenueSeries(f"v{i}", f"BTC/{quote}", b, FeeSchedule(taker_bps=self.fees[i]), conv)
            )
        return AlignedMarket.align(series)


@st.composite
def raws(draw: st.DrawFn) -> Raw:
    n = draw(st.integers(20, 120))
    v = draw(st.integers(2, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    path = 100 * np.exp(np.cumsum(rng.normal(0, 0.003, n)))
    close = path * np.exp(rng.normal(0, 0.004, (v, n)))
    open_ = close * np.exp(rng.normal(0, 0.001, (v, n)))
    keep = rng.random((v, n)) < draw(st.floats(0.6, 1.0))
    rate_keep = rng.random(n) < draw(st.floats(0.5, 1.0))
    rate_keep[: draw(st.integers(0, 5))] = False  # the conversion may start late
    keep[:, 0] = True
    rate_keep[min(5, n - 1)] = True
    rate = np.clip(1 + np.cumsum(rng.normal(0, 0.003, n)), 0.85, 1.1)
    volume = rng.gamma(2.0, 1.0, (v, n))
    return Raw(close, open_, volume, keep, rate, rate_keep, [draw(st.floats(0, 20))] * v)


def perturb_after(raw: Raw, cut: int, rng: np.random.Generator, prices: bool = True) -> Raw:
    out = raw.copy()
    later = slice(cut + 1, None)
    out.volume[:, later] *= rng.uniform(0.01, 100.0, out.volume[:, later].shape)
    if prices:
        out.close[:, later] *= np.exp(rng.normal(0, 0.02, out.close[:, later].shape))
        out.open[:, later] *= np.exp(rng.normal(0, 0.02, out.open[:, later].shape))
        out.rate[later] *= np.exp(rng.normal(0, 0.05, out.rate[later].shape))
        out.rate_keep[later] &= rng.random(out.rate_keep[later].shape) < 0.5  # gaps
    return out


def run_threshold(raw: Raw, cfg: ArbitrageConfig, params: ThresholdArbParams) -> BacktestResult:
    m = raw.market()
    return execute_crosses(m, cfg, cross_decisions(m, params, cfg.slippage, cfg.volume_window))


def run_stat(raw: Raw, cfg: ArbitrageConfig, params: StatArbParams) -> BacktestResult:
    m = raw.market()
    return execute_pairs(m, cfg, pair_decisions(m, params))


def axis_index(result: BacktestResult, slot: int) -> int:
    """Last row of the result's axis at or before grid slot ``slot`` (-1: none)."""
    ts = result.curve["ts"].dt.epoch("ms").to_numpy()
    return int(np.searchsorted(ts, T0 + slot * MINUTE, side="right")) - 1


def assert_same_until(a: BacktestResult, b: BacktestResult, slot: int, legs_slot: int) -> None:
    k = axis_index(a, slot)
    assert k == axis_index(b, slot)
    np.testing.assert_array_equal(
        a.curve["equity"].to_numpy()[: k + 1], b.curve["equity"].to_numpy()[: k + 1]
    )
    assert a.balances is not None
    assert b.balances is not None
    assert a.balances.head(k + 1).equals(b.balances.head(k + 1))
    upto = T0 + legs_slot * MINUTE

    def early(r: BacktestResult) -> pl.DataFrame:
        return r.trades.filter(pl.col("ts").dt.epoch("ms") <= upto)

    assert early(a).equals(early(b))


def config(fill: str, k_bps: float, drawdown: float | None) -> ArbitrageConfig:
    return ArbitrageConfig(
        capital=5_000.0,
        fill=fill,  # type: ignore[arg-type]
        min_notional=0.0,
        transfer_delay_bars=3,
        rebalance_trigger=0.6,
        slippage=SlippageModel("volume_share", k_bps=k_bps),
        volume_window=5,
        max_drawdown=drawdown,
        max_volume_share=0.5,
    )


@settings(max_examples=80, deadline=None)
@given(
    raw=raws(),
    cut_frac=st.floats(0.1, 0.9),
    seed=st.integers(0, 2**32 - 1),
    threshold=st.floats(0, 30),
    qty=st.floats(0.05, 3.0),
    fill=st.sampled_from(["next_open", "close"]),
    k_bps=st.floats(0, 80),
    drawdown=st.one_of(st.none(), st.floats(0.005, 0.1)),
)
def test_threshold_arbitrage_never_reads_past_the_cut(
    raw: Raw,
    cut_frac: float,
    seed: int,
    threshold: float,
    qty: float,
    fill: str,
    k_bps: float,
    drawdown: float | None,
) -> None:
    cut = int(raw.close.shape[1] * cut_frac)
    cfg, params = config(fill, k_bps, drawdown), ThresholdArbParams(threshold, qty)
    base = run_threshold(raw, cfg, params)
    rng = np.random.default_rng(seed)
    assert_same_until(base, run_threshold(perturb_after(raw, cut, rng), cfg, params), cut, cut)
    # volumes alone from the bar after the cut: fills at that bar's open are unchanged too
    if fill == "next_open":
        volumes = perturb_after(raw, cut, rng, prices=False)
        assert_same_until(base, run_threshold(volumes, cfg, params), cut, cut + 1)


@settings(max_examples=40, deadline=None)
@given(
    raw=raws(),
    cut_frac=st.floats(0.2, 0.9),
    seed=st.integers(0, 2**32 - 1),
    k_bps=st.floats(0, 80),
)
def test_stat_arbitrage_never_reads_past_the_cut(
    raw: Raw, cut_frac: float, seed: int, k_bps: float
) -> None:
    raw = Raw(
        raw.close[:2], raw.open[:2], raw.volume[:2], raw.keep[:2], raw.rate, raw.rate_keep, [5, 5]
    )
    cut = int(raw.close.shape[1] * cut_frac)
    cfg = config("next_open", k_bps, None)
    params = StatArbParams(lookback=5, z_in=1.0, z_out=0.2, max_hold=6, qty=0.5)
    base = run_stat(raw, cfg, params)
    rng = np.random.default_rng(seed)
    assert_same_until(base, run_stat(perturb_after(raw, cut, rng), cfg, params), cut, cut)


def flat(n: int, gap_bps: float) -> Raw:
    close = np.vstack([np.full(n, 100.0), np.full(n, 100.0 * (1 + gap_bps * 1e-4))])
    return Raw(
        close,
        close.copy(),
        np.full((2, n), 10.0),
        np.ones((2, n), dtype=bool),
        np.ones(n),
        np.ones(n, dtype=bool),
        [0.0, 0.0],
    )


def test_a_volume_spike_after_the_cut_changes_nothing_before_it() -> None:
    """Slippage of 40 bps at full participation: whether a 25 bps gap clears a 5 bps
    threshold depends on the volume; a whole-run median of it would let the bars after
    the cut decide the trades before it."""
    n, cut = 40, 10
    raw = flat(n, 25.0)
    raw.volume[:, : cut + 1] = 1.0  # thin before the cut: max_qty 1 is full participation
    spiked = raw.copy()
    spiked.volume[:, cut + 1 :] = 1e6  # deep from the bar after the cut
    cfg = ArbitrageConfig(
        capital=10_000.0,
        min_notional=0.0,
        slippage=SlippageModel("volume_share", k_bps=40.0),
        volume_window=3,
    )
    params = ThresholdArbParams(threshold_bps=5.0, max_qty=1.0)
    a, b = run_threshold(raw, cfg, params), run_threshold(spiked, cfg, params)
    assert_same_until(a, b, cut, cut + 1)
    early = a.trades.filter((pl.col("trade_id") >= 0) & (pl.col("bar") <= cut + 1))
    assert early.is_empty()  # 25 - 2 * 20 bps of slippage < 5: nothing before the spike
    assert b.trades.filter(pl.col("bar") > cut + 2).height > 0  # and trades once it is known


def test_a_conversion_that_starts_late_is_not_back_filled() -> None:
    n = 20
    raw = flat(n, 0.0)
    raw.rate[:] = 0.95
    raw.rate[:7] = 0.5  # values never seen: the conversion has no bar there
    raw.rate_keep[:7] = False
    result = run_threshold(raw, ArbitrageConfig(capital=1_000.0), ThresholdArbParams())
    ts = result.curve["ts"].dt.epoch("ms").to_numpy()
    assert ts[0] == T0 + 7 * MINUTE  # the run starts when every input has data
    assert any("starts last" in note and "conversion" in note for note in result.notes)
    bal = result.balances
    assert bal is not None
    # opening quote sized at the first known rate: half of 500 common units at 0.95
    assert bal["v1:BTC/USDC:quote"][0] == 250.0 / 0.95


def test_a_gap_in_the_conversion_after_the_cut_changes_nothing_before_it() -> None:
    n, cut = 30, 12
    raw = flat(n, 30.0)
    raw.rate[:] = 1.0 + 0.001 * np.arange(n)
    gappy = raw.copy()
    gappy.rate_keep[cut + 1 :] = False
    cfg = ArbitrageConfig(capital=10_000.0, min_notional=0.0)
    params = ThresholdArbParams(threshold_bps=5.0, max_qty=0.5)
    assert_same_until(run_threshold(raw, cfg, params), run_threshold(gappy, cfg, params), cut, cut)
