"""Short and empty pages inside a span are not the end of the data; Binance's minute window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.quality_store import MemoryQualityStore
from arbx.app.ensure_history import EnsureHistory
from arbx.domain.market import SeriesKey, Symbol, Timeframe, TimeSpan
from tests.integration.exchanges.conftest import assert_same_bars, expected_bars, fetch_all
from tests.support.exchanges import FakeExchanges, FakeTimer, FakeVenue, Fault, make_client

START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2024, 1, 4, tzinfo=UTC)
BTC_USDC = Symbol.parse("BTC/USDC")


@pytest.mark.parametrize(("venue", "cap"), [("binance", 400), ("kraken", 300)])
async def test_pages_capped_below_the_limit_are_followed_to_the_end_of_the_span(
    venue: str,
    cap: int,
    fake_venues: FakeExchanges,
    exchange_session: aiohttp.ClientSession,
    fake_timer: FakeTimer,
) -> None:
    fake = fake_venues[venue]
    fake.page_cap = cap  # the venue serves fewer rows than the limit we ask for
    client = make_client(fake, exchange_session, fake_timer)
    store, quality = MemoryBarStore(), MemoryQualityStore()
    key = SeriesKey.of(venue, "BTC/USDC", "1m")

    report = await EnsureHistory(
        store, {client.venue: client}, fake_timer, quality=quality
    ).execute(key, TimeSpan.of(START, END))

    want = expected_bars(fake.markets[BTC_USDC], "1m", START, END)
    assert_same_bars(await store.read(key, TimeSpan.of(START, END)), want)
    assert sum(g.bars_missing for g in report.venue_gaps) == 3 * 1440 - want.height
    if venue == "binance":
        assert report.venue_gaps == []  # Binance prints every minute of the fake
        assert report.requests == -(-want.height // cap)


async def test_an_empty_coinbase_page_inside_the_span_is_asked_again(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession, fake_timer: FakeTimer
) -> None:
    fake = fake_venues.coinbase
    client = make_client(fake, exchange_session, fake_timer)
    await client.list_markets()
    fake.inject(Fault(transform=lambda body: b"[]", path="/candles"))  # first window: empty

    bars, _ = await fetch_all(client, "BTC/USDC", "1m", START, START + timedelta(hours=10))

    want = expected_bars(fake.markets[BTC_USDC], "1m", START, START + timedelta(hours=10))
    assert_same_bars(bars, want)
    assert fake.count("/candles") == 2 + 1  # two windows, the first asked twice


class VenueClockTimer(FakeTimer):
    """A client timer whose clock moves with the fake venue's (ours ``ahead`` s ahead)."""

    def __init__(self, venue: FakeVenue, ahead: float = 0.0) -> None:
        super().__init__(venue.now + timedelta(seconds=ahead))
        self._venue = venue
        self._ahead = ahead

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        self._venue.now = self.now() - timedelta(seconds=self._ahead)


async def test_binance_weight_waits_for_the_next_minute_instead_of_earning_429s(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession
) -> None:
    fake = fake_venues.binance
    fake.weight_limit = 60  # the venue enforces 60 weight per calendar minute
    timer = VenueClockTimer(fake)  # 30 s into a minute
    client = make_client(fake, exchange_session, timer, weight_per_minute=60)
    span = TimeSpan.of(datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 2, 1, tzinfo=UTC))

    for _ in range(45):  # exchangeInfo (20) + 45 klines (2 each) = 110 weight, two minutes
        await client.fetch_ohlcv(BTC_USDC, Timeframe.M1, span)

    assert fake.weight_rejections == 0
    assert fake.count("/klines") == 45
    waits = [s for s in timer.sleeps if s >= 1e-3]
    assert len(waits) == 1  # one wait, to the minute boundary, not a trickle of refills
    assert client.http.limiter.waited == pytest.approx(30.0, abs=0.01)  # to the boundary


async def test_binance_minutes_are_the_venues_even_when_our_clock_runs_ahead(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession
) -> None:
    fake = fake_venues.binance
    fake.weight_limit = 60
    timer = VenueClockTimer(fake, ahead=5.0)  # our minute turns 5 s before Binance's
    client = make_client(fake, exchange_session, timer, weight_per_minute=60)
    span = TimeSpan.of(datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 2, 1, tzinfo=UTC))

    for _ in range(45):
        await client.fetch_ohlcv(BTC_USDC, Timeframe.M1, span)

    assert fake.weight_rejections == 0
    assert fake.count("/klines") == 45
