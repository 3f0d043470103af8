"""EnsureHistory with the memory stores and a hand-written exchange that pages a frame."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.quality_store import MemoryQualityStore
from arbx.app.ensure_history import EnsureHistory, HistoryProgress
from arbx.domain.errors import ExchangeUnavailable, InvalidInput
from arbx.domain.market import (
    Exchange,
    SeriesKey,
    Symbol,
    Timeframe,
    TimeSpan,
    empty_bars,
)
from arbx.domain.quality import GapCause
from arbx.ports.exchange import (
    BreakerState,
    ExchangeClient,
    ExchangeStatus,
    Market,
    OhlcvPage,
    TimeframeSupport,
)
from tests.builders import make_bars

START = datetime(2024, 1, 1, tzinfo=UTC)
DAY = TimeSpan.of(START, START + timedelta(days=1))
KEY = SeriesKey.parse("kraken:BTC/USDC:1m")


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment


class PagedExchange(ExchangeClient):
    """Serves ``bars`` for one symbol, ``page`` rows per call, like a venue's candle API."""

    def __init__(
        self,
        bars: pl.DataFrame,
        *,
        venue: str = "kraken",
        page: int = 100,
        fail_on_call: int | None = None,
        native: tuple[Timeframe, ...] = (Timeframe.M1,),
    ) -> None:
        self.bars = bars
        self.page = page
        self.fail_on_call = fail_on_call
        self.calls: list[TimeSpan] = []
        self.native = native
        self._venue = Exchange(venue)

    @property
    def venue(self) -> Exchange:
        return self._venue

    async def list_markets(self) -> list[Market]:
        return [Market(Symbol.parse("BTC/USDC"), "XBTUSDC")]

    async def server_time(self) -> datetime:
        return START

    def supported_timeframes(self) -> list[TimeframeSupport]:
        return [
            TimeframeSupport(tf, tf in self.native, tf if tf in self.native else None)
            for tf in Timeframe
        ]

    def status(self) -> ExchangeStatus:
        return ExchangeStatus(self._venue, "memory://", BreakerState.CLOSED, 0)

    async def fetch_ohlcv(self, symbol: Symbol, timeframe: Timeframe, span: TimeSpan) -> OhlcvPage:
        self.calls.append(span)
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise ExchangeUnavailable("kraken did not answer", venue="kraken")
        end = min(span.end_ms, span.start_ms + self.page * timeframe.ms)
        ms = pl.col("ts").dt.epoch("ms")
        rows = self.bars.filter((ms >= span.start_ms) & (ms < end))
        return OhlcvPage(
            bars=rows,
            covered=TimeSpan.from_ms(span.start_ms, end),
            next_start=TimeSpan.from_ms(end, end + 1).start if end < span.end_ms else None,
            fetched_as=timeframe,
            resampled=False,
        )


def use_case(
    exchange: PagedExchange,
    store: MemoryBarStore | None = None,
    quality: MemoryQualityStore | None = None,
    *,
    now: datetime = START + timedelta(days=2),
    **options: int,
) -> tuple[EnsureHistory, MemoryBarStore]:
    store = store or MemoryBarStore()
    return (
        EnsureHistory(
            store, {exchange.venue: exchange}, FixedClock(now), quality=quality, **options
        ),
        store,
    )


def with_quiet_minutes(bars: pl.DataFrame, every: int = 7) -> pl.DataFrame:
    return bars.filter(pl.int_range(pl.len()) % every != 3)


async def stored(store: MemoryBarStore, span: TimeSpan = DAY) -> pl.DataFrame:
    return await store.read(KEY, span)


async def test_an_empty_store_is_filled_page_by_page_with_progress() -> None:
    source = make_bars(1440, START)
    exchange = PagedExchange(source, page=100)
    seen: list[HistoryProgress] = []
    ensure, store = use_case(exchange, batch_rows=300)

    report = await ensure.execute(KEY, DAY, seen.append)

    assert (await stored(store)).equals(source)
    assert report.bars_fetched == report.bars_written == 1440
    assert report.pages == len(exchange.calls) == 15
    assert report.missing == [DAY]
    assert [p.pages for p in seen] == list(range(1, 16))
    assert [p.fraction for p in seen] == sorted(p.fraction for p in seen)
    assert seen[-1].fraction == 1.0
    assert seen[-1].eta_seconds == 0.0
    assert report.venue_gaps == []


