"""Market data model: venues, symbols, timeframes, series keys, spans and the bar frame."""

from arbx.domain.market.bars import (
    BAR_COLUMNS,
    BAR_SCHEMA,
    BarViolation,
    check_bars,
    coerce_bars,
    empty_bars,
    validate_bars,
)
from arbx.domain.market.model import Exchange, SeriesKey, Symbol, Timeframe
from arbx.domain.market.timespan import TimeSpan, from_ms, to_ms, utc

__all__ = [
    "BAR_COLUMNS",
    "BAR_SCHEMA",
    "BarViolation",
    "Exchange",
    "SeriesKey",
    "Symbol",
    "TimeSpan",
    "Timeframe",
    "check_bars",
    "coerce_bars",
    "empty_bars",
    "from_ms",
    "to_ms",
    "utc",
    "validate_bars",
]
