"""What a live stream is asked to do: one ``[[streams]]`` entry of the config, or the body of
``POST /api/v1/streams``.

A stream reads one venue's public WebSocket for some symbols on one or more channels:
``trades`` (stored in the trade store; with ``bars`` also 1m/5m/... bars built from them for
closed intervals), ``candles`` (the venue's own candles, closed ones only, into the bar
store; Binance ``kline``, Kraken v2 ``ohlc``: Coinbase Exchange has no candle channel),
``quotes`` and ``book``. Writes are batched (``batch_size`` items or ``flush_ms``); the queue
between the socket and the store holds ``queue_size`` items; ``backpressure`` says what
happens when it is full: ``block`` (the reader waits; nothing is lost) or ``drop`` (only
book depth updates may be dropped, with a counter: trades and candles never are). A stream
that fails (its connection could not be kept up) is started again after
``restart_delay_s`` (doubling) at most ``max_restarts`` times when ``restart`` is
``on-failure``; a refused subscription is not retried.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import msgspec
import polars as pl

from arbx.domain.errors import InvalidInput
from arbx.domain.market.bars import TS_DTYPE
from arbx.domain.market.model import SeriesKey, Symbol, Timeframe

CHANNELS = ("trades", "candles", "quotes", "book")
STREAM_VENUES = ("binance", "coinbase", "kraken")
# the candle widths each venue's WebSocket serves (Binance kline_<i>, Kraken v2 ohlc interval)
CANDLE_TIMEFRAMES: dict[str, tuple[str, ...]] = {
    "binance": ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d"),
    "kraken": ("1m", "5m", "15m", "30m", "1h", "4h", "1d"),
}
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


class StreamSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One stream (see the module docstring); ``name`` is its id (default: made of the
    venue, channels and symbols, e.g. ``binance-trades-btc-usdc``)."""

    venue: str
    symbols: list[str]
    channels: list[str] = msgspec.field(default_factory=lambda: ["trades"])
    name: str | None = None
    url: str | None = None
    batch_size: int = 500
    flush_ms: float = 1000.0
    queue_size: int = 10_000
    backpressure: Literal["block", "drop"] = "block"
    # candles channel: the candle widths to subscribe to
    intervals: list[str] = msgspec.field(default_factory=lambda: ["1m"])
    # trades channel: bars built from the trades, for closed intervals only (e.g. ["1m"])
    bars: list[str] = msgspec.field(default_factory=list)
    restart: Literal["on-failure", "never"] = "on-failure"
    max_restarts: int = 5
    restart_delay_s: float = 5.0
    idle_timeout_s: float = 60.0
    max_attempts: int = 10

    def __post_init__(self) -> None:
        problem = self.problem()
        if problem is not None:
            raise ValueError(problem)

    def problem(self) -> str | None:
        """What is wrong with this spec (None when it is valid)."""
        if self.venue not in STREAM_VENUES:
            return f"venue {self.venue!r} has no streams; use one of {', '.join(STREAM_VENUES)}"
        if not self.symbols:
            return "symbols: give at least one, e.g. ['BTC/USDC']"
        for text in self.symbols:
            try:
                Symbol.parse(text)
            except InvalidInput as exc:
                return f"symbols: {exc.message}"
        if not self.channels:
            return f"channels: give at least one of {', '.join(CHANNELS)}"
        for channel in self.channels:
            if channel not in CHANNELS:
                return f"channel {channel!r} does not exist; use one of {', '.join(CHANNELS)}"
        if len(set(self.channels)) != len(self.channels):
            return "channels: each channel once"
        if self.name is not None and not _NAME.fullmatch(self.name):
            return f"name {self.name!r}: use 1-64 lowercase letters, digits, '_' or '-'"
        if self.url is not None and not self.url.startswith(("ws://", "wss://")):
            return f"url {self.url!r} must start with ws:// or wss://"
        if self.batch_size < 1 or self.queue_size < 1 or not self.flush_ms > 0:
            return "batch_size and queue_size must be >= 1 and flush_ms > 0"
        if self.backpressure == "drop" and set(self.channels) - {"book"}:
            return (
                "backpressure 'drop' applies to book depth updates only (trades and candles"
                " are never dropped): use 'block', or a stream with channels = ['book']"
            )
        if "candles" in self.channels:
            served = CANDLE_TIMEFRAMES.get(self.venue)
            if served is None:
                return (
                    f"{self.venue} has no candle channel on its WebSocket (Coinbase Exchange"
                    " serves candles over REST only): use channels = ['trades'] with"
                    " bars = ['1m'] to build bars from its trades"
                )
            if not self.intervals:
                return "intervals: give at least one candle width, e.g. ['1m']"
            for interval in self.intervals:
                if interval not in served:
                    return (
                        f"interval {interval!r} is not a {self.venue} WebSocket candle width;"
                        f" use one of {', '.join(served)}"
                    )
        for width in self.bars:
            try:
                Timeframe.parse(width)
            except InvalidInput as exc:
                return f"bars: {exc.message}"
        if self.bars and "trades" not in self.channels:
            return "bars are built from trades: add 'trades' to channels"
        if "candles" in self.channels and set(self.bars) & set(self.intervals):
            both = sorted(set(self.bars) & set(self.intervals))
            return (
                f"bars {both} would be written both from candles and from trades: keep them"
                " in intervals or in bars, not both"
            )
        if self.max_restarts < 0 or self.restart_delay_s < 0:
            return "max_restarts and restart_delay_s must be >= 0"
        if not self.idle_timeout_s > 0 or self.max_attempts < 1:
            return "idle_timeout_s must be > 0 and max_attempts >= 1"
        return None

    @property
    def id(self) -> str:
        if self.name:
            return self.name
        parts = [self.venue, *self.channels, *(s.replace("/", "-") for s in self.symbols)]
        return re.sub(r"[^a-z0-9_-]+", "-", "-".join(parts).lower())[:64].strip("-")

    @property
    def parsed_symbols(self) -> list[Symbol]:
        return [Symbol.parse(s) for s in self.symbols]

    @property
    def bar_timeframes(self) -> list[Timeframe]:
        return [Timeframe.parse(w) for w in self.bars]

    @property
    def candle_timeframes(self) -> list[Timeframe]:
        return [Timeframe.parse(w) for w in self.intervals]


def check_stream_specs(specs: list[StreamSpec]) -> None:
    """Raise ``InvalidInput`` when two streams have the same id."""
    seen: set[str] = set()
    for index, spec in enumerate(specs):
        if spec.id in seen:
            raise InvalidInput(
                f"streams[{index}]: stream id {spec.id!r} appears twice; give one a name",
                field="streams",
            )
        seen.add(spec.id)


@dataclass(frozen=True, slots=True)
class Candle:
    """One closed candle a venue's WebSocket sent (``ts_ms``: its open, epoch ms)."""

    key: SeriesKey
    ts_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


def candles_frame(candles: list[Candle]) -> pl.DataFrame:
    """The candles (of one series) as a bar frame, sorted, one row per open time (the last
    one sent wins)."""
    latest = {c.ts_ms: c for c in candles}
    rows = [latest[ts] for ts in sorted(latest)]
    return pl.DataFrame(
        {
            "ts": [c.ts_ms for c in rows],
            "open": [c.open for c in rows],
            "high": [c.high for c in rows],
            "low": [c.low for c in rows],
            "close": [c.close for c in rows],
            "volume": [c.volume for c in rows],
        },
        schema={
            "ts": pl.Int64,
            **{k: pl.Float64 for k in ("open", "high", "low", "close", "volume")},
        },
    ).with_columns(pl.col("ts").cast(TS_DTYPE))
