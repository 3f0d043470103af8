from __future__ import annotations

from datetime import UTC, datetime

import pytest

from arbx.domain.backtest.request import decode_request, validate_request
from arbx.domain.backtest.runner import run
from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey
from tests.builders import make_bars

BASE = {
    "strategy": "sma_cross",
    "params": {"fast": 5, "slow": 20},
    "series": ["binance:BTC/USDC:1m"],
    "start": "2024-01-01",
    "end": "2024-01-02",
}


def test_a_valid_request_picks_the_engine() -> None:
    valid = validate_request(decode_request(BASE))
    assert valid.engine == "vectorized"
    assert valid.span.start == datetime(2024, 1, 1, tzinfo=UTC)
    assert valid.execution().fees.taker_bps == 10.0  # binance default
    risky = validate_request(decode_request({**BASE, "risk": {"stop_loss": 0.02}}))
    assert risky.engine == "event"
    arb = validate_request(
        decode_request(
            {
                **BASE,
                "strategy": "threshold_arb",
                "params": {},
                "series": ["kraken:BTC/USDC:1m", "kraken:BTC/USD:1m"],
                "conversions": {"kraken:BTC/USDC:1m": "kraken:USDC/USD:1m"},
            }
        )
    )
    assert arb.engine == "arbitrage"
    assert SeriesKey.parse("kraken:USDC/USD:1m") in arb.all_keys()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"strategy": "nope"}, "strategy"),
        ({"params": {"fast": 30, "slow": 20}}, "params.fast"),
        ({"params": {"speed": 3}}, "params.speed"),
        ({"start": "2024-01-02", "end": "2024-01-01"}, "start"),
        ({"capital": -5}, "capital"),
        ({"fees": {"binance": {"taker_bps": -1}}}, "fees.taker_bps"),
        ({"series": ["binance:BTC/USDC:1m", "kraken:BTC/USD:1m"]}, "series"),
        ({"engine": "vectorized", "risk": {"stop_loss": 0.1}}, "engine"),
        ({"fill": "whenever"}, "fill"),
        ({"colour": "red"}, "request"),
        ({"start": "yesterday"}, "start"),
    ],
)
def test_bad_requests_raise_invalid_input_naming_the_field(
    change: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_request(decode_request({**BASE, **change}))
    assert err.value.field == field, err.value.message


def test_running_needs_data_and_enough_bars() -> None:
    valid = validate_request(decode_request(BASE))
    key = valid.keys[0]
    with pytest.raises(InvalidInput, match="no data"):
        run(valid, {})
    with pytest.raises(InvalidInput, match="lookback"):
        run(valid, {key: make_bars(10)})
    result = run(valid, {key: make_bars(300, volatility=0.01)})
    assert result.benchmark is not None
    assert result.curve.height == 300
    again = run(valid, {key: make_bars(300, volatility=0.01)})
    assert again.curve.equals(result.curve)
    assert again.trades.equals(result.trades)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"conversions": {"binance:BTC/USDC:1m": "binance:USDC/USDT:1m"}}, "conversions"),
        ({"arbitrage": {"transfer_delay_bars": 5}}, "arbitrage"),
        ({"sizing": {"notional": 500.0}}, "sizing.notional"),
        ({"sizing": {"target_vol": 0.5}}, "sizing.target_vol"),
        (
            {"sizing": {"kind": "fixed_notional", "notional": 500, "fraction": 0.5}},
            "sizing.fraction",
        ),
        ({"sizing": {"kind": "vol_target", "fraction": 0.5}}, "sizing.fraction"),
        ({"sizing": {"kind": "fixed_notional", "notional": 500, "lookback": 5}}, "sizing.lookback"),
        ({"slippage": {"bps": 5.0}}, "slippage.bps"),
        ({"slippage": {"kind": "volume_share", "k_bps": 20, "bps": 5.0}}, "slippage.bps"),
        ({"slippage": {"kind": "fixed", "bps": 2, "k_bps": 20.0}}, "slippage.k_bps"),
        ({"risk_free_rate": float("nan")}, "risk_free_rate"),
    ],
)
def test_single_market_runs_refuse_fields_they_cannot_honour(
    change: dict[str, object], field: str
) -> None:
    """Every field is honoured or refused: before, each of these ran and was ignored."""
    for strategy in ({}, {"strategy": "buy_and_hold", "params": {}}):
        with pytest.raises(InvalidInput) as err:
            validate_request(decode_request({**BASE, **strategy, **change}))
        assert err.value.field == field, err.value.message
        assert field.split(".")[-1] in err.value.message


def test_the_fields_a_kind_reads_are_accepted() -> None:
    for change in (
        {"sizing": {"kind": "fixed_notional", "notional": 500.0}},
        {"sizing": {"kind": "vol_target", "target_vol": 0.4, "lookback": 30, "max_fraction": 0.5}},
        {"sizing": {"fraction": 0.5}},
        {"slippage": {"kind": "fixed", "bps": 3.0}},
        {"slippage": {"kind": "volume_share", "k_bps": 30.0}},
        {"risk": {"max_volume_share": 0.1}, "engine": "event"},
        {"min_notional": 10.0, "lot_size": 0.0001, "risk_free_rate": 0.04},
    ):
        validate_request(decode_request({**BASE, **change}))
