"""parse_instant: ISO-8601 or epoch milliseconds; other magnitudes are refused, not misread."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from arbx.domain.errors import InvalidInput
from arbx.domain.market.timespan import parse_instant


def test_iso_and_epoch_milliseconds() -> None:
    assert parse_instant("2023-03-10") == datetime(2023, 3, 10, tzinfo=UTC)
    assert parse_instant("2023-03-10T00:00:00Z") == datetime(2023, 3, 10, tzinfo=UTC)
    assert parse_instant("1678406400000") == datetime(2023, 3, 10, tzinfo=UTC)
    assert parse_instant("0") == datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "unit", "hint"),
    [
        ("1678406400", "seconds", "1678406400000"),
        ("1678406400000000", "microseconds", "1678406400000"),
        ("1678406400000000000", "nanoseconds", "1678406400000"),
    ],
)
def test_epoch_numbers_in_another_unit_are_refused_with_the_fix(
    text: str, unit: str, hint: str
) -> None:
    with pytest.raises(InvalidInput, match=f"epoch {unit}") as caught:
        parse_instant(text, field="start")
    assert caught.value.field == "start"
    assert hint in caught.value.message


def test_numbers_beyond_the_calendar_are_refused_not_a_crash() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_instant("100000000000000000000", field="cursor")
    assert caught.value.field == "cursor"
