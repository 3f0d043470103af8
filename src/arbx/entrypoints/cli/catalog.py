"""``arbx strategies create|edit|list|show|versions|diff|rollback|promote|retire|evaluate``:
the strategy catalog from the command line."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

import msgspec

from arbx.app.evaluate_strategy import EvaluateStrategy
from arbx.app.manage_catalog import StrategyCatalog, StrategyDetail, StrategyInput
from arbx.app.run_backtest import CLI_OPERATOR
from arbx.domain.backtest.costs import FeeSchedule
from arbx.domain.catalog import RollbackRule, StrategyVersion
from arbx.domain.errors import InvalidInput
from arbx.entrypoints.runtime import resolve

if TYPE_CHECKING:
    from arbx.entrypoints.container import Container


def _spec_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--param", action="append", default=None, metavar="NAME=VALUE")
    p.add_argument(
        "--series",
        action="append",
        default=None,
        metavar="EXCHANGE:BASE/QUOTE:TF",
        help="a series the strategy is meant for (repeatable)",
    )
    p.add_argument(
        "--fee",
        action="append",
        default=None,
        metavar="VENUE=MAKER,TAKER",
        help="fee assumption in bps, e.g. kraken=25,40 (repeatable)",
    )
    p.add_argument("--notes", help="free text: what this version is for")
    p.add_argument("--min-sharpe", type=float, help="rollback rule: Sharpe below this")
    p.add_argument("--max-drawdown", type=float, help="rollback rule: drawdown beyond (0.2=20%%)")


def register_catalog(commands: Any) -> None:
    p = commands.add_parser("create", help="store a new strategy definition (version 1, draft)")
    p.add_argument("name", help="a unique name, e.g. btc-sma-fast")
    p.add_argument("--strategy", required=True, help="strategy type (arbx backtest strategies)")
    _spec_options(p)
    p.add_argument("--private", action="store_true", help="not readable by viewers")
    p.set_defaults(run=run_create)

    p = commands.add_parser("edit", help="make a new version with some fields changed")
    p.add_argument("name")
    p.add_argument("--strategy", help="another strategy type (its defaults, then --param)")
    _spec_options(p)
    p.add_argument("--why", default="", help="why this version (kept with it)")
    p.set_defaults(run=run_edit)

    p = commands.add_parser("list", help="stored strategy definitions")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_list)

    for name, text in (
        ("show", "a definition, its versions and state history"),
        ("versions", "the versions of a definition"),
    ):
        p = commands.add_parser(name, help=text)
        p.add_argument("name")
        p.add_argument("--json", action="store_true")
        p.set_defaults(run=run_show, only_versions=name == "versions")

    p = commands.add_parser("diff", help="what changed between two versions")
    p.add_argument("name")
    p.add_argument("a", type=int, help="version number")
    p.add_argument("b", type=int, help="version number")
    p.set_defaults(run=run_diff)

    p = commands.add_parser("rollback", help="make an old version current (as a new version)")
    p.add_argument("name")
    p.add_argument("to", type=int, help="the version to restore")
    p.set_defaults(run=run_rollback)

    p = commands.add_parser(
        "promote", help="move a version: draft -> candidate -> approved (needs --walk-forward)"
    )
    p.add_argument("name")
    p.add_argument("version", type=int)
    p.add_argument("--to", required=True, choices=["draft", "candidate", "approved"])
    p.add_argument("--walk-forward", help="reference of the walk-forward result (approval)")
    p.add_argument("--reason", default="")
    p.set_defaults(run=run_promote)

    p = commands.add_parser("retire", help="retire a version (final)")
    p.add_argument("name")
    p.add_argument("version", type=int)
    p.add_argument("--reason", default="")
    p.set_defaults(run=run_retire)

    p = commands.add_parser(
        "run", help="backtest a stored version over a span (the run names name@vN)"
    )
    p.add_argument("name")
    p.add_argument("--version", type=int, help="version number (default: the current one)")
    p.add_argument("--start", required=True, help="first bar (ISO-8601 or epoch ms; UTC)")
    p.add_argument("--end", required=True, help="end of the span, exclusive")
    p.set_defaults(run=run_version)

    p = commands.add_parser(
        "evaluate", help="re-run the approved version on the newest data; apply its rule"
    )
    p.add_argument("name")
    p.add_argument("--version", type=int, help="another version than the approved one")
    p.add_argument("--days", type=float, default=30.0, help="days up to now (default 30)")
    p.set_defaults(run=run_evaluate)


def _input(args: argparse.Namespace) -> StrategyInput:
    params = None
    if args.param is not None:
        from arbx.entrypoints.cli.strategies import parse_param_args

        params = dict(parse_param_args(args.param))
    fees: dict[str, FeeSchedule] | None = None
    if args.fee is not None:
        fees = {}
        for item in args.fee:
            venue, sep, pair = item.partition("=")
            maker, comma, taker = pair.partition(",")
            try:
                if not (sep and comma):
                    raise ValueError(item)
                fees[venue] = FeeSchedule(maker_bps=float(maker), taker_bps=float(taker))
            except ValueError:
                raise InvalidInput(
                    f"--fee {item!r} is not VENUE=MAKER,TAKER", field="fee"
                ) from None
    rule = None
    if args.min_sharpe is not None or args.max_drawdown is not None:
        rule = RollbackRule(min_sharpe=args.min_sharpe, max_drawdown=args.max_drawdown)
    return StrategyInput(
        strategy=getattr(args, "strategy", None),
        params=params,
        series=args.series,
        fees=fees,
        notes=args.notes,
        rollback=rule,
    )


def _line(v: StrategyVersion) -> str:
    code = v.source if v.source == "builtin" else f"plugin {v.code_hash[:12]} {v.code_version}"
    extra = f", walk-forward {v.walk_forward}" if v.walk_forward else ""
    return (
        f"  v{v.number}  {v.state:<9}  {v.spec.strategy} {json.dumps(v.spec.params)}"
        f"  ({v.change}; {code}; by {v.author or 'cli'} {v.created_at:%Y-%m-%d %H:%M}{extra})"
    )


async def _catalog(container: Container) -> StrategyCatalog:
    found: StrategyCatalog = await resolve(container.strategy_catalog)
    return found


async def run_create(args: argparse.Namespace, container: Container) -> int:
    catalog = await _catalog(container)
    detail = await catalog.create(
        args.name, _input(args), actor=CLI_OPERATOR, shared=not args.private
    )
    print(f"created {args.name} v1 (draft)")
    print(_line(detail.current))
    return 0


async def run_edit(args: argparse.Namespace, container: Container) -> int:
    catalog = await _catalog(container)
    version = await catalog.edit(args.name, _input(args), actor=CLI_OPERATOR, why=args.why)
    print(f"{args.name} v{version.number} (draft)")
    print(_line(version))
    return 0


async def run_list(args: argparse.Namespace, container: Container) -> int:
    catalog = await _catalog(container)
    found = await catalog.list(actor=CLI_OPERATOR)
    if args.json:
        print(json.dumps(msgspec.to_builtins(found)))
        return 0
    for d in found:
        print(f"{d.name}  v{d.current}  owner {d.owner or 'cli'}{'' if d.shared else '  private'}")
    if not found:
        print("no strategies stored; create one with 'arbx strategies create NAME --strategy ...'")
    return 0


def _detail_json(detail: StrategyDetail) -> dict[str, Any]:
    return {
        "definition": msgspec.to_builtins(detail.definition),
        "versions": msgspec.to_builtins(detail.versions),
        "history": msgspec.to_builtins(detail.history),
    }


async def run_show(args: argparse.Namespace, container: Container) -> int:
    catalog = await _catalog(container)
    detail = await catalog.show(args.name, actor=CLI_OPERATOR)
    if args.json:
        print(json.dumps(_detail_json(detail)))
        return 0
    d = detail.definition
    if not args.only_versions:
        print(f"{d.name}  (id {d.id}, owner {d.owner or 'cli'}, current v{d.current})")
        spec = detail.current.spec
        print(f"  series {', '.join(spec.series) or '-'}; notes: {spec.notes or '-'}")
        if spec.rollback is not None:
            print(f"  rollback rule: {json.dumps(msgspec.to_builtins(spec.rollback))}")
    print("versions:")
    for v in detail.versions:
        print(_line(v))
    if not args.only_versions and detail.history:
        print("state changes:")
        for h in detail.history:
            why = f" ({h.reason})" if h.reason else ""
            print(
                f"  {h.at:%Y-%m-%d %H:%M}  v{h.number} {h.before} -> {h.after} by {h.actor or 'cli'}{why}"
            )
    return 0


async def run_diff(args: argparse.Namespace, container: Container) -> int:
    catalog = await _catalog(container)
    changes = await catalog.diff(args.name, args.a, args.b, actor=CLI_OPERATOR)
    if not changes:
        print(f"v{args.a} and v{args.b} of {args.name} say the same")
    for c in changes:
        print(f"  {c.path}: {json.dumps(c.before)} -> {json.dumps(c.after)}")
    return 0


async def run_rollback(args: argparse.Namespace, container: Container) -> int:
    catalog = await _catalog(container)
    version = await catalog.rollback(args.name, args.to, actor=CLI_OPERATOR)
    print(f"{args.name} v{version.number} = v{args.to} (rollback)")
    print(_line(version))
    return 0


async def run_promote(args: argparse.Namespace, container: Container) -> int:
    catalog = await _catalog(container)
    version = await catalog.promote(
        args.name,
        args.version,
        args.to,
        actor=CLI_OPERATOR,
        walk_forward=args.walk_forward,
        reason=args.reason,
    )
    print(f"{args.name} v{version.number} is {version.state}")
    return 0


async def run_retire(args: argparse.Namespace, container: Container) -> int:
    catalog = await _catalog(container)
    version = await catalog.retire(args.name, args.version, actor=CLI_OPERATOR, reason=args.reason)
    print(f"{args.name} v{version.number} is {version.state}")
    return 0


async def run_evaluate(args: argparse.Namespace, container: Container) -> int:
    evaluate: EvaluateStrategy = await resolve(container.evaluate_strategy)
    result = await evaluate.execute(
        args.name, actor=CLI_OPERATOR, number=args.version, days=args.days
    )
    m = result.run.meta.metrics
    print(f"run {result.run.id}  {args.name}@v{result.version}")
    print(f"  sharpe {m.sharpe}  max drawdown {m.max_drawdown}  trades {m.trade_count}")
    if result.rolled_back:
        print(f"  ROLLED BACK: {result.rolled_back}")
    return 0


async def run_version(args: argparse.Namespace, container: Container) -> int:
    from arbx.domain.market.timespan import parse_instant

    evaluate: EvaluateStrategy = await resolve(container.evaluate_strategy)
    run = await evaluate.run_version(
        args.name,
        actor=CLI_OPERATOR,
        number=args.version,
        start=parse_instant(args.start, field="start"),
        end=parse_instant(args.end, field="end"),
    )
    m = run.meta.metrics
    print(f"run {run.id}  {run.meta.strategy_version}")
    print(f"  return {m.total_return}  sharpe {m.sharpe}  trades {m.trade_count}")
    print(f"  see it with: arbx backtest show {run.id}")
    return 0
