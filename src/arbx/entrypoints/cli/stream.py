"""``arbx stream``: live trades from a venue's WebSocket into the trade store, and back out.

``run`` connects, subscribes and stores trades (reconnecting with backoff, resubscribing,
dropping silent sockets) until Ctrl-C, SIGTERM or ``--seconds``; it then stores what it
received and prints the stream's counters. ``trades`` prints stored trades. Trades live in
``<data dir>/trades`` as Parquet files per UTC day, on either profile.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arbx.domain.market import Symbol, TimeSpan
from arbx.domain.market.trades import TradeKey

if TYPE_CHECKING:
    from arbx.entrypoints.container import Container

EXIT_OK, EXIT_FAILED = 0, 1


def register(groups: Any) -> None:
    parser = groups.add_parser(
        "stream",
        help="live trades over WebSocket: run a stream, show stored trades",
        description="Live trades from Binance (aggTrade), Coinbase Exchange (matches) and Kraken"
        " (WebSocket v2 trade), stored per venue and pair, each trade once.",
    )
    commands = parser.add_subparsers(dest="stream_command", metavar="ACTION", required=True)
    run = commands.add_parser(
        "run",
        help="store live trades until Ctrl-C (or --seconds), then print the counters",
        description="Connect to the venue's public WebSocket, subscribe to the trades of each"
        " --symbol and store them. A lost or silent connection is reopened with backoff and"
        " the subscription sent again; trades sent twice are stored once. Ctrl-C stores what"
        " was received and exits 0.",
    )
    run.add_argument("--venue", required=True, help="binance, coinbase or kraken")
    run.add_argument("--symbol", action="append", required=True, help="e.g. BTC/USDC; repeat")
    run.add_argument("--seconds", type=float, help="stop after this long (default: until Ctrl-C)")
    run.add_argument("--url", help="the WebSocket base URL (default: the venue's public one)")
    run.add_argument("--batch-size", type=int, default=500, help="trades per write (500)")
    run.add_argument("--flush-ms", type=float, default=1000.0, help="longest wait to write (1000)")
    run.add_argument("--queue-size", type=int, default=10_000, help="trades held in memory")
    run.add_argument("--idle-timeout", type=float, default=60.0, help="drop a silent socket (s)")
    run.add_argument("--max-attempts", type=int, default=10, help="failed connects in a row")
    run.set_defaults(run=run_stream, manages_runtime=True)

    trades = commands.add_parser("trades", help="print stored trades of one venue and pair")
    trades.add_argument("--venue", required=True)
    trades.add_argument("--symbol", required=True)
    trades.add_argument("--start", help="ISO-8601 or epoch ms (default: the beginning)")
    trades.add_argument("--end", help="ISO-8601 or epoch ms (default: now)")
    trades.add_argument("--limit", type=int, default=20, help="the newest N (20; 0: all)")
    trades.set_defaults(run=run_trades, manages_runtime=True)


def _store(container: Container) -> Any:
    from arbx.adapters.parquet.trade_store import ParquetTradeStore

    settings = container.settings()
    if settings.storage.trades_url:  # an S3-compatible bucket (issue 20)
        from arbx.adapters.objectstore.trade_store import ObjectStoreTradeStore
        from arbx.entrypoints.profiles import s3_options

        return ObjectStoreTradeStore.from_url(
            settings.storage.trades_url, s3_options(settings.storage.s3)
        )
    return ParquetTradeStore(Path(settings.data_dir) / "trades")


async def run_stream(args: argparse.Namespace, container: Container) -> int:
    import aiohttp

    from arbx.adapters.streams.venues import stream_venue
    from arbx.adapters.streams.websocket import WebSocketTrades
    from arbx.app.stream_trades import StreamTrades

    venue = stream_venue(args.venue)
    symbols = [Symbol.parse(s) for s in args.symbol]
    use_case = StreamTrades(
        _store(container),
        batch_size=args.batch_size,
        flush_ms=args.flush_ms,
        queue_size=args.queue_size,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    timer = loop.call_later(args.seconds, stop.set) if args.seconds else None
    try:
        async with aiohttp.ClientSession() as session:
            source = WebSocketTrades(
                session,
                venue,
                symbols,
                url=args.url,
                idle_timeout_s=args.idle_timeout,
                max_attempts=args.max_attempts,
            )
            print(
                f"streaming {venue.name} trades of {', '.join(map(str, symbols))} from"
                f" {source.url}",
                file=sys.stderr,
            )
            report = await use_case.run(source, stop)
    finally:
        if timer is not None:
            timer.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
    s = report.stream
    print(
        f"trades stored {report.stored} (duplicates skipped {report.duplicates}) in"
        f" {report.writes} writes"
    )
    for pair, count in sorted(report.per_pair.items()):
        print(f"  {pair}: {count}")
    lag = "n/a" if report.lag_ms_max is None else f"{report.lag_ms_max:.0f} ms"
    print(
        f"messages {s.messages} ({s.bytes} bytes), trades received {s.trades}, decode errors"
        f" {s.decode_errors}, connects {s.connects}, reconnects {s.reconnects}, silent"
        f" timeouts {s.silent_timeouts}, queue max {report.queue_max}, lag max {lag}"
    )
    if s.last_error:
        print(f"last error: {s.last_error}")
    return EXIT_OK


async def run_trades(args: argparse.Namespace, container: Container) -> int:
    import polars as pl

    from arbx.entrypoints.schemas.spans import bounded_span

    key = TradeKey(args.venue, Symbol.parse(args.symbol))
    span = (
        bounded_span(args.start or "1970-01-01", args.end)
        if (args.start or args.end)
        else TimeSpan.everything()
    )
    trades = await _store(container).read(key, span)
    shown = trades.tail(args.limit) if args.limit > 0 else trades
    print(f"{key}: {trades.height} trade(s) stored in the span; showing {shown.height}")
    with pl.Config(tbl_rows=-1, tbl_hide_dataframe_shape=True, tbl_width_chars=120):
        print(shown)
    return EXIT_OK
