"""``arbx data fetch`` (backfill a series from its venue) and ``arbx exchanges status``.

Exit codes follow the CLI's: 0 done, 1 exchange or storage failure, 2 bad input (unknown
venue, symbol not listed at the venue, timeframe it cannot serve, bad times).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

from arbx.app.ensure_history import EnsureHistoryReport, HistoryProgress
from arbx.app.ingest_runs import IngestRuns
from arbx.domain.errors import ArbxError
from arbx.domain.market import Exchange, SeriesKey, TimeSpan
from arbx.domain.quality import GapCause
from arbx.entrypoints.runtime import resolve
from arbx.entrypoints.schemas.naming import as_option
from arbx.entrypoints.schemas.spans import bounded_span

if TYPE_CHECKING:
    from arbx.entrypoints.container import Container
from arbx.ports.exchange import ExchangeClient

BAR_WIDTH = 30
QUIET_INTERVAL = 2.0  # seconds between progress lines when stderr is not a terminal


def register_data_commands(commands: Any) -> None:
    """Add ``fetch`` to the ``arbx data`` sub-commands."""
    p = commands.add_parser(
        "fetch",
        help="backfill one series from its exchange (fetches only what is not stored yet)",
        description=(
            "Download the bars of one series from its exchange into the store. Only the spans"
            " not stored yet are fetched, so re-running (or resuming an interrupted run) asks"
            " the venue for nothing it already gave. Bars are checked by the data-quality rules"
            " before they are written; the intervals in which the venue printed no bar are"
            " recorded as venue gaps. A timeframe the venue lacks is fetched at the nearest"
            " finer one and resampled."
        ),
    )
    p.add_argument("--exchange", required=True, help="venue: binance, coinbase or kraken")
    p.add_argument("--symbol", required=True, help="pair BASE/QUOTE, e.g. BTC/USDC")
    p.add_argument("--timeframe", required=True, help="bar width: 1m 3m 5m 15m 30m 1h ... 1d")
    p.add_argument("--start", required=True, help="first bar: ISO-8601 (UTC) or epoch ms")
    p.add_argument("--end", help="end, exclusive (default: now; only closed bars are fetched)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run_fetch)


def register_exchange_commands(groups: Any) -> None:
    """Add the ``arbx exchanges`` group (``status``)."""
    parser = groups.add_parser(
        "exchanges", help="configured exchanges: status (reachability, latency, clock skew)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = commands.add_parser(
        "status",
        help="ask every configured venue for its time: reachable, latency, clock skew",
    )
    p.set_defaults(run=run_exchange_status)


# -- fetch ----------------------------------------------------------------------------------


class FetchProgress:
    """A progress bar on stderr: bars fetched, percent of the missing time, ETA."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self._last_line = 0.0
        self._last: HistoryProgress | None = None

    def __call__(self, progress: HistoryProgress) -> None:
        self._last = progress
        now = time.monotonic()
        if self.interactive:
            self._write("\r" + self._line(progress), end="")
        elif now - self._last_line >= QUIET_INTERVAL or progress.fraction >= 1.0:
            self._last_line = now
            self._write(self._line(progress))

    def close(self) -> None:
        if self.interactive and self._last is not None:
            self._write("")
        elif not self.interactive and self._last is not None and self._last.fraction < 1.0:
            self._write(self._line(self._last))

    def _line(self, p: HistoryProgress) -> str:
        filled = round(p.fraction * BAR_WIDTH)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        eta = "--" if p.eta_seconds is None else _duration(p.eta_seconds)
        return f"{self.label} [{bar}] {p.fraction:6.1%}  {p.bars_fetched:,} bars fetched  ETA {eta}"

    def _write(self, text: str, end: str = "\n") -> None:
        print(text, end=end, file=self.stream, flush=True)


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _span(args: argparse.Namespace) -> TimeSpan:
    return bounded_span(args.start, args.end, name=as_option)


def _iso(moment: Any) -> str:
    return f"{moment:%Y-%m-%dT%H:%MZ}"


