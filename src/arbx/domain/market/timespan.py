"""UTC instants and half-open time spans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from arbx.domain.errors import InvalidInput

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_MS = -62_135_596_800_000  # 0001-01-01T00:00:00Z
_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def utc(moment: datetime) -> datetime:
    """Return ``moment`` as an aware UTC datetime; naive values are taken to be UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch (exact: no float rounding)."""
    delta = utc(moment) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def parse_instant(text: str, *, field: str = "time") -> datetime:
    """Parse ISO-8601 ("2023-03-11", "2023-03-11T07:15:00Z") or epoch milliseconds."""
    raw = text.strip()
    if raw.lstrip("-").isdigit():
        ms = int(raw)
        unit = _other_unit(ms)
        if unit is not None:
            raise InvalidInput(
                f"{field} {text!r} looks like epoch {unit}; arbx reads epoch MILLISECONDS"
                f" (e.g. {_as_ms(ms, unit)}) or ISO-8601 (2023-03-10T00:00:00Z)",
                field=field,
            )
        if not _MIN_MS <= ms <= _MAX_MS:
            raise InvalidInput(
                f"{field} {text!r} is out of range: epoch milliseconds between"
                f" {_MIN_MS} (year 1) and {_MAX_MS} (year 9999)",
                field=field,
            )
        return from_ms(ms)
    try:
        return utc(datetime.fromisoformat(raw.replace("Z", "+00:00")))
    except ValueError:
        raise InvalidInput(
            f"{field} {text!r} is not an ISO-8601 time (e.g. 2023-03-11T07:15:00Z)"
            " or epoch milliseconds",
            field=field,
        ) from None


def _other_unit(value: int) -> str | None:
    """The unit a bare epoch number is far more likely to be in than milliseconds.

    1e8..1e11 as milliseconds is 1970-01-02..1973-03-03 (no market data) but as seconds
    1973..5138; 1e14..1e17 as milliseconds is past year 5138 but as microseconds 1973..5138;
    1e17 and more: nanoseconds.
    """
    size = abs(value)
    if 10**8 <= size < 10**11:
        return "seconds"
    if 10**14 <= size < 10**17:
        return "microseconds"
    if size >= 10**17:
        return "nanoseconds"
    return None


def _as_ms(value: int, unit: str) -> int:
    return {"seconds": value * 1000, "microseconds": value // 1000}.get(unit, value // 10**6)


class TimeSpan(msgspec.Struct, frozen=True, order=True):
    """A half-open UTC interval [start, end) with start < end."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InvalidInput("time span bounds must be timezone-aware (UTC)", field="span")
        if not self.start < self.end:
            raise InvalidInput(
                f"time span start {self.start.isoformat()} must be before end"
                f" {self.end.isoformat()}",
                field="span",
            )

    @classmethod
    def of(cls, start: datetime, end: datetime) -> TimeSpan:
        return cls(utc(start), utc(end))

    @classmethod
    def from_ms(cls, start_ms: int, end_ms: int) -> TimeSpan:
        return cls(from_ms(start_ms), from_ms(end_ms))

    @classmethod
    def parse(cls, start: str, end: str) -> TimeSpan:
        return cls.of(parse_instant(start, field="start"), parse_instant(end, field="end"))

    @classmethod
    def everything(cls) -> TimeSpan:
        """A span wide enough for any market data (1970 .. 2200)."""
        return cls(EPOCH, datetime(2200, 1, 1, tzinfo=UTC))

    @property
    def start_ms(self) -> int:
        return to_ms(self.start)

    @property
    def end_ms(self) -> int:
        return to_ms(self.end)

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def overlaps(self, other: TimeSpan) -> bool:
        return self.start < other.end and other.start < self.end

    def intersect(self, other: TimeSpan) -> TimeSpan | None:
        start, end = max(self.start, other.start), min(self.end, other.end)
        return TimeSpan(start, end) if start < end else None

    def subtract(self, covered: list[TimeSpan]) -> list[TimeSpan]:
        """The parts of this span not inside any of ``covered`` (sorted, disjoint)."""
        missing: list[TimeSpan] = []
        cursor = self.start
        for span in sorted(covered):
            if span.end <= cursor or span.start >= self.end:
                continue
            if span.start > cursor:
                missing.append(TimeSpan(cursor, span.start))
            cursor = max(cursor, span.end)
            if cursor >= self.end:
                break
        if cursor < self.end:
            missing.append(TimeSpan(cursor, self.end))
        return missing

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"
