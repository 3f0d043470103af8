"""``arbx optimize``: parameter studies on stored bars (grid, random, Bayesian), their
status, trials and overfitting diagnostics; resume an interrupted study; promote a trial to
a stored backtest run."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from arbx.app.optimize import Diagnostics, OptimizationRequest, OptimizeStudies, StudyView
from arbx.app.run_backtest import CLI_OPERATOR
from arbx.app.walk_forward import WalkForward, WalkForwardRequest
from arbx.domain.errors import InvalidInput, NotFound
from arbx.domain.research.study import Study, Trial
from arbx.domain.research.walk_forward import WalkForwardResult, WalkForwardStudy
from arbx.entrypoints.cli import study_reports
from arbx.entrypoints.cli.backtest import build_request, print_run
from arbx.entrypoints.runtime import resolve

if TYPE_CHECKING:
    from arbx.entrypoints.container import Container

RUN_HELP = """\
Search a strategy's parameters on stored bars; every trial is stored as it finishes.

A --space NAME=SPEC names a searched parameter (others keep their defaults or --param):
  LOW:HIGH:STEP      a stepped range, e.g. fast=5:50:5 (a grid runs every step)
  LOW:HIGH           a range for random and bayes searches, e.g. threshold_bps=1:50
  LOW:HIGH:log[:N]   a log-scaled range (N points for a grid), e.g. threshold_bps=1:100:log:5
  A,B,C              choices, e.g. entry=cross,state
