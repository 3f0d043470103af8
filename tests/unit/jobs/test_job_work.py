"""Jobs doing real work: collection through EnsureHistory (a hand-written venue that pages a
frame), validation through ValidateSeries and repair through RepairSeries, on memory stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import polars as pl

from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.job_store import MemoryJobStore
from arbx.adapters.memory.quality_store import MemoryQualityStore
from arbx.app.ensure_history import EnsureHistory
from arbx.app.repair_series import RepairSeries
from arbx.app.run_job import CollectWork, RepairWork, RunJob, ValidateWork
from arbx.app.validate_series import ValidateSeries
from arbx.domain.errors import ExchangeUnavailable
from arbx.domain.jobs import JobDefinition, JobKind, JobOrigin, JobSpec, RunStatus
from arbx.domain.market import Exchange, SeriesKey, Symbol, Timeframe, TimeSpan
from arbx.ports.exchange import (
    BreakerState,
    ExchangeClient,
    ExchangeStatus,
    Market,
    OhlcvPage,
    TimeframeSupport,
)
from tests.builders import make_bars
from tests.unit.jobs.fakes import FakeClock, RecordingSleep

NOW = datetime(2025, 3, 1, 12, 0, 30, tzinfo=UTC)
OPEN = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)  # the forming bar at NOW
BTC = SeriesKey.parse("binance:BTC/USDC:1m")
KRAKEN_BTC = SeriesKey.parse("kraken:BTC/USDC:1m")


class PagedVenue(ExchangeClient):
    """Serves ``bars`` up to the clock's last closed minute, ``page`` rows per call."""

    def __init__(self, venue: str, bars: pl.DataFrame, clock: FakeClock, page: int = 7) -> None:
        self._venue = Exchange(venue)
        self.bars = bars
        self.clock = clock
        self.page = page
        self.calls: list[TimeSpan] = []
        self.failures: list[Exception] = []

    @property
    def venue(self) -> Exchange:
        return self._venue

    async def list_markets(self) -> list[Market]:
        return [Market(Symbol.parse("BTC/USDC"), "BTCUSDC")]

    async def server_time(self) -> datetime:
        return self.clock.now()

    def supported_timeframes(self) -> list[TimeframeSupport]:
        return [TimeframeSupport(tf, True, tf) for tf in Timeframe]

    def status(self) -> ExchangeStatus:
        return ExchangeStatus(self._venue, "memory://", BreakerState.CLOSED, 0)

    async def fetch_ohlcv(self, symbol: Symbol, timeframe: Timeframe, span: TimeSpan) -> OhlcvPage:
        self.calls.append(span)
        if self.failures:
            raise self.failures.pop(0)
        closed = timeframe.floor(self.clock.now())
        end = min(span.end, closed, span.start + self.page * timeframe.duration)
        ms = pl.col("ts").dt.epoch("ms")
        rows = self.bars.filter((ms >= span.start_ms) & (ms < int(end.timestamp() * 1000)))
        return OhlcvPage(
            bars=rows,
            covered=TimeSpan(span.start, end),
            next_start=end if end < span.end and end < closed else None,
            fetched_as=timeframe,
            resampled=False,
        )


class World:
    def __init__(self) -> None:
        self.clock = FakeClock(NOW)
        self.jobs = MemoryJobStore()
        self.bars = MemoryBarStore()
        self.quality = MemoryQualityStore()
        history = make_bars(24 * 60, start=OPEN - timedelta(hours=12))
        self.venue = PagedVenue("binance", history, self.clock)
        ensure = EnsureHistory(self.bars, {self.venue.venue: self.venue}, self.clock)
        self.sleep = RecordingSleep(self.clock)
        self.run_job = RunJob(
            jobs=self.jobs,
            bars=self.bars,
            clock=self.clock,
            work={
                JobKind.COLLECT: CollectWork(ensure),
                JobKind.VALIDATE: ValidateWork(ValidateSeries(self.bars, self.quality, self.clock)),
                JobKind.REPAIR: RepairWork(RepairSeries(self.bars, self.quality)),
            },
            sleep=self.sleep,
        )

    async def add(self, **spec: object) -> JobDefinition:
        values: dict[str, object] = {"series": [str(BTC)], "interval_s": 60}
        values.update(spec)
        job = JobDefinition.from_spec(
            msgspec.convert(values, JobSpec),
            id=str(values["name"]),
            origin=JobOrigin.API,
            created_at=self.clock.now(),
        )
        await self.jobs.save(job)
        return job


