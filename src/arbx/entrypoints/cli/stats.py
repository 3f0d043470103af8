"""``arbx data stats SERIES``: what a stored series holds, month by month."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

import msgspec

from arbx.entrypoints.runtime import resolve

if TYPE_CHECKING:
    from arbx.app.series_statistics import DescribeSeries
    from arbx.domain.market.statistics import Distribution
    from arbx.entrypoints.container import Container

STATS_HELP = "statistics of a stored series: coverage by month, gaps, quality, distributions"


def register_data_commands(commands: Any) -> None:
    """Add ``stats`` to the ``arbx data`` sub-commands."""
    p = commands.add_parser(
        "stats",
        help=STATS_HELP,
        description=(
            "Describe a stored series: first and last bar, coverage by calendar month (UTC),"
            " the gaps on its grid, its quality score (see 'arbx data validate'), and summaries"
            " of the close-to-close log returns and of the volumes."
        ),
    )
    p.add_argument("series", help="EXCHANGE:BASE/QUOTE:TF, e.g. kraken:BTC/USDC:1m")
    p.add_argument("--json", action="store_true", help="print the statistics as JSON")
    p.set_defaults(run=run_stats)


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _distribution(label: str, d: Distribution, spec: str) -> str:
    parts = [
        f"n={d.count:,}",
        f"mean={_fmt(d.mean, spec)}",
        f"std={_fmt(d.std, spec)}",
        f"min={_fmt(d.min, spec)}",
        f"p05={_fmt(d.p05, spec)}",
        f"p50={_fmt(d.p50, spec)}",
        f"p95={_fmt(d.p95, spec)}",
        f"max={_fmt(d.max, spec)}",
    ]
    return f"{label:8} " + "  ".join(parts)


async def run_stats(args: argparse.Namespace, container: Container) -> int:
    from arbx.domain.market import SeriesKey
    from arbx.entrypoints.schemas.series_stats import SeriesStatsOut

    key = SeriesKey.parse(args.series)
    describe: DescribeSeries = await resolve(container.describe_series)
    report = await describe.execute(key)
    if args.json:
        print(msgspec.json.encode(SeriesStatsOut.of(report)).decode())
        return 0
    s = report.statistics
    score = f"{report.quality_score:.3f}" + ("" if report.validated else " (not validated)")
    print(
        f"{s.key}: {s.rows:,} bars, {s.first_ts:%Y-%m-%d %H:%M} .. {s.last_ts:%Y-%m-%d %H:%M} UTC"
    )
    print(f"coverage {s.coverage:.2%} of {s.expected_bars:,} grid slots; quality score {score}")
    g = s.gaps
    longest = (
        ""
        if g.longest_start is None
        else f", longest {g.longest_bars:,} bars at {g.longest_start:%Y-%m-%d %H:%M}"
    )
    print(f"gaps     {g.count:,} missing {g.bars_missing:,} bars{longest}")
    print(_distribution("returns", s.returns, ".3e"))
    print(_distribution("volume", s.volume, ".4g") + f"  zero={s.zero_volume_bars:,}")
    print(f"{'month':8} {'present':>10} {'expected':>10} {'coverage':>9}")
    for m in s.months:
        print(f"{m.month:8} {m.present:>10,} {m.expected:>10,} {m.coverage:>9.2%}")
    return 0
