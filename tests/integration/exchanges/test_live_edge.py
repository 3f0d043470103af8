"""The live edge against the fake venues: late bars, forming candles, the settle window,
what the venue does not serve, and re-runs around holes already recorded."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import aiohttp
import numpy as np
import polars as pl
import pytest

from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.quality_store import MemoryQualityStore
from arbx.app.ensure_history import EnsureHistory, EnsureHistoryReport
from arbx.domain.jobs import JobKind, run_window
from arbx.domain.market import SeriesKey, TimeSpan, from_ms, to_ms
from arbx.domain.quality import GapCause
from arbx.entrypoints.cli.fetch import print_report
from arbx.ports.exchange import ExchangeClient
from tests.integration.exchanges.conftest import assert_same_bars, expected_bars
from tests.support.exchanges import (
    Candles,
    FakeExchanges,
    FakeTimer,
    FakeVenue,
    make_client,
)

DATA_END = datetime(2024, 1, 4, tzinfo=UTC)  # the generated series ends here
CANDLES = {"binance": "/api/v3/klines", "coinbase": "/candles", "kraken": "/0/public/OHLC"}


class SharedClock(FakeTimer):
    """The client's clock and the fake venue's, ``skew`` seconds apart (ours ahead)."""

    def __init__(self, venue: FakeVenue, now: datetime, skew: float = 0.0) -> None:
        super().__init__(now + timedelta(seconds=skew))
        self._venue = venue
        self._skew = skew
        venue.now = now

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        self._venue.now = self.now() - timedelta(seconds=self._skew)


def use_case(
    client: ExchangeClient, clock: FakeTimer, store: MemoryBarStore, quality: MemoryQualityStore
) -> EnsureHistory:
    return EnsureHistory(store, {client.venue: client}, clock, quality=quality, settle_bars=3)


async def collect_run(
    ensure: EnsureHistory, store: MemoryBarStore, key: SeriesKey, clock: FakeTimer
) -> EnsureHistoryReport | None:
    """One run of a collect job: the window ``run_window`` gives (from the newest stored bar)."""
    covered = await store.coverage(key, TimeSpan.everything())
    stored_until = max((span.end for span in covered), default=None)
    window = run_window(JobKind.COLLECT, clock.now(), key.timeframe, 60, stored_until)
    return None if window is None else await ensure.execute(key, window)


async def test_bars_published_late_are_asked_again_not_recorded_as_quiet(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession
) -> None:
    fake = fake_venues.coinbase
    fake.publish_delay = 30.0  # each minute appears 30 s after it closes
    start = DATA_END - timedelta(hours=1)
    clock = SharedClock(fake, start + timedelta(seconds=5))
    client = make_client(fake, exchange_session, clock)
    store, quality = MemoryBarStore(), MemoryQualityStore()
    key = SeriesKey.of("coinbase", "BTC/USDC", "1m")
    ensure = use_case(client, clock, store, quality)
    pending_seen = False

    for _ in range(3 * 20):  # a collect job every 20 s for 20 minutes
        report = await collect_run(ensure, store, key, clock)
        if report is not None and report.gap_bars(GapCause.PENDING) and not pending_seen:
            pending_seen = True
            summary = io.StringIO()
            print_report(report, summary)
            assert "not published yet (pending, asked again next run)" in summary.getvalue()
        clock.advance(20)

    settled = TimeSpan.of(start - timedelta(minutes=60), start + timedelta(minutes=15))
    want = expected_bars(fake.markets[key.symbol], "1m", settled.start, settled.end)
    assert_same_bars(await store.read(key, settled), want)  # every published minute is stored
    assert pending_seen  # the late minutes were pending while they were late
    venue_ts = set(fake.markets[key.symbol].ts.tolist())
    for gap in await quality.gaps(key, settled):
        slots = range(to_ms(gap.start), to_ms(gap.end), 60_000)
        assert not venue_ts.intersection(slots), gap  # only minutes the venue never printed
        assert gap.cause is GapCause.NO_TRADES


async def test_a_candle_still_forming_at_the_venue_is_never_stored_as_final(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession
) -> None:
    fake = fake_venues.binance
    edge = DATA_END - timedelta(hours=1)
    # our clock runs 45 s ahead: by it the minute at ``edge`` closed, the venue still forms it
    clock = SharedClock(fake, edge + timedelta(seconds=30), skew=45.0)
    client = make_client(fake, exchange_session, clock)
    store, quality = MemoryBarStore(), MemoryQualityStore()
    key = SeriesKey.of("binance", "BTC/USDC", "1m")
    span = TimeSpan.of(edge - timedelta(minutes=30), edge + timedelta(minutes=1))

    report = await use_case(client, clock, store, quality).execute(key, span)

    stored = await store.read(key, span)
    assert stored["ts"][-1] == edge - timedelta(minutes=1)
    assert report.not_fetched == [TimeSpan.of(edge, edge + timedelta(minutes=1))]
    summary = io.StringIO()
    print_report(report, summary)
    assert "not fetched: 1 1m bars the venue has not closed yet" in summary.getvalue()
    assert await quality.gaps(key, span) == []  # not fetched is not a hole of the venue

    clock.advance(60)  # the venue has closed it now
    again = await use_case(client, clock, store, quality).execute(key, span)

    final = await store.read(key, span)
    assert_same_bars(final, expected_bars(fake.markets[key.symbol], "1m", span.start, span.end))
    assert again.bars_replaced == 0


async def test_kraken_rows_after_last_are_not_bars_whatever_our_clock_says(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession
) -> None:
    fake = fake_venues.kraken
    edge = DATA_END - timedelta(hours=1)
    clock = SharedClock(fake, edge + timedelta(seconds=30), skew=45.0)
    client = make_client(fake, exchange_session, clock)
    span = TimeSpan.of(edge - timedelta(minutes=30), edge + timedelta(minutes=1))
    key = SeriesKey.of("kraken", "BTC/USDC", "1m")

    page = await client.fetch_ohlcv(key.symbol, key.timeframe, span)

    assert page.bars.filter(pl.col("ts") >= edge).is_empty()  # the uncommitted row
    assert page.covered == TimeSpan.of(span.start, edge)
    assert page.next_start is None


async def test_a_stored_bar_the_venue_revises_in_the_settle_window_is_replaced_and_listed(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession
) -> None:
    fake = fake_venues.binance
    edge = DATA_END - timedelta(hours=1)
    clock = SharedClock(fake, edge + timedelta(seconds=10))
    client = make_client(fake, exchange_session, clock)
    store, quality = MemoryBarStore(), MemoryQualityStore()
    key = SeriesKey.of("binance", "BTC/USDC", "1m")
    ensure = use_case(client, clock, store, quality)
    first = await collect_run(ensure, store, key, clock)
    assert first is not None
    candles: Candles = fake.markets[key.symbol]
    newest = int(np.searchsorted(candles.ts, to_ms(edge - timedelta(minutes=1))))
    older = int(np.searchsorted(candles.ts, to_ms(edge - timedelta(minutes=20))))
    old_close = float(candles.close[newest])
    old_close_older = float(candles.close[older])
    candles.close[newest] = candles.close[newest] * 1.0001  # the venue corrects its last bar
    candles.close[older] = candles.close[older] * 1.0001  # and an old one (settled long ago)
    try:
        clock.advance(60)
        report = await collect_run(ensure, store, key, clock)
        assert report is not None
        clock.advance(60 * 5)  # the corrected bar leaves the settle window
        later = await collect_run(ensure, store, key, clock)
        assert later is not None
    finally:
        candles.close[newest] = old_close
        candles.close[older] = candles.close[older] / 1.0001

    assert report.bars_replaced == 1
    assert [r.ts for r in report.replaced] == [edge - timedelta(minutes=1)]
    assert report.replaced[0].before[3] == pytest.approx(old_close, abs=1e-8)
    assert report.replaced[0].after[3] == pytest.approx(old_close * 1.0001, abs=1e-8)
    stored = await store.read(key, TimeSpan.of(edge - timedelta(minutes=30), edge))
    revised = stored.filter(pl.col("ts") == edge - timedelta(minutes=1))["close"][0]
    assert revised == pytest.approx(old_close * 1.0001, abs=1e-8)
    older_stored = stored.filter(pl.col("ts") == edge - timedelta(minutes=20))["close"][0]
    assert older_stored == pytest.approx(old_close_older, abs=1e-8)  # never overwritten
    assert later.bars_replaced == 0


async def test_kraken_intervals_older_than_its_window_are_recorded_as_not_served(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession, fake_timer: FakeTimer
) -> None:
    fake = fake_venues.kraken
    fake.serve_latest = 720  # as the live venue: only the latest 720 intervals
    fake_timer.advance(600)
    client = make_client(fake, exchange_session, fake_timer)
    store, quality = MemoryBarStore(), MemoryQualityStore()
    key = SeriesKey.of("kraken", "BTC/USDC", "1m")
    span = TimeSpan.of(DATA_END - timedelta(days=1), DATA_END)
    served_from = DATA_END - timedelta(minutes=720)

    report = await use_case(client, fake_timer, store, quality).execute(key, span)

    stored = await store.read(key, span)
    assert_same_bars(stored, expected_bars(fake.markets[key.symbol], "1m", served_from, DATA_END))
    not_served = [g for g in report.venue_gaps if g.cause is GapCause.NOT_SERVED]
    assert len(not_served) == 1
    assert not_served[0].start == span.start
    assert not_served[0].end >= served_from
    assert [g.cause for g in await quality.gaps(key, TimeSpan.of(span.start, served_from))] == [
        GapCause.NOT_SERVED
    ]
    summary = io.StringIO()
    print_report(report, summary)
    assert f"{not_served[0].bars_missing:,} it does not serve" in summary.getvalue()
    before = fake.count("/OHLC")
    again = await use_case(client, fake_timer, store, quality).execute(key, span)
    assert again.up_to_date
    assert fake.count("/OHLC") == before


async def test_a_binance_rerun_does_not_download_again_around_recorded_holes(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession, fake_timer: FakeTimer
) -> None:
    fake = fake_venues.binance
    key = SeriesKey.of("binance", "BTC/USDC", "1m")
    full = fake.markets[key.symbol]
    holes = np.zeros(full.ts.size, dtype=bool)
    for minute in (100, 101, 102, 103, 900, 2000, 2001, 3500):  # an outage and single minutes
        holes[minute] = True
    keep = ~holes
    fake.markets[key.symbol] = Candles(
        *(a[keep] for a in (full.ts, full.open, full.high, full.low, full.close, full.volume))
    )
    try:
        fake_timer.advance(600)
        client = make_client(fake, exchange_session, fake_timer)
        store, quality = MemoryBarStore(), MemoryQualityStore()
        span = TimeSpan.of(DATA_END - timedelta(days=3), DATA_END)
        report = await use_case(client, fake_timer, store, quality).execute(key, span)
        assert sum(g.bars_missing for g in report.venue_gaps) == 8
        asked = fake.count("/klines")

        again = await use_case(client, fake_timer, store, quality).execute(key, span)
    finally:
        fake.markets[key.symbol] = full

    assert again.up_to_date
    assert again.bars_fetched == 0
    assert fake.count("/klines") == asked
    assert from_ms(int(full.ts[100])) in {g.start for g in await quality.gaps(key, span)}


async def test_after_a_pause_a_collect_run_fetches_again_the_bars_that_were_its_edge(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession
) -> None:
    fake = fake_venues.binance
    edge = DATA_END - timedelta(hours=2)
    clock = SharedClock(fake, edge + timedelta(seconds=10))
    client = make_client(fake, exchange_session, clock)
    store, quality = MemoryBarStore(), MemoryQualityStore()
    key = SeriesKey.of("binance", "BTC/USDC", "1m")
    ensure = use_case(client, clock, store, quality)
    assert await collect_run(ensure, store, key, clock) is not None
    candles: Candles = fake.markets[key.symbol]
    last = int(np.searchsorted(candles.ts, to_ms(edge - timedelta(minutes=1))))
    old_close = float(candles.close[last])
    candles.close[last] = old_close * 1.0001  # the venue corrects the bar that was our edge
    try:
        clock.advance(30 * 60)  # the collector was stopped for half an hour
        report = await collect_run(ensure, store, key, clock)
    finally:
        candles.close[last] = old_close

    assert report is not None
    assert [r.ts for r in report.replaced] == [edge - timedelta(minutes=1)]
    stored = await store.read(key, TimeSpan.of(edge - timedelta(minutes=5), edge))
    assert stored["close"][-1] == pytest.approx(old_close * 1.0001, abs=1e-8)