async def test_collection_keeps_a_series_current_through_ensure_history() -> None:
    w = World()
    await w.add(name="c", kind="collect", lookback_bars=60)
    first = await w.run_job.execute("c")
    assert (first.status, first.bars_written) == (RunStatus.SUCCEEDED, 60)
    assert await w.bars.coverage(BTC) == [TimeSpan(OPEN - timedelta(hours=1), OPEN)]
    assert len(w.venue.calls) == 9  # 60 bars, 7 per page
    w.clock.advance(minutes=5)
    asked = len(w.venue.calls)
    second = await w.run_job.execute("c")
    assert second.bars_written == 5  # the bars it asked for again were final already
    # from the newest stored bar, and the settle window's 3 + 1 bars before it once more
    assert w.venue.calls[asked].start == OPEN - timedelta(minutes=4)
    assert await w.bars.coverage(BTC) == [
        TimeSpan(OPEN - timedelta(hours=1), OPEN + timedelta(minutes=5))
    ]


async def test_a_venue_outage_is_retried_and_the_next_attempt_resumes() -> None:
    w = World()
    await w.add(name="c", kind="collect", lookback_bars=60, max_attempts=2, backoff_s=2)
    w.venue.failures = [ExchangeUnavailable("binance timed out", venue="binance")]
    last = await w.run_job.execute("c")
    assert (last.status, last.attempt) == (RunStatus.SUCCEEDED, 2)
    assert w.sleep.delays == [2.0]
    assert len(await w.bars.read(BTC, TimeSpan.everything())) == 60


async def test_validation_jobs_store_findings_and_write_no_bars() -> None:
    w = World()
    bars = make_bars(120, start=OPEN - timedelta(hours=2))
    await w.bars.write(KRAKEN_BTC, bars)
    spiked = bars.with_columns(
        pl.when(pl.int_range(pl.len()) == 60).then(pl.col(c) * 1.06).otherwise(pl.col(c))
        for c in ("open", "high", "low", "close")
    )
    await w.bars.write(BTC, spiked)
    await w.add(name="v", kind="validate", lookback_bars=120)
    run = await w.run_job.execute("v")
    assert (run.status, run.bars_written) == (RunStatus.SUCCEEDED, 0)
    issues = await w.quality.issues(BTC, TimeSpan(OPEN - timedelta(hours=2), OPEN))
    assert OPEN - timedelta(minutes=60) in {i.ts for i in issues}


async def test_repair_jobs_fill_gaps_by_their_policy() -> None:
    w = World()
    bars = make_bars(60, start=OPEN - timedelta(hours=1))
    holed = bars.filter(~pl.int_range(pl.len()).is_in([10, 11, 12, 40]))
    await w.bars.write(BTC, holed)
    await w.add(name="r", kind="repair", lookback_bars=60, repair_policy="ffill")
    run = await w.run_job.execute("r")
    assert (run.status, run.bars_written) == (RunStatus.SUCCEEDED, 4)
    assert len(await w.bars.read(BTC, TimeSpan.everything())) == 60


async def test_repair_from_another_venue_uses_its_bars() -> None:
    w = World()
    bars = make_bars(60, start=OPEN - timedelta(hours=1))
    await w.bars.write(KRAKEN_BTC, make_bars(60, start=OPEN - timedelta(hours=1), seed=3))
    await w.bars.write(BTC, bars.filter(~pl.int_range(pl.len()).is_in([5, 6])))
    await w.add(
        name="r",
        kind="repair",
        lookback_bars=60,
        repair_policy="venue",
        reference_exchange="kraken",
    )
    run = await w.run_job.execute("r")
    assert (run.status, run.bars_written) == (RunStatus.SUCCEEDED, 2)


async def test_an_unconfigured_venue_fails_permanently_with_its_name() -> None:
    w = World()
    await w.add(name="c", kind="collect", series=["coinbase:BTC/USDC:1m"], max_attempts=3)
    run = await w.run_job.execute("c")
    assert (run.status, run.attempt) == (RunStatus.FAILED, 1)
    assert run.error is not None
    assert "coinbase" in run.error
