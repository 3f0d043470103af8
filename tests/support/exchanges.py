"""Fake Binance, Coinbase Exchange and Kraken servers on 127.0.0.1 (pytest plugin).

Each fake speaks its venue's real wire format (rows, envelopes, error bodies, headers)
and serves candles page by page from either a small generated series (always available)
or the real 1m candles of ../shared/data/svb_2023-03 (``shared_fake_venues``). Faults are
injected per request: status + body + Retry-After, slow answers, truncated or corrupted
bodies. Error bodies that exist as captured samples come from tests/fixtures/exchanges/.
Formats not captured there (markets lists, time, Coinbase/Kraken throttling) follow the
venues' public API documentation.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import aiohttp
import numpy as np
import polars as pl
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from arbx.adapters.exchanges.binance.client import BinanceClient
from arbx.adapters.exchanges.coinbase.client import CoinbaseClient
from arbx.adapters.exchanges.common.http import RetryPolicy
from arbx.adapters.exchanges.common.venue import VenueClient
from arbx.adapters.exchanges.kraken.client import KrakenClient
from arbx.domain.market import Symbol, from_ms, to_ms
from arbx.entrypoints.settings import ExchangesSettings
from tests.builders import make_bars
from tests.support.trade_tapes import add_binance_trades, add_coinbase_trades, add_kraken_trades

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "exchanges"
GENERATED_START = datetime(2024, 1, 1, tzinfo=UTC)
GENERATED_MINUTES = 3 * 1440
SVB_START = datetime(2023, 3, 1, tzinfo=UTC)
SVB_END = datetime(2023, 3, 22, tzinfo=UTC)


def fixture_bytes(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()


# -- time for the clients under test ------------------------------------------------------


class FakeTimer:
    """Wall clock + monotonic clock + sleep that never waits: sleeping moves time forward."""

    def __init__(self, now: datetime) -> None:
        self._now = now
        self._mono = 1000.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._mono += seconds
        self._now = from_ms(to_ms(self._now) + round(seconds * 1000))

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


# -- faults ---------------------------------------------------------------------------------


@dataclass
class Fault:
    """What to do to one request: answer ``status``/``body``/``headers`` instead, wait
    ``delay`` seconds first, or pass the real answer through ``transform``."""

    status: int | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    transform: Callable[[bytes], bytes] | None = None
    path: str | None = None  # only requests whose path contains this

    @classmethod
    def http(
        cls, status: int, body: bytes | str = b"", *, path: str | None = None, **headers: str
    ) -> Fault:
        raw = body.encode() if isinstance(body, str) else body
        return cls(
            status=status,
            body=raw,
            headers={k.replace("_", "-"): v for k, v in headers.items()},
            path=path,
        )

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        return cls(delay=seconds)

    @classmethod
    def truncated(cls) -> Fault:
        return cls(transform=lambda body: body[: max(1, len(body) // 2)])

    @classmethod
    def corrupt(cls, old: bytes, new: bytes) -> Fault:
        """Replace the first ``old`` in the real body by ``new`` (a malformed field)."""
        return cls(transform=lambda body: body.replace(old, new, 1))


# -- the venues' data -------------------------------------------------------------------------


@dataclass
class Candles:
    """1m candles of one market (ts ascending, ms) from which any interval is aggregated."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> Candles:
        ts = frame.get_column("ts")
        ts_ms = ts.dt.epoch("ms") if ts.dtype != pl.Int64 else ts
        return cls(
            ts_ms.to_numpy().astype(np.int64),
            *(
                frame.get_column(c).to_numpy().astype(np.float64)
                for c in ("open", "high", "low", "close", "volume")
            ),
        )

    def aggregate(self, interval_ms: int) -> Candles:
        if interval_ms == 60_000:
            return self
        bucket = self.ts // interval_ms * interval_ms
        starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
        ends = np.r_[starts[1:], bucket.size]
        return Candles(
            bucket[starts],
            self.open[starts],
            np.maximum.reduceat(self.high, starts),
            np.minimum.reduceat(self.low, starts),
            self.close[ends - 1],
            np.add.reduceat(self.volume, starts),
        )

    def window(self, lo: int, hi: int) -> Candles:
        """Rows with lo <= ts < hi."""
        i, j = np.searchsorted(self.ts, [lo, hi])
        return Candles(
            *(a[i:j] for a in (self.ts, self.open, self.high, self.low, self.close, self.volume))
        )


