"""``arbx stream``: live trades, quotes and order books from a venue's WebSocket into the
stores, and back out.

``run`` connects, subscribes and stores one ``--channel`` (trades, quotes or book;
reconnecting with backoff, resubscribing, dropping silent sockets, healing books by a fresh
snapshot) until Ctrl-C, SIGTERM or ``--seconds``; it then stores what it received and prints
the stream's counters. ``trades`` and ``quotes`` print stored rows; ``book`` prints the
stored book rebuilt at a time, best levels first. They live in ``<data dir>/trades``,
``<data dir>/quotes`` and ``<data dir>/books`` as Parquet files per UTC day, on either profile,
or in a bucket (``storage.trades_url``, ``storage.books_url``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
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
        " (WebSocket v2 trade), stored per venue and pair, each trade once; best bid/ask"
        " (bookTicker, ticker, v2 ticker) and L2 books (depth diffs with the REST snapshot,"
        " level2_batch, v2 book with its checksum) the same way.",
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
    run.add_argument(
        "--channel",
        choices=("trades", "quotes", "book"),
        default="trades",
        help="what to record: trades (default), quotes (best bid/ask) or book (L2 updates)",
    )
    run.add_argument(
        "--policy",
        choices=("block", "drop"),
        default="block",
        help="when the store falls behind: block the reader (default) or drop quotes and book"
        " diffs, counted (a dropped diff asks for a fresh snapshot); trades are never dropped",
    )
    run.add_argument("--depth", type=int, default=10, help="kraken book depth (10)")
    run.add_argument("--rest-url", help="binance REST base URL for depth snapshots")
    run.set_defaults(run=run_stream, manages_runtime=True)

    quotes = commands.add_parser("quotes", help="print stored quotes of one venue and pair")
    book = commands.add_parser(
        "book",
        help="print the stored book of one venue and pair rebuilt at a time",
        description="Replay the stored snapshots and diffs up to --at (default: the newest)"
        " and print the best --levels per side; a book that was inconsistent at that time is"
        " said so, never shown.",
    )
    for shown in (quotes, book):
        shown.add_argument("--venue", required=True)
        shown.add_argument("--symbol", required=True)
    quotes.add_argument("--start", help="ISO-8601 or epoch ms (default: the beginning)")
    quotes.add_argument("--end", help="ISO-8601 or epoch ms (default: now)")
    quotes.add_argument("--limit", type=int, default=20, help="the newest N (20; 0: all)")
    quotes.set_defaults(run=run_quotes, manages_runtime=True)
    book.add_argument("--at", help="ISO-8601 or epoch ms (default: the newest stored update)")
    book.add_argument("--levels", type=int, default=5, help="levels per side (5)")
    book.set_defaults(run=run_book, manages_runtime=True)

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


def _book_store(container: Container) -> Any:
    from arbx.entrypoints.profiles import local_book_store

    return local_book_store(container.settings())  # <data dir> or storage.books_url


async def run_stream(args: argparse.Namespace, container: Container) -> int:
    import aiohttp

    from arbx.adapters.streams.venues import stream_venue
    from arbx.adapters.streams.websocket import WebSocketTrades
    from arbx.app.stream_trades import StreamTrades

    venue = stream_venue(args.venue)
    symbols = [Symbol.parse(s) for s in args.symbol]
    if args.channel != "trades":
        return await _run_book_channel(args, container, symbols)
    if args.policy != "block":
        from arbx.domain.errors import InvalidInput

        raise InvalidInput("trades are never dropped: --policy drop is for quotes and book")
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


async def _run_book_channel(
    args: argparse.Namespace, container: Container, symbols: list[Symbol]
) -> int:
    import aiohttp

    from arbx.adapters.streams.books import WebSocketBooks
    from arbx.adapters.streams.quotes import WebSocketQuotes
    from arbx.app.stream_books import StreamBooks, StreamQuotes

    options = {
        "batch_size": args.batch_size,
        "flush_ms": args.flush_ms,
        "queue_size": args.queue_size,
        "policy": args.policy,
    }
    recorder = (
        StreamQuotes(_book_store(container), **options)
        if args.channel == "quotes"
        else StreamBooks(_book_store(container), **options)
    )
    loop_options = {"idle_timeout_s": args.idle_timeout, "max_attempts": args.max_attempts}
    async with _until_stopped(args.seconds) as stop, aiohttp.ClientSession() as session:
        source: Any
        if args.channel == "quotes":
            source = WebSocketQuotes(session, args.venue, symbols, url=args.url, **loop_options)
        else:
            source = WebSocketBooks(
                session,
                args.venue,
                symbols,
                url=args.url,
                rest_url=args.rest_url,
                depth=args.depth,
                **loop_options,
            )
        print(
            f"streaming {args.venue} {args.channel} of {', '.join(map(str, symbols))} from"
            f" {source.url}",
            file=sys.stderr,
        )
        report = await recorder.run(source, stop)
    s = report.stream
    print(
        f"{args.channel} rows stored {report.stored} (duplicates skipped {report.duplicates})"
        f" in {report.writes} writes; dropped {report.dropped} (policy {report.policy})"
    )
    for pair, count in sorted(report.per_pair.items()):
        print(f"  {pair}: {count}")
    lag = "n/a" if report.lag_ms_max is None else f"{report.lag_ms_max:.0f} ms"
    received = s.quotes if args.channel == "quotes" else s.book_updates
    print(
        f"messages {s.messages} ({s.bytes} bytes), {args.channel} received {received}, decode"
        f" errors {s.decode_errors}, connects {s.connects}, reconnects {s.reconnects}, silent"
        f" timeouts {s.silent_timeouts}, queue max {report.queue_max}, lag max {lag}"
    )
    if args.channel == "book":
        print(
            f"snapshots {s.snapshots}, sequence gaps {s.gaps}, bad checksums"
            f" {s.checksum_failures}, crossed {s.crossed}, resyncs {s.resyncs}"
        )
    if s.last_error:
        print(f"last error: {s.last_error}")
    return EXIT_OK


@contextlib.asynccontextmanager
async def _until_stopped(seconds: float | None) -> AsyncIterator[asyncio.Event]:
    """An event set by Ctrl-C, SIGTERM or after ``seconds``."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    timer = loop.call_later(seconds, stop.set) if seconds else None
    try:
        yield stop
    finally:
        if timer is not None:
            timer.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)


