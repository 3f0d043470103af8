"""``arbx optimize report``: a study's report as one self-contained HTML file (opens
offline, charts included); ``arbx optimize walk-forward --report FILE`` writes a
walk-forward's report the same way (``write_walk_forward``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from arbx.app.report_studies import ReportStudies
from arbx.app.run_backtest import CLI_OPERATOR
from arbx.domain.reports.study import TOP_TRIALS
from arbx.entrypoints.cli.reports import write_atomically
from arbx.entrypoints.runtime import resolve

if TYPE_CHECKING:
    from arbx.app.walk_forward import WalkForwardRequest, WalkForwardResult
    from arbx.entrypoints.container import Container


def add_commands(commands: Any) -> None:
    """The report command of the ``optimize`` group."""
    p = commands.add_parser(
        "report",
        help="write a study's report: one HTML file with heatmap, trials, PBO and manifest",
        description=(
            "Write a stored study's report as one self-contained HTML file (no network"
            " needed to open it): the objective heatmap over pairs of parameters, each"
            " parameter against the objective, the best trial, the top trials, the deflated"
            " Sharpe ratio and PBO, and the study's manifest (search space, seed, data"
            " fingerprints, engine version)."
        ),
    )
    p.add_argument("study", help="study id (from 'arbx optimize list')")
    p.add_argument("--out", type=Path, required=True, metavar="FILE", help="the HTML file to write")
    p.add_argument(
        "--top",
        type=int,
        default=TOP_TRIALS,
        metavar="N",
        help=f"rows of the trials table (default {TOP_TRIALS})",
    )
    p.set_defaults(run=run_study_report)


def _wrote(path: Path, text: str, *, file: TextIO | None = None) -> None:
    write_atomically(path, text)
    print(f"wrote {path} ({len(text.encode()) / 1e6:.2f} MB); open it in a browser", file=file)


async def run_study_report(args: argparse.Namespace, container: Container) -> int:
    reports: ReportStudies = await resolve(container.report_studies)
    _wrote(args.out, await reports.report(args.study, actor=CLI_OPERATOR, top=args.top))
    return 0


async def write_walk_forward(
    path: Path, result: WalkForwardResult, request: WalkForwardRequest, container: Container
) -> None:
    reports: ReportStudies = await resolve(container.report_studies)
    # on stderr: stdout may carry the result as JSON
    _wrote(path, await reports.render_walk_forward(result, request), file=sys.stderr)
