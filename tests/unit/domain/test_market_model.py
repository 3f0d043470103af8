"""Exchange, Symbol, Timeframe and SeriesKey: parsing, round trips, grid alignment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from arbx.domain.errors import InvalidInput
from arbx.domain.market import Exchange, SeriesKey, Symbol, Timeframe, to_ms
from tests.strategies import assets, exchange_ids, instants, timeframes

symbols = st.tuples(assets, assets).filter(lambda p: p[0] != p[1]).map(lambda p: Symbol(*p))


@given(exchange_ids)
def test_exchange_ids_round_trip(text: str) -> None:
    assert str(Exchange.parse(text)) == text
    assert Exchange.parse(f"  {text.upper()} ") == Exchange(text)


@pytest.mark.parametrize("text", ["", "b", "1inch", "bin-ance", "bin ance", "x" * 33])
def test_bad_exchange_ids_are_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        Exchange.parse(text)
    assert raised.value.field == "exchange"


@given(symbols)
def test_symbols_round_trip_through_text_and_slug(symbol: Symbol) -> None:
    assert Symbol.parse(str(symbol)) == symbol
    assert Symbol.parse(symbol.slug) == symbol
    assert Symbol.parse(str(symbol).lower()) == symbol
    assert str(symbol) == f"{symbol.base}/{symbol.quote}"
    assert symbol.slug == f"{symbol.base}-{symbol.quote}"


@pytest.mark.parametrize(
    "text", ["BTCUSDC", "BTC/", "/USDC", "BTC/BTC", "BTC/US/DC", "BTC-US-DC", "BTC/US$", ""]
)
def test_bad_symbols_are_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        Symbol.parse(text)
    assert raised.value.field == "symbol"


def test_timeframes_know_their_width() -> None:
    widths = {tf.value: tf.ms for tf in Timeframe}

    assert widths == {
        "1m": 60_000,
        "3m": 180_000,
        "5m": 300_000,
        "15m": 900_000,
        "30m": 1_800_000,
        "1h": 3_600_000,
        "2h": 7_200_000,
        "4h": 14_400_000,
        "6h": 21_600_000,
        "12h": 43_200_000,
        "1d": 86_400_000,
    }
    assert Timeframe.H4.duration == timedelta(hours=4)


@given(timeframes)
def test_timeframes_round_trip_through_text(timeframe: Timeframe) -> None:
    assert Timeframe.parse(str(timeframe)) is timeframe
    assert Timeframe.parse(f" {timeframe.value} ") is timeframe


def test_an_unknown_timeframe_lists_the_supported_ones() -> None:
    with pytest.raises(InvalidInput, match=r"'7m' is not supported; use one of 1m, 3m") as raised:
        Timeframe.parse("7m")
    assert raised.value.field == "timeframe"


@given(timeframes, instants)
def test_floor_finds_the_bar_that_contains_an_instant(
    timeframe: Timeframe, moment: datetime
) -> None:
    opened = timeframe.floor(moment)

    assert opened <= moment < opened + timeframe.duration
    assert timeframe.is_aligned(opened)
    assert timeframe.floor(opened) == opened
    assert to_ms(opened) % timeframe.ms == 0
    assert timeframe.floor_ms(to_ms(moment)) == to_ms(opened)


@given(timeframes, instants)
def test_only_grid_instants_are_aligned(timeframe: Timeframe, moment: datetime) -> None:
    assume(to_ms(moment) % timeframe.ms != 0)

    assert not timeframe.is_aligned(moment)


def test_daily_bars_open_at_midnight_utc() -> None:
    assert Timeframe.D1.floor(datetime(2024, 3, 9, 23, 59, tzinfo=UTC)) == datetime(
        2024, 3, 9, tzinfo=UTC
    )
    assert Timeframe.H4.floor(datetime(2024, 3, 9, 7, 30, tzinfo=UTC)) == datetime(
        2024, 3, 9, 4, tzinfo=UTC
    )


@given(timeframes, timeframes)
def test_divides_means_whole_bars_fit(small: Timeframe, big: Timeframe) -> None:
    assert small.divides(big) == (big.ms % small.ms == 0)
    assert small.divides(small)


def test_divides_examples() -> None:
    assert Timeframe.M1.divides(Timeframe.D1)
    assert Timeframe.M15.divides(Timeframe.H1)
    assert not Timeframe.M3.divides(Timeframe.M5)


@given(exchange_ids, symbols, timeframes)
def test_series_keys_round_trip_through_text(
    exchange: str, symbol: Symbol, timeframe: Timeframe
) -> None:
    key = SeriesKey(Exchange(exchange), symbol, timeframe)

    assert SeriesKey.parse(str(key)) == key
    assert SeriesKey.of(exchange, symbol.slug, timeframe.value) == key
    assert hash(SeriesKey.parse(str(key))) == hash(key)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("binance:BTC/USDC", "series"),
        ("binance:BTC/USDC:1m:x", "series"),
        ("Binance!:BTC/USDC:1m", "exchange"),
        ("binance:BTCUSDC:1m", "symbol"),
        ("binance:BTC/USDC:7m", "timeframe"),
    ],
)
def test_bad_series_keys_name_the_bad_part(text: str, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        SeriesKey.parse(text)
    assert raised.value.field == field


def test_series_keys_of_different_exchanges_and_symbols_sort() -> None:
    keys = [
        SeriesKey.parse(t)
        for t in ("kraken:BTC/USDC:1m", "binance:ETH/USDC:1m", "binance:BTC/USDC:1m")
    ]

    assert [str(k) for k in sorted(keys)] == [
        "binance:BTC/USDC:1m",
        "binance:ETH/USDC:1m",
        "kraken:BTC/USDC:1m",
    ]