async def test_a_covered_span_fetches_nothing() -> None:
    source = make_bars(1440, START)
    exchange = PagedExchange(source)
    store = MemoryBarStore()
    await store.write(KEY, source)
    ensure, _ = use_case(exchange, store)

    report = await ensure.execute(KEY, DAY)

    assert report.up_to_date
    assert exchange.calls == []
    assert report.bars_written == 0


async def test_only_the_missing_spans_are_fetched() -> None:
    source = make_bars(1440, START)
    store = MemoryBarStore()
    await store.write(KEY, source[:400])
    await store.write(KEY, source[1000:1200])
    exchange = PagedExchange(source, page=1000)
    ensure, _ = use_case(exchange, store, coalesce_bars=0)

    report = await ensure.execute(KEY, DAY)

    minute = timedelta(minutes=1)
    assert exchange.calls == [
        TimeSpan.of(START + 400 * minute, START + 1000 * minute),
        TimeSpan.of(START + 1200 * minute, START + 1440 * minute),
    ]
    assert report.bars_written == 840
    assert (await stored(store)).equals(source)


async def test_missing_spans_close_together_are_fetched_as_one() -> None:
    source = make_bars(1440, START)
    store = MemoryBarStore()
    await store.write(KEY, source[:400])
    await store.write(KEY, source[410:1440])
    await store.delete(
        KEY, TimeSpan.of(START + timedelta(minutes=500), START + timedelta(minutes=505))
    )
    exchange = PagedExchange(source, page=1000)
    ensure, _ = use_case(exchange, store, coalesce_bars=120)

    report = await ensure.execute(KEY, DAY)

    assert report.missing == [
        TimeSpan.of(START + timedelta(minutes=400), START + timedelta(minutes=505))
    ]
    assert report.bars_written == 15  # the re-read stored bars are equal: no change, no copy
    assert (await stored(store)).equals(source)


async def test_an_interrupted_run_resumes_where_it_stopped_and_stores_no_duplicate() -> None:
    source = make_bars(1440, START)
    exchange = PagedExchange(source, page=100, fail_on_call=7)
    ensure, store = use_case(exchange, batch_rows=200)

    with pytest.raises(ExchangeUnavailable):
        await ensure.execute(KEY, DAY)
    kept = await stored(store)
    assert kept.height == 600  # three whole batches of 200; the 7th page never came
    exchange.fail_on_call = None
    exchange.calls.clear()

    report = await ensure.execute(KEY, DAY)

    assert exchange.calls[0].start == START + timedelta(minutes=600)
    assert report.bars_fetched == report.bars_written == 840
    final = await stored(store)
    assert final.equals(source)
    assert final["ts"].n_unique() == final.height


async def test_quiet_minutes_are_recorded_as_venue_gaps_and_not_fetched_again() -> None:
    source = with_quiet_minutes(make_bars(1440, START))
    quality = MemoryQualityStore()
    exchange = PagedExchange(source, page=100)
    ensure, store = use_case(exchange, quality=quality, batch_rows=250)

    report = await ensure.execute(KEY, DAY)

    assert (await stored(store)).equals(source)
    assert len(report.venue_gaps) == 1440 - source.height
    assert {g.cause for g in report.venue_gaps} == {GapCause.NO_TRADES}
    recorded = await quality.gaps(KEY, DAY)
    assert [(g.start, g.end) for g in recorded] == [(g.start, g.end) for g in report.venue_gaps]
    exchange.calls.clear()

    again = await ensure.execute(KEY, DAY)

    assert exchange.calls == []
    assert again.up_to_date


