"""EnsureHistory against the fake venues: backfill, re-run, interrupt and resume."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import polars as pl
import pytest

from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.quality_store import MemoryQualityStore
from arbx.app.ensure_history import EnsureHistory, HistoryProgress
from arbx.domain.errors import ExchangeUnavailable
from arbx.domain.market import SeriesKey, TimeSpan
from arbx.domain.quality import GapCause
from arbx.ports.bar_store import BarStore
from arbx.ports.exchange import ExchangeClient
from tests.integration.exchanges.conftest import assert_same_bars, expected_bars
from tests.support.exchanges import FakeExchanges, FakeTimer, Fault, make_client
from tests.support.parquet import cached_store

START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2024, 1, 4, tzinfo=UTC)
SPAN = TimeSpan.of(START, END)
CANDLES = {"binance": "/api/v3/klines", "coinbase": "/candles", "kraken": "/0/public/OHLC"}


def ensure(
    client: ExchangeClient,
    timer: FakeTimer,
    store: BarStore,
    quality: MemoryQualityStore,
    batch_rows: int = 1000,
) -> EnsureHistory:
    return EnsureHistory(
        store, {client.venue: client}, timer, quality=quality, batch_rows=batch_rows
    )


@pytest.mark.parametrize("venue", ["binance", "coinbase", "kraken"])
async def test_backfill_then_a_rerun_asks_the_venue_for_nothing(
    venue: str,
    fake_venues: FakeExchanges,
    exchange_session: aiohttp.ClientSession,
    fake_timer: FakeTimer,
) -> None:
    fake = fake_venues[venue]
    fake_timer.advance(600)  # the span ends 10 minutes before the live edge: all settled
    client = make_client(fake, exchange_session, fake_timer)
    store, quality = MemoryBarStore(), MemoryQualityStore()
    key = SeriesKey.of(venue, "BTC/USDC", "1m")
    seen: list[HistoryProgress] = []

    report = await ensure(client, fake_timer, store, quality).execute(key, SPAN, seen.append)

    want = expected_bars(fake.markets[key.symbol], "1m", START, END)
    assert_same_bars(await store.read(key, SPAN), want)
    assert report.bars_written == want.height
    assert report.requests == fake.count(CANDLES[venue])
    assert seen[-1].fraction == 1.0
    assert sum(g.bars_missing for g in report.venue_gaps) == 3 * 1440 - want.height
    if venue != "binance":
        assert {g.cause for g in report.venue_gaps} == {GapCause.NO_TRADES}
    asked = fake.count(CANDLES[venue])

    again = await ensure(client, fake_timer, store, quality).execute(key, SPAN)

    assert again.up_to_date
    assert fake.count(CANDLES[venue]) == asked


async def test_a_5xx_burst_interrupts_and_the_rerun_fetches_only_the_rest(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession, fake_timer: FakeTimer
) -> None:
    fake = fake_venues.coinbase
    client = make_client(fake, exchange_session, fake_timer)
    store, quality = MemoryBarStore(), MemoryQualityStore()
    key = SeriesKey.of("coinbase", "BTC/USDC", "1m")
    use_case = ensure(client, fake_timer, store, quality, batch_rows=500)

    def fail_after_five_pages(progress: HistoryProgress) -> None:
        if progress.pages == 5:  # from now on the venue fails every retry
            fake.inject(Fault.http(503, "Service Unavailable", path="/candles"), 4)

    with pytest.raises(ExchangeUnavailable):
        await use_case.execute(key, SPAN, fail_after_five_pages)
    partial = await store.read(key, SPAN)
    assert 0 < partial.height < 3 * 1440
    resume_from = (await store.coverage(key, SPAN))[-1].end
    requests = len(fake.requests)

    report = await use_case.execute(key, SPAN)

    first_candles = next(q for path, q in fake.requests[requests:] if "/candles" in path)
    assert first_candles["start"] >= resume_from.strftime("%Y-%m-%dT%H:%M:%SZ")
    final = await store.read(key, SPAN)
    want = expected_bars(fake.markets[key.symbol], "1m", START, END)
    assert_same_bars(final, want)
    assert report.bars_written == want.height - partial.height  # no bar stored twice
    assert final["ts"].n_unique() == final.height


async def test_a_failing_fetch_keeps_the_valid_pages_of_its_batch_and_says_so(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession, fake_timer: FakeTimer
) -> None:
    fake = fake_venues.coinbase
    client = make_client(fake, exchange_session, fake_timer)
    store, quality = MemoryBarStore(), MemoryQualityStore()
    key = SeriesKey.of("coinbase", "BTC/USDC", "1m")
    use_case = ensure(client, fake_timer, store, quality, batch_rows=100_000)  # one batch

    def fail_after_five_pages(progress: HistoryProgress) -> None:
        if progress.pages == 5:
            fake.inject(Fault.http(503, "Service Unavailable", path="/candles"), 4)

    with pytest.raises(ExchangeUnavailable) as caught:
        await use_case.execute(key, SPAN, fail_after_five_pages)

    kept = await store.read(key, SPAN)
    five_pages = TimeSpan.of(START, START + timedelta(minutes=5 * 300))
    assert_same_bars(kept, expected_bars(fake.markets[key.symbol], "1m", START, five_pages.end))
    message = caught.value.message
    assert "gave up after 4 attempts" in message
    assert f"wrote {kept.height:,} bar(s)" in message
    assert five_pages.end.isoformat() in message


async def test_a_nan_price_from_the_venue_is_rejected_under_its_own_rule(
    fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession, fake_timer: FakeTimer
) -> None:
    fake = fake_venues.binance
    client = make_client(fake, exchange_session, fake_timer)
    store, quality = MemoryBarStore(), MemoryQualityStore()
    key = SeriesKey.of("binance", "BTC/USDC", "1m")
    await client.list_markets()
    # the first kline's open as the string "NaN": valid JSON, decoded leniently to NaN
    fake.inject(Fault(transform=lambda body: re.sub(rb',"[0-9.]+"', b',"NaN"', body, count=1)))
    span = TimeSpan.of(START, START + timedelta(hours=1))

    report = await ensure(client, fake_timer, store, quality).execute(key, span)

    assert report.bars_rejected == 1
    assert report.rejected[0].ts == START
    assert report.rejected[0].reasons == "price_not_finite"
    assert (await store.read(key, span)).height == 59


async def test_a_cancelled_backfill_leaves_whole_batches_and_resumes(
    fake_venues: FakeExchanges,
    exchange_session: aiohttp.ClientSession,
    fake_timer: FakeTimer,
    tmp_path: Path,
) -> None:
    fake = fake_venues.kraken
    client = make_client(fake, exchange_session, fake_timer)
    store, quality = cached_store(tmp_path), MemoryQualityStore()
    key = SeriesKey.of("kraken", "BTC/USDC", "1m")
    use_case = ensure(client, fake_timer, store, quality, batch_rows=700)
    task: asyncio.Task[object] | None = None

    def cancel_on_page_four(progress: HistoryProgress) -> None:
        if progress.pages == 4 and task is not None:
            task.cancel()

    task = asyncio.create_task(use_case.execute(key, SPAN, cancel_on_page_four))
    with pytest.raises(asyncio.CancelledError):
        await task
    partial = await store.read(key, SPAN)
    assert partial.height % 1 == 0
    assert 0 < partial.height < 4 * 720
    before = fake.count("/OHLC")

    report = await use_case.execute(key, SPAN)

    want = expected_bars(fake.markets[key.symbol], "1m", START, END)
    assert_same_bars(await store.read(key, SPAN), want)
    assert report.bars_written == want.height - partial.height
    assert fake.count("/OHLC") - before < 6  # the whole span takes 6 pages


@pytest.mark.shared_data
async def test_a_week_of_real_kraken_usdc_minutes_into_parquet(
    shared_fake_venues: FakeExchanges, exchange_session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    fake = shared_fake_venues.kraken
    timer = FakeTimer(fake.now)
    client = make_client(fake, exchange_session, timer)
    store, quality = cached_store(tmp_path), MemoryQualityStore()
    key = SeriesKey.of("kraken", "USDC/USD", "1m")
    span = TimeSpan.of(datetime(2023, 3, 8, tzinfo=UTC), datetime(2023, 3, 15, tzinfo=UTC))

    report = await ensure(client, timer, store, quality, batch_rows=5000).execute(key, span)

    want = expected_bars(fake.markets[key.symbol], "1m", span.start, span.end)
    got = await store.read(key, span)
    assert_same_bars(got, want)
    assert report.bars_rejected == 0
    assert got.filter(pl.col("close") < 0.9).height > 0  # the de-peg is in the store
    assert sum(g.bars_missing for g in report.venue_gaps) == 7 * 1440 - want.height
