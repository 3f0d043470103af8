"""``arbx data validate|gaps|repair|resample``: data quality from the command line.

Exit codes follow ``arbx``: 0 done, 1 failed (or ``--fail-on`` findings), 2 bad usage or input.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arbx.app.detect_gaps import DetectGaps, ListGaps
from arbx.app.query_bars import ListSeries
from arbx.app.repair_series import RepairSeries
from arbx.app.resample_series import ResampleSeries
from arbx.app.validate_series import ListIssues, ValidateSeries, ValidationReport
from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey, Timeframe, TimeSpan
from arbx.domain.quality import DataGap, GapStatus, RepairPolicy, Severity, ValidationConfig
from arbx.entrypoints.runtime import resolve
from arbx.entrypoints.schemas.naming import as_option
from arbx.entrypoints.schemas.series import RepairSource
from arbx.entrypoints.schemas.spans import closed_span
from arbx.ports.table_files import TableFiles

if TYPE_CHECKING:
    from arbx.entrypoints.container import Container

EXIT_OK, EXIT_FAILED = 0, 1
SERIES_HELP = "EXCHANGE:BASE/QUOTE:TF, e.g. kraken:BTC/USDC:1m"
TIMEFRAMES = " ".join(t.value for t in Timeframe)
_FAIL_LEVELS = {"never": None, "error": 2, "warning": 1, "info": 0}
_RANK = {Severity.INFO.value: 0, Severity.WARNING.value: 1, Severity.ERROR.value: 2}


def register_data_commands(commands: Any) -> None:
    """Add validate, gaps, repair and resample to the ``arbx data`` subcommands."""
    _register_validate(commands)
    _register_gaps(commands)
    _register_repair(commands)
    _register_resample(commands)


def _span_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--start", help="first bar, ISO-8601 or epoch ms (default: the first stored bar)"
    )
    p.add_argument(
        "--end", help="end, exclusive, ISO-8601 or epoch ms (default: after the last stored bar)"
    )


def _register_validate(commands: Any) -> None:
    p = commands.add_parser(
        "validate",
        help="check stored series against the quality rules and record the findings",
        description=(
            "Run every validation rule on stored series: integrity (prices finite and > 0,"
            " high/low consistent with open/close, volume >= 0, ts on the grid and not in the"
            " future), duplicates, stale runs (O=H=L=C unchanged with zero volume), return"
            " outliers (rolling robust z-score and IQR of log returns) and cross-venue deviation"
            " (close far from the median of the same pair on the other stored venues). The"
            " findings replace the stored ones of the span; the per-series score is printed."
        ),
    )
    p.add_argument(
        "--series",
        action="append",
        default=[],
        metavar="SERIES",
        help=f"{SERIES_HELP}; repeatable (default: every stored series)",
    )
    _span_arguments(p)
    p.add_argument(
        "--no-cross-venue",
        action="store_true",
        help="skip the cross-venue rule (no comparison with other venues)",
    )
    defaults = ValidationConfig()
    p.add_argument(
        "--stale-min-bars",
        type=int,
        default=defaults.stale_min_bars,
        metavar="N",
        help=f"a stale run is at least N unchanged zero-volume bars (default {defaults.stale_min_bars})",
    )
    p.add_argument(
        "--outlier-z",
        type=float,
        default=defaults.outlier_z,
        metavar="Z",
        help=f"robust z-score of a log return that counts as an outlier (default {defaults.outlier_z:g})",
    )
    p.add_argument(
        "--outlier-window",
        type=int,
        default=defaults.outlier_window,
        metavar="N",
        help=f"bars in the rolling window of the outlier rules (default {defaults.outlier_window})",
    )
    p.add_argument(
        "--cross-venue-bps",
        type=float,
        default=defaults.cross_venue_bps,
        metavar="BPS",
        help="flag a close more than BPS basis points from the other venues' median"
        f" (default {defaults.cross_venue_bps:g})",
    )
    p.add_argument(
        "--show",
        type=int,
        default=10,
        metavar="N",
        help="list at most N findings per series, worst first (default 10; 0 lists none)",
    )
    p.add_argument(
        "--fail-on",
        choices=list(_FAIL_LEVELS),
        default="never",
        help="exit 1 when a finding of this severity or worse exists (default never)",
    )
    p.set_defaults(run=run_validate)


def _register_gaps(commands: Any) -> None:
    p = commands.add_parser(
        "gaps",
        help="find the missing bars of a stored series, tell their cause, record them",
        description=(
            "Detect the gaps of a stored series on its timeframe grid and record them. The"
            " cause is 'no_trades' when the venue omits quiet bars (Kraken, Coinbase) or the"
            " other venues were quiet too, 'outage' when the other venues traded, else"
            " 'unknown'. Gaps already filled or accepted keep their status."
        ),
    )
    p.add_argument("--series", required=True, help=SERIES_HELP)
    _span_arguments(p)
    p.add_argument(
        "--status",
        choices=[s.value for s in GapStatus],
        help="list only gaps of this status (default: all)",
    )
    p.add_argument(
        "--no-detect",
        action="store_true",
        help="list the recorded gaps without detecting again",
    )
    p.add_argument(
        "--quiet-limit",
        type=int,
        metavar="N",
        help="on a venue that omits quiet bars, a gap of at most N bars is 'no_trades'"
        " (default 60)",
    )
    p.add_argument(
        "--show", type=int, default=20, metavar="N", help="list at most N gaps (default 20)"
    )
    p.set_defaults(run=run_gaps)


def _register_repair(commands: Any) -> None:
    p = commands.add_parser(
        "repair",
        help="fill or accept the open gaps of a stored series (--policy leave|ffill|venue)",
        description=(
            "Work on the open gaps of a series (detected first when none are recorded). A"
            " stored bar is never overwritten; filled bars have zero volume and the gaps are"
            " recorded as 'filled' with their source."
        ),
    )
    p.add_argument("--series", required=True, help=SERIES_HELP)
    p.add_argument(
        "--policy",
        required=True,
        choices=[p.value for p in RepairPolicy],
        help="leave: accept the gaps as they are; ffill: repeat the last close with zero"
        " volume; venue: copy another venue's bars scaled by the median basis",
    )
    p.add_argument(
        "--reference",
        metavar="VENUE|SERIES",
        help="for --policy venue: the venue to copy from (same pair and timeframe), e.g."
        " coinbase, or a full series coinbase:BTC/USDC:1m",
    )
    p.add_argument(
        "--basis-window",
        type=int,
        default=60,
        metavar="N",
        help="bars in the rolling median of the price ratio to the reference (default 60)",
    )
    _span_arguments(p)
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="compute and print the repair; write no bars",
    )
    p.add_argument(
        "--show", type=int, default=20, metavar="N", help="list at most N gaps (default 20)"
    )
    p.set_defaults(run=run_repair)


def _register_resample(commands: Any) -> None:
    p = commands.add_parser(
        "resample",
        help="aggregate a stored series to a coarser timeframe (--to TF)",
        description=(
            "Aggregate bars to a coarser timeframe of the same venue and pair: open first,"
            " high max, low min, close last, volume sum, labelled at the bucket open. Prints a"
            " summary; --store upserts the result as the target series, --out writes a file."
        ),
    )
    p.add_argument("--series", required=True, help=SERIES_HELP)
    p.add_argument(
        "--to",
        required=True,
        metavar="TF",
        help=f"target timeframe, a multiple of the source: {TIMEFRAMES}",
    )
    _span_arguments(p)
    p.add_argument(
        "--incomplete",
        choices=["drop", "flag", "keep"],
        default="drop",
        help="the last bucket when the data stop before it closes: drop it (default), flag"
        " every bucket with a 'complete' column, or keep it unmarked",
    )
    p.add_argument(
        "--store",
        action="store_true",
        help="upsert the buckets into EXCHANGE:PAIR:TF (needs --incomplete drop)",
    )
    p.add_argument(
        "--out", type=Path, help="write the buckets to a file; the suffix picks the format"
    )
    p.set_defaults(run=run_resample)


def _span(args: argparse.Namespace) -> TimeSpan | None:
    return closed_span(args.start, args.end, name=as_option)


def _config(args: argparse.Namespace) -> ValidationConfig:
    return ValidationConfig(
        stale_min_bars=args.stale_min_bars,
        outlier_z=args.outlier_z,
        outlier_window=args.outlier_window,
        cross_venue_bps=args.cross_venue_bps,
    )


def _print_validation(report: ValidationReport) -> None:
    score = report.score
    counts = ", ".join(
        f"{report.by_severity.get(s.value, 0)} {s.value}"
        for s in (Severity.ERROR, Severity.WARNING, Severity.INFO)
    )
    print(
        f"{report.key}: score {score.score:.4f} (coverage {score.coverage:.4f},"
        f" {score.present_bars:,}/{score.expected_bars:,} bars, stale {score.stale_share:.2%});"
        f" {report.issues_stored:,} findings: {counts}"
    )
    if score.issue_counts:
        rules = ", ".join(f"{rule} {n:,}" for rule, n in sorted(score.issue_counts.items()))
        print(f"  by rule: {rules}")
    if report.compared_with:
        print(f"  compared with {', '.join(str(k) for k in report.compared_with)}")


async def run_validate(args: argparse.Namespace, container: Container) -> int:
    validate: ValidateSeries = await resolve(container.validate_series)
    issues: ListIssues = await resolve(container.list_issues)
    config = _config(args)
    span = _span(args)
    keys = [SeriesKey.parse(s) for s in args.series]
    if not keys:
        lister: ListSeries = await resolve(container.list_series)
        keys = [info.key for info in await lister.execute()]
        if not keys:
            print("no series stored; import some with 'arbx data import' first")
            return EXIT_OK
    worst = -1
    for key in keys:
        report = await validate.execute(
            key, span, cross_venue=not args.no_cross_venue, config=config
        )
        _print_validation(report)
        for severity in report.by_severity:
            worst = max(worst, _RANK[severity])
        if args.show > 0 and report.issues_stored:
            await _print_findings(issues, key, report.span, args.show, report.issues_stored)
    threshold = _FAIL_LEVELS[args.fail_on]
    if threshold is not None and worst >= threshold:
        print(f"findings of severity {args.fail_on} or worse: exit 1")
        return EXIT_FAILED
    return EXIT_OK


async def _print_findings(
    issues: ListIssues, key: SeriesKey, span: TimeSpan, show: int, total: int
) -> None:
    listed = 0
    for severity in (Severity.ERROR, Severity.WARNING, Severity.INFO):
        if listed >= show:
            break
        page = await issues.execute(
            key, span, severity=severity, limit=min(show - listed, issues.max_limit)
        )
        for issue in page.issues:
            observed = "" if issue.observed is None else f" observed {issue.observed:.6g}"
            expected = "" if issue.expected is None else f" expected {issue.expected:.6g}"
            print(
                f"  {issue.ts:%Y-%m-%d %H:%M} {issue.severity.value:7} {issue.rule}:"
                f" {issue.detail}{observed}{expected}"
            )
        listed += len(page.issues)
    if total > listed:
        print(f"  ... and {total - listed:,} more (see GET /api/v1/quality/issues)")


def _gap_line(gap: DataGap) -> str:
    source = f" from {gap.fill_source}" if gap.fill_source else ""
    return (
        f"  {gap.start:%Y-%m-%d %H:%M} -> {gap.end:%Y-%m-%d %H:%M}  {gap.bars_missing:>7,} bars"
        f"  {gap.cause.value:9} {gap.status.value}{source}"
    )


def _print_gaps(gaps: list[DataGap], show: int) -> None:
    shown = max(show, 0)
    for gap in gaps[:shown]:
        print(_gap_line(gap))
    if len(gaps) > shown:
        print(f"  ... and {len(gaps) - shown:,} more")


async def run_gaps(args: argparse.Namespace, container: Container) -> int:
    key = SeriesKey.parse(args.series)
    span = _span(args)
    status = GapStatus.parse(args.status) if args.status else None
    if args.quiet_limit is not None and args.quiet_limit < 0:
        raise InvalidInput("--quiet-limit must be >= 0", field="quiet_limit")
    if not args.no_detect:
        detect: DetectGaps = await resolve(container.detect_gaps)
        report = await detect.execute(key, span, quiet_limit_bars=args.quiet_limit)
        causes = ", ".join(f"{c} {n}" for c, n in sorted(report.by_cause.items())) or "none"
        evidence = ", ".join(str(k) for k in report.evidence) or "no other venue"
        print(
            f"{key}: {len(report.gaps):,} gaps, {report.bars_missing:,} bars missing (open or"
            f" accepted); causes: {causes}; evidence: {evidence}"
        )
        span = report.span
    lister: ListGaps = await resolve(container.list_gaps)
    gaps = await lister.execute(key, span, status=status)
    if args.no_detect:
        print(f"{key}: {len(gaps):,} recorded gaps, {sum(g.bars_missing for g in gaps):,} bars")
    _print_gaps(gaps, args.show)
    return EXIT_OK


async def run_repair(args: argparse.Namespace, container: Container) -> int:
    key = SeriesKey.parse(args.series)
    given = RepairSource.parse(key, args.policy, args.reference, args.basis_window, name=as_option)
    span = _span(args)
    repair: RepairSeries = await resolve(container.repair_series)
    report = await repair.execute(
        key,
        given.policy,
        span,
        reference=given.reference,
        basis_window=given.basis_window,
        dry_run=args.dry_run,
    )
    prefix = "dry run: would fill" if report.dry_run else "filled"
    source = f" from {report.reference}" if report.reference else ""
    print(
        f"{key} ({report.policy.value}{source}): {prefix} {report.filled_bars:,} bars, wrote"
        f" {report.written:,}, {report.unfilled_bars:,} bars still open"
    )
    _print_gaps(report.gaps, args.show)
    return EXIT_OK


async def run_resample(args: argparse.Namespace, container: Container) -> int:
    key = SeriesKey.parse(args.series)
    target = Timeframe.parse(args.to)
    resampler: ResampleSeries = await resolve(container.resample_series)
    result = await resampler.execute(
        key, target, _span(args), incomplete=args.incomplete, store=args.store
    )
    bars = result.bars
    print(f"{key} -> {result.target}: {bars.height:,} bars")
    if not bars.is_empty():
        print(f"  first {bars['ts'][0]:%Y-%m-%d %H:%M}, last {bars['ts'][-1]:%Y-%m-%d %H:%M}")
        if "complete" in bars.columns:
            print(f"  incomplete buckets: {int((~bars['complete']).sum()):,}")
    if args.store:
        print(f"  stored {result.written:,} new or changed bars in {result.target}")
    if args.out is not None:
        files: TableFiles = await resolve(container.table_files)
        if bars.is_empty():
            raise InvalidInput("no buckets to write; nothing written", field="out")
        files.write(bars, args.out)
        print(f"  wrote {bars.height:,} bars to {args.out}")
    return EXIT_OK
