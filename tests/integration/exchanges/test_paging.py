"""Paging, ordering, closed bars, resampling and markets against the fake venues."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import aiohttp
import pytest

from arbx.adapters.exchanges.common.venue import timeframe_support
from arbx.adapters.exchanges.kraken.client import KrakenClient
from arbx.domain.errors import InvalidInput
from arbx.domain.market import Symbol, Timeframe, TimeSpan, from_ms
from tests.integration.exchanges.conftest import assert_same_bars, expected_bars, fetch_all
from tests.support.exchanges import FakeExchanges, FakeTimer, make_client, venue_limits

START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2024, 1, 4, tzinfo=UTC)
BTC_USDC = Symbol.parse("BTC/USDC")
CANDLE_PATH = {"binance": "/api/v3/klines", "coinbase": "/candles", "kraken": "/0/public/OHLC"}


@pytest.mark.parametrize(("venue", "min_pages"), [("binance", 5), ("coinbase", 15), ("kraken", 6)])
async def test_three_days_of_1m_bars_page_by_page_equal_what_the_venue_holds(
    venue: str,
    min_pages: int,
    fake_venues: FakeExchanges,
    exchange_session: aiohttp.ClientSession,
    fake_timer: FakeTimer,
) -> None:
    fake = fake_venues[venue]
    client = make_client(fake, exchange_session, fake_timer)

    bars, pages = await fetch_all(client, "BTC/USDC", "1m", START, END)

    assert_same_bars(bars, expected_bars(fake.markets[BTC_USDC], "1m", START, END))
    assert len(pages) >= min_pages
    assert fake.count(CANDLE_PATH[venue]) == sum(p.requests for p in pages)
    # pages tile the span: each covers from where the previous one stopped
    assert pages[0].covered is not None
    assert pages[0].covered.start == START
    for before, after in itertools.pairwise(pages):
        assert before.covered is not None
        assert after.covered is not None
        assert before.next_start == after.covered.start == before.covered.end
    assert pages[-1].next_start is None
    for page in pages:
        assert page.bars["ts"].is_sorted()
        assert page.bars["ts"].n_unique() == page.bars.height
        assert page.covered is not None
        if page.bars.height:
            assert page.covered.start <= page.bars["ts"][0]
            assert page.bars["ts"][-1] < page.covered.end


async def test_quiet_minutes_stay_holes_not_errors(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession, fake_timer: FakeTimer
) -> None:
    fake = fake_venues.kraken
    client = make_client(fake, exchange_session, fake_timer)

    bars, _ = await fetch_all(client, "BTC/USDC", "1m", START, END)

    assert 0 < bars.height < 3 * 1440  # the venue printed no bar for quiet minutes
    assert bars.height == fake.markets[BTC_USDC].window(0, 2**62).ts.size


async def test_coinbase_sends_newest_first_and_the_page_is_ascending(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession, fake_timer: FakeTimer
) -> None:
    fake = fake_venues.coinbase
    params = {"granularity": "60", "start": "2024-01-01T00:00:00Z", "end": "2024-01-01T01:00:00Z"}
    async with exchange_session.get(f"{fake.url}/products/BTC-USDC/candles", params=params) as r:
        raw = await r.json()
    assert [row[0] for row in raw] == sorted((row[0] for row in raw), reverse=True)

    client = make_client(fake, exchange_session, fake_timer)
    page = await client.fetch_ohlcv(
        BTC_USDC, Timeframe.M1, TimeSpan.of(START, START + timedelta(hours=1))
    )

    assert page.bars["ts"].is_sorted()
    assert page.bars.height == len([row for row in raw if row[0] < 1704070800])
    first = min(raw, key=lambda row: row[0])  # [time, low, high, open, close, volume]
    assert page.bars.row(0) == (
        from_ms(first[0] * 1000),
        first[3],
        first[2],
        first[1],
        first[4],
        first[5],
    )


async def test_kraken_current_unfinished_candle_is_never_returned(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession, fake_timer: FakeTimer
) -> None:
    fake = fake_venues.kraken
    client = make_client(fake, exchange_session, fake_timer)
    now = fake.now  # 30 s into the minute after the data ends
    span = TimeSpan.of(now - timedelta(hours=2), now + timedelta(hours=1))

    bars, pages = await fetch_all(client, "BTC/USDC", "1m", span.start, span.end)

    path, query = fake.requests[-1]
    async with exchange_session.get(f"{fake.url}{path}", params=query) as response:
        raw = (await response.json())["result"]["XBTUSDC"]
    current = Timeframe.M1.floor(now)
    assert raw[-1][0] * 1000 == int(current.timestamp() * 1000)  # the venue did send it
    assert bars["ts"][-1] < current
    assert pages[-1].next_start is None


@pytest.mark.parametrize(
    ("venue", "timeframe", "fetched_as", "resampled"),
    [
        ("coinbase", "4h", "1h", True),
        ("coinbase", "30m", "15m", True),
        ("kraken", "2h", "1h", True),
        ("kraken", "3m", "1m", True),
        ("binance", "4h", "4h", False),
    ],
)
async def test_a_timeframe_the_venue_lacks_is_fetched_finer_and_resampled(
    venue: str,
    timeframe: str,
    fetched_as: str,
    resampled: bool,
    fake_venues: FakeExchanges,
    exchange_session: aiohttp.ClientSession,
    fake_timer: FakeTimer,
) -> None:
    fake = fake_venues[venue]
    client = make_client(fake, exchange_session, fake_timer)

    bars, pages = await fetch_all(client, "BTC/USDC", timeframe, START, END)

    assert {(p.fetched_as.value, p.resampled) for p in pages} == {(fetched_as, resampled)}
    assert_same_bars(bars, expected_bars(fake.markets[BTC_USDC], timeframe, START, END))


def test_supported_timeframes_name_the_nearest_finer_one_that_divides() -> None:
    from arbx.adapters.exchanges.coinbase.mapping import GRANULARITY
    from arbx.adapters.exchanges.kraken.mapping import INTERVALS

    coinbase, kraken = timeframe_support(GRANULARITY), timeframe_support(INTERVALS)
    assert coinbase[Timeframe.M3].fetched_as is Timeframe.M1
    assert coinbase[Timeframe.M30].fetched_as is Timeframe.M15
    assert coinbase[Timeframe.H12].fetched_as is Timeframe.H6
    assert kraken[Timeframe.H6].fetched_as is Timeframe.H1  # 4h does not divide 6h
    assert kraken[Timeframe.H12].fetched_as is Timeframe.H4
    assert kraken[Timeframe.H4].native
    assert not kraken[Timeframe.H2].native
    assert timeframe_support({Timeframe.H1: "60"})[Timeframe.M1].fetched_as is None


async def test_a_timeframe_nothing_finer_can_make_is_refused_clearly(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession, fake_timer: FakeTimer
) -> None:
    class HourlyKraken(KrakenClient):
        native_timeframes: ClassVar[dict[Timeframe, str]] = {
            Timeframe.H1: "60",
            Timeframe.D1: "1440",
        }

    client = HourlyKraken(
        exchange_session,
        base_url=fake_venues.kraken.url,
        timer=fake_timer,
        **venue_limits("kraken"),
    )

    with pytest.raises(InvalidInput, match=r"timeframe 1m .*use one of 1h, 1d") as caught:
        await client.fetch_ohlcv(BTC_USDC, Timeframe.M1, TimeSpan.of(START, END))
    assert caught.value.field == "timeframe"
    assert fake_venues.kraken.requests == []
    supported = {s.timeframe: s for s in client.supported_timeframes()}
    assert supported[Timeframe.H2].fetched_as is Timeframe.H1
    assert supported[Timeframe.M30].fetched_as is None


@pytest.mark.parametrize("venue", ["binance", "coinbase", "kraken"])
async def test_markets_are_canonical_with_lot_size_and_tick(
    venue: str,
    fake_venues: FakeExchanges,
    exchange_session: aiohttp.ClientSession,
    fake_timer: FakeTimer,
) -> None:
    client = make_client(fake_venues[venue], exchange_session, fake_timer)

    markets = {str(m.symbol): m for m in await client.list_markets()}

    assert set(markets) == {"BTC/USDC", "BTC/USDT", "ETH/USDC"}
    btc = markets["BTC/USDC"]
    assert (
        btc.venue_symbol
        == {"binance": "BTCUSDC", "coinbase": "BTC-USDC", "kraken": "XBTUSDC"}[venue]
    )
    assert btc.lot_size is not None
    assert 0 < btc.lot_size < 1
    assert btc.price_tick is not None
    assert 0 < btc.price_tick <= 0.1
    assert btc.active
    assert await client.server_time() == fake_venues[venue].now.replace(microsecond=0)


@pytest.mark.parametrize("venue", ["binance", "coinbase", "kraken"])
async def test_a_span_in_the_future_gives_an_empty_final_page(
    venue: str,
    fake_venues: FakeExchanges,
    exchange_session: aiohttp.ClientSession,
    fake_timer: FakeTimer,
) -> None:
    client = make_client(fake_venues[venue], exchange_session, fake_timer)
    later = fake_timer.now() + timedelta(hours=1)

    page = await client.fetch_ohlcv(
        BTC_USDC, Timeframe.M1, TimeSpan.of(later, later + timedelta(hours=1))
    )

    assert page.bars.is_empty()
    assert page.next_start is None
    assert page.requests == 0
