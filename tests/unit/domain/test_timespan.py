"""UTC instants and half-open spans."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbx.domain.errors import InvalidInput
from arbx.domain.market import TimeSpan, from_ms, to_ms, utc
from arbx.domain.market.timespan import parse_instant
from tests.strategies import instants

spans = (
    st.tuples(instants, instants)
    .filter(lambda p: p[0] != p[1])
    .map(lambda p: TimeSpan(min(p), max(p)))
)


def at(hour: int) -> datetime:
    return datetime(2024, 1, 1, hour, tzinfo=UTC)


@given(st.integers(-(10**12), 10**13))
def test_epoch_milliseconds_round_trip(ms: int) -> None:
    assert to_ms(from_ms(ms)) == ms


def test_to_ms_is_exact_and_naive_means_utc() -> None:
    moment = datetime(2023, 3, 11, 7, 15, 0, 999_999, tzinfo=UTC)

    assert to_ms(moment) == 1_678_518_900_999
    assert to_ms(moment.replace(tzinfo=None)) == to_ms(moment)
    assert to_ms(moment.astimezone(timezone(timedelta(hours=5)))) == to_ms(moment)
    assert utc(datetime(2024, 1, 1)) == datetime(2024, 1, 1, tzinfo=UTC)


def test_a_span_is_half_open() -> None:
    span = TimeSpan(at(1), at(3))

    assert span.contains(at(1))
    assert span.contains(at(3) - timedelta(milliseconds=1))
    assert not span.contains(at(3))
    assert span.duration == timedelta(hours=2)
    assert (span.start_ms, span.end_ms) == (to_ms(at(1)), to_ms(at(3)))


@pytest.mark.parametrize(
    ("start", "end"),
    [(at(3), at(1)), (at(1), at(1)), (datetime(2024, 1, 1), datetime(2024, 1, 2))],
)
def test_empty_inverted_or_naive_spans_are_refused(start: datetime, end: datetime) -> None:
    with pytest.raises(InvalidInput) as raised:
        TimeSpan(start, end)
    assert raised.value.field == "span"


def test_of_accepts_naive_bounds_as_utc() -> None:
    assert TimeSpan.of(datetime(2024, 1, 1, 1), datetime(2024, 1, 1, 3)) == TimeSpan(at(1), at(3))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-03-11", datetime(2023, 3, 11, tzinfo=UTC)),
        ("2023-03-11T07:15:00Z", datetime(2023, 3, 11, 7, 15, tzinfo=UTC)),
        ("2023-03-11T09:15:00+02:00", datetime(2023, 3, 11, 7, 15, tzinfo=UTC)),
        ("1678518900000", datetime(2023, 3, 11, 7, 15, tzinfo=UTC)),
    ],
)
def test_instants_parse_from_iso_or_epoch_ms(text: str, expected: datetime) -> None:
    assert parse_instant(text) == expected


def test_a_bad_instant_names_its_field() -> None:
    with pytest.raises(InvalidInput, match="ISO-8601") as raised:
        TimeSpan.parse("yesterday", "2024-01-01")
    assert raised.value.field == "start"


def test_overlap_and_intersection() -> None:
    a, b, c = TimeSpan(at(1), at(3)), TimeSpan(at(2), at(5)), TimeSpan(at(3), at(4))

    assert a.overlaps(b)
    assert not a.overlaps(c)  # touching is not overlapping: [1, 3) and [3, 4)
    assert a.intersect(b) == TimeSpan(at(2), at(3))
    assert a.intersect(c) is None


def test_subtract_finds_the_holes() -> None:
    span = TimeSpan(at(0), at(10))
    covered = [TimeSpan(at(6), at(7)), TimeSpan(at(1), at(3)), TimeSpan(at(2), at(4))]

    assert span.subtract(covered) == [
        TimeSpan(at(0), at(1)),
        TimeSpan(at(4), at(6)),
        TimeSpan(at(7), at(10)),
    ]
    assert span.subtract([TimeSpan.everything()]) == []
    assert span.subtract([]) == [span]


@given(spans, st.lists(spans, max_size=6))
def test_subtract_and_covered_parts_tile_the_span(span: TimeSpan, covered: list[TimeSpan]) -> None:
    holes = span.subtract(covered)

    assert holes == sorted(holes)
    for left, right in itertools.pairwise(holes):
        assert left.end < right.start  # disjoint and never touching (else they would be one)
    for hole in holes:
        assert hole.intersect(span) == hole
        assert all(not hole.overlaps(c) for c in covered)
    inside = [part for c in covered if (part := c.intersect(span)) is not None]
    total = sum((h.duration for h in holes), timedelta())
    union = _union_duration(inside)
    assert total + union == span.duration


def _union_duration(parts: list[TimeSpan]) -> timedelta:
    total = timedelta()
    end = None
    for part in sorted(parts):
        start = part.start if end is None else max(part.start, end)
        if part.end > start:
            total += part.end - start
        end = part.end if end is None else max(end, part.end)
    return total


def test_everything_holds_all_market_data() -> None:
    span = TimeSpan.everything()

    assert span.contains(datetime(1970, 1, 1, tzinfo=UTC))
    assert span.contains(datetime(2199, 12, 31, tzinfo=UTC))
