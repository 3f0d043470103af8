"""Backfill one month of 1m bars for three venues from local fake venues into the local store.

    .venv/bin/python bench/ingest.py [--days 30] [--store parquet|memory] [--shared]

The fake Binance, Coinbase and Kraken servers (tests/support/exchanges.py: the venues' real
wire formats, page sizes 1000/300/720) run in a CHILD process, so the figures below are the
client's own work: HTTP round trips on loopback, decoding, validation and storage. The
venues' rate limits are lifted (no artificial delay); what the real limits would cost is
printed separately. ``--shared`` serves the real svb_2023-03 candles (21 days) instead of a
generated month (Coinbase/Kraken skip ~5% of minutes, as quiet minutes).

Printed per venue and for the three venues at once: bars/s end to end, and the share of
the time spent in HTTP (request to last byte), decode (msgspec + building the frame),
validation (the data-quality ingest rules) and storage (upsert + gap records).
Reference measured in the same run: fetching the same pages' raw bytes with a bare aiohttp
session (no decode, no limits, no storage), as bars/s and as a ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests.support.exchanges: the fake venues and their data

from arbx.adapters.exchanges.binance.client import BinanceClient  # noqa: E402
from arbx.adapters.exchanges.coinbase.client import CoinbaseClient  # noqa: E402
from arbx.adapters.exchanges.common.http import RetryPolicy  # noqa: E402
from arbx.adapters.exchanges.common.timing import SystemTimer  # noqa: E402
from arbx.adapters.exchanges.common.venue import VenueClient  # noqa: E402
from arbx.adapters.exchanges.kraken.client import KrakenClient  # noqa: E402
from arbx.adapters.memory.bar_store import MemoryBarStore  # noqa: E402
from arbx.adapters.memory.quality_store import MemoryQualityStore  # noqa: E402
from arbx.adapters.parquet.bar_store import ParquetBarStore  # noqa: E402
from arbx.adapters.parquet.cache import read_cache  # noqa: E402
from arbx.app.ensure_history import EnsureHistory, EnsureHistoryReport  # noqa: E402
from arbx.domain.market import SeriesKey, TimeSpan  # noqa: E402
from arbx.entrypoints.settings import ExchangesSettings, StorageSettings  # noqa: E402
from arbx.ports.bar_store import BarStore  # noqa: E402

VENUES = ("binance", "coinbase", "kraken")
SYMBOL = {"binance": "BTC/USDC", "coinbase": "BTC/USD", "kraken": "BTC/USD"}
REAL_LIMITS = {  # (requests per second the venue allows for candles, rows per page)
    "binance": (6000 / 60 / 2, 1000),  # 6000 weight/min, klines weight 2
    "coinbase": (10.0, 300),
    "kraken": (1.0, 720),
}


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


# -- the fake venues, in a child process ----------------------------------------------------


def _serve(conn: Any, days: int, shared: bool) -> None:
    from tests.support import exchanges as fakes

    async def main() -> None:
        if shared:
            data = fakes.load_svb(REPO.parent / "shared" / "data")
            start, now = fakes.SVB_START, fakes.SVB_END + timedelta(seconds=30)
        else:
            data = _generated(days)
            start = fakes.GENERATED_START
            now = start + timedelta(days=days, seconds=30)
        venues, servers = await fakes.start_fake_exchanges(data, now)
        conn.send({v.name: v.url for v in venues} | {"start": start, "now": now})
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop
        for server in servers:
            await server.close()

    asyncio.run(main())


def _generated(days: int) -> dict[str, Any]:
    import numpy as np
    import polars as pl
    from tests.builders import make_bars
    from tests.support.exchanges import GENERATED_START, Candles

    from arbx.domain.market import Symbol

    rng = np.random.default_rng(5)
    out: dict[str, Any] = {}
    for i, venue in enumerate(VENUES):
        bars = make_bars(days * 1440, GENERATED_START, "1m", price=25_000.0, seed=40 + i)
        if venue != "binance":
            bars = bars.filter(pl.Series(rng.random(bars.height) >= 0.05))
        out[venue] = {Symbol.parse(SYMBOL[venue]): Candles.from_frame(bars)}
    return out


# -- the client side -------------------------------------------------------------------------


def _client(venue: str, session: aiohttp.ClientSession, url: str) -> VenueClient:
    timer, retry = SystemTimer(), RetryPolicy(timeout=30.0)
    configured = getattr(ExchangesSettings(), venue)  # the breaker as the settings have it
    breaker = {
        "breaker_threshold": configured.breaker_threshold,
        "breaker_cooldown": configured.breaker_cooldown_s,
    }
    if venue == "binance":
        return BinanceClient(
            session, base_url=url, timer=timer, retry=retry, weight_per_minute=1e12, **breaker
        )
    if venue == "coinbase":
        return CoinbaseClient(
            session,
            base_url=url,
            timer=timer,
            retry=retry,
            requests_per_second=1e9,
            burst=1e9,
            **breaker,
        )
    return KrakenClient(
        session,
        base_url=url,
        timer=timer,
        retry=retry,
        requests_per_second=1e9,
        burst=1e9,
        **breaker,
    )


def _store(kind: str, root: Path) -> BarStore:
    if kind == "parquet":
        return ParquetBarStore(root, cache=read_cache(StorageSettings().bars_cache_bytes))
    return MemoryBarStore()


async def _backfill(
    venue: str, session: aiohttp.ClientSession, url: str, span: TimeSpan, store: BarStore
) -> tuple[EnsureHistoryReport, float, VenueClient]:
    client = _client(venue, session, url)
    await client.list_markets()  # not part of the bars' path
    use_case = EnsureHistory(
        store, {client.venue: client}, WallClock(), quality=MemoryQualityStore(), batch_rows=20_000
    )
    key = SeriesKey.of(venue, SYMBOL[venue], "1m")
    started = time.perf_counter()
    report = await use_case.execute(key, span)
    return report, time.perf_counter() - started, client


async def _raw_reference(
    session: aiohttp.ClientSession, client: VenueClient, venue: str, span: TimeSpan
) -> float:
    """Seconds to GET the same candle pages with a bare session (bytes only)."""
    from arbx.adapters.exchanges.coinbase.mapping import iso

    paths = []
    cursor = span.start_ms
    page_ms = {"binance": 1000, "coinbase": 300, "kraken": 720}[venue] * 60_000
    while cursor < span.end_ms:
        paths.append(cursor)
        cursor += page_ms
    market = await client.resolve(SeriesKey.of(venue, SYMBOL[venue], "1m").symbol)
    started = time.perf_counter()
    for start in paths:
        if venue == "binance":
            url, params = (
                "/api/v3/klines",
                {
                    "symbol": market.venue_symbol,
                    "interval": "1m",
                    "startTime": start,
                    "endTime": start + page_ms - 1,
                    "limit": 1000,
                },
            )
        elif venue == "coinbase":
            url = f"/products/{market.venue_symbol}/candles"
            params = {"granularity": 60, "start": iso(start), "end": iso(start + page_ms - 60_000)}
        else:
            url, params = (
                "/0/public/OHLC",
                {"pair": market.venue_symbol, "interval": 1, "since": start // 1000 - 1},
            )
        async with session.get(client.http.base_url + url, params=params) as response:
            await response.read()
    return time.perf_counter() - started


def _shares(report: EnsureHistoryReport, client: VenueClient, total: float) -> str:
    decode = client.http.stats.parse_seconds
    http = client.http.stats.http_seconds
    parts = {
        "http": http,
        "decode": decode,
        "validation": report.validate_seconds,
        "storage": report.store_seconds,
    }
    other = max(0.0, total - sum(parts.values()))
    cells = [f"{name} {100 * seconds / total:4.1f}%" for name, seconds in parts.items()]
    return "  ".join([*cells, f"other {100 * other / total:4.1f}%"])


async def _run(urls: dict[str, Any], kind: str) -> None:
    span = TimeSpan.of(urls["start"], urls["now"] - timedelta(seconds=30))
    days = span.duration / timedelta(days=1)
    print(f"span {span} ({days:g} days of 1m), store={kind}, fake venues in a child process")
    async with aiohttp.ClientSession() as session:
        total_bars = 0
        total_seconds = 0.0
        for venue in VENUES:
            with tempfile.TemporaryDirectory() as tmp:
                report, seconds, client = await _backfill(
                    venue, session, urls[venue], span, _store(kind, Path(tmp))
                )
            raw = await _raw_reference(session, client, venue, span)
            bars = report.bars_written
            total_bars += bars
            total_seconds += seconds
            rps, _rows = REAL_LIMITS[venue]
            print(
                f"{venue:9s} {bars:7d} bars {report.requests:4d} requests  {seconds:6.2f}s  "
                f"{bars / seconds:9.0f} bars/s  | raw HTTP of the same pages "
                f"{bars / raw:9.0f} bars/s (end-to-end costs {seconds / raw:4.1f}x)"
            )
            print(f"          {_shares(report, client, seconds)}")
            print(
                f"          gaps recorded {len(report.venue_gaps)} "
                f"({sum(g.bars_missing for g in report.venue_gaps)} quiet minutes), "
                f"rejected {report.bars_rejected}; at the venue's real limit "
                f"({rps:g} req/s) the same backfill needs >= {report.requests / rps:.0f}s"
            )
        print(
            f"sequential total: {total_bars} bars in {total_seconds:.2f}s = "
            f"{total_bars / total_seconds:.0f} bars/s"
        )
        with tempfile.TemporaryDirectory() as tmp:
            store = _store(kind, Path(tmp))
            started = time.perf_counter()
            results = await asyncio.gather(
                *(_backfill(v, session, urls[v], span, store) for v in VENUES)
            )
            seconds = time.perf_counter() - started
        bars = sum(r.bars_written for r, _, _ in results)
        print(f"three venues at once: {bars} bars in {seconds:.2f}s = {bars / seconds:.0f} bars/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--store", choices=("parquet", "memory"), default="parquet")
    parser.add_argument("--shared", action="store_true", help="serve ../shared/data/svb_2023-03")
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(child, args.days, args.shared), daemon=True)
    server.start()
    try:
        urls = parent.recv()
        asyncio.run(_run(urls, args.store))
    finally:
        parent.send("stop")
        server.join(timeout=10)


if __name__ == "__main__":
    main()