Methods: grid (every valid point; pairs the strategy refuses, like fast >= slow, are
skipped and counted), random and bayes (Optuna's TPE sampler) with --trials N. The study
keeps its space, data fingerprints and engine version; Ctrl-C leaves it resumable
('arbx optimize resume STUDY'); 'arbx optimize promote STUDY [TRIAL]' makes a trial a
stored backtest run.

examples:
  arbx optimize run --strategy sma_cross --series kraken:BTC/USD:1m \\
      --start 2023-03-10 --end 2023-03-12 --space fast=5:30:5 --space slow=40:120:20
  arbx optimize run --strategy threshold_arb --method bayes --trials 30 \\
      --series kraken:BTC/USDC:1m --series kraken:BTC/USD:1m \\
      --conversion kraken:BTC/USDC:1m=kraken:USDC/USD:1m --start 2023-03-10 --end 2023-03-12 \\
      --space threshold_bps=1:60 --objective net_pnl
"""


WALK_HELP = """\
Walk-forward analysis: cut the span into folds on the bars of the first series (rolling:
train windows slide by --step; --anchored: they all start at the first bar and grow), run
the search (--space, --method, --objective as 'arbx optimize run') on each train fold,
then the best parameters on the test fold after it (--purge bars dropped from the train
fold's end, --embargo bars skipped before the test fold). Prints in-sample vs
out-of-sample per fold, the chosen parameters and how often each value recurs, the chained
out-of-sample equity's metrics and the walk-forward efficiency (mean OOS / IS annualized
return). The walk-forward is stored with each fold as it finishes: 'arbx optimize show ID'
prints it again, Ctrl-C leaves it resumable ('arbx optimize resume ID'). --strategy may
name a catalog version (NAME@vN); its id then backs that version's approval
('arbx strategies promote NAME N approved --walk-forward ID').

example:
  arbx optimize walk-forward --strategy sma_cross --series kraken:BTC/USD:1m \\
      --start 2023-03-10 --end 2023-03-12 --space fast=5:20:5 --space slow=30:90:30 \\
      --train 1200 --test 400
"""


def _add_backtest_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strategy", help="strategy type (list: 'arbx backtest strategies')")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a fixed strategy parameter (repeatable)",
    )
    p.add_argument(
        "--series",
        action="append",
        default=[],
        metavar="EXCHANGE:BASE/QUOTE:TF",
        help="a stored series; repeat for each venue of an arbitrage",
    )
    p.add_argument("--start", help="first bar (ISO-8601 date or time, or epoch ms; UTC)")
    p.add_argument("--end", help="end of the span, exclusive (ISO-8601 or epoch ms; UTC)")
    p.add_argument("--capital", type=float, help="starting capital (default 10000)")
    p.add_argument(
        "--fee",
        action="append",
        default=[],
        metavar="VENUE=TAKER[:MAKER]",
        help="fee of a venue in basis points (repeatable)",
    )
    p.add_argument("--slippage-bps", type=float, help="fixed slippage in basis points")
    p.add_argument("--fill", choices=["next_open", "close"], help="fill mode (next_open)")
    p.add_argument("--engine", choices=["auto", "vectorized", "event"], help="engine (auto)")
    p.add_argument(
        "--conversion",
        action="append",
        default=[],
        metavar="TRADED=CONVERSION",
        help="price a traded series' quote in the common currency (arbitrage; repeatable)",
    )
    p.add_argument(
        "--request", type=Path, metavar="FILE", help="a JSON backtest request to start from"
    )


def _add_search_options(p: argparse.ArgumentParser) -> None:
    _add_backtest_options(p)
    p.add_argument(
        "--space",
        action="append",
        default=[],
        metavar="NAME=SPEC",
        help="a searched parameter (repeatable; see above)",
    )
    p.add_argument("--method", default="grid", help="grid (default), random or bayes")
    p.add_argument(
        "--objective",
        default="sharpe",
        help="sharpe (default), sortino, calmar, total_return, net_pnl or excess_return",
    )
    p.add_argument("--minimize", action="store_true", help="minimize the objective")
    p.add_argument("--min-trades", type=int, default=0, help="trials with fewer are infeasible")
    p.add_argument("--trials", type=int, help="trials of a random or bayes search (default 50)")
    p.add_argument("--seed", type=int, default=0, help="seed of random and bayes searches")
    p.add_argument("--jobs", type=int, help="batches computed at once (config optimize.jobs)")


def register(groups: Any) -> None:
    parser = groups.add_parser(
        "optimize",
        help="optimization studies: run, status, list, show, resume, promote, report",
        description="Parameter studies on stored bars (load some with 'arbx data load-samples').",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = commands.add_parser(
        "run",
        help="start a study and run it to the end",
        description=RUN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_search_options(p)
    p.add_argument("--json", action="store_true", help="print the study as JSON at the end")
    p.set_defaults(run=run_optimize)

    p = commands.add_parser(
        "walk-forward",
        help="optimize on rolling or anchored train folds, test each on the next fold",
        description=WALK_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_search_options(p)
    p.add_argument("--train", type=int, required=True, help="bars per train fold (first series)")
    p.add_argument("--test", type=int, required=True, help="bars per test fold")
    p.add_argument("--step", type=int, help="bars between folds (default: --test)")
    p.add_argument("--anchored", action="store_true", help="train folds all start at bar 0")
    p.add_argument("--purge", type=int, default=0, help="bars dropped from each train fold's end")
    p.add_argument("--embargo", type=int, default=0, help="bars skipped before each test fold")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--report", type=Path, metavar="FILE", help="also write the result's HTML report to FILE"
    )
    p.set_defaults(run=run_walk_forward)

    p = commands.add_parser(
        "status", help="a study's (or walk-forward's) status, trials done and best so far"
    )
    p.add_argument("study", help="study or walk-forward id")
    p.set_defaults(run=run_status)

    p = commands.add_parser("list", help="stored studies and walk-forwards, newest first")
    p.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    p.set_defaults(run=run_list)

    p = commands.add_parser(
        "show",
        help="a study (space, best trials, deflated Sharpe, PBO) or a stored walk-forward",
    )
    p.add_argument("study", help="study or walk-forward id")
    p.add_argument("--trials", type=int, default=10, metavar="N", help="print the N best trials")
    p.add_argument("--json", action="store_true", help="the study and every trial as JSON")
    p.set_defaults(run=run_show)

    p = commands.add_parser("resume", help="continue an interrupted study or walk-forward")
    p.add_argument("study", help="study or walk-forward id")
    p.add_argument("--jobs", type=int, help="batches computed at once")
    p.set_defaults(run=run_resume)

    p = commands.add_parser(
        "promote", help="run a trial (default: the best) as a stored backtest run"
    )
    p.add_argument("study", help="study id")
    p.add_argument("trial", nargs="?", type=int, help="trial number (default: the best)")
    p.set_defaults(run=run_promote)

    study_reports.add_commands(commands)


# -- parsing ------------------------------------------------------------------------------------


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_space_option(values: list[str]) -> dict[str, Any]:
    """``NAME=SPEC`` options into the JSON space of an optimization request."""
    space: dict[str, Any] = {}
    for item in values:
        name, found, spec = item.partition("=")
        name, spec = name.strip(), spec.strip()
        if not found or not name or not spec:
            raise InvalidInput(f"--space {item!r} is not NAME=SPEC", field="space")
        if "," in spec:
            space[name] = {"choices": [_value(v.strip()) for v in spec.split(",")]}
            continue
        parts = spec.split(":")
        if len(parts) == 1:
            space[name] = _value(spec)
            continue
        if len(parts) > 4:
            raise InvalidInput(f"--space {item!r}: too many ':' parts", field=f"space.{name}")
        dim: dict[str, Any] = {"low": _value(parts[0]), "high": _value(parts[1])}
        rest = parts[2:]
        if rest and rest[0] == "log":
            dim["log"] = True
            if len(rest) == 2:
                dim["count"] = _value(rest[1])
        elif len(rest) == 1:
            dim["step"] = _value(rest[0])
        elif rest:
            raise InvalidInput(
                f"--space {item!r}: use LOW:HIGH:STEP or LOW:HIGH:log[:N]", field=f"space.{name}"
            )
        space[name] = dim
    return space


def build_optimization(args: argparse.Namespace) -> OptimizationRequest:
    backtest = build_request(args)
    if not args.space:
        raise InvalidInput(
            "give at least one --space NAME=SPEC (e.g. --space fast=5:50:5)", field="space"
        )
    return OptimizationRequest(
        backtest=backtest,
        space=parse_space_option(args.space),
        method=args.method,
        objective=args.objective,
        direction="minimize" if args.minimize else "maximize",
        min_trades=args.min_trades,
        trials=args.trials,
        seed=args.seed,
    )


# -- printing -----------------------------------------------------------------------------------


class ProgressBar:
    """A one-line bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self, objective: str) -> None:
        self._tty = sys.stderr.isatty()
        self._objective = objective
        self._started = time.monotonic()
        self._first: int | None = None

    def __call__(self, done: int, total: int, best: Trial | None) -> None:
        if not self._tty:
            return
        if self._first is None:
            self._first = done
        width = 30
        filled = int(width * done / total) if total else width
        elapsed = time.monotonic() - self._started
        made = done - self._first
        eta = f" ETA {elapsed / made * (total - done):.0f}s" if made and done < total else ""
        top = (
            ""
            if best is None or best.value is None
            else f" best {self._objective} {best.value:.4g}"
        )
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r[{bar}] {done}/{total}{top}{eta}   ")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _params(params: dict[str, Any]) -> str:
    return ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:,.4f}"


