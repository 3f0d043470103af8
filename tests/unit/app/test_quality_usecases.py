"""The quality use cases over the in-memory bar and quality stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.quality_store import MemoryQualityStore
from arbx.app.detect_gaps import DetectGaps, ListGaps
from arbx.app.repair_series import RepairSeries
from arbx.app.resample_series import ResampleSeries
from arbx.app.validate_series import ListIssues, SummarizeQuality, ValidateSeries
from arbx.domain.errors import InvalidInput, NotFound
from arbx.domain.market import BAR_COLUMNS, SeriesKey, Timeframe, TimeSpan
from arbx.domain.quality import DataGap, GapCause, GapStatus, RepairPolicy, Rule, Severity
from arbx.ports.clock import Clock
from tests.builders import DEFAULT_START, make_bars

KRAKEN = SeriesKey.parse("kraken:BTC/USDC:1m")
BINANCE = SeriesKey.parse("binanceus:BTC/USDC:1m")
COINBASE = SeriesKey.parse("coinbase:BTC/USDC:1m")


class StillClock(Clock):
    def now(self) -> datetime:
        return datetime(2030, 1, 1, tzinfo=UTC)


def minute(i: int) -> datetime:
    return DEFAULT_START + timedelta(minutes=i)


def drop_rows(bars: pl.DataFrame, rows: list[int]) -> pl.DataFrame:
    return bars.filter(~pl.int_range(pl.len()).is_in(rows))


class World:
    def __init__(self) -> None:
        self.bars = MemoryBarStore()
        self.quality = MemoryQualityStore()
        self.full = make_bars(300)
        self.validate = ValidateSeries(self.bars, self.quality, StillClock())
        self.summary = SummarizeQuality(self.bars, self.quality)
        self.issues = ListIssues(self.quality)
        self.detect = DetectGaps(self.bars, self.quality)
        self.gaps = ListGaps(self.quality)
        self.repair = RepairSeries(self.bars, self.quality)
        self.resample = ResampleSeries(self.bars)

    async def seed(self) -> None:
        spiked = self.full.with_columns(
            pl.when(pl.int_range(pl.len()) == 200).then(pl.col(c) * 1.06).otherwise(pl.col(c))
            for c in ("open", "high", "low", "close")
        )
        await self.bars.write(KRAKEN, drop_rows(spiked, [*range(50, 53), *range(100, 200)]))
        await self.bars.write(BINANCE, self.full)
        await self.bars.write(COINBASE, self.full)


@pytest.fixture
async def world() -> World:
    w = World()
    await w.seed()
    return w


async def test_validate_stores_findings_and_reports_the_score(world: World) -> None:
    report = await world.validate.execute(KRAKEN)

    assert report.span == TimeSpan(minute(0), minute(300))
    assert report.bars == 197
    assert report.compared_with == [BINANCE, COINBASE]
    assert report.score.coverage == pytest.approx(197 / 300)
    stored = await world.quality.issues(KRAKEN, report.span)
    assert len(stored) == report.issues_stored > 0
    cross = [i for i in stored if i.rule == Rule.CROSS_VENUE_DEVIATION]
    assert [(i.ts, i.severity) for i in cross] == [(minute(200), Severity.WARNING)]


async def test_validating_again_replaces_rather_than_adds(world: World) -> None:
    first = await world.validate.execute(KRAKEN)
    second = await world.validate.execute(KRAKEN)
    assert len(await world.quality.issues(KRAKEN, first.span)) == second.issues_stored


async def test_an_unknown_series_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        await world.validate.execute(SeriesKey.parse("bitstamp:BTC/USDC:1m"))


async def test_detect_gaps_tells_causes_from_the_other_venues(world: World) -> None:
    report = await world.detect.execute(KRAKEN)

    assert [(g.start, g.bars_missing, g.cause) for g in report.gaps] == [
        (minute(50), 3, GapCause.NO_TRADES),  # kraken omits quiet minutes
        (minute(100), 100, GapCause.OUTAGE),  # long, and the others traded
    ]
    assert report.evidence == [BINANCE, COINBASE]
    assert await world.gaps.execute(KRAKEN) == report.gaps


async def test_detect_gaps_keeps_what_the_collector_knows_about_a_gap(world: World) -> None:
    span = TimeSpan(minute(0), minute(300))
    collected = [
        DataGap(KRAKEN, minute(50), minute(53), 3, GapCause.PENDING),
        DataGap(KRAKEN, minute(100), minute(200), 100, GapCause.NOT_SERVED),
    ]
    await world.quality.replace_gaps(KRAKEN, span, collected)

    report = await world.detect.execute(KRAKEN)

    # the evidence alone would say no_trades and outage; the venue's answers said more
    assert [g.cause for g in report.gaps] == [GapCause.PENDING, GapCause.NOT_SERVED]
    assert await world.gaps.execute(KRAKEN) == report.gaps


async def test_summary_excuses_no_trade_gaps_and_counts_findings(world: World) -> None:
    await world.validate.execute(KRAKEN)
    await world.detect.execute(KRAKEN)

    summary = await world.summary.execute(KRAKEN)

    assert summary.score.coverage == pytest.approx((197 + 3) / 300)
    assert summary.gaps == 2
    assert summary.bars_missing == 103
    assert summary.gaps_by_cause == {"no_trades": 1, "outage": 1}
    assert summary.issues_by_rule[Rule.CROSS_VENUE_DEVIATION] == {"warning": 1}
    assert 0.0 < summary.score.score < 1.0


async def test_repair_from_venue_writes_fills_and_records_them(world: World) -> None:
    await world.detect.execute(KRAKEN)

    report = await world.repair.execute(KRAKEN, RepairPolicy.FROM_VENUE, reference=BINANCE)

    assert report.filled_bars == report.written == 103
    stored = await world.bars.read(KRAKEN, TimeSpan(minute(0), minute(300)))
    assert stored.height == 300
    gaps = await world.gaps.execute(KRAKEN)
    assert {g.status for g in gaps} == {GapStatus.FILLED}
    assert {g.fill_source for g in gaps} == {str(BINANCE)}
    # a fresh detection keeps the record of what was filled
    again = await world.detect.execute(KRAKEN)
    assert [g.status for g in again.gaps] == [GapStatus.FILLED, GapStatus.FILLED]
    assert (await world.validate.execute(KRAKEN, cross_venue=False)).score.error_bars == 0


async def test_repair_never_overwrites_a_stored_bar(world: World) -> None:
    await world.detect.execute(KRAKEN)
    original = world.full[100:101]
    await world.bars.write(KRAKEN, original)  # the bar arrived after the gap was recorded

    await world.repair.execute(KRAKEN, RepairPolicy.FORWARD_FILL)

    got = await world.bars.read(KRAKEN, TimeSpan(minute(100), minute(101)))
    assert got.equals(original)


async def test_dry_run_and_leave_store_no_bars(world: World) -> None:
    dry = await world.repair.execute(KRAKEN, RepairPolicy.FORWARD_FILL, dry_run=True)
    assert dry.filled_bars == 103
    assert dry.written == 0
    assert (await world.bars.read(KRAKEN, TimeSpan(minute(0), minute(300)))).height == 197

    left = await world.repair.execute(KRAKEN, RepairPolicy.LEAVE)
    assert {g.status for g in left.gaps} == {GapStatus.ACCEPTED}
    assert {g.status for g in await world.gaps.execute(KRAKEN)} == {GapStatus.ACCEPTED}


async def test_venue_repair_without_reference_is_invalid(world: World) -> None:
    with pytest.raises(InvalidInput) as err:
        await world.repair.execute(KRAKEN, RepairPolicy.FROM_VENUE)
    assert err.value.field == "reference"


async def test_list_issues_pages_and_filters(world: World) -> None:
    await world.validate.execute(KRAKEN)
    first = await world.issues.execute(KRAKEN, limit=1)
    warnings = await world.issues.execute(KRAKEN, severity=Severity.WARNING, limit=1000)

    assert len(first.issues) == 1
    assert first.next_offset == 1
    assert all(i.severity is Severity.WARNING for i in warnings.issues)
    assert warnings.next_offset is None
    with pytest.raises(InvalidInput):
        await world.issues.execute(KRAKEN, limit=0)


async def test_resample_returns_and_optionally_stores_the_coarser_series(world: World) -> None:
    result = await world.resample.execute(BINANCE, Timeframe.H1, store=True)

    assert result.target == SeriesKey.parse("binanceus:BTC/USDC:1h")
    assert result.bars.height == 5
    assert result.written == 5
    stored = await world.bars.read(result.target, TimeSpan.everything())
    assert stored.equals(result.bars.select(BAR_COLUMNS))
    assert result.bars["open"][0] == world.full["open"][0]


async def test_resample_a_span_flags_the_forming_bucket(world: World) -> None:
    span = TimeSpan(minute(60), minute(300))
    result = await world.resample.execute(
        BINANCE, Timeframe.H1, span, incomplete="flag", until=minute(270)
    )
    assert result.bars.get_column("complete").to_list() == [True, True, True, False]


async def test_storing_a_resample_needs_drop(world: World) -> None:
    with pytest.raises(InvalidInput) as err:
        await world.resample.execute(BINANCE, Timeframe.H1, incomplete="keep", store=True)
    assert err.value.field == "incomplete"


async def test_a_dry_run_repair_stores_nothing_not_even_the_gaps_it_detects() -> None:
    from arbx.adapters.memory.bar_store import MemoryBarStore
    from arbx.adapters.memory.quality_store import MemoryQualityStore
    from arbx.app.repair_series import RepairSeries
    from arbx.domain.market import SeriesKey, TimeSpan
    from arbx.domain.quality import RepairPolicy
    from tests.builders import make_bars

    bars, quality = MemoryBarStore(), MemoryQualityStore()
    key = SeriesKey.parse("kraken:BTC/USD:1m")
    holed = make_bars(50).filter(~pl.int_range(pl.len()).is_between(10, 14))
    await bars.write(key, holed)
    report = await RepairSeries(bars, quality).execute(key, RepairPolicy.FORWARD_FILL, dry_run=True)
    assert report.filled_bars == 5
    assert await quality.gaps(key, TimeSpan.everything()) == []
    assert (await bars.read(key, TimeSpan.everything())).height == 45
    missing_reference = SeriesKey.parse("coinbase:BTC/USD:1m")
    with pytest.raises(InvalidInput, match="no stored bars"):
        await RepairSeries(bars, quality).execute(
            key, RepairPolicy.FROM_VENUE, reference=missing_reference
        )
