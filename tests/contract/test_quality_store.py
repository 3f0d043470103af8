"""The QualityStore contract, written once and run against every adapter.

Adapters: memory (reference), sqlite and postgres. Tests use only the port's methods.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from arbx.adapters.memory.quality_store import MemoryQualityStore
from arbx.adapters.sqlite.database import SqliteDatabase
from arbx.adapters.sqlite.quality_store import SqliteQualityStore
from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey, TimeSpan
from arbx.domain.quality import DataGap, GapCause, GapStatus, Rule, Severity, ValidationIssue
from arbx.ports.quality_store import QualityStore

QUALITY_STORE_ADAPTERS = ["memory", "sqlite", "postgres"]
T0 = datetime(2023, 3, 10, tzinfo=UTC)
KEY = SeriesKey.parse("kraken:BTC/USDC:1m")
OTHER = SeriesKey.parse("binanceus:BTC/USDC:1m")
DAY = TimeSpan(T0, T0 + timedelta(days=1))


@pytest.fixture
def memory_quality_store() -> QualityStore:
    return MemoryQualityStore()


@pytest.fixture
async def sqlite_quality_store(tmp_path: Path) -> AsyncIterator[QualityStore]:
    database = SqliteDatabase(tmp_path / "arbx.sqlite")
    async with database:
        yield SqliteQualityStore(database)


@pytest.fixture(params=QUALITY_STORE_ADAPTERS)
def store(request: pytest.FixtureRequest) -> QualityStore:
    chosen: QualityStore = request.getfixturevalue(f"{request.param}_quality_store")
    return chosen


def minute(i: int) -> datetime:
    return T0 + timedelta(minutes=i)


def issue(
    i: int,
    rule: str = Rule.RETURN_OUTLIER_MAD,
    severity: Severity = Severity.WARNING,
    key: SeriesKey = KEY,
    observed: float | None = 14.5,
) -> ValidationIssue:
    return ValidationIssue(key, minute(i), rule, severity, observed, 12.0, f"finding {i}")


def gap(a: int, b: int, status: GapStatus = GapStatus.OPEN, key: SeriesKey = KEY) -> DataGap:
    source = "ffill" if status is GapStatus.FILLED else None
    return DataGap(key, minute(a), minute(b), b - a, GapCause.NO_TRADES, status, source)


async def test_replaced_issues_are_read_back_sorted(store: QualityStore) -> None:
    stored = [issue(5), issue(1, Rule.STALE_RUN, Severity.INFO), issue(1)]

    assert await store.replace_issues(KEY, DAY, stored) == 3

    got = await store.issues(KEY, DAY)
    assert [(i.ts, i.rule) for i in got] == [
        (minute(1), Rule.RETURN_OUTLIER_MAD),
        (minute(1), Rule.STALE_RUN),
        (minute(5), Rule.RETURN_OUTLIER_MAD),
    ]
    assert got[2] == issue(5)


async def test_replacing_twice_is_idempotent_and_only_touches_the_span(
    store: QualityStore,
) -> None:
    await store.replace_issues(KEY, DAY, [issue(1), issue(100), issue(1000)])
    first_hours = TimeSpan(minute(0), minute(120))

    await store.replace_issues(KEY, first_hours, [issue(2)])
    await store.replace_issues(KEY, first_hours, [issue(2)])

    assert [i.ts for i in await store.issues(KEY, DAY)] == [minute(2), minute(1000)]


async def test_filters_and_paging(store: QualityStore) -> None:
    await store.replace_issues(
        KEY,
        DAY,
        [issue(i, severity=Severity.INFO if i % 2 else Severity.WARNING) for i in range(10)],
    )

    infos = await store.issues(KEY, DAY, severity=Severity.INFO)
    page = await store.issues(KEY, DAY, limit=3, offset=4)
    by_rule = await store.issues(KEY, DAY, rule=Rule.STALE_RUN)
    inside = await store.issues(KEY, TimeSpan(minute(3), minute(5)))

    assert [i.ts for i in infos] == [minute(i) for i in (1, 3, 5, 7, 9)]
    assert [i.ts for i in page] == [minute(4), minute(5), minute(6)]
    assert by_rule == []
    assert [i.ts for i in inside] == [minute(3), minute(4)]


async def test_counts_by_rule_and_severity(store: QualityStore) -> None:
    await store.replace_issues(
        KEY, DAY, [issue(1), issue(2), issue(3, Rule.STALE_RUN, Severity.INFO)]
    )
    assert await store.count_issues(KEY, DAY) == {
        (Rule.RETURN_OUTLIER_MAD, Severity.WARNING): 2,
        (Rule.STALE_RUN, Severity.INFO): 1,
    }
    assert await store.count_issues(OTHER, DAY) == {}


async def test_series_are_kept_apart(store: QualityStore) -> None:
    await store.replace_issues(KEY, DAY, [issue(1)])
    await store.replace_issues(OTHER, DAY, [issue(2, key=OTHER)])
    await store.replace_gaps(OTHER, DAY, [gap(3, 4, key=OTHER)])

    await store.replace_issues(KEY, DAY, [])

    assert await store.issues(KEY, DAY) == []
    assert [i.ts for i in await store.issues(OTHER, DAY)] == [minute(2)]
    assert await store.series() == [OTHER]


async def test_non_finite_numbers_and_sub_millisecond_times_are_normalized(
    store: QualityStore,
) -> None:
    odd = ValidationIssue(
        KEY,
        minute(1) + timedelta(microseconds=1500),
        Rule.PRICE_NOT_POSITIVE,
        Severity.ERROR,
        float("nan"),
        float("inf"),
        "close must be a finite number > 0",
    )
    await store.replace_issues(KEY, DAY, [odd])
    [got] = await store.issues(KEY, DAY)
    assert got.ts == minute(1) + timedelta(milliseconds=1)
    assert (got.observed, got.expected) == (None, None)


@pytest.mark.parametrize(
    "bad",
    [issue(1, key=OTHER), issue(60 * 24 + 1)],
    ids=["other-series", "outside-span"],
)
async def test_bad_issues_change_nothing(store: QualityStore, bad: ValidationIssue) -> None:
    await store.replace_issues(KEY, DAY, [issue(7)])
    with pytest.raises(InvalidInput):
        await store.replace_issues(KEY, DAY, [issue(8), bad])
    assert [i.ts for i in await store.issues(KEY, DAY)] == [minute(7)]


async def test_gaps_round_trip_and_overlap_queries(store: QualityStore) -> None:
    gaps = [gap(50, 60, GapStatus.FILLED), gap(10, 12), gap(100, 130, GapStatus.ACCEPTED)]

    assert await store.replace_gaps(KEY, DAY, gaps) == 3

    assert await store.gaps(KEY, DAY) == sorted(gaps, key=lambda g: g.start)
    assert [g.start for g in await store.gaps(KEY, TimeSpan(minute(11), minute(55)))] == [
        minute(10),
        minute(50),
    ]
    assert await store.gaps(KEY, DAY, status=GapStatus.FILLED) == [gaps[0]]
    assert await store.gaps(KEY, TimeSpan(minute(12), minute(50))) == []


async def test_every_gap_cause_is_stored_and_read_back(store: QualityStore) -> None:
    gaps = [
        DataGap(KEY, minute(10 * i), minute(10 * i + 3), 3, cause)
        for i, cause in enumerate(GapCause)
    ]

    assert await store.replace_gaps(KEY, DAY, gaps) == len(GapCause)

    assert [g.cause for g in await store.gaps(KEY, DAY)] == list(GapCause)


async def test_replace_gaps_drops_what_overlaps_the_span_only(store: QualityStore) -> None:
    await store.replace_gaps(KEY, DAY, [gap(10, 12), gap(50, 60), gap(100, 130)])

    await store.replace_gaps(
        KEY, TimeSpan(minute(55), minute(110)), [gap(56, 58, GapStatus.FILLED)]
    )
    again = await store.replace_gaps(
        KEY, TimeSpan(minute(55), minute(110)), [gap(56, 58, GapStatus.FILLED)]
    )

    assert again == 1
    assert [(g.start, g.status) for g in await store.gaps(KEY, DAY)] == [
        (minute(10), GapStatus.OPEN),
        (minute(56), GapStatus.FILLED),
    ]


@pytest.mark.parametrize(
    "bad",
    [
        [gap(1, 2, key=OTHER)],
        [gap(60 * 25, 60 * 26)],
        [gap(3, 4), gap(3, 5)],
    ],
    ids=["other-series", "outside-span", "same-start"],
)
async def test_bad_gaps_change_nothing(store: QualityStore, bad: list[DataGap]) -> None:
    await store.replace_gaps(KEY, DAY, [gap(7, 9)])
    with pytest.raises(InvalidInput):
        await store.replace_gaps(KEY, DAY, bad)
    assert [g.start for g in await store.gaps(KEY, DAY)] == [minute(7)]


async def test_a_new_gap_may_not_take_the_start_of_a_gap_outside_the_span(
    store: QualityStore,
) -> None:
    await store.replace_gaps(KEY, DAY, [gap(7, 9)])
    with pytest.raises(InvalidInput):
        await store.replace_gaps(KEY, TimeSpan(minute(9), minute(20)), [gap(7, 12)])
    assert await store.gaps(KEY, DAY) == [gap(7, 9)]


async def test_an_empty_store_lists_no_series(store: QualityStore) -> None:
    assert await store.series() == []
    assert await store.gaps(KEY, DAY) == []
    assert await store.issues(KEY, DAY) == []