@dataclass
class FakeVenue:
    """One fake venue: its markets' candles, its clock, its fault queue, what it was asked."""

    name: str
    markets: dict[Symbol, Candles]
    now: datetime
    faults: deque[Fault] = field(default_factory=deque)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    url: str = ""
    weight_used: int = 0
    # Binance: the request weight allowed per calendar minute of ``now`` (None: unlimited);
    # a request past it is answered 429 with Retry-After and counted in ``weight_rejections``
    weight_limit: int | None = None
    weight_rejections: int = 0
    weight_minute: int | None = None
    # rows one page serves at most, below the venue's documented limit (None: the limit)
    page_cap: int | None = None
    # seconds after an interval closes before the venue serves its bar (late publication)
    publish_delay: float = 0.0
    # Kraken: serve only the latest this many intervals, whatever ``since`` asks (the live
    # venue keeps 720); None: page from ``since`` like a mirror
    serve_latest: int | None = None

    def published_until(self, step: int) -> int:
        """End (exclusive, ms) of the closed intervals the venue serves bars for by now."""
        return (self.now_ms - round(self.publish_delay * 1000)) // step * step

    def inject(self, fault: Fault, times: int = 1) -> None:
        for _ in range(times):
            self.faults.append(fault)

    def count(self, fragment: str) -> int:
        return sum(1 for path, _ in self.requests if fragment in path)

    @property
    def now_ms(self) -> int:
        return to_ms(self.now)

    def take_fault(self, path: str) -> Fault | None:
        for i, fault in enumerate(self.faults):
            if fault.path is None or fault.path in path:
                del self.faults[i]
                return fault
        return None


