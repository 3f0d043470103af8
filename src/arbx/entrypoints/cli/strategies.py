"""``arbx strategies``: your own strategies. ``check NAME`` tests a strategy type (a plugin or
a built-in) for look-ahead and bad output on seeded synthetic bars; the other commands keep
versioned strategy definitions in the catalog (create, edit, list, show, versions, diff,
rollback, promote, retire, evaluate). The local CLI acts as the operator (it holds the
database): its definitions have no owner."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from arbx.domain.errors import InvalidInput
from arbx.domain.strategies import get_strategy, parse_params, plugin_failures
from arbx.domain.strategies.lookahead import check_strategy

if TYPE_CHECKING:
    from arbx.entrypoints.container import Container

CHECK_HELP = """\
Check a strategy type for look-ahead: on seeded synthetic bars, change every bar after a
cut bar and run it again; every decision at or before the cut must stay the same. Also
reports a strategy that raises or returns a bad shape, NaN or values other than 0/1.
Plugins come from [strategies] paths (default ./strategies) and arbx.strategies entry points.

examples:
  arbx strategies check sma_cross
  arbx strategies check bollinger_breakout --param window=30
"""


def register(groups: Any) -> None:
    parser = groups.add_parser(
        "strategies",
        help="your own strategies: check plugins; the catalog of versioned definitions",
        description="Strategy plugins and the strategy catalog.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = commands.add_parser(
        "check",
        help="test a strategy for look-ahead and bad output",
        description=CHECK_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", help="strategy type, e.g. bollinger_breakout")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--bars", type=int, default=600, help="synthetic bars (default 600)")
    p.add_argument("--cuts", type=int, default=6, help="cut bars to test (default 6)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=run_check)
    from arbx.entrypoints.cli.catalog import register_catalog

    register_catalog(commands)


def parse_param_args(items: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InvalidInput(f"--param {item!r} is not NAME=VALUE", field="param")
        params[name.strip()] = value.strip()
    return params


async def run_check(args: argparse.Namespace, container: Container) -> int:
    if args.bars < 50 or args.cuts < 1:
        raise InvalidInput("--bars must be >= 50 and --cuts >= 1", field="bars")
    strategy = get_strategy(args.name)
    params = parse_params(strategy, parse_param_args(args.param))
    report = check_strategy(strategy, params, bars=args.bars, cuts=args.cuts)
    if args.json:
        print(
            json.dumps(
                {
                    "strategy": report.strategy,
                    "ok": report.ok,
                    "bars": report.bars,
                    "cuts": report.cuts,
                    "decisions": report.decisions,
                    "violations": report.violations,
                    "error": report.error,
                }
            )
        )
    else:
        where = strategy.origin.location or "built in"
        print(f"{strategy.name} ({strategy.kind}, {where})")
        print(f"  {report.bars} synthetic bars, cuts at {', '.join(map(str, report.cuts))}")
        print(f"  {report.decisions} decisions on the unchanged bars")
        for line in report.violations:
            print(f"  LOOK-AHEAD: {line}")
        if report.error:
            print(f"  ERROR: {report.error}")
        print("  ok: no decision depends on a later bar" if report.ok else "  FAILED")
    for where, error in plugin_failures().items():
        print(f"note: plugin {where} failed to load: {error.splitlines()[0] if error else ''}")
    return 0 if report.ok else 1