def _describe_study(study: Study) -> list[str]:
    space = []
    for d in study.space.dimensions:
        if d.choices:
            space.append(f"{d.name} in {list(d.choices)}")
        else:
            step = f" step {d.step:g}" if d.step is not None else ""
            log = " log" if d.log else ""
            space.append(f"{d.name} {d.low:g}..{d.high:g}{step}{log}")
    o = study.objective
    lines = [
        f"study {study.id}  ({study.created_at:%Y-%m-%d %H:%M:%S} UTC)  status {study.status}",
        f"strategy {study.strategy}; method {study.method}; {study.n_trials} trials"
        + (
            f" ({study.refused_points} grid points refused by the strategy)"
            if study.refused_points
            else ""
        )
        + f"; seed {study.seed}; engine {study.engine_version}",
        f"objective: {o.direction} {o.metric}"
        + (f", at least {o.min_trades} trades" if o.min_trades else ""),
        "space: "
        + "; ".join(space)
        + (f"; fixed {_params(study.space.fixed)}" if study.space.fixed else ""),
    ]
    for s in study.series:
        digest = "" if s.sha256 is None else f", sha256 {s.sha256[:12]}"
        lines.append(
            f"  {s.series}: {s.rows:,} bars {s.first_ts:%Y-%m-%d %H:%M} .. {s.last_ts:%Y-%m-%d %H:%M}{digest}"
        )
    if study.error:
        lines.append(f"error: {study.error}")
    return lines