async def test_a_quiet_stretch_across_two_batches_is_one_gap() -> None:
    source = make_bars(1440, START)
    source = source.filter((pl.int_range(pl.len()) < 290) | (pl.int_range(pl.len()) >= 320))
    quality = MemoryQualityStore()
    exchange = PagedExchange(source, page=100)
    ensure, _ = use_case(exchange, quality=quality, batch_rows=250)

    report = await ensure.execute(KEY, DAY)

    assert [(g.start, g.bars_missing) for g in report.venue_gaps] == [
        (START + timedelta(minutes=290), 30)
    ]
    assert [(g.start, g.bars_missing) for g in await quality.gaps(KEY, DAY)] == [
        (START + timedelta(minutes=290), 30)
    ]


async def test_bars_that_break_the_rules_are_rejected_and_reported_not_stored() -> None:
    source = make_bars(300, START)
    high = source["high"].to_list()
    high[10] = source["low"][10] / 2  # high below low
    bad = source.with_columns(pl.Series("high", high))
    ensure, store = use_case(PagedExchange(bad, page=100), now=START + timedelta(hours=6))

    report = await ensure.execute(KEY, TimeSpan.of(START, START + timedelta(minutes=300)))

    assert report.bars_rejected == 1
    assert report.rejected[0].ts == START + timedelta(minutes=10)
    assert "high" in report.rejected[0].reasons
    kept = await store.read(KEY, DAY)
    assert kept.height == 299
    assert START + timedelta(minutes=10) not in kept["ts"].to_list()


async def test_only_closed_bars_are_asked_for() -> None:
    source = make_bars(1440, START)
    exchange = PagedExchange(source, page=1000)
    now = START + timedelta(hours=10, seconds=30)
    ensure, store = use_case(exchange, now=now)

    report = await ensure.execute(KEY, DAY)

    assert report.span == TimeSpan.of(START, START + timedelta(hours=10))
    assert max(c.end for c in exchange.calls) == START + timedelta(hours=10)
    assert (await stored(store)).height == 600


async def test_an_exchange_without_a_client_is_invalid_input() -> None:
    ensure, _ = use_case(PagedExchange(empty_bars()))
    with pytest.raises(InvalidInput, match="binance has no configured client; configured: kraken"):
        await ensure.execute(SeriesKey.parse("binance:BTC/USDC:1m"), DAY)


async def test_a_timeframe_the_venue_cannot_serve_is_invalid_input() -> None:
    ensure, _ = use_case(PagedExchange(empty_bars(), native=(Timeframe.H1,)))
    with pytest.raises(InvalidInput, match="use one of 1h") as caught:
        await ensure.execute(KEY, DAY)
    assert caught.value.field == "timeframe"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    chunks=st.lists(st.tuples(st.integers(0, 479), st.integers(1, 120)), max_size=4),
    fail_on=st.none() | st.integers(1, 6),
    quiet=st.sampled_from([0, 5, 11]),
    batch=st.sampled_from([50, 130, 1000]),
)
async def test_any_stored_prefix_and_interruption_end_with_exactly_the_venues_bars(
    chunks: list[tuple[int, int]], fail_on: int | None, quiet: int, batch: int
) -> None:
    source = make_bars(480, START, seed=3)
    if quiet:
        source = with_quiet_minutes(source, quiet)
    store, quality = MemoryBarStore(), MemoryQualityStore()
    for first, length in chunks:
        await store.write(
            KEY, source.filter(pl.int_range(pl.len()).is_between(first, first + length - 1))
        )
    exchange = PagedExchange(source, page=60, fail_on_call=fail_on)
    ensure, _ = use_case(exchange, store, quality, batch_rows=batch, coalesce_bars=30)
    span = TimeSpan.of(START, START + timedelta(minutes=480))

    try:
        await ensure.execute(KEY, span)
    except ExchangeUnavailable:
        exchange.fail_on_call = None
        await ensure.execute(KEY, span)
    exchange.calls.clear()
    final = await ensure.execute(KEY, span)

    assert (await store.read(KEY, span)).equals(source)
    assert final.bars_written == 0
    gaps = await quality.gaps(KEY, span)
    assert sum(g.bars_missing for g in gaps) == 480 - source.height
    for gap in gaps:
        inside = source.filter(pl.col("ts").is_between(gap.start, gap.end, closed="left"))
        assert inside.is_empty()
