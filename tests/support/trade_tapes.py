"""Trade history on the fake venues: /api/v3/aggTrades (Binance, Binance.US), Coinbase
Exchange /products/{id}/trades and Kraken /0/public/Trades, in the venues' real shapes.

Row shapes follow the captured payloads in tests/fixtures/exchanges/ (Binance aggTrades docs
example; Coinbase and Kraken real answers captured by ccxt). Paging follows the venues' docs:
Binance ``startTime``/``endTime`` (under an hour apart) or ``fromId``, at most 1000 rows;
Coinbase newest first, ``after`` (older than that trade id) and a ``CB-AFTER`` header, at most
1000 rows; Kraken ``since`` (epoch ns, exclusive) and ``last``, at most 1000 rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
from aiohttp import web

from arbx.domain.market import Symbol

if TYPE_CHECKING:
    from tests.support.exchanges import FakeVenue

TAPE_START_US = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000
TAPE_TRADES = 20_000  # about 2.3 days at one trade every ~10 s


@dataclass
class TradeTape:
    """One market's trades, oldest first: ids 1..n (counted as the venues count them)."""

    ids: np.ndarray
    ts_us: np.ndarray
    price: np.ndarray
    qty: np.ndarray
    buy: np.ndarray  # the taker bought

    @classmethod
    def generate(cls, seed: int, n: int = TAPE_TRADES, price: float = 40_000.0) -> TradeTape:
        rng = np.random.default_rng(seed)
        # distinct times, multiples of 100 µs (Kraken prints seconds with 4 decimals)
        gaps = rng.integers(1, 200_000, n) * 100
        ts = TAPE_START_US + np.cumsum(gaps)
        prices = np.round(price * np.exp(np.cumsum(rng.normal(0, 2e-4, n))), 2)
        qty = np.round(rng.exponential(0.05, n) + 1e-5, 8)
        return cls(np.arange(1, n + 1), ts, prices, qty, rng.random(n) < 0.5)

    def rows(self, lo: int, hi: int) -> range:
        return range(max(0, lo), min(hi, self.ids.size))


def tape(venue: FakeVenue, symbol: Symbol) -> TradeTape | None:
    """The venue's trades of ``symbol`` (every listed market has some), made once."""
    if symbol not in venue.markets:
        return None
    key = (venue.name, symbol)
    cached = _TAPES.get(key)
    if cached is None:
        seed = sum(map(ord, f"{venue.name}:{symbol}"))
        cached = _TAPES[key] = TradeTape.generate(seed)
    return cached


_TAPES: dict[tuple[str, Symbol], TradeTape] = {}


def _json(
    payload: object, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json.dumps(payload, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _iso(ts_us: int) -> str:
    moment = datetime.fromtimestamp(ts_us // 1_000_000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ts_us % 1_000_000:06d}Z"


def add_binance_trades(app: web.Application, venue: FakeVenue) -> None:
    by_name = {f"{s.base}{s.quote}": s for s in venue.markets}

    async def agg_trades(request: web.Request) -> web.Response:
        q = request.query
        symbol = by_name.get(q.get("symbol", ""))
        found = tape(venue, symbol) if symbol is not None else None
        if found is None:
            return _json({"code": -1121, "msg": "Invalid symbol."}, status=400)
        limit = min(int(q.get("limit", "500")), 1000)
        ms = found.ts_us // 1000
        if "fromId" in q:
            first = int(q["fromId"]) - 1
            picked = found.rows(first, first + limit)
        elif "startTime" in q and "endTime" in q:
            start, end = int(q["startTime"]), int(q["endTime"])
            if end - start >= 3_600_000:
                return _json(
                    {"code": -1127, "msg": "More than 1 hours between startTime and endTime."},
                    status=400,
                )
            lo, hi = np.searchsorted(ms, [start, end + 1])
            picked = found.rows(int(lo), min(int(hi), int(lo) + limit))
        else:
            picked = found.rows(found.ids.size - limit, found.ids.size)
        return _json(
            [
                {
                    "a": int(found.ids[i]),
                    "p": f"{found.price[i]:.8f}",
                    "q": f"{found.qty[i]:.8f}",
                    "f": int(found.ids[i]) * 3,
                    "l": int(found.ids[i]) * 3 + 2,
                    "T": int(ms[i]),
                    "m": not bool(found.buy[i]),
                    "M": True,
                }
                for i in picked
            ]
        )

    app.router.add_get("/api/v3/aggTrades", agg_trades)


def add_coinbase_trades(app: web.Application, venue: FakeVenue) -> None:
    async def trades(request: web.Request) -> web.Response:
        product = request.match_info["product"]
        symbol = next((s for s in venue.markets if f"{s.base}-{s.quote}" == product), None)
        found = tape(venue, symbol) if symbol is not None else None
        if found is None:
            return _json({"message": "NotFound"}, status=404)
        limit = min(int(request.query.get("limit", "100")), 1000)
        after = int(request.query.get("after", str(found.ids.size + 1)))
        newest = min(after - 1, found.ids.size)  # trade ids below ``after``
        picked = list(reversed(found.rows(newest - limit, newest)))
        headers = {}
        if picked:
            headers = {
                "CB-BEFORE": str(int(found.ids[picked[0]])),
                "CB-AFTER": str(int(found.ids[picked[-1]])),
            }
        return _json(
            [
                {
                    "trade_id": int(found.ids[i]),
                    "side": "sell" if found.buy[i] else "buy",  # the maker's side
                    "size": f"{found.qty[i]:.8f}",
                    "price": f"{found.price[i]:.8f}",
                    "time": _iso(int(found.ts_us[i])),
                }
                for i in picked
            ],
            headers=headers,
        )

    app.router.add_get("/products/{product}/trades", trades)


def add_kraken_trades(app: web.Application, venue: FakeVenue) -> None:
    from tests.support.exchanges import kraken_names

    async def trades(request: web.Request) -> web.Response:
        pair = request.query.get("pair", "")
        symbol = next((s for s in venue.markets if pair.upper() == kraken_names(s)[0]), None)
        found = tape(venue, symbol) if symbol is not None else None
        if found is None:
            return _json({"error": ["EQuery:Unknown asset pair"]})
        assert symbol is not None
        count = min(int(request.query.get("count", "1000")), 1000)
        since = int(request.query.get("since", "0"))
        ns = found.ts_us * 1000
        lo = int(np.searchsorted(ns, since, side="right"))
        picked = found.rows(lo, lo + count)
        last = str(int(ns[picked[-1]])) if picked else str(since)
        rows = [
            [
                f"{found.price[i]:.5f}",
                f"{found.qty[i]:.8f}",
                round(int(found.ts_us[i]) / 1_000_000, 4),
                "b" if found.buy[i] else "s",
                "m",
                "",
                int(found.ids[i]),
            ]
            for i in picked
        ]
        return _json({"error": [], "result": {kraken_names(symbol)[2]: rows, "last": last}})

    app.router.add_get("/0/public/Trades", trades)