def _summary(view: StudyView) -> list[str]:
    s = view.study
    lines = [
        f"trials: {view.trials_done} done, {view.trials_failed} failed, of {s.n_trials}"
        + (f"; ETA {view.eta_seconds:.0f} s" if view.eta_seconds is not None else "")
    ]
    if view.best is None:
        lines.append("best: none feasible yet")
    else:
        b = view.best
        lines.append(
            f"best: trial {b.number} ({_params(b.params)}) {s.objective.metric} {_num(b.value)};"
            f" return {_num(b.metrics.total_return)}, trades {b.metrics.trade_count}"
        )
    return lines


def _trial_table(trials: list[Trial], study: Study, limit: int) -> list[str]:
    ranked = [t for t in trials if t.value is not None]
    sign = -1.0 if study.objective.direction == "maximize" else 1.0
    ranked.sort(key=lambda t: (sign * (t.value or 0.0), t.number))
    lines = [
        f"{'trial':>5} {study.objective.metric:>14} {'sharpe':>9} {'return':>9} {'max dd':>8}"
        f" {'trades':>7}  params"
    ]
    for t in ranked[:limit]:
        m = t.metrics
        lines.append(
            f"{t.number:>5} {_num(t.value):>14} {_num(m.sharpe):>9} {_num(m.total_return):>9}"
            f" {_num(m.max_drawdown):>8} {m.trade_count:>7}  {_params(t.params)}"
            + (f"  -> run {t.run_id}" if t.run_id else "")
        )
    failed = [t for t in trials if t.status == "failed"]
    if failed:
        lines.append(
            f"{len(failed)} failed trials; first: trial {failed[0].number}: {failed[0].error}"
        )
    return lines


def _diagnostics(d: Diagnostics) -> list[str]:
    lines = []
    if d.deflated_sharpe is not None:
        x = d.deflated_sharpe
        lines.append(
            f"deflated Sharpe ratio: {x.probability:.3f} (per-slice Sharpe {x.sharpe:.4f} vs"
            f" {x.expected_max_sharpe:.4f} expected of the best of {x.trials} unskilled trials)"
        )
    if d.pbo is not None:
        lines.append(
            f"probability of backtest overfitting (CSCV, {d.pbo.splits} splits,"
            f" {d.pbo.combinations:,} combinations): {d.pbo.probability:.3f}"
        )
    lines.extend(f"note: {n}" for n in d.notes)
    return lines


# -- commands -----------------------------------------------------------------------------------


async def _finish(uc: OptimizeStudies, view: StudyView, as_json: bool) -> None:
    if as_json:
        print(msgspec.json.encode(view.study).decode())
        return
    print("\n".join(_summary(view)))
    trials = await uc.trials(view.study.id, actor=CLI_OPERATOR)
    print()
    print("\n".join(_trial_table(trials, view.study, 5)))
    print()
    print("\n".join(_diagnostics(await uc.diagnostics(view.study.id, actor=CLI_OPERATOR))))
    print(f"\nmake the best a stored run: arbx optimize promote {view.study.id}")


async def _run(uc: OptimizeStudies, study: Study, jobs: int | None, resume: bool) -> StudyView:
    bar = ProgressBar(study.objective.metric)
    started = time.perf_counter()
    try:
        runner = uc.resume if resume else uc.run
        view = await runner(study.id, actor=CLI_OPERATOR, jobs=jobs, progress=bar)
    except BaseException:
        print(
            f"\nstopped; the finished trials are kept: arbx optimize resume {study.id}",
            file=sys.stderr,
        )
        raise
    print(
        f"{view.trials_done + view.trials_failed} trials in {time.perf_counter() - started:.2f} s; stored"
    )
    return view


async def run_optimize(args: argparse.Namespace, container: Container) -> int:
    uc: OptimizeStudies = await resolve(container.optimize_studies)
    study = await uc.create(build_optimization(args), actor=CLI_OPERATOR)
    if not args.json:
        print("\n".join(_describe_study(study)))
        sys.stdout.flush()
    view = await _run(uc, study, args.jobs, resume=False)
    await _finish(uc, view, args.json)
    return 0


async def _walk_forward_of(container: Container, wf_id: str) -> WalkForward | None:
    """The walk-forward use case when ``wf_id`` names a stored walk-forward (ids of
    studies and walk-forwards are both 32-hex: the study is looked up first)."""
    uc: WalkForward = await resolve(container.walk_forward)
    try:
        await uc.get(wf_id, actor=CLI_OPERATOR)
    except NotFound:
        return None
    return uc


