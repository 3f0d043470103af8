"""``arbx data``: import, export, list and the bundled samples."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arbx.domain.errors import InvalidInput
from arbx.domain.market.tabular import TimeUnit
from arbx.entrypoints.cli.lazy import Commands, add_commands
from arbx.entrypoints.runtime import resolve
from arbx.entrypoints.samples import samples_dir
from arbx.entrypoints.schemas.naming import as_option
from arbx.entrypoints.schemas.series import series_from_parts
from arbx.entrypoints.schemas.spans import open_span

if TYPE_CHECKING:
    from arbx.app.import_bars import ImportBars, ImportReport, LoadSamples
    from arbx.app.query_bars import ExportBars, ListSeries
    from arbx.domain.market import SeriesKey
    from arbx.entrypoints.container import Container

# the data commands other modules add, in the order of --help, with their help
OTHER_COMMANDS: tuple[Commands, ...] = (
    Commands(
        "arbx.entrypoints.cli.fetch",
        "register_data_commands",
        {"fetch": "backfill one series from its exchange (fetches only what is not stored yet)"},
    ),
    Commands(
        "arbx.entrypoints.cli.quality",
        "register_data_commands",
        {
            "validate": "check stored series against the quality rules and record the findings",
            "gaps": "find the missing bars of a stored series, tell their cause, record them",
            "repair": "fill or accept the open gaps of a stored series (--policy"
            " leave|ffill|venue)",
            "resample": "aggregate a stored series to a coarser timeframe (--to TF)",
        },
    ),
    Commands(
        "arbx.entrypoints.cli.stats",
        "register_data_commands",
        {"stats": "statistics of a stored series: coverage by month, gaps, quality, distributions"},
    ),
    Commands(
        "arbx.entrypoints.cli.retain",
        "register_data_commands",
        {
            "retain": "delete the bars older than the [[retention]] rules keep (--dry-run lists them)"
        },
    ),
)


SAMPLES = samples_dir()


def register(groups: Any, words: Sequence[str] | None = None) -> None:
    """Add ``arbx data``; of the commands other modules add, load only ``words[0]``'s
    (``words`` None: all of them)."""
    parser = groups.add_parser(
        "data",
        help="market data: import, export, list, stats, retain, load-samples, fetch,"
        " validate, gaps, repair, resample",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = commands.add_parser(
        "import",
        help="import bars from CSV, Parquet or ccxt JSON files",
        description=(
            "Import bars from files into the store (an upsert: re-importing is harmless). Rows that"
            " break the OHLC rules are rejected and listed; a file that cannot be used at all"
            " writes nothing. Files named EXCHANGE_BASE-QUOTE_TF.csv need no series options."
        ),
    )
    p.add_argument(
        "paths",
        nargs="+",
        type=_location,
        help="files to import (or s3://BUCKET/PATH objects)",
    )
    p.add_argument("--exchange", help="venue id, e.g. kraken (default: from the file name)")
    p.add_argument("--symbol", help="pair BASE/QUOTE, e.g. BTC/USDC (default: from the file name)")
    p.add_argument("--timeframe", help="bar width: 1m 3m 5m 15m 30m 1h 2h 4h 6h 12h 1d")
    p.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=SOURCE",
        help="take a bar column from another source column, e.g. --map ts=Date --map"
        " 'volume=Volume BTC' (repeatable)",
    )
    p.add_argument(
        "--time-unit",
        choices=[u.value for u in TimeUnit],
        default="auto",
        help="how the time column is written: s, ms, iso or auto (default: guess)",
    )
    p.add_argument(
        "--time-format",
        metavar="STRFTIME",
        help="parse a text time column with this format, taken as UTC, e.g. '%%Y-%%m-%%d %%I-%%p'",
    )
    p.add_argument("--skip-rows", type=int, default=0, help="lines to skip before the header")
    p.add_argument("--no-header", action="store_true", help="the CSV has no header row")
    p.add_argument(
        "--show-rejected",
        type=int,
        default=10,
        metavar="N",
        help="list at most N rejected rows (default 10)",
    )
    p.set_defaults(run=run_import)

    p = commands.add_parser("export", help="write a stored series to a CSV, Parquet or JSON file")
    p.add_argument(
        "--series", required=True, help="EXCHANGE:BASE/QUOTE:TF, e.g. kraken:BTC/USDC:1m"
    )
    p.add_argument("--start", help="first bar (ISO-8601 or epoch ms; default: the first stored)")
    p.add_argument("--end", help="end, exclusive (default: after the last stored)")
    p.add_argument(
        "--out",
        required=True,
        type=_location,
        help="output file or s3://BUCKET/PATH object; the suffix picks the format"
        " (.csv, .csv.gz, .parquet, .arrow, .json)",
    )
    p.set_defaults(run=run_export)

    p = commands.add_parser("list", help="list stored series with their first/last bar and rows")
    p.set_defaults(run=run_list)

    p = commands.add_parser(
        "load-samples",
        help="import the bundled sample data (two days around the 2023 USDC de-peg)",
    )
    p.add_argument("--dir", type=Path, default=SAMPLES, help=f"sample folder (default {SAMPLES})")
    p.add_argument("--if-empty", action="store_true", help="do nothing when the store holds data")
    p.set_defaults(run=run_load_samples)

    add_commands(commands, OTHER_COMMANDS, words)


def _location(text: str) -> Path | str:
    """A path, or an s3:// object URL kept as written (a Path would fold its '//')."""
    return text if text.startswith("s3://") else Path(text)


