from __future__ import annotations

import math

import numpy as np
import pytest

from arbx.domain.backtest.costs import (
    DEFAULT_FEES,
    FeeSchedule,
    SlippageModel,
    fees_for,
    round_lot,
)
from arbx.domain.backtest.sizing import Sizing, rolling_log_return_std
from arbx.domain.errors import InvalidInput


def test_default_fee_schedules_exist_and_overrides_win() -> None:
    assert {"binance", "coinbase", "kraken"} <= set(DEFAULT_FEES)
    assert fees_for("kraken") == DEFAULT_FEES["kraken"]
    mine = FeeSchedule(maker_bps=1.0, taker_bps=2.0)
    assert fees_for("kraken", {"kraken": mine}) == mine
    assert fees_for("nowhere") == FeeSchedule()


def test_fee_rates_are_fractions_of_notional() -> None:
    fees = FeeSchedule(maker_bps=2.0, taker_bps=7.5)
    assert fees.rate(taker=True) == pytest.approx(0.00075)
    assert fees.rate(taker=False) == pytest.approx(0.0002)


@pytest.mark.parametrize("bad", [-1.0, math.nan, 10_000.0])
def test_negative_or_absurd_fees_are_refused(bad: float) -> None:
    with pytest.raises(InvalidInput) as err:
        FeeSchedule(taker_bps=bad)
    assert err.value.field == "fees.taker_bps"


def test_slippage_models_hand_computed() -> None:
    assert SlippageModel().fraction(5.0, 10.0) == 0.0
    assert SlippageModel("fixed", bps=5).fraction(123.0, 0.0) == pytest.approx(0.0005)
    impact = SlippageModel("volume_share", k_bps=100)
    # 100 bps * sqrt(25 / 100) = 50 bps
    assert impact.fraction(25.0, 100.0) == pytest.approx(0.005)
    # participation is capped at 1; a bar without volume counts as full participation
    assert impact.fraction(500.0, 100.0) == pytest.approx(0.01)
    assert impact.fraction(1.0, 0.0) == pytest.approx(0.01)
    vec = impact.fractions(np.array([25.0, 500.0, 1.0]), np.array([100.0, 100.0, 0.0]))
    assert vec == pytest.approx([0.005, 0.01, 0.01])


def test_round_lot_rounds_down() -> None:
    assert round_lot(0.30000000001, 0.1) == pytest.approx(0.3)
    assert round_lot(0.29, 0.1) == pytest.approx(0.2)
    assert round_lot(0.123, 0.0) == 0.123


def test_sizing_budgets() -> None:
    assert Sizing(fraction=0.5).budget(1000.0, 0.5) == 500.0
    assert Sizing("fixed_notional", notional=300.0).budget(1000.0, math.nan) == 300.0
    assert Sizing("fixed_notional", notional=3000.0).budget(1000.0, math.nan) == 1000.0
    with pytest.raises(InvalidInput):
        Sizing(fraction=0.0)
    with pytest.raises(InvalidInput):
        Sizing("fixed_notional")


def test_vol_target_fraction_uses_past_returns_only() -> None:
    close = 100.0 * np.exp(np.cumsum(np.tile([0.01, -0.01], 20)))
    sizing = Sizing("vol_target", target_vol=0.1, lookback=4, max_fraction=1.0)
    f = sizing.fractions(close, 365.0)
    sigma = rolling_log_return_std(close, 4)
    assert np.isnan(sigma[:4]).all()
    r = np.diff(np.log(close))[:4]
    assert sigma[4] == pytest.approx(np.std(r, ddof=1))
    assert f[10] == pytest.approx(min(1.0, 0.1 / (sigma[10] * math.sqrt(365.0))))
    assert f[0] == 1.0  # undefined volatility: max fraction
