"""``arbx data retain``: delete the bars the retention rules no longer keep."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from arbx.entrypoints.runtime import resolve

if TYPE_CHECKING:
    from arbx.app.apply_retention import ApplyRetention
    from arbx.entrypoints.container import Container

RETAIN_HELP = "delete the bars older than the [[retention]] rules keep (--dry-run lists them)"


def register_data_commands(commands: Any) -> None:
    """Add ``retain`` to the ``arbx data`` sub-commands."""
    p = commands.add_parser(
        "retain",
        help=RETAIN_HELP,
        description=(
            "Apply the [[retention]] rules of the config (kind, timeframe, exchange, keep_days):"
            " whole calendar months older than keep_days go. Bars a stored backtest read are"
            " kept (the run stays rerunnable) unless --force."
        ),
    )
    p.add_argument("--dry-run", action="store_true", help="list what would go; delete nothing")
    p.add_argument("--force", action="store_true", help="delete bars stored runs read as well")
    p.set_defaults(run=run_retain)


async def run_retain(args: argparse.Namespace, container: Container) -> int:
    retain: ApplyRetention = await resolve(container.apply_retention)
    report = await retain.execute(dry_run=args.dry_run, force=args.force)
    if not report.outcomes:
        print("no retention rule matches a stored series; nothing to do")
        return 0
    verb = "would delete" if report.dry_run else "deleted"
    for outcome in report.outcomes:
        item = outcome.item
        what = (
            "nothing"
            if item.delete is None
            else f"{outcome.bars:,} bars before {item.delete.end:%Y-%m-%d}"
        )
        pinned = (
            f" (kept from {item.delete.end if item.delete else 'the start'}"
            f" for runs {', '.join(item.pinned_by)})"
            if item.pinned_by
            else ""
        )
        print(f"{item.key!s:32} {item.rule.describe()}: {verb} {what}{pinned}")
    print(f"{verb} {report.bars:,} bars in total")
    return 0