async def _study_or_walk_forward(container: Container, ident: str) -> WalkForward | None:
    studies: OptimizeStudies = await resolve(container.optimize_studies)
    try:
        await studies.get(ident, actor=CLI_OPERATOR)
    except NotFound:
        found = await _walk_forward_of(container, ident)
        if found is None:
            raise NotFound(f"no study or walk-forward {ident!r} is stored") from None
        return found
    return None


async def run_resume(args: argparse.Namespace, container: Container) -> int:
    wf = await _study_or_walk_forward(container, args.study)
    if wf is not None:
        started = time.perf_counter()
        try:
            wf_view = await wf.resume(args.study, actor=CLI_OPERATOR, jobs=args.jobs)
        except BaseException:
            print(
                f"\nstopped; the finished folds are kept: arbx optimize resume {args.study}",
                file=sys.stderr,
            )
            raise
        _print_walk_forward(wf_view.walk_forward, wf_view.result, time.perf_counter() - started)
        return 0
    uc: OptimizeStudies = await resolve(container.optimize_studies)
    study = await uc.get(args.study, actor=CLI_OPERATOR)
    print("\n".join(_describe_study(study)))
    view = await _run(uc, study, args.jobs, resume=True)
    await _finish(uc, view, False)
    return 0


async def run_status(args: argparse.Namespace, container: Container) -> int:
    wf = await _study_or_walk_forward(container, args.study)
    if wf is not None:
        v = await wf.view(args.study, actor=CLI_OPERATOR)
        w = v.walk_forward
        print(f"walk-forward {w.id}: {w.status}; {w.strategy_version or w.strategy} {w.method}")
        print(f"folds: {v.folds_done} of {len(w.folds)} stored")
        if w.error:
            print(f"error: {w.error}")
        return 0
    uc: OptimizeStudies = await resolve(container.optimize_studies)
    view = await uc.view(args.study, actor=CLI_OPERATOR)
    s = view.study
    print(f"study {s.id}: {s.status}; {s.strategy} {s.method}")
    print("\n".join(_summary(view)))
    return 0


async def run_list(args: argparse.Namespace, container: Container) -> int:
    uc: OptimizeStudies = await resolve(container.optimize_studies)
    views = await uc.list(actor=CLI_OPERATOR, limit=args.limit)
    wfs = await (await resolve(container.walk_forward)).list(actor=CLI_OPERATOR, limit=args.limit)
    if not views and not wfs:
        print("no studies stored; start one with 'arbx optimize run'")
        return 0
    if wfs:
        print(
            f"{'walk-forward id':32} {'created (UTC)':16} {'strategy':14} {'method':7} {'status':11} {'folds':>6}"
        )
        for w in wfs:
            print(
                f"{w.id:32} {w.created_at:%Y-%m-%d %H:%M} {w.strategy_version or w.strategy:14}"
                f" {w.method:7} {w.status:11} {len(w.folds):>6}"
            )
        if not views:
            return 0
        print()
    print(
        f"{'id':32} {'created (UTC)':16} {'strategy':14} {'method':7} {'status':11} {'trials':>11} {'best':>10}"
    )
    for v in views:
        s = v.study
        best = "-" if v.best is None else _num(v.best.value)
        print(
            f"{s.id:32} {s.created_at:%Y-%m-%d %H:%M} {s.strategy:14} {s.method:7} {s.status:11}"
            f" {v.trials_done + v.trials_failed:>5}/{s.n_trials:<5} {best:>10}"
        )
    return 0


async def run_show(args: argparse.Namespace, container: Container) -> int:
    wf = await _study_or_walk_forward(container, args.study)
    if wf is not None:
        shown = await wf.view(args.study, actor=CLI_OPERATOR)
        if args.json:
            both = {"walk_forward": shown.walk_forward, "result": shown.result}
            print(msgspec.json.encode(both).decode())
            return 0
        _print_walk_forward(shown.walk_forward, shown.result, None)
        return 0
    uc: OptimizeStudies = await resolve(container.optimize_studies)
    view = await uc.view(args.study, actor=CLI_OPERATOR)
    trials = await uc.trials(args.study, actor=CLI_OPERATOR)
    if args.json:
        body = {"study": view.study, "trials": trials}
        print(msgspec.json.encode(body).decode())
        return 0
    print("\n".join(_describe_study(view.study)))
    print("\n".join(_summary(view)))
    print()
    print("\n".join(_trial_table(trials, view.study, args.trials)))
    print()
    print("\n".join(_diagnostics(await uc.diagnostics(args.study, actor=CLI_OPERATOR))))
    return 0


