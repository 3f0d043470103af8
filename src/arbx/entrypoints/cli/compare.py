"""``arbx backtest compare ID ID [ID...]``: stored runs side by side."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from arbx.app.compare_runs import CompareRuns
from arbx.app.run_backtest import CLI_OPERATOR
from arbx.entrypoints.runtime import resolve

if TYPE_CHECKING:
    from arbx.entrypoints.container import Container

HELP = """\
Compare stored runs: each metric per run with its difference from the first run, and the
Jobson-Korkie test (with Memmel's correction) of each run's Sharpe ratio against the first
on the bars all runs share. Runs over different spans or different data are compared on
their overlap only, and the output says so.
"""


def register_compare(commands: Any) -> None:
    p = commands.add_parser(
        "compare",
        help="compare stored runs: metrics, differences, Sharpe-difference test",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("ids", nargs="+", metavar="ID", help="run ids (2..10; the first is the base)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="also write the comparison report: one HTML file, equity and drawdown of every run"
        " on one axis, metrics side by side",
    )
    p.set_defaults(run=run_compare)


def _cell(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.4f}"


async def run_compare(args: argparse.Namespace, container: Container) -> int:
    uc: CompareRuns = await resolve(container.compare_runs)
    result = await uc.execute(args.ids, actor=CLI_OPERATOR)
    if getattr(args, "out", None) is not None:
        from arbx.entrypoints.cli.reports import run_compare as write_report

        await write_report(args, container)
    if args.json:
        print(msgspec.json.encode(result).decode())
        return 0
    runs = result.runs
    print("runs:")
    for k, r in enumerate(runs):
        params = ", ".join(f"{a}={b}" for a, b in r.params.items())
        print(
            f"  [{k}] {r.id} {r.strategy} ({params}) {r.span_start:%Y-%m-%d %H:%M} .."
            f" {r.span_end:%Y-%m-%d %H:%M} {', '.join(r.series)}"
        )
    head = f"{'metric':18}" + "".join(f" {'[' + str(k) + ']':>14}" for k in range(len(runs)))
    head += "".join(f" {'[' + str(k) + ']-[0]':>14}" for k in range(1, len(runs)))
    print("\n" + head)
    for name in runs[0].metrics:
        line = f"{name:18}" + "".join(f" {_cell(r.metrics[name]):>14}" for r in runs)
        line += "".join(f" {_cell(r.differences[name]):>14}" for r in runs[1:])
        print(line)
    if result.overlap_start is not None:
        print(
            f"\noverlap: {result.overlap_start:%Y-%m-%d %H:%M} .. {result.overlap_end:%Y-%m-%d %H:%M}"
            f" UTC, {result.overlap_bars:,} common bars"
        )
    for t in result.tests:
        x = t.test
        z = "-" if x.z is None else f"{x.z:.3f}"
        p = "-" if x.p_value is None else f"{x.p_value:.4f}"
        print(
            f"Sharpe {t.b[:8]} vs {t.a[:8]}: {x.sharpe_b:.3f} vs {x.sharpe_a:.3f} (annualized on"
            f" the overlap), z {z}, p {p}; {x.method}"
        )
    for note in result.notes:
        print(f"note: {note}")
    return 0