def print_report(report: EnsureHistoryReport, out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    tf = report.series.timeframe

    def say(text: str) -> None:
        print(text, file=stream)

    span = f" {_iso(report.span.start)} .. {_iso(report.span.end)}" if report.span else ""
    say(f"{report.series}{span}")
    if report.up_to_date:
        say("  already stored: nothing to fetch (0 bars fetched)")
        return
    say(
        f"  fetched {report.bars_fetched:,} bars in {report.pages:,} page(s),"
        f" {report.requests:,} request(s), {len(report.missing)} missing span(s)"
    )
    say(f"  written {report.bars_written:,}, rejected {report.bars_rejected:,}")
    for bar in report.rejected[:10]:
        when = "?" if bar.ts is None else _iso(bar.ts)
        say(f"    rejected {when}: {bar.reasons}")
    if report.bars_rejected > 10:
        say(f"    ... and {report.bars_rejected - 10:,} more rejected bars")
    gaps = report.venue_gaps
    if gaps:
        printed = report.gap_bars(GapCause.NO_TRADES, GapCause.OUTAGE, GapCause.UNKNOWN)
        parts = [f"{printed:,} {tf} bars the venue did not print"]
        if served := report.gap_bars(GapCause.NOT_SERVED):
            parts.append(f"{served:,} it does not serve (older than what it keeps)")
        if pending := report.gap_bars(GapCause.PENDING):
            parts.append(f"{pending:,} not published yet (pending, asked again next run)")
        say(f"  venue gaps: {len(gaps):,} ({'; '.join(parts)}; first at {_iso(gaps[0].start)})")
    else:
        say("  venue gaps: none")
    if report.not_fetched:
        bars = sum((s.end_ms - s.start_ms) // tf.ms for s in report.not_fetched)
        say(
            f"  not fetched: {bars:,} {tf} bars the venue has not closed yet by its own clock"
            " (asked again next run)"
        )
    if report.bars_replaced:
        say(
            f"  replaced: {report.bars_replaced:,} stored bars of the settle window the venue"
            " has changed since"
        )
    if report.fetched_as is not None:
        how = f"resampled to {tf}" if report.resampled else "native"
        say(f"  fetched as {report.fetched_as} ({how})")
    say(
        f"  time: fetch {report.fetch_seconds:.2f}s, validate {report.validate_seconds:.2f}s,"
        f" store {report.store_seconds:.2f}s"
    )


async def run_fetch(args: argparse.Namespace, container: Container) -> int:
    key = SeriesKey.of(args.exchange, args.symbol, args.timeframe)
    span = _span(args)
    ingest: IngestRuns = await resolve(container.ingest_runs)
    progress = None if args.quiet else FetchProgress(str(key))
    try:
        report = await ingest.execute(key, span, progress)
    finally:
        if progress is not None:
            progress.close()
    print_report(report)
    return 0


# -- exchanges status -----------------------------------------------------------------------


async def _probe(client: ExchangeClient) -> tuple[str, float | None, float | None]:
    started = time.perf_counter()
    try:
        venue_time = await client.server_time()
    except ArbxError as exc:
        return f"unreachable: {exc.message}", None, None
    latency = time.perf_counter() - started
    skew = (venue_time.timestamp() - time.time()) if venue_time else None
    return "ok", latency, skew


async def run_exchange_status(args: argparse.Namespace, container: Container) -> int:
    clients: Mapping[Exchange, ExchangeClient] = await resolve(container.exchange_clients)
    if not clients:
        print("no exchange is enabled; see [exchanges.<venue>] in config/default.toml")
        return 0
    venues = sorted(clients)
    results = await asyncio.gather(*(_probe(clients[v]) for v in venues))
    failed = 0
    for venue, (state, latency, skew) in zip(venues, results, strict=True):
        client = clients[venue]
        status = client.status()
        native = ", ".join(s.timeframe.value for s in client.supported_timeframes() if s.native)
        print(f"{venue}  {status.base_url}")
        if latency is None:
            failed += 1
            print(f"  {state}")
        else:
            print(f"  reachable: {latency * 1000:.0f} ms, clock skew {skew or 0.0:+.1f} s")
        print(f"  breaker {status.breaker.value}, native timeframes: {native}")
    return 1 if failed else 0
