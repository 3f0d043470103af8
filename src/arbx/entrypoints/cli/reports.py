"""``arbx backtest report`` and ``arbx backtest compare``: a run's report, or several runs'
comparison, as one self-contained HTML file (opens offline, charts included)."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arbx.app.report_backtests import ReportBacktests
from arbx.app.run_backtest import CLI_OPERATOR
from arbx.domain.errors import InvalidInput
from arbx.entrypoints.runtime import resolve

if TYPE_CHECKING:
    from arbx.entrypoints.container import Container


def add_commands(commands: Any) -> None:
    """The report commands of the ``backtest`` group."""
    p = commands.add_parser(
        "report",
        help="write a run's report: one HTML file with charts, tables and its manifest",
        description=(
            "Write a stored run's report as one self-contained HTML file (no network needed"
            " to open it): equity and drawdown, price with entries and exits, position and"
            " exposure, metrics beside the benchmark, monthly returns, trade P&L, the data"
            " read and the reproducibility manifest; arbitrage runs also get the net spread,"
            " opportunities, balances per venue, transfers and the P&L attribution."
        ),
    )
    p.add_argument("id", help="run id (from 'arbx backtest list')")
    p.add_argument("--out", type=Path, required=True, metavar="FILE", help="the HTML file to write")
    p.set_defaults(run=run_report)

    # 'compare' (cli/compare.py) writes the comparison report with --out FILE (run_compare)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it (no torn file)."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InvalidInput(f"--out {path}: folder {folder} does not exist", field="out")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def run_report(args: argparse.Namespace, container: Container) -> int:
    reports: ReportBacktests = await resolve(container.report_backtests)
    text = await reports.report(args.id, actor=CLI_OPERATOR)
    write_atomically(args.out, text)
    print(f"wrote {args.out} ({len(text.encode()) / 1e6:.2f} MB); open it in a browser")
    return 0


async def run_compare(args: argparse.Namespace, container: Container) -> int:
    reports: ReportBacktests = await resolve(container.report_backtests)
    text = await reports.compare(args.ids, actor=CLI_OPERATOR)
    write_atomically(args.out, text)
    print(f"wrote {args.out} ({len(text.encode()) / 1e6:.2f} MB); open it in a browser")
    return 0
