"""The request parsers both faces share: the same input gets the same answer and message,
naming the input as the user wrote it (HTTP field or CLI option)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey, TimeSpan
from arbx.domain.quality import RepairPolicy
from arbx.entrypoints.schemas.api_keys import lifetime, roles_of
from arbx.entrypoints.schemas.naming import as_field, as_option
from arbx.entrypoints.schemas.series import RepairSource, reference_key, series_from_parts
from arbx.entrypoints.schemas.spans import (
    bounded_span,
    closed_span,
    instant,
    open_span,
    optional_span,
)

KEY = SeriesKey.parse("binanceus:BTC/USDC:1m")
WHOLE = TimeSpan.everything()
DAY = datetime(2024, 1, 1, tzinfo=UTC)


def test_names_follow_the_face() -> None:
    assert as_field("basis_window") == "basis_window"
    assert as_option("basis_window") == "--basis-window"


def test_instant_is_none_when_absent_and_names_a_bad_field() -> None:
    assert instant(None, "since") is None
    assert instant("2024-01-01", "since") == DAY
    with pytest.raises(InvalidInput) as bad:
        instant("soon", "since")
    assert bad.value.field == "since"


def test_open_span_fills_missing_bounds_from_everything() -> None:
    assert open_span(None, None) == WHOLE
    assert open_span("2024-01-01", None) == TimeSpan(DAY, WHOLE.end)
    assert open_span("", "1704067200000") == TimeSpan(WHOLE.start, DAY)
    with pytest.raises(InvalidInput) as bad:
        open_span("2024-01-01", "yesterday")
    assert bad.value.field == "end"


def test_optional_span_is_none_only_without_both_bounds() -> None:
    assert optional_span(None, None) is None
    assert optional_span(None, "2024-01-01") == TimeSpan(WHOLE.start, DAY)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (as_field, "give both start and end, or neither"),
        (as_option, "give both --start and --end, or neither"),
    ],
)
def test_closed_span_wants_both_bounds_or_none(name: object, message: str) -> None:
    assert closed_span(None, None) is None
    assert closed_span("2024-01-01", "2024-01-02") == TimeSpan(DAY, DAY + timedelta(days=1))
    with pytest.raises(InvalidInput) as bad:
        closed_span("2024-01-01", None, name=name)  # type: ignore[arg-type]
    assert message in bad.value.message
    assert bad.value.field == "end"
    with pytest.raises(InvalidInput) as bad:
        closed_span(None, "2024-01-01")
    assert bad.value.field == "start"


def test_bounded_span_defaults_the_end_and_orders_the_bounds() -> None:
    assert bounded_span("2024-01-01", None) == TimeSpan(DAY, WHOLE.end)
    with pytest.raises(InvalidInput) as bad:
        bounded_span("2024-01-02", "2024-01-01", name=as_option)
    assert bad.value.message.startswith("--end 2024-01-01T00:00:00+00:00 must be after --start")
    assert bad.value.field == "end"
    with pytest.raises(InvalidInput) as bad:
        bounded_span("2024-01-01", "2024-01-01")
    assert bad.value.message.startswith("end 2024-01-01T00:00:00+00:00 must be after start")


def test_series_from_parts_takes_all_three_or_none() -> None:
    assert series_from_parts("binanceus", "btc/usdc", "1m") == KEY
    assert series_from_parts(None, None, None) is None
    with pytest.raises(InvalidInput) as bad:
        series_from_parts("binanceus", None, "1m", name=as_option)
    assert bad.value.message == "give all of --exchange, --symbol and --timeframe, or none"
    assert bad.value.field == "series"


def test_reference_is_a_venue_or_a_series_of_the_same_pair_elsewhere() -> None:
    assert reference_key(KEY, None) is None
    assert reference_key(KEY, "  ") is None
    assert reference_key(KEY, "kraken") == SeriesKey.parse("kraken:BTC/USDC:1m")
    assert reference_key(KEY, "kraken:BTC/USDC:1m") == SeriesKey.parse("kraken:BTC/USDC:1m")
    for wrong in ("binanceus", "kraken:BTC/USD:1m", "kraken:BTC/USDC:5m"):
        with pytest.raises(InvalidInput) as bad:
            reference_key(KEY, wrong)
        assert bad.value.field == "reference"
        assert "on another venue than binanceus" in bad.value.message


def test_repair_source_checks_policy_window_and_reference_together() -> None:
    source = RepairSource.parse(KEY, "venue", "kraken", 30)
    assert source == RepairSource(
        RepairPolicy.FROM_VENUE, SeriesKey.parse("kraken:BTC/USDC:1m"), 30
    )
    assert RepairSource.parse(KEY, "ffill", None, 60).reference is None
    with pytest.raises(InvalidInput) as bad:
        RepairSource.parse(KEY, "magic", None, 60)
    assert bad.value.field == "policy"
    with pytest.raises(InvalidInput) as bad:
        RepairSource.parse(KEY, "ffill", None, 0, name=as_option)
    assert (bad.value.field, bad.value.message) == (
        "basis_window",
        "--basis-window must be at least 1 bar",
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (as_field, "reference applies to policy venue only"),
        (as_option, "--reference applies to --policy venue only"),
    ],
)
def test_a_reference_goes_with_policy_venue_only(name: object, message: str) -> None:
    for policy in ("ffill", "leave"):
        with pytest.raises(InvalidInput) as bad:
            RepairSource.parse(KEY, policy, "kraken", 60, name=name)  # type: ignore[arg-type]
        assert (bad.value.field, bad.value.message) == ("reference", message)


def test_api_key_lifetime_and_roles() -> None:
    assert lifetime(1) == timedelta(days=1)
    assert lifetime(3650) == timedelta(days=3650)
    for days in (0, 3651, -5):
        with pytest.raises(InvalidInput) as bad:
            lifetime(days, name=as_option)
        assert bad.value.message == "--expires-in-days must be between 1 and 3650"
        assert bad.value.field == "expires_in_days"
    assert roles_of(None) is None
    assert {r.value for r in roles_of(["viewer"]) or ()} == {"viewer"}
    with pytest.raises(InvalidInput):
        roles_of(["emperor"])
