"""``arbx data import-trades`` (trade-history files) and ``arbx data fetch-trades`` (a venue's
REST trade history): trades into the trade store (``<data dir>/trades``, where ``arbx stream``
keeps them), then bars of the complete intervals into the bar store.

Exit codes follow the CLI's: 0 done, 1 exchange or storage failure, 2 bad input (a file that
cannot be read, with its line and column; an unknown venue or symbol; bad times).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arbx.domain.errors import InvalidInput
from arbx.domain.market import Symbol, Timeframe
from arbx.domain.market.trade_files import TradeFormat
from arbx.domain.market.trades import TradeKey
from arbx.entrypoints.runtime import resolve
from arbx.entrypoints.schemas.naming import as_option
from arbx.entrypoints.schemas.spans import bounded_span

if TYPE_CHECKING:
    from arbx.app.backfill_trades import BackfillTrades
    from arbx.app.import_trades import ImportTrades, ImportTradesReport
    from arbx.entrypoints.container import Container

BARS_HELP = (
    "bar timeframes to build from the trades, comma-separated, e.g. 1m,1h (default 1m;"
    " 'none' builds no bars)"
)


def register_data_commands(commands: Any) -> None:
    """Add ``import-trades`` and ``fetch-trades`` to the ``arbx data`` sub-commands."""
    p = commands.add_parser(
        "import-trades",
        help="import a trade-history file (Kraken time and sales, Binance dumps, ccxt JSON)",
        description=(
            "Store the trades of a trade-history file (each trade once, by the venue's trade"
            " id: re-importing is harmless) and build bars of the complete intervals from the"
            " stored trades with the tick -> OHLCV kernel. Formats: kraken-csv (Kraken's"
            " downloadable time-and-sales CSV: timestamp,price,volume), binance-trades and"
            " binance-aggtrades (data.binance.vision CSVs, with or without a header; ms or, from"
            " 2025, µs times), ccxt-json (a list of ccxt trades). .gz and .zip files are read"
            " too. A file with a bad line stores nothing; the error names the line and column."
            " The interval of the file's last trade gets its bar once later trades are stored."
        ),
    )
    p.add_argument("path", type=Path, help="the trade file (.csv, .json, .gz or .zip)")
    p.add_argument("--venue", required=True, help="venue id the trades are from, e.g. kraken")
    p.add_argument("--symbol", required=True, help="pair BASE/QUOTE, e.g. BTC/USD")
    p.add_argument(
        "--format",
        choices=[f.value for f in TradeFormat],
        default="auto",
        help="the file's layout (default auto: from its name and first line)",
    )
    p.add_argument("--bars", default="1m", help=BARS_HELP)
    p.add_argument("--member", help="the file to read inside a zip that holds several")
    p.set_defaults(run=run_import_trades)

    p = commands.add_parser(
        "fetch-trades",
        help="backfill trades of one pair from its venue's REST trade history",
        description=(
            "Download a venue's trades of one pair in [--start, --end) into the trade store:"
            " Binance and Binance.US /api/v3/aggTrades (an hour window until the first trade,"
            " then by id), Coinbase Exchange /products/{id}/trades (newest first, CB-AFTER"
            " cursor, a binary search to the span), Kraken /0/public/Trades (since in ns, the"
            " last cursor). Each venue's rate limit is kept; each page is stored as it arrives,"
            " so an interrupted backfill keeps what it got and running it again stores only"
            " what is missing. Bars of the span's intervals are built from the stored trades."
        ),
    )
    p.add_argument("--venue", required=True, help="binance, binanceus, coinbase or kraken")
    p.add_argument("--symbol", required=True, help="pair BASE/QUOTE, e.g. BTC/USDC")
    p.add_argument("--start", required=True, help="ISO-8601 (UTC) or epoch ms")
    p.add_argument("--end", help="end, exclusive (default: now)")
    p.add_argument("--bars", default="1m", help=BARS_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(run=run_fetch_trades)


def timeframes(text: str) -> tuple[Timeframe, ...]:
    if text.strip().lower() == "none":
        return ()
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise InvalidInput("--bars needs timeframes such as 1m,1h (or none)", field="bars")
    return tuple(Timeframe.parse(part) for part in parts)


def trade_key(venue: str, symbol: str) -> TradeKey:
    from arbx.domain.market import Exchange

    return TradeKey(str(Exchange.parse(venue)), Symbol.parse(symbol))


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S}"


def _print_bars(bars: Any) -> None:
    for built in bars:
        if built.end <= built.start:
            print(f"  {built.timeframe} bars: none (no complete interval yet)")
        else:
            print(
                f"  {built.timeframe} bars written {built.written:,} for"
                f" {built.start:%Y-%m-%d %H:%M} .. {built.end:%Y-%m-%d %H:%M} UTC"
            )


def _print_import(report: ImportTradesReport) -> None:
    print(
        f"{report.file} ({report.format}) -> {report.key}: read {report.rows_read:,}, stored"
        f" {report.stored:,} new, {report.duplicates:,} already stored;"
        f" {_when(report.first_ts)} .. {_when(report.last_ts)} UTC"
    )
    _print_bars(report.bars)


async def run_import_trades(args: argparse.Namespace, container: Container) -> int:
    from arbx.app.import_trades import ImportTradesCommand

    command = ImportTradesCommand(
        path=args.path,
        key=trade_key(args.venue, args.symbol),
        format=TradeFormat(args.format),
        timeframes=timeframes(args.bars),
        member=args.member,
    )
    importer: ImportTrades = await resolve(container.import_trades)
    _print_import(await importer.execute(command))
    return 0


class _Progress:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.last = 0.0

    def __call__(self, fetched: int, stored: int, reached: datetime | None) -> None:
        now = time.monotonic()
        if self.quiet or now - self.last < 1.0:
            return
        self.last = now
        print(
            f"  {fetched:,} trades fetched, {stored:,} new, at {_when(reached)} UTC",
            file=sys.stderr,
            flush=True,
        )


async def run_fetch_trades(args: argparse.Namespace, container: Container) -> int:
    key = trade_key(args.venue, args.symbol)
    span = bounded_span(args.start, args.end, name=as_option)
    use_case: BackfillTrades = await resolve(container.backfill_trades)
    report = await use_case.execute(key, span, timeframes(args.bars), _Progress(args.quiet))
    print(
        f"{key} {report.start:%Y-%m-%dT%H:%MZ} .. {report.end:%Y-%m-%dT%H:%MZ}: fetched"
        f" {report.fetched:,} trades in {report.pages:,} page(s), stored {report.stored:,} new"
    )
    _print_bars(report.bars)
    return 0
