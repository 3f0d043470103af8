"""Real 1m candles of March 2023 (SVB / USDC de-peg) served page by page by the fake venues."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp
import pytest

from arbx.domain.market import Symbol
from tests.integration.exchanges.conftest import assert_same_bars, expected_bars, fetch_all
from tests.support.exchanges import FakeExchanges, FakeTimer, make_client

START = datetime(2023, 3, 10, tzinfo=UTC)
END = datetime(2023, 3, 12, 12, tzinfo=UTC)


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("venue", "symbol", "timeframe"),
    [
        ("binance", "BTC/USDC", "1m"),  # Binance.US: a row every minute, zero-volume ones too
        ("coinbase", "BTC/USD", "1m"),  # newest-first pages of 300
        ("coinbase", "USDT/USD", "4h"),  # not offered: 1h resampled
        ("kraken", "BTC/USDC", "1m"),  # thin book: many quiet minutes
        ("kraken", "USDC/USD", "15m"),
    ],
)
async def test_real_candles_come_back_exactly_across_many_pages(
    venue: str,
    symbol: str,
    timeframe: str,
    shared_fake_venues: FakeExchanges,
    exchange_session: aiohttp.ClientSession,
) -> None:
    fake = shared_fake_venues[venue]
    client = make_client(fake, exchange_session, FakeTimer(fake.now))

    bars, pages = await fetch_all(client, symbol, timeframe, START, END)

    want = expected_bars(fake.markets[Symbol.parse(symbol)], timeframe, START, END)
    assert_same_bars(bars, want)
    if timeframe == "1m":
        assert len(pages) >= 3  # 3,600 minutes: 1000, 300 or 720 rows a page
    if venue == "kraken" and timeframe == "1m":
        assert bars.height < 3600  # quiet minutes are holes, and that is fine


@pytest.mark.shared_data
async def test_the_usdc_depeg_low_is_in_the_kraken_bars(
    shared_fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession
) -> None:
    fake = shared_fake_venues.kraken
    client = make_client(fake, exchange_session, FakeTimer(fake.now))

    bars, _ = await fetch_all(client, "USDC/USD", "1m", START, END)

    low = bars.sort("close").row(0, named=True)
    assert low["close"] == pytest.approx(0.874)  # shared/data README: 2023-03-11 07:15 UTC
    assert low["ts"] == datetime(2023, 3, 11, 7, 15, tzinfo=UTC)
