"""``arbx backtest``: run a strategy on stored bars, list, show, rerun and delete runs, and the
strategy types with their parameters."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from arbx.app.run_backtest import CLI_OPERATOR, BacktestRuns, RunBacktest
from arbx.domain.backtest.metrics import Metrics
from arbx.domain.backtest.request import decode_request
from arbx.domain.backtest.run import TABLE_NAMES, BarsFingerprint, RunMeta
from arbx.domain.errors import InvalidInput
from arbx.domain.strategies import describe_all
from arbx.entrypoints.cli import reports
from arbx.entrypoints.runtime import resolve

if TYPE_CHECKING:
    import polars as pl

    from arbx.entrypoints.container import Container

RUN_HELP = """\
Run a backtest on stored bars and print its metrics beside a buy-and-hold benchmark.

Semantics: a decision made on bar t fills at the OPEN of bar t+1 (--fill next_open, the
default) or at the close of bar t (--fill close, flagged optimistic). Fees are per venue in
basis points of notional (built-in defaults for binance, binanceus, coinbase, kraken; config
[backtest.fees] and --fee override them). Metrics are annualized in calendar time: the
returns observed per 365-day year of the span (a venue that omits quiet bars is not
inflated), with spans under 30 days marked *. The run is stored; see it again with
'arbx backtest show ID'.

examples:
  arbx backtest run --strategy sma_cross --param fast=10 --param slow=50 \\
      --series kraken:BTC/USD:1m --start 2023-03-10 --end 2023-03-12
  arbx backtest run --strategy threshold_arb --param threshold_bps=20 \\
      --series kraken:BTC/USDC:1m --series kraken:BTC/USD:1m \\
      --conversion kraken:BTC/USDC:1m=kraken:USDC/USD:1m --start 2023-03-10 --end 2023-03-12
