"""Identities of market data: which venue, which pair, which bar width."""

from __future__ import annotations

import enum
import functools
import re
from datetime import datetime, timedelta

import msgspec

from arbx.domain.errors import InvalidInput
from arbx.domain.market.timespan import from_ms, to_ms

_EXCHANGE_RE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
_ASSET_RE = re.compile(r"^[A-Z0-9]{1,15}$")


class Exchange(msgspec.Struct, frozen=True, order=True):
    """A venue id: lowercase letters, digits and '_' ("binance", "binanceus", "kraken")."""

    id: str

    def __post_init__(self) -> None:
        if not _EXCHANGE_RE.match(self.id):
            raise InvalidInput(
                f"exchange id {self.id!r} is not valid; use 2-32 lowercase letters, digits or '_'"
                " starting with a letter, e.g. 'binance', 'coinbase', 'kraken'",
                field="exchange",
            )

    @classmethod
    def parse(cls, text: str) -> Exchange:
        return cls(text.strip().lower())

    def __str__(self) -> str:
        return self.id


class Symbol(msgspec.Struct, frozen=True, order=True):
    """A ccxt-style pair BASE/QUOTE ("BTC/USDC"); assets are uppercase letters and digits."""

    base: str
    quote: str

    def __post_init__(self) -> None:
        for part, value in (("base", self.base), ("quote", self.quote)):
            if not _ASSET_RE.match(value):
                raise InvalidInput(
                    f"symbol {part} {value!r} is not valid; assets are 1-15 uppercase letters or"
                    " digits, e.g. 'BTC/USDC'",
                    field="symbol",
                )
        if self.base == self.quote:
            raise InvalidInput(f"symbol {self} has the same base and quote", field="symbol")

    @classmethod
    def parse(cls, text: str) -> Symbol:
        """Parse "BTC/USDC" (case-insensitive). "BTC-USDC" is accepted too (our path slug)."""
        raw = text.strip().upper()
        sep = "/" if "/" in raw else "-" if "-" in raw else None
        if sep is None or raw.count(sep) != 1:
            raise InvalidInput(
                f"symbol {text!r} is not BASE/QUOTE; write it like 'BTC/USDC'", field="symbol"
            )
        base, quote = raw.split(sep)
        return cls(base, quote)

    @property
    def slug(self) -> str:
        """The file-system and URL safe form: "BTC-USDC"."""
        return f"{self.base}-{self.quote}"

    def __str__(self) -> str:
        return f"{self.base}/{self.quote}"


@functools.total_ordering
class Timeframe(enum.Enum):
    """Bar widths arbx knows. Bars are aligned on the UTC epoch grid of their width."""

    M1 = "1m"
    M3 = "3m"
    M5 = "5m"
    M15 = "15m"
    M30 = "30m"
    H1 = "1h"
    H2 = "2h"
    H4 = "4h"
    H6 = "6h"
    H12 = "12h"
    D1 = "1d"

    @classmethod
    def parse(cls, text: str) -> Timeframe:
        try:
            return cls(text.strip())
        except ValueError:
            choices = ", ".join(t.value for t in cls)
            raise InvalidInput(
                f"timeframe {text!r} is not supported; use one of {choices}", field="timeframe"
            ) from None

    @property
    def ms(self) -> int:
        return _TIMEFRAME_MS[self]

    @property
    def duration(self) -> timedelta:
        return timedelta(milliseconds=self.ms)

    @property
    def polars_every(self) -> str:
        """The interval string polars uses for this width ("1m" -> "1m", "1d" -> "1d")."""
        return self.value

    def floor(self, moment: datetime) -> datetime:
        """The open time of the bar that contains ``moment``."""
        return from_ms(self.floor_ms(to_ms(moment)))

    def floor_ms(self, ms: int) -> int:
        return ms - ms % self.ms

    def is_aligned(self, moment: datetime) -> bool:
        return to_ms(moment) % self.ms == 0

    def divides(self, other: Timeframe) -> bool:
        """True when bars of ``other`` are made of whole bars of this timeframe."""
        return other.ms % self.ms == 0

    def __lt__(self, other: object) -> bool:
        """Timeframes order by width (1m < 5m < 1h < 1d), so series keys sort naturally."""
        if not isinstance(other, Timeframe):
            return NotImplemented
        return self.ms < other.ms

    def __str__(self) -> str:
        return self.value


_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}
_TIMEFRAME_MS = {tf: int(tf.value[:-1]) * _UNIT_MS[tf.value[-1]] for tf in Timeframe}


class SeriesKey(msgspec.Struct, frozen=True, order=True):
    """The identity of one bar series: (exchange, symbol, timeframe)."""

    exchange: Exchange
    symbol: Symbol
    timeframe: Timeframe

    @classmethod
    def of(cls, exchange: str, symbol: str, timeframe: str) -> SeriesKey:
        return cls(Exchange.parse(exchange), Symbol.parse(symbol), Timeframe.parse(timeframe))

    @classmethod
    def parse(cls, text: str) -> SeriesKey:
        """Parse "binance:BTC/USDC:1m"."""
        parts = text.strip().split(":")
        if len(parts) != 3:
            raise InvalidInput(
                f"series {text!r} is not EXCHANGE:BASE/QUOTE:TIMEFRAME;"
                " write it like 'binance:BTC/USDC:1m'",
                field="series",
            )
        return cls.of(*parts)

    def __str__(self) -> str:
        return f"{self.exchange}:{self.symbol}:{self.timeframe}"