async def run_promote(args: argparse.Namespace, container: Container) -> int:
    uc: OptimizeStudies = await resolve(container.optimize_studies)
    run = await uc.promote(args.study, args.trial, actor=CLI_OPERATOR)
    print_run(run.meta, as_json=False)
    print(f"\nstored as run {run.id}; see it with 'arbx backtest show {run.id}'")
    return 0


async def run_walk_forward(args: argparse.Namespace, container: Container) -> int:
    uc: WalkForward = await resolve(container.walk_forward)
    optimization = build_optimization(args)
    request = WalkForwardRequest(
        optimization=msgspec.to_builtins(optimization),
        train=args.train,
        test=args.test,
        step=args.step,
        mode="anchored" if args.anchored else "rolling",
        purge=args.purge,
        embargo=args.embargo,
    )
    started = time.perf_counter()
    wf = await uc.create(request, actor=CLI_OPERATOR)
    if not args.json:
        print(f"walk-forward {wf.id}: {len(wf.folds)} folds")
        sys.stdout.flush()
    try:
        view = await uc.run(wf.id, actor=CLI_OPERATOR, jobs=args.jobs)
    except BaseException:
        print(
            f"\nstopped; the finished folds are kept: arbx optimize resume {wf.id}",
            file=sys.stderr,
        )
        raise
    if args.report is not None:
        await study_reports.write_walk_forward(args.report, view.result, request, container)
    if args.json:
        print(msgspec.json.encode(view.result).decode())
        return 0
    _print_walk_forward(view.walk_forward, view.result, time.perf_counter() - started)
    return 0


def _print_walk_forward(
    wf: WalkForwardStudy, result: WalkForwardResult, seconds: float | None
) -> None:
    metric = result.objective.metric
    took = "" if seconds is None else f" in {seconds:.2f} s"
    print(
        f"walk-forward {wf.id} of {wf.strategy_version or wf.strategy} ({result.method},"
        f" {result.objective.direction} {metric}): {len(result.folds)} of {len(wf.folds)}"
        f" folds{took}; status {wf.status}"
    )
    if wf.error:
        print(f"error: {wf.error}")
    print(
        f"{'fold':>4} {'train (UTC)':33} {'test (UTC)':33} {'IS ' + metric:>12}"
        f" {'OOS ' + metric:>12} {'OOS return':>10} {'WFE':>7}  params"
    )
    for f in result.folds:
        oos_ret = None if f.out_of_sample is None else f.out_of_sample.total_return
        eff = "-" if f.efficiency is None else f"{f.efficiency:.2f}"
        params = "-" if f.params is None else _params(f.params)
        print(
            f"{f.index:>4} {f.train_start:%Y-%m-%d %H:%M} .. {f.train_end:%Y-%m-%d %H:%M}"
            f" {f.test_start:%Y-%m-%d %H:%M} .. {f.test_end:%Y-%m-%d %H:%M}"
            f" {_num(f.in_sample_value):>12} {_num(f.out_of_sample_value):>12}"
            f" {_num(oos_ret):>10} {eff:>7}  {params}"
        )
    m = result.oos_metrics
    print(
        f"\nout of sample, chained: return {_num(m.total_return)}, Sharpe {_num(m.sharpe)},"
        f" max drawdown {_num(m.max_drawdown)}, {m.bars:,} bars"
    )
    wfe = "-" if result.efficiency is None else f"{result.efficiency:.3f}"
    print(f"walk-forward efficiency: {wfe}")
    for name, counts in result.stability.items():
        shown = ", ".join(f"{value} x{n}" for value, n in counts.items())
        print(f"chosen {name}: {shown}")
    for note in result.notes:
        print(f"note: {note}")
    print(f"\nstored; show it again with 'arbx optimize show {wf.id}'")