def _json(
    payload: object, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json.dumps(payload, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _fault_middleware(venue: FakeVenue) -> Callable[..., object]:
    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[..., object]
    ) -> web.StreamResponse:
        venue.requests.append((request.path, dict(request.query)))
        fault = venue.take_fault(request.path)
        date = {"Date": format_datetime(venue.now, usegmt=True)}  # the venue's clock
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.status is not None:
            return web.Response(
                body=fault.body,
                status=fault.status,
                headers={**date, **fault.headers},
                content_type="application/json",
            )
        response = await handler(request)  # type: ignore[operator]
        if fault is not None and fault.transform is not None and isinstance(response, web.Response):
            body = fault.transform(bytes(response.body))  # type: ignore[arg-type]
            return web.Response(
                body=body, status=response.status, headers=date, content_type="application/json"
            )
        response.headers.update(date)  # type: ignore[attr-defined]
        return response  # type: ignore[no-any-return]

    return middleware


def _fmt(value: float) -> str:
    return f"{value:.8f}"


def forming_partial(page: Candles, step: int, venue: FakeVenue) -> Candles:
    """What a venue that serves its open interval (Binance, Coinbase) sends: bars published
    by now as they are, the interval still open as it stands so far (close = open, half the
    volume), and nothing for intervals closed but not yet published (``publish_delay``)."""
    published = venue.published_until(step)
    forming = venue.now_ms // step * step
    keep = (page.ts < published) | (page.ts == forming)
    kept = Candles(
        *(a[keep] for a in (page.ts, page.open, page.high, page.low, page.close, page.volume))
    )
    open_now = kept.ts == forming
    if open_now.any():
        kept.close = np.where(open_now, kept.open, kept.close)
        kept.high = np.where(open_now, np.maximum(kept.open, kept.low), kept.high)
        kept.low = np.where(open_now, np.minimum(kept.open, kept.low), kept.low)
        kept.volume = np.where(open_now, kept.volume / 2, kept.volume)
    return kept


# -- Binance ----------------------------------------------------------------------------------

BINANCE_INTERVALS = {
    "1m": 1,
    "3m": 3,
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "1h": 60,
    "2h": 120,
    "4h": 240,
    "6h": 360,
    "8h": 480,
    "12h": 720,
    "1d": 1440,
}
BINANCE_WEIGHTS = {
    "/api/v3/klines": 2,
    "/api/v3/exchangeInfo": 20,
    "/api/v3/time": 1,
    "/api/v3/aggTrades": 4,
}


def binance_app(venue: FakeVenue) -> web.Application:
    by_name = {f"{s.base}{s.quote}": s for s in venue.markets}

    async def klines(request: web.Request) -> web.Response:
        q = request.query
        symbol = by_name.get(q.get("symbol", ""))
        if symbol is None:
            return web.Response(
                body=fixture_bytes("binance/rest_error_-1121_invalid_symbol.json"),
                status=400,
                content_type="application/json",
            )
        minutes = BINANCE_INTERVALS.get(q.get("interval", ""))
        if minutes is None:
            return _json({"code": -1120, "msg": "Invalid interval."}, 400)
        limit = min(int(q.get("limit", "500")), 1000, venue.page_cap or 1000)
        step = minutes * 60_000
        candles = venue.markets[symbol].aggregate(step)
        lo = int(q.get("startTime", "0"))
        hi = min(int(q.get("endTime", str(venue.now_ms))), venue.now_ms) + 1
        page = forming_partial(candles.window(lo, hi), step, venue)
        rows = [
            [
                int(t),
                _fmt(o),
                _fmt(h),
                _fmt(lw),
                _fmt(c),
                _fmt(v),
                int(t) + step - 1,
                _fmt(v * c),
                1,
                _fmt(v / 2),
                _fmt(v * c / 2),
                "0",
            ]
            for t, o, h, lw, c, v in zip(
                page.ts[:limit],
                page.open[:limit],
                page.high[:limit],
                page.low[:limit],
                page.close[:limit],
                page.volume[:limit],
                strict=True,
            )
        ]
        return _json(rows)

    async def exchange_info(request: web.Request) -> web.Response:
        symbols = [
            {
                "symbol": f"{s.base}{s.quote}",
                "status": "TRADING",
                "baseAsset": s.base,
                "baseAssetPrecision": 8,
                "quoteAsset": s.quote,
                "quotePrecision": 8,
                "orderTypes": ["LIMIT", "MARKET"],
                "filters": [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": "0.01000000",
                        "maxPrice": "1000000.00000000",
                        "tickSize": "0.01000000",
                    },
                    {
                        "filterType": "LOT_SIZE",
                        "minQty": "0.00001000",
                        "maxQty": "9000.00000000",
                        "stepSize": "0.00001000",
                    },
                    {
                        "filterType": "NOTIONAL",
                        "minNotional": "5.00000000",
                        "applyMinToMarket": True,
                    },
                ],
            }
            for s in venue.markets
        ]
        return _json(
            {
                "timezone": "UTC",
                "serverTime": venue.now_ms,
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        "interval": "MINUTE",
                        "intervalNum": 1,
                        "limit": 6000,
                    }
                ],
                "exchangeFilters": [],
                "symbols": symbols,
            }
        )

    async def server_time(request: web.Request) -> web.Response:
        return _json({"serverTime": venue.now_ms})

    @web.middleware
    async def weight(request: web.Request, handler: Callable[..., object]) -> web.StreamResponse:
        minute = venue.now_ms // 60_000
        if venue.weight_minute is not None and minute != venue.weight_minute:
            venue.weight_used = 0  # Binance resets the count at each calendar minute
        venue.weight_minute = minute
        venue.weight_used += BINANCE_WEIGHTS.get(request.path, 1)
        if venue.weight_limit is not None and venue.weight_used > venue.weight_limit:
            venue.weight_rejections += 1
            retry_after = 60 - (venue.now_ms // 1000) % 60
            return web.Response(
                body=b'{"code":-1003,"msg":"Too much request weight used; current limit is'
                b' 6000 request weight per 1 MINUTE."}',
                status=429,
                content_type="application/json",
                headers={
                    "Retry-After": str(retry_after),
                    "X-MBX-USED-WEIGHT-1M": str(venue.weight_used),
                },
            )
        response: web.StreamResponse = await handler(request)  # type: ignore[operator]
        response.headers["X-MBX-USED-WEIGHT-1M"] = str(venue.weight_used)
        return response

    app = web.Application(middlewares=[weight, _fault_middleware(venue)])
    app.router.add_get("/api/v3/klines", klines)
    app.router.add_get("/api/v3/exchangeInfo", exchange_info)
    app.router.add_get("/api/v3/time", server_time)
    add_binance_trades(app, venue)
    return app


# -- Coinbase Exchange ------------------------------------------------------------------------

COINBASE_GRANULARITIES = {60, 300, 900, 3600, 21600, 86400}


def _iso_ms(text: str) -> int:
    return to_ms(datetime.fromisoformat(text.replace("Z", "+00:00")))


def coinbase_app(venue: FakeVenue) -> web.Application:
    by_id = {f"{s.base}-{s.quote}": s for s in venue.markets}

    async def candles(request: web.Request) -> web.Response:
        symbol = by_id.get(request.match_info["product"])
        if symbol is None:
            return _json({"message": "NotFound"}, 404)
        q = request.query
        granularity = int(q.get("granularity", "0") or 0)
        if granularity not in COINBASE_GRANULARITIES:
            return _json({"message": "Unsupported granularity"}, 400)
        step = granularity * 1000
        end = _iso_ms(q["end"]) if "end" in q else venue.now_ms
        start = _iso_ms(q["start"]) if "start" in q else end - 299 * step
        if (end - start) // step + 1 > 300:
            return _json(
                {
                    "message": "granularity too small for the requested time range. Count"
                    " of aggregations requested exceeds 300"
                },
                400,
            )
        page = venue.markets[symbol].aggregate(step).window(start, min(end, venue.now_ms) + 1)
        page = forming_partial(page, step, venue)
        rows = [
            [int(t) // 1000, lw, h, o, c, v]
            for t, o, h, lw, c, v in zip(
                page.ts, page.open, page.high, page.low, page.close, page.volume, strict=True
            )
        ]
        rows.reverse()  # newest first, as Coinbase sends them
        return _json(rows)

    async def products(request: web.Request) -> web.Response:
        return _json(
            [
                {
                    "id": f"{s.base}-{s.quote}",
                    "base_currency": s.base,
                    "quote_currency": s.quote,
                    "quote_increment": "0.01",
                    "base_increment": "0.00000001",
                    "display_name": f"{s.base}/{s.quote}",
                    "min_market_funds": "1",
                    "margin_enabled": False,
                    "post_only": False,
                    "limit_only": False,
                    "cancel_only": False,
                    "status": "online",
                    "status_message": "",
                    "trading_disabled": False,
                    "fx_stablecoin": False,
                    "auction_mode": False,
                }
                for s in venue.markets
            ]
        )

    async def server_time(request: web.Request) -> web.Response:
        return _json(
            {"iso": venue.now.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "epoch": venue.now_ms / 1000}
        )

    app = web.Application(middlewares=[_fault_middleware(venue)])
    app.router.add_get("/products/{product}/candles", candles)
    app.router.add_get("/products", products)
    app.router.add_get("/time", server_time)
    add_coinbase_trades(app, venue)
    return app


# -- Kraken ------------------------------------------------------------------------------------

KRAKEN_INTERVALS = {1, 5, 15, 30, 60, 240, 1440, 10080, 21600}
KRAKEN_ASSET = {"BTC": "XBT", "DOGE": "XDG"}
KRAKEN_LEGACY = {"XBT": "XXBT", "USD": "ZUSD", "EUR": "ZEUR"}


def kraken_names(symbol: Symbol) -> tuple[str, str, str]:
    """(altname, wsname, result key) the way Kraken names a pair ("XBTUSD", "XBT/USD",
    "XXBTZUSD")."""
    base, quote = (
        KRAKEN_ASSET.get(symbol.base, symbol.base),
        KRAKEN_ASSET.get(symbol.quote, symbol.quote),
    )
    altname = f"{base}{quote}"
    if base in KRAKEN_LEGACY and quote in KRAKEN_LEGACY:
        key = KRAKEN_LEGACY[base] + KRAKEN_LEGACY[quote]
    else:
        key = altname
    return altname, f"{base}/{quote}", key


def kraken_app(venue: FakeVenue) -> web.Application:
    by_alt = {kraken_names(s)[0]: s for s in venue.markets}

    def envelope(result: object = None, error: list[str] | None = None) -> web.Response:
        payload: dict[str, object] = {"error": error or []}
        if result is not None:
            payload["result"] = result
        return _json(payload)

    async def ohlc(request: web.Request) -> web.Response:
        q = request.query
        symbol = by_alt.get(q.get("pair", "").upper())
        if symbol is None:
            return envelope(error=["EQuery:Unknown asset pair"])
        minutes = int(q.get("interval", "1") or 1)
        if minutes not in KRAKEN_INTERVALS:
            return envelope(error=["EGeneral:Invalid arguments"])
        step = minutes * 60_000
        now = venue.now_ms
        since = int(q.get("since", "0")) * 1000
        candles = venue.markets[symbol].aggregate(step)
        committed_end = now // step * step  # the current interval is not committed yet
        lo = since + 1
        if venue.serve_latest is not None:
            lo = max(lo, committed_end - venue.serve_latest * step)
        page = candles.window(lo, min(committed_end, venue.published_until(step)))
        cap = min(720, venue.page_cap or 720)
        rows = [
            [int(t) // 1000, _fmt(o), _fmt(h), _fmt(lw), _fmt(c), _fmt((o + c) / 2), _fmt(v), 3]
            for t, o, h, lw, c, v in zip(
                page.ts[:cap],
                page.open[:cap],
                page.high[:cap],
                page.low[:cap],
                page.close[:cap],
                page.volume[:cap],
                strict=True,
            )
        ]
        last = rows[-1][0] if rows else since // 1000
        if page.ts.size <= cap and len(rows) < 720:
            # Reached the present: Kraken always appends the current, unfinished interval.
            current = candles.window(committed_end, committed_end + step)
            price = float(current.close[0]) if current.ts.size else float(candles.close[-1])
            rows.append(
                [
                    committed_end // 1000,
                    _fmt(price),
                    _fmt(price),
                    _fmt(price),
                    _fmt(price),
                    _fmt(price),
                    _fmt(0.0),
                    0,
                ]
            )
        return envelope({kraken_names(symbol)[2]: rows, "last": last})

    async def asset_pairs(request: web.Request) -> web.Response:
        result = {}
        for s in venue.markets:
            altname, wsname, key = kraken_names(s)
            base, quote = wsname.split("/")
            result[key] = {
                "altname": altname,
                "wsname": wsname,
                "aclass_base": "currency",
                "base": KRAKEN_LEGACY.get(base, base),
                "aclass_quote": "currency",
                "quote": KRAKEN_LEGACY.get(quote, quote),
                "lot": "unit",
                "cost_decimals": 5,
                "pair_decimals": 1,
                "lot_decimals": 8,
                "lot_multiplier": 1,
                "ordermin": "0.0001",
                "costmin": "0.5",
                "tick_size": "0.1",
                "status": "online",
            }
        return envelope(result)

    async def server_time(request: web.Request) -> web.Response:
        return envelope(
            {
                "unixtime": venue.now_ms // 1000,
                "rfc1123": venue.now.strftime("%a, %d %b %y %H:%M:%S +0000"),
            }
        )

    app = web.Application(middlewares=[_fault_middleware(venue)])
    app.router.add_get("/0/public/OHLC", ohlc)
    app.router.add_get("/0/public/AssetPairs", asset_pairs)
    app.router.add_get("/0/public/Time", server_time)
    add_kraken_trades(app, venue)
    return app


APPS = {
    "binance": binance_app,
    "binanceus": binance_app,  # api.binance.us speaks the Binance spot API
    "coinbase": coinbase_app,
    "kraken": kraken_app,
}


# -- data sets ---------------------------------------------------------------------------------


def generated_markets() -> dict[str, dict[Symbol, Candles]]:
    """Three days of 1m bars per venue; Coinbase and Kraken skip ~5% of minutes (quiet)."""
    rng = np.random.default_rng(11)
    out: dict[str, dict[Symbol, Candles]] = {}
    for venue, quiet, seed in (("binance", 0.0, 1), ("coinbase", 0.05, 2), ("kraken", 0.05, 3)):
        markets = {}
        for i, text in enumerate(("BTC/USDC", "BTC/USDT", "ETH/USDC")):
            bars = make_bars(
                GENERATED_MINUTES,
                GENERATED_START,
                "1m",
                price=40_000.0 / (i + 1),
                seed=seed * 10 + i,
            )
            if quiet:
                bars = bars.filter(pl.Series(rng.random(bars.height) >= quiet))
            markets[Symbol.parse(text)] = Candles.from_frame(bars)
        out[venue] = markets
    return out


SVB_FILES = {
    "binance": ("binanceus", ("BTC-USDT", "BTC-USDC", "USDC-USDT")),
    "coinbase": ("coinbase", ("BTC-USD", "BTC-USDT", "USDT-USD")),
    "kraken": ("kraken", ("BTC-USD", "BTC-USDT", "BTC-USDC", "USDC-USD", "USDT-USD")),
}


def load_svb(shared_data: Path) -> dict[str, dict[Symbol, Candles]]:
    out: dict[str, dict[Symbol, Candles]] = {}
    for venue, (prefix, pairs) in SVB_FILES.items():
        out[venue] = {}
        for pair in pairs:
            frame = (
                pl.read_csv(shared_data / "svb_2023-03" / f"{prefix}_{pair}_1m.csv")
                .rename({"timestamp": "ts"})
                .with_columns(pl.col("ts").cast(pl.Int64))
            )
            out[venue][Symbol.parse(pair)] = Candles.from_frame(frame)
    return out


# -- fixtures -----------------------------------------------------------------------------------


@dataclass
class FakeExchanges:
    binance: FakeVenue
    coinbase: FakeVenue
    kraken: FakeVenue
    binanceus: FakeVenue

    def __iter__(self) -> Iterator[FakeVenue]:
        return iter((self.binance, self.binanceus, self.coinbase, self.kraken))

    def __getitem__(self, name: str) -> FakeVenue:
        return getattr(self, name)  # type: ignore[no-any-return]


async def start_fake_exchanges(
    data: dict[str, dict[Symbol, Candles]], now: datetime
) -> tuple[FakeExchanges, list[TestServer]]:
    venues, servers = {}, []
    for name, build in APPS.items():
        venue = FakeVenue(name, data[name if name in data else "binance"], now)
        server = TestServer(build(venue), host="127.0.0.1", port=None)
        await server.start_server()
        venue.url = str(server.make_url("")).rstrip("/")
        venues[name] = venue
        servers.append(server)
    return FakeExchanges(**venues), servers


@pytest.fixture(scope="session")
def generated_venue_data() -> dict[str, dict[Symbol, Candles]]:
    return generated_markets()


@pytest.fixture(scope="session")
def svb_venue_data(shared_data: Path) -> dict[str, dict[Symbol, Candles]]:
    return load_svb(shared_data)


@pytest.fixture
async def fake_venues(
    generated_venue_data: dict[str, dict[Symbol, Candles]],
) -> AsyncIterator[FakeExchanges]:
    """The three fake venues over the generated series; their clock stands 30 s after it."""
    now = from_ms(to_ms(GENERATED_START) + GENERATED_MINUTES * 60_000 + 30_000)
    venues, servers = await start_fake_exchanges(generated_venue_data, now)
    yield venues
    for server in servers:
        await server.close()


@pytest.fixture
async def shared_fake_venues(
    svb_venue_data: dict[str, dict[Symbol, Candles]],
) -> AsyncIterator[FakeExchanges]:
    """The three fake venues over the real svb_2023-03 candles (needs ../shared/data)."""
    venues, servers = await start_fake_exchanges(svb_venue_data, from_ms(to_ms(SVB_END) + 30_000))
    yield venues
    for server in servers:
        await server.close()


@pytest.fixture
async def exchange_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


CLIENTS: dict[str, type[BinanceClient] | type[CoinbaseClient] | type[KrakenClient]] = {
    "binance": BinanceClient,
    "binanceus": BinanceClient,
    "coinbase": CoinbaseClient,
    "kraken": KrakenClient,
}
TEST_RETRY = RetryPolicy(
    attempts=4, base_delay=0.5, max_delay=8.0, max_retry_after=60.0, timeout=2.0
)


def make_client(
    venue: FakeVenue,
    session: aiohttp.ClientSession,
    timer: FakeTimer,
    *,
    retry: RetryPolicy = TEST_RETRY,
    **options: float,
) -> VenueClient:
    """A real venue client pointed at a fake venue, on the fake timer (never really waits),
    with the venue's configured limits (the settings schema's defaults) unless ``options``
    say otherwise."""
    cls = CLIENTS[venue.name]
    return cls(
        session,
        **{**venue_limits(venue.name), **options},
        base_url=venue.url,
        timer=timer,
        retry=retry,
        rng=random.Random(0),
        **({"venue": venue.name} if venue.name == "binanceus" else {}),
    )  # type: ignore[arg-type]


def venue_limits(name: str) -> dict[str, float]:
    """The rate limit and circuit breaker a venue's client gets from the default settings."""
    configured = getattr(ExchangesSettings(), name)
    limits = (
        {"weight_per_minute": configured.weight_per_minute}
        if name in ("binance", "binanceus")
        else {"requests_per_second": configured.requests_per_second, "burst": configured.burst}
    )
    return {
        **limits,
        "breaker_threshold": configured.breaker_threshold,
        "breaker_cooldown": configured.breaker_cooldown_s,
    }


@pytest.fixture
def fake_timer(fake_venues: FakeExchanges) -> FakeTimer:
    """A client-side timer whose wall clock agrees with the generated venues' clock."""
    return FakeTimer(fake_venues.binance.now)