def _mapping(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        column, sep, source = pair.partition("=")
        if not sep or not column or not source:
            raise InvalidInput(f"--map {pair!r} is not COLUMN=SOURCE", field="map")
        mapping[column.strip()] = source
    return mapping


def _key(args: argparse.Namespace, path: Path | str) -> SeriesKey:
    from arbx.app.import_bars import key_from_file_name

    given = series_from_parts(args.exchange, args.symbol, args.timeframe, name=as_option)
    return given if given is not None else key_from_file_name(path)


class _Progress:
    def __init__(self, label: str) -> None:
        self.label = label
        self.started = time.monotonic()
        self.interactive = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        elapsed = time.monotonic() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else 0.0
        line = f"{self.label}: {done:,}/{total:,} bars ({rate:,.0f}/s, ETA {eta:.0f}s)"
        print(
            ("\r" if self.interactive else "") + line,
            end="" if self.interactive else "\n",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self.interactive:
            print(file=sys.stderr)


def _print_report(report: ImportReport, path: Path | str, show: int) -> None:
    from arbx.ports.table_files import location_name

    print(
        f"{location_name(path)} -> {report.key}: read {report.rows_read:,}, accepted {report.rows_accepted:,},"
        f" written {report.rows_written:,}, rejected {report.rows_rejected:,}, exact duplicates"
        f" dropped {report.duplicates_dropped:,}"
    )
    if report.quality_score is not None:
        findings = ", ".join(f"{n} {sev}" for sev, n in sorted(report.issues_by_severity.items()))
        print(f"  quality score {report.quality_score:.3f}; findings: {findings or 'none'}")
    for row in report.rejected[:show]:
        print(f"  rejected row {row.row}: {row.column}: {row.message}")
    if len(report.rejected) > show:
        print(f"  ... and {len(report.rejected) - show:,} more rejected rows")


async def run_import(args: argparse.Namespace, container: Container) -> int:
    from arbx.app.import_bars import ImportCommand

    importer: ImportBars = await resolve(container.import_bars)
    mapping = _mapping(args.map)
    for path in args.paths:
        command = ImportCommand(
            path=path,
            key=_key(args, path),
            mapping=mapping,
            time_unit=TimeUnit(args.time_unit),
            time_format=args.time_format,
            skip_rows=args.skip_rows,
            has_header=not args.no_header,
        )
        progress = _Progress(path if isinstance(path, str) else path.name)
        report = await importer.execute(command, progress)
        progress.close()
        _print_report(report, path, args.show_rejected)
    return 0


async def run_export(args: argparse.Namespace, container: Container) -> int:
    exporter: ExportBars = await resolve(container.export_bars)
    from arbx.domain.market import SeriesKey

    key = SeriesKey.parse(args.series)
    span = open_span(args.start, args.end)
    rows = await exporter.execute(key, span, args.out)
    print(f"wrote {rows:,} bars of {key} to {args.out}")
    if args.end:  # an end past the stored data: say where the data stop
        lister: ListSeries = await resolve(container.list_series)
        for info in await lister.execute():
            last = info.last_ts + key.timeframe.duration
            if info.key == key and span.end > last:
                print(f"note: the stored data of {key} end at {last:%Y-%m-%d %H:%M} UTC")
    return 0


async def run_list(args: argparse.Namespace, container: Container) -> int:
    lister: ListSeries = await resolve(container.list_series)
    infos = await lister.execute()
    if not infos:
        print("no series stored; import some with 'arbx data import' or 'arbx data load-samples'")
        return 0
    print(f"{'series':32} {'first bar (UTC)':20} {'last bar (UTC)':20} {'rows':>10}")
    for info in infos:
        print(
            f"{info.key!s:32} {info.first_ts:%Y-%m-%d %H:%M}     {info.last_ts:%Y-%m-%d %H:%M}"
            f"     {info.rows:>10,}"
        )
    return 0


async def run_load_samples(args: argparse.Namespace, container: Container) -> int:
    loader: LoadSamples = await resolve(container.load_samples)
    reports = await loader.execute(args.dir, only_if_empty=args.if_empty)
    if not reports:
        print("store already holds data; samples not loaded")
    for report in reports:
        print(f"loaded {report.rows_written:,} bars of {report.key}")
    return 0