def _span(args: argparse.Namespace) -> TimeSpan:
    from arbx.entrypoints.schemas.spans import bounded_span

    if args.start or args.end:
        return bounded_span(args.start or "1970-01-01", args.end)
    return TimeSpan.everything()


async def run_quotes(args: argparse.Namespace, container: Container) -> int:
    import polars as pl

    key = TradeKey(args.venue, Symbol.parse(args.symbol))
    quotes = await _book_store(container).read_quotes(key, _span(args))
    shown = quotes.tail(args.limit) if args.limit > 0 else quotes
    print(f"{key}: {quotes.height} quote(s) stored in the span; showing {shown.height}")
    with pl.Config(tbl_rows=-1, tbl_hide_dataframe_shape=True, tbl_width_chars=120):
        print(shown)
    return EXIT_OK


async def run_book(args: argparse.Namespace, container: Container) -> int:
    from arbx.domain.errors import InvalidInput
    from arbx.domain.market.books import book_updates
    from arbx.domain.market.timespan import parse_instant, to_ms
    from arbx.domain.orderbook.tape import BookReplay

    if args.levels < 1:
        raise InvalidInput(f"--levels must be >= 1, got {args.levels}", field="levels")
    key = TradeKey(args.venue, Symbol.parse(args.symbol))
    at_ms = to_ms(parse_instant(args.at, field="at")) if args.at else None
    span = (
        TimeSpan.everything() if at_ms is None else TimeSpan.from_ms(-62_135_596_800_000, at_ms + 1)
    )
    rows = await _book_store(container).read_book(key, span)
    updates = book_updates(rows, str(key.symbol))
    if not updates:
        print(f"{key}: no book updates stored" + ("" if at_ms is None else " up to that time"))
        return EXIT_OK
    when = updates[-1].ts if at_ms is None else at_ms
    replay = BookReplay(str(key.symbol), updates)
    book = replay.at(when)
    moment = TimeSpan.from_ms(when, when + 1).start.isoformat()
    print(f"{key}: book at {moment} from {len(updates)} stored update(s), resyncs {replay.resyncs}")
    if not book.levels("bids") and not book.levels("asks"):
        print("no consistent book at that time (before the first snapshot, or awaiting a resync)")
        return EXIT_OK
    bids, asks = book.depth(args.levels)
    print(f"{'bid qty':>16} {'bid':>14} | {'ask':<14} {'ask qty':<16}")
    for i in range(max(len(bids), len(asks))):
        bid = f"{bids[i][1]:>16.8g} {bids[i][0]:>14.8g}" if i < len(bids) else " " * 31
        ask = f"{asks[i][0]:<14.8g} {asks[i][1]:<16.8g}" if i < len(asks) else ""
        print(f"{bid} | {ask}".rstrip())
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
