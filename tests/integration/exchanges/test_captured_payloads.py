"""Real captured payloads (tests/fixtures/exchanges) served verbatim decode to the right bars."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp

from arbx.domain.market import Symbol, Timeframe, TimeSpan, from_ms
from tests.support.exchanges import FakeExchanges, FakeTimer, Fault, fixture_bytes, make_client

LATER = FakeTimer(datetime(2024, 6, 1, tzinfo=UTC))


async def test_kraken_ccxt_capture_gives_its_committed_hourly_bars_with_xbt_as_btc(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession
) -> None:
    fake = fake_venues.kraken
    client = make_client(fake, exchange_session, LATER)
    fake.inject(Fault.http(200, fixture_bytes("kraken/rest_ohlc_real_ccxt.json"), path="/OHLC"))
    span = TimeSpan.of(datetime(2024, 1, 30, 15, tzinfo=UTC), datetime(2024, 2, 2, tzinfo=UTC))

    page = await client.fetch_ohlcv(Symbol.parse("BTC/USDT"), Timeframe.H1, span)

    assert fake.requests[-1][1]["pair"] == "XBTUSDT"
    # six rows, but the one after ``last`` (1706796000) is Kraken's uncommitted interval:
    # not a bar, although our clock (June) says that hour closed long ago
    assert page.bars.height == 5
    assert page.bars.row(0) == (
        from_ms(1706626800_000),
        43437.5,
        43593.7,
        43355.5,
        43361.1,
        18.75430110,
    )
    assert page.bars["ts"][-1] == from_ms(1706641200_000)
    assert page.covered is not None
    assert page.covered.end == from_ms(1706799600_000)  # where Kraken's forming hour opens
    assert page.next_start is None  # the uncommitted row says Kraken reached the present


async def test_coinbase_exchange_capture_reorders_low_high_open_close(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession
) -> None:
    fake = fake_venues.coinbase
    fake.now = LATER.now()  # the venue's clock (its Date header) agrees with ours
    client = make_client(fake, exchange_session, LATER)
    body = fixture_bytes("coinbase/rest_candles_exchange_real_ccxt.json")
    fake.inject(Fault.http(200, body, path="/candles"))
    span = TimeSpan.of(datetime(2024, 3, 13, 11, tzinfo=UTC), datetime(2024, 3, 13, 12, tzinfo=UTC))

    page = await client.fetch_ohlcv(Symbol.parse("BTC/USDT"), Timeframe.H1, span)

    # ccxt's parsed form of the same capture: [1710327600000, 73243.33, 73402.47, 73241.5,
    # 73370.65, 1.56794406] (open, high, low, close, volume)
    assert page.bars.rows() == [
        (from_ms(1710327600000), 73243.33, 73402.47, 73241.5, 73370.65, 1.56794406)
    ]
    assert fake.requests[-1][1]["granularity"] == "3600"


async def test_binance_docs_kline_decodes_string_prices(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession
) -> None:
    fake = fake_venues.binance
    client = make_client(fake, exchange_session, LATER)
    body = fixture_bytes("binance/rest_klines_docs_example.json")
    fake.inject(Fault.http(200, body, path="/klines"))
    span = TimeSpan.of(datetime(2017, 7, 3, tzinfo=UTC), datetime(2017, 7, 4, tzinfo=UTC))

    page = await client.fetch_ohlcv(Symbol.parse("BTC/USDC"), Timeframe.D1, span)

    assert page.bars.rows() == [
        (from_ms(1499040000000), 0.01634790, 0.80000000, 0.01575800, 0.01577100, 148976.11427815)
    ]