"""


def register(groups: Any) -> None:
    parser = groups.add_parser(
        "backtest",
        help="backtests: run, list, show, export, rerun, delete, cancel; strategy types",
        description="Backtests on stored bars (load some with 'arbx data load-samples').",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = commands.add_parser(
        "run",
        help="run a strategy and print its metrics",
        description=RUN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--strategy", help="strategy type, e.g. sma_cross (list: 'arbx backtest strategies')"
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a strategy parameter, e.g. --param fast=10 (repeatable; others keep defaults)",
    )
    p.add_argument(
        "--series",
        action="append",
        default=[],
        metavar="EXCHANGE:BASE/QUOTE:TF",
        help="a stored series, e.g. kraken:BTC/USD:1m; repeat for each venue of an arbitrage",
    )
    p.add_argument("--start", help="first bar (ISO-8601 date or time, or epoch ms; UTC)")
    p.add_argument("--end", help="end of the span, exclusive (ISO-8601 or epoch ms; UTC)")
    p.add_argument(
        "--capital", type=float, help="starting capital in the quote currency (default 10000)"
    )
    p.add_argument(
        "--fee",
        action="append",
        default=[],
        metavar="VENUE=TAKER[:MAKER]",
        help="fee of a venue in basis points, e.g. --fee kraken=26 or --fee kraken=40:25"
        " (maker defaults to the taker fee; repeatable)",
    )
    p.add_argument(
        "--slippage-bps",
        type=float,
        help="fixed slippage in basis points against every fill (default: none)",
    )
    p.add_argument(
        "--fill",
        choices=["next_open", "close"],
        help="next_open (default): fill at the next bar's open; close: at the deciding bar's"
        " close (optimistic: it cannot be had in practice)",
    )
    p.add_argument(
        "--engine",
        choices=["auto", "vectorized", "event"],
        help="auto (default): vectorized unless stops or limits need the event-driven engine"
        " (arbitrage always uses the arbitrage engine)",
    )
    p.add_argument(
        "--execution",
        choices=["bars", "synthetic_book", "recorded_book", "recorded_quotes"],
        help="how orders fill: bars (default: bar prices plus slippage); synthetic_book (walk"
        " books built from bars, flagged SYNTHETIC); recorded_book / recorded_quotes (walk the"
        " recorded order books / best bid and ask of every traded series)",
    )
    p.add_argument(
        "--latency-ms",
        type=int,
        metavar="MS",
        help="with a book execution: an order meets the book this many ms after its fill"
        " instant (default 0)",
    )
    p.add_argument(
        "--conversion",
        action="append",
        default=[],
        metavar="TRADED=CONVERSION",
        help="price a traded series' quote in the common currency from another series, e.g."
        " kraken:BTC/USDC:1m=kraken:USDC/USD:1m (arbitrage over USDC vs USD; repeatable)",
    )
    p.add_argument(
        "--request",
        type=Path,
        metavar="FILE",
        help="a JSON backtest request (the body of POST /api/v1/backtests); options given"
        " beside it replace its fields",
    )
    p.add_argument("--json", action="store_true", help="print the stored run as JSON instead")
    p.set_defaults(run=run_backtest)

    p = commands.add_parser("list", help="list stored runs, newest first")
    p.add_argument("--strategy", help="only runs of this strategy type")
    p.add_argument("--limit", type=int, default=20, help="at most this many runs (default 20)")
    p.add_argument("--series", help="only runs that read this series (exchange:BASE/QUOTE:tf)")
    p.add_argument("--venue", help="only runs that read a series of this exchange")
    p.add_argument("--start", help="only runs whose span ends after this (ISO-8601, UTC)")
    p.add_argument("--end", help="only runs whose span starts before this")
    p.add_argument(
        "--sort", help="a metric: sharpe, total_return, max_drawdown, ... (newest first)"
    )
    p.add_argument("--asc", action="store_true", help="lowest first (with --sort)")
    p.add_argument("--offset", type=int, default=0, help="runs skipped before the first shown")
    p.set_defaults(run=run_list)

    p = commands.add_parser(
        "show", help="a stored run: metrics, trade count, the data it read (span, rows, gaps)"
    )
    p.add_argument("id", help="run id (from 'arbx backtest list')")
    p.add_argument("--trades", type=int, default=0, metavar="N", help="also print N trades")
    p.add_argument(
        "--opportunities",
        type=int,
        nargs="?",
        const=20,
        default=0,
        metavar="N",
        help="arbitrage runs: also print N opportunities (default 20) and the net-spread histogram",
    )
    p.add_argument("--json", action="store_true", help="print the run's metadata as JSON")
    p.set_defaults(run=run_show)

    p = commands.add_parser(
        "export",
        help="write one table of a stored run to a CSV, Parquet or JSON file",
        description="Write a table of a stored run to a file; the suffix picks the format"
        " (.csv, .csv.gz, .parquet, .arrow, .json: a list of row objects).",
    )
    p.add_argument("id", help="run id (from 'arbx backtest list')")
    p.add_argument(
        "--table",
        required=True,
        choices=list(TABLE_NAMES),
        help="which table: " + ", ".join(TABLE_NAMES) + " (curve: the equity curve)",
    )
    p.add_argument("--out", required=True, type=Path, help="output file")
    p.set_defaults(run=run_export)

    p = commands.add_parser(
        "rerun", help="run a stored run's request again on the data stored now (a new run)"
    )
    p.add_argument("id", help="run id")
    p.set_defaults(run=run_rerun)

    p = commands.add_parser("delete", help="delete a stored run and its tables")
    p.add_argument("id", help="run id")
    p.set_defaults(run=run_delete)

    p = commands.add_parser(
        "cancel",
        help="cancel a background run a server computes (its worker process is ended; the"
        " run is recorded as cancelled)",
    )
    p.add_argument("id", help="run id")
    p.add_argument(
        "--wait",
        type=float,
        default=10.0,
        help="seconds to wait for the run to be recorded as cancelled (default 10)",
    )
    p.set_defaults(run=run_cancel)

    from arbx.entrypoints.cli.compare import register_compare

    register_compare(commands)

    p = commands.add_parser("strategies", help="strategy types with their parameters and defaults")
    p.set_defaults(run=run_strategies)

    reports.add_commands(commands)  # report ID --out FILE, compare ID ID... --out FILE


# -- request from options -------------------------------------------------------------------------


def _pairs(values: list[str], option: str, sep: str = "=") -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        name, found, rest = value.partition(sep)
        if not found or not name.strip() or not rest.strip():
            raise InvalidInput(f"{option} {value!r} is not NAME{sep}VALUE", field=option[2:])
        pairs.append((name.strip(), rest.strip()))
    return pairs


def _fees(values: list[str]) -> dict[str, dict[str, str]]:
    fees = {}
    for venue, text in _pairs(values, "--fee"):
        taker, _, maker = text.partition(":")
        fees[venue.lower()] = {"taker_bps": taker, "maker_bps": maker or taker}
    return fees


def build_request(args: argparse.Namespace) -> dict[str, Any]:
    """The request as JSON values: --request FILE first, then the options given."""
    body: dict[str, Any] = {}
    if args.request is not None:
        try:
            body = json.loads(args.request.read_text())
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"--request {args.request}: {exc}", field="request") from None
        if not isinstance(body, dict):
            raise InvalidInput("--request must hold a JSON object", field="request")
    given = {
        "strategy": args.strategy,
        "start": args.start,
        "end": args.end,
        "capital": args.capital,
        "fill": args.fill,
        "engine": args.engine,
        # options of 'backtest run' only ('optimize run' builds its request here too)
        "execution": getattr(args, "execution", None),
        "latency_ms": getattr(args, "latency_ms", None),
    }
    body.update({k: v for k, v in given.items() if v is not None})
    if args.param:
        body["params"] = {**body.get("params", {}), **dict(_pairs(args.param, "--param"))}
    if args.series:
        body["series"] = list(args.series)
    if args.conversion:
        conversions = dict(_pairs(args.conversion, "--conversion"))
        body["conversions"] = {**body.get("conversions", {}), **conversions}
    if args.fee:
        body["fees"] = {**body.get("fees", {}), **_fees(args.fee)}
    if args.slippage_bps is not None:
        body["slippage"] = {"kind": "fixed", "bps": args.slippage_bps}
    # a catalog version (NAME@vN, for optimize) brings its own series
    catalog = "@" in str(body.get("strategy", ""))
    for name in ("strategy", "series", "start", "end"):
        if name not in body and not (catalog and name == "series"):
            raise InvalidInput(
                f"--{name} is required (or give it in --request)", field=name.rstrip("s")
            )
    return body


# -- printing ---------------------------------------------------------------------------------------

# (label, metric, format): "%" fractions as percent, "f" plain, "d" integers, "$" money
ROWS: tuple[tuple[str, str, str], ...] = (
    ("total return", "total_return", "%"),
    ("CAGR", "cagr", "%"),
    ("annual volatility", "annual_volatility", "%"),
    ("Sharpe", "sharpe", "f"),
    ("Sortino", "sortino", "f"),
    ("Calmar", "calmar", "f"),
    ("max drawdown", "max_drawdown", "%"),
    ("max drawdown (bars)", "max_drawdown_duration_bars", "d"),
    ("trades", "trade_count", "d"),
    ("open trades", "open_trades", "d"),
    ("win rate", "win_rate", "%"),
    ("profit factor", "profit_factor", "f"),
    ("expectancy", "expectancy", "$"),
    ("average win", "average_win", "$"),
    ("average loss", "average_loss", "$"),
    ("best trade", "best_trade", "%"),
    ("worst trade", "worst_trade", "%"),
    ("max consecutive wins", "max_consecutive_wins", "d"),
    ("max consecutive losses", "max_consecutive_losses", "d"),
    ("exposure", "exposure", "%"),
    ("turnover", "turnover", "f"),
    ("fees paid", "fees_paid", "$"),
    ("VaR 95% (bar)", "var_95", "%"),
    ("CVaR 95% (bar)", "cvar_95", "%"),
    ("final equity", "final_equity", "$"),
    ("bars", "bars", "d"),
)


def _cell(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "%":
        return f"{value * 100:,.2f}%"
    if kind == "d":
        return f"{value:,}"
    if kind == "$":
        return f"{value:,.2f}"
    return f"{value:,.3f}"


ANNUALIZED = frozenset({"cagr", "annual_volatility", "sharpe", "sortino", "calmar"})


def metrics_table(
    metrics: Metrics, benchmark: Metrics | None, *, benchmark_name: str = "buy & hold"
) -> list[str]:
    """The metrics beside the benchmark's; annualized figures of a span under 30 days are
    marked ``*`` (``short_span``: a year extrapolated from days)."""
    lines = [f"{'metric':24} {'strategy':>16} {benchmark_name:>16}"]
    for label, name, kind in ROWS:
        mark = "*" if metrics.short_span and name in ANNUALIZED else ""
        mine = _cell(getattr(metrics, name), kind) + mark
        theirs = "" if benchmark is None else _cell(getattr(benchmark, name), kind) + mark
        lines.append(f"{label:24} {mine:>16} {theirs:>16}")
    if metrics.short_span:
        days = "" if metrics.span_days is None else f" ({metrics.span_days:.1f} days)"
        lines.append(f"* annualized from a span under 30 days{days}: read with care")
    return lines


def _describe(meta: RunMeta) -> list[str]:
    params = ", ".join(f"{k}={v}" for k, v in meta.params.items()) or "defaults"
    lines = [
        f"run {meta.id}  ({meta.created_at:%Y-%m-%d %H:%M:%S} UTC)",
        f"strategy {meta.strategy} ({params}); engine {meta.engine} {meta.engine_version};"
        f" fill {meta.fill}{' (OPTIMISTIC)' if meta.optimistic else ''}; capital"
        f" {meta.capital:,.2f}"
        + (f"; execution {meta.execution} (SYNTHETIC books)" if meta.synthetic else "")
        + (
            f"; execution {meta.execution}, latency {meta.request.latency_ms} ms"
            if meta.execution in ("recorded_book", "recorded_quotes")
            else ""
        ),
        f"span {meta.span_start:%Y-%m-%d %H:%M} .. {meta.span_end:%Y-%m-%d %H:%M} UTC",
    ]
    for used in meta.series:
        quality = "" if used.quality_score is None else f", quality {used.quality_score:.3f}"
        gaps = "" if used.gaps is None else f", {used.gaps:,} gaps ({used.bars_missing:,} bars)"
        lines.append(
            f"  {used.series}: {used.rows:,} bars {used.first_ts:%Y-%m-%d %H:%M} .."
            f" {used.last_ts:%Y-%m-%d %H:%M}{gaps}{quality}"
        )
    if meta.opportunities is not None:
        o = meta.opportunities
        lines.append(
            f"opportunities: seen {o.seen:,}, taken {o.taken:,}; skipped: below threshold after"
            f" costs {o.skipped_below_threshold_after_costs:,}, no balance"
            f" {o.skipped_no_balance:,}, size limit {o.skipped_size_limit:,}, in position"
            f" {o.skipped_in_position:,}, no market {o.skipped_no_market:,}; rebalances"
            f" {o.rebalances:,}"
        )
    if meta.rerun_of is not None:
        lines.extend(_data_changes(meta))
    if meta.strategy_version is not None:
        lines.append(f"strategy version: {meta.strategy_version} (arbx strategies show)")
    lines.extend(f"note: {note}" for note in meta.notes)
    return lines


def print_opportunities(meta: RunMeta, table: pl.DataFrame, limit: int) -> None:
    if meta.opportunities is None:
        print("\nno opportunities: not an arbitrage run")
        return
    import polars as pl

    o = meta.opportunities
    print(f"\nopportunities ({table.height:,}; first {min(limit, table.height)}):")
    with pl.Config(tbl_rows=limit, tbl_cols=-1, tbl_width_chars=200):
        print(table.head(limit))
    if o.net_spread_counts:
        print("peak net spread after fees (bps): opportunities per bin")
        edges = list(o.net_spread_edges_bps)
        labels = [f"< {edges[0]:g}"]
        labels += [f"{lo:g} .. {hi:g}" for lo, hi in pairwise(edges)]
        labels += [f">= {edges[-1]:g}"]
        for label, count in zip(labels, o.net_spread_counts, strict=False):
            print(f"  {label:>14} {count:>10,}")


def _fingerprint(fp: BarsFingerprint | None) -> str:
    if fp is None:
        return "not read"
    digest = "no hash stored" if fp.sha256 is None else f"sha256 {fp.sha256}"
    return f"{fp.rows:,} bars {fp.first_ts:%Y-%m-%d %H:%M} .. {fp.last_ts:%Y-%m-%d %H:%M}, {digest}"


def _data_changes(meta: RunMeta) -> list[str]:
    changes = meta.data_changed or []
    if not changes:
        return [f"rerun of {meta.rerun_of}: same data (every series' fingerprint matches)"]
    lines = [f"rerun of {meta.rerun_of}: DATA CHANGED in {len(changes)} series"]
    for change in changes:
        lines.append(f"  {change.series}")
        lines.append(f"    before: {_fingerprint(change.before)}")
        lines.append(f"    now:    {_fingerprint(change.now)}")
    return lines


def print_run(meta: RunMeta, *, as_json: bool) -> None:
    if as_json:
        print(msgspec.json.encode(meta).decode())
        return
    print("\n".join(_describe(meta)))
    print()
    arbitrage = meta.engine == "arbitrage"
    name = "hold inventory" if arbitrage else "buy & hold"
    print("\n".join(metrics_table(meta.metrics, meta.benchmark, benchmark_name=name)))
    if meta.excess_return is not None:
        pnl = "" if meta.excess_pnl is None else f" ({meta.excess_pnl:,.2f})"
        print(f"excess over the benchmark: {meta.excess_return * 100:,.2f}%{pnl}")
    if meta.attribution is not None:
        a = meta.attribution
        currency = meta.common_currency or ""
        print(f"\nP&L attribution ({currency}):")
        for part, value in (
            ("total P&L", a.total_pnl),
            *a.parts().items(),
            ("residual", a.residual),
        ):
            print(f"  {part:24} {value:>16,.2f}")


# -- commands -----------------------------------------------------------------------------------


async def run_backtest(args: argparse.Namespace, container: Container) -> int:
    uc: RunBacktest = await resolve(container.run_backtest)
    request = decode_request(build_request(args))
    started = time.perf_counter()
    run = await uc.execute(request, actor=CLI_OPERATOR)
    print_run(run.meta, as_json=args.json)
    if not args.json:
        bars = sum(s.rows for s in run.meta.series)
        print(f"\n{bars:,} bars in {time.perf_counter() - started:.2f} s; stored")
    return 0


async def run_list(args: argparse.Namespace, container: Container) -> int:
    from arbx.domain.backtest.listing import parse_run_query

    query = parse_run_query(
        series=args.series,
        venue=args.venue,
        start=args.start,
        end=args.end,
        sort=args.sort,
        order="asc" if args.asc else None,
        offset=args.offset,
    )
    queries: BacktestRuns = await resolve(container.backtest_runs)
    runs = await queries.list(
        actor=CLI_OPERATOR, strategy=args.strategy, limit=args.limit, query=query
    )
    if not runs:
        print("no backtests stored; run one with 'arbx backtest run'")
        return 0
    print(
        f"{'id':32} {'created (UTC)':16} {'strategy':14} {'return':>9} {'excess':>9}"
        f" {'sharpe':>8} {'max dd':>8} {'trades':>7}  series; params"
    )
    for s in runs:
        params = ", ".join(f"{k}={v}" for k, v in s.params.items()) or "defaults"
        print(
            f"{s.id:32} {s.created_at:%Y-%m-%d %H:%M} {s.strategy:14}"
            f" {_cell(s.total_return, '%'):>9} {_cell(s.excess_return, '%'):>9}"
            f" {_cell(s.sharpe, 'f'):>8} {_cell(s.max_drawdown, '%'):>8} {s.trade_count:>7,}"
            f"  {', '.join(s.series)}; {params}"
        )
    return 0


async def run_show(args: argparse.Namespace, container: Container) -> int:
    queries: BacktestRuns = await resolve(container.backtest_runs)
    # the metadata alone unless a table is asked for: a 1M-bar run's tables are megabytes
    meta = await queries.meta(args.id, actor=CLI_OPERATOR)
    print_run(meta, as_json=args.json)
    if args.opportunities > 0 and not args.json:
        table = await queries.table(args.id, "opportunities", actor=CLI_OPERATOR)
        print_opportunities(meta, table, args.opportunities)
    if args.trades > 0 and not args.json:
        from arbx.entrypoints.cli.tables import plain_table

        trades = await queries.table(args.id, "trades", actor=CLI_OPERATOR)
        print(f"\ntrades ({trades.height:,} rows; first {min(args.trades, trades.height)}):")
        print("\n".join(plain_table(trades.drop(TRADE_COLUMNS_HIDDEN, strict=False), args.trades)))
    return 0


# bar indexes repeat the times beside them; the table shows the times
TRADE_COLUMNS_HIDDEN = ("entry_bar", "exit_bar", "bar")


async def run_export(args: argparse.Namespace, container: Container) -> int:
    queries: BacktestRuns = await resolve(container.backtest_runs)
    files = await resolve(container.table_files)
    table = await queries.table(args.id, args.table, actor=CLI_OPERATOR)
    if table.is_empty() and not table.columns:
        raise InvalidInput(
            f"run {args.id} has no {args.table} table (a single-market run has no balances)",
            field="table",
        )
    await asyncio.to_thread(files.write, table, args.out)
    print(f"wrote {table.height:,} rows of {args.table} of run {args.id} to {args.out}")
    return 0


async def run_rerun(args: argparse.Namespace, container: Container) -> int:
    uc: RunBacktest = await resolve(container.run_backtest)
    run = await uc.rerun(args.id, actor=CLI_OPERATOR)
    print_run(run.meta, as_json=False)
    return 0


async def run_delete(args: argparse.Namespace, container: Container) -> int:
    queries: BacktestRuns = await resolve(container.backtest_runs)
    await queries.delete(args.id, actor=CLI_OPERATOR)
    print(f"deleted backtest {args.id}")
    return 0


async def run_cancel(args: argparse.Namespace, container: Container) -> int:
    """Ask the process computing the run (a server of this profile) to stop it, then wait
    until it is recorded as cancelled."""
    from arbx.app.background_backtests import CancelBacktest
    from arbx.domain.errors import NotFound

    uc: CancelBacktest = await resolve(container.cancel_backtest)
    await uc.execute(args.id, actor=CLI_OPERATOR)
    queries: BacktestRuns = await resolve(container.backtest_runs)
    deadline = time.monotonic() + max(0.0, args.wait)
    while True:
        try:
            status = await queries.status(args.id, actor=CLI_OPERATOR)
        except NotFound:
            status = None
        state = getattr(status, "status", None)
        if state == "cancelled":
            print(f"cancelled backtest {args.id}")
            return 0
        if state in ("failed", "done") or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.2)
    said = "no process of this profile stopped it" if state is None else f"it is {state}"
    print(
        f"asked to cancel backtest {args.id}, but {said} within {args.wait:g} s: is it"
        " computing on a server of this profile (arbx serve) with this run id?"
    )
    return 1


async def run_strategies(args: argparse.Namespace, container: Container) -> int:
    from arbx.domain.strategies import plugin_failures

    for strategy in describe_all():
        series = (
            f"{strategy['min_series']} series"
            if strategy["min_series"] == strategy["max_series"]
            else f"{strategy['min_series']}..{strategy['max_series']} series"
        )
        origin = "" if strategy["source"] == "builtin" else f", plugin {strategy['location']}"
        print(
            f"{strategy['name']} ({strategy['kind']}, {series}{origin}): {strategy['description']}"
        )
        props = strategy["params"].get("properties", {})
        for name, default in strategy["defaults"].items():
            kind = props.get(name, {}).get("type", "")
            print(f"  --param {name}={default}  ({kind}{_bounds(props.get(name, {}))})")
    for where, error in plugin_failures().items():
        print(f"plugin {where} FAILED to load: {error}")
    return 0


def _bounds(prop: dict[str, Any]) -> str:
    words = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
    return "".join(f", {op} {prop[k]}" for k, op in words.items() if k in prop)
