"""Repair policies: what gets filled, with what, and that the result is valid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbx.domain.errors import InvalidInput
from arbx.domain.market import BAR_COLUMNS, TimeSpan
from arbx.domain.quality import (
    GapStatus,
    RepairPolicy,
    Severity,
    detect_gaps,
    repair_gaps,
    validate_series,
)
from tests.builders import DEFAULT_START, make_bars
from tests.builders import key as series_key
from tests.strategies import bar_series

NOW = datetime(2200, 1, 1, tzinfo=UTC)
KEY = series_key("kraken:BTC/USDC:1m")
REF = series_key("binanceus:BTC/USDC:1m")


def minute(i: int) -> datetime:
    return DEFAULT_START + timedelta(minutes=i)


def drop_rows(bars: pl.DataFrame, rows: list[int]) -> pl.DataFrame:
    return bars.filter(~pl.int_range(pl.len()).is_in(rows))


def test_forward_fill_repeats_the_last_close_with_zero_volume() -> None:
    full = make_bars(20)
    bars = drop_rows(full, [5, 6, 7])
    before = bars.clone()
    gaps = detect_gaps(KEY, bars)

    result = repair_gaps(KEY, bars, gaps, RepairPolicy.FORWARD_FILL)

    assert bars.equals(before)
    assert result.filled.height == 3
    last_close = full["close"][4]
    for column in ("open", "high", "low", "close"):
        assert result.filled.get_column(column).to_list() == [last_close] * 3
    assert result.filled.get_column("volume").to_list() == [0.0] * 3
    assert result.filled.get_column("source").to_list() == ["ffill"] * 3
    assert result.bars.height == 20
    originals = result.bars.filter(~pl.col("is_filled")).select(BAR_COLUMNS)
    assert originals.equals(bars)
    assert [(g.start, g.end, g.status, g.fill_source) for g in result.gaps] == [
        (minute(5), minute(8), GapStatus.FILLED, "ffill")
    ]


def test_slots_before_the_first_bar_stay_open() -> None:
    bars = make_bars(10, start=minute(5))
    gaps = detect_gaps(KEY, bars, span=TimeSpan(minute(0), minute(15)))

    result = repair_gaps(KEY, bars, gaps, RepairPolicy.FORWARD_FILL)

    assert result.filled_bars == 0
    assert result.unfilled_bars == 5
    assert [g.status for g in result.gaps] == [GapStatus.OPEN]


def test_fill_from_venue_scales_the_reference_by_the_median_basis() -> None:
    full = make_bars(200)
    reference = full.with_columns(pl.col(c) / 1.02 for c in ("open", "high", "low", "close"))
    bars = drop_rows(full, list(range(100, 110)))

    result = repair_gaps(
        KEY, bars, detect_gaps(KEY, bars), RepairPolicy.FROM_VENUE, reference=(REF, reference)
    )

    expected = full[100:110]
    for column in ("open", "high", "low", "close"):
        np.testing.assert_allclose(
            result.filled.get_column(column).to_numpy(),
            expected.get_column(column).to_numpy(),
            rtol=1e-12,
        )
    assert (result.filled.get_column("volume") == 0.0).all()
    assert result.filled.get_column("source").unique().to_list() == [str(REF)]


def test_venue_fill_leaves_slots_the_reference_lacks_open() -> None:
    full = make_bars(100)
    bars = drop_rows(full, list(range(40, 50)))
    reference = drop_rows(full, [42, 43])

    result = repair_gaps(
        KEY, bars, detect_gaps(KEY, bars), RepairPolicy.FROM_VENUE, reference=(REF, reference)
    )

    assert [(g.start, g.end, g.status) for g in result.gaps] == [
        (minute(40), minute(42), GapStatus.FILLED),
        (minute(42), minute(44), GapStatus.OPEN),
        (minute(44), minute(50), GapStatus.FILLED),
    ]


def test_leave_accepts_the_gaps_and_adds_nothing() -> None:
    bars = drop_rows(make_bars(30), [3, 4])
    result = repair_gaps(KEY, bars, detect_gaps(KEY, bars), RepairPolicy.LEAVE)
    assert result.filled_bars == 0
    assert [g.status for g in result.gaps] == [GapStatus.ACCEPTED]


def test_gaps_already_decided_are_not_touched() -> None:
    bars = drop_rows(make_bars(30), [3, 4])
    accepted = repair_gaps(KEY, bars, detect_gaps(KEY, bars), RepairPolicy.LEAVE).gaps
    result = repair_gaps(KEY, bars, accepted, RepairPolicy.FORWARD_FILL)
    assert result.filled_bars == 0
    assert result.gaps == accepted


@pytest.mark.parametrize(
    ("reference", "field"),
    [(None, "reference"), ((series_key("binanceus:BTC/USDT:1m"), make_bars(5)), "reference")],
)
def test_venue_policy_needs_a_reference_of_the_same_pair(reference: object, field: str) -> None:
    bars = drop_rows(make_bars(30), [3])
    with pytest.raises(InvalidInput) as err:
        repair_gaps(KEY, bars, detect_gaps(KEY, bars), RepairPolicy.FROM_VENUE, reference=reference)  # type: ignore[arg-type]
    assert err.value.field == field


def test_unknown_policy_names_the_choices() -> None:
    with pytest.raises(InvalidInput, match="leave, ffill, venue"):
        RepairPolicy.parse("interpolate")


@settings(max_examples=30, deadline=None)
@given(
    bars=bar_series(min_size=10, max_size=150),
    data=st.data(),
    policy=st.sampled_from([RepairPolicy.FORWARD_FILL, RepairPolicy.FROM_VENUE]),
)
def test_repaired_series_passes_validation(
    bars: pl.DataFrame, data: st.DataObject, policy: RepairPolicy
) -> None:
    rows = data.draw(st.sets(st.integers(1, bars.height - 2), max_size=bars.height // 2))
    holed = drop_rows(bars, sorted(rows))
    reference = bars.with_columns(pl.col(c) * 1.3 for c in ("open", "high", "low", "close"))

    result = repair_gaps(KEY, holed, detect_gaps(KEY, holed), policy, reference=(REF, reference))

    assert result.bars.height == holed.height + result.filled_bars
    assert result.bars.get_column("ts").is_unique().all()
    checked = validate_series(KEY, result.bars.select(BAR_COLUMNS), now=NOW)
    assert checked.issues.filter(pl.col("severity") == Severity.ERROR.value).is_empty()
    if policy is RepairPolicy.FORWARD_FILL or (holed.get_column("volume") > 0).any():
        assert result.filled_bars == len(rows)
