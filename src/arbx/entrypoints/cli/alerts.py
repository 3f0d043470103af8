"""``arbx alerts``: list rules with their firing alerts, add and delete rules, show the
history of transitions, evaluate the rules once, send a test notification.

The commands act on the alert store directly (the SQLite file of the local profile); the
config's ``[[alerts.rules]]`` are synced first, as ``arbx serve`` does. ``--json`` prints
what the HTTP API answers for the same thing.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec

from arbx.app.alerts import MAX_HISTORY, ChannelStatus, ManageAlertRules
from arbx.domain.alerts import AlertRuleSpec, AlertTransition, RuleKind
from arbx.entrypoints.runtime import resolve

if TYPE_CHECKING:
    from arbx.entrypoints.container import Container

EXIT_OK, EXIT_FAILED = 0, 1


def register(groups: Any) -> None:
    parser = groups.add_parser(
        "alerts",
        help="alert rules, their history, a test notification",
        description="Alert rules ([[alerts.rules]] in config/*.toml, or added here and over the"
        " API), the transitions of their alerts (firing, resolved) and the notification"
        " channels ([alerts.channels.NAME]).",
    )
    commands = parser.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)

    listing = commands.add_parser("list", help="list the rules and the alerts firing now")
    _json_flag(listing)
    listing.set_defaults(run=list_rules)

    add = commands.add_parser(
        "add",
        help="add a rule",
        description="Add an alert rule. Kinds: " + ", ".join(k.value for k in RuleKind) + ".",
        epilog="Example: arbx alerts add --name stale-btc --kind collector_stale --threshold 10"
        " --match 'binance:BTC/USDC:*'",
    )
    add.add_argument("--name", required=True, help="1-64 of a-z 0-9 . _ -")
    add.add_argument("--kind", required=True, help="what to watch (see above)")
    add.add_argument(
        "--threshold",
        type=float,
        help="in the kind's unit: minutes (collector_stale), score 0-1 (quality_below), bars"
        " (outage_gap), failures in a row (job_failing), seconds (stream_disconnected), bps"
        " (spread_above); none for the others",
    )
    add.add_argument("--match", help="only subjects matching this pattern, e.g. 'binance:*'")
    add.add_argument("--severity", default="warning", help="info, warning (default) or critical")
    add.add_argument("--cooldown", type=float, default=300.0, help="seconds (default 300)")
    add.add_argument(
        "--channel", action="append", default=[], help="notify this channel (repeat; default all)"
    )
    _json_flag(add)
    add.set_defaults(run=add_rule)

    remove = commands.add_parser("delete", help="delete a rule (its history stays)")
    remove.add_argument("rule", metavar="RULE", help="the rule's id or name")
    remove.set_defaults(run=delete_rule)

    history = commands.add_parser("history", help="transitions, newest first")
    history.add_argument("--rule", help="one rule's id or name (default: every rule)")
    history.add_argument("--limit", type=int, default=50, help=f"at most 1-{MAX_HISTORY}")
    _json_flag(history)
    history.set_defaults(run=show_history)

    evaluate = commands.add_parser(
        "evaluate", help="evaluate the rules once now (store, notify) and print the transitions"
    )
    _json_flag(evaluate)
    evaluate.set_defaults(run=evaluate_rules)

    test = commands.add_parser(
        "test", help="send a test notification to the channels (exit 1 if one fails)"
    )
    test.add_argument("--channel", action="append", default=[], help="only this channel (repeat)")
    _json_flag(test)
    test.set_defaults(run=test_channels)


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON (as the HTTP API)")


def _print_json(value: object) -> None:
    print(msgspec.json.format(msgspec.json.encode(value)).decode())


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S}Z"


def _table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


async def _rules(container: Container) -> ManageAlertRules:
    manage: ManageAlertRules = await resolve(container.manage_alert_rules)
    await manage.sync_config(container.settings().alerts.rules)
    return manage


async def _rule_id(manage: ManageAlertRules, given: str) -> str:
    for view in await manage.overview():
        if given in (view.rule.id, view.rule.name):
            return view.rule.id
    return given  # unknown: the store says so (or an old rule's history)


async def list_rules(args: argparse.Namespace, container: Container) -> int:
    views = await (await _rules(container)).overview()
    if args.json:
        _print_json({"count": len(views), "rules": views})
        return EXIT_OK
    if not views:
        print("no alert rules; add one with 'arbx alerts add' or [[alerts.rules]] in config/*.toml")
        return EXIT_OK
    rows = [["ID", "NAME", "KIND", "THRESHOLD", "MATCH", "SEVERITY", "STATE", "FIRING"]]
    for view in views:
        rule = view.rule
        rows.append(
            [
                rule.id,
                rule.name,
                rule.kind.value,
                "-" if rule.threshold is None else f"{rule.threshold:g}",
                rule.match or "*",
                rule.severity.value,
                "enabled" if rule.enabled else "disabled",
                ", ".join(t.subject for t in view.firing) or "-",
            ]
        )
    _table(rows)
    return EXIT_OK


async def add_rule(args: argparse.Namespace, container: Container) -> int:
    spec = AlertRuleSpec(
        name=args.name,
        kind=args.kind,
        threshold=args.threshold,
        match=args.match,
        severity=args.severity,
        cooldown_s=args.cooldown,
        channels=args.channel,
    )
    rule = await (await _rules(container)).create(spec)
    if args.json:
        _print_json(rule)
    else:
        print(f"added rule {rule.id} ({rule.name}, {rule.kind.value})")
    return EXIT_OK


async def delete_rule(args: argparse.Namespace, container: Container) -> int:
    manage = await _rules(container)
    rule_id = await _rule_id(manage, args.rule)
    await manage.delete(rule_id)
    print(f"deleted rule {rule_id}")
    return EXIT_OK


def _transitions(found: list[AlertTransition], as_json: bool) -> None:
    if as_json:
        _print_json({"count": len(found), "transitions": found})
        return
    if not found:
        print("no transitions")
        return
    rows = [["AT", "RULE", "SUBJECT", "STATE", "SEVERITY", "SUMMARY"]]
    for t in found:
        rows.append(
            [_when(t.at), t.rule_name, t.subject, t.state.value, t.severity.value, t.summary[:80]]
        )
    _table(rows)


async def show_history(args: argparse.Namespace, container: Container) -> int:
    manage = await _rules(container)
    rule_id = None if args.rule is None else await _rule_id(manage, args.rule)
    _transitions(await manage.history(rule_id, limit=args.limit), args.json)
    return EXIT_OK


async def evaluate_rules(args: argparse.Namespace, container: Container) -> int:
    await _rules(container)
    evaluate = await resolve(container.evaluate_alerts)
    found = await evaluate.execute()
    notifications = await resolve(container.notifications)
    await notifications.drain()  # the process ends next: deliver first
    _transitions(found, args.json)
    return EXIT_OK


async def test_channels(args: argparse.Namespace, container: Container) -> int:
    notifications = await resolve(container.notifications)
    if not notifications.names:
        print("no channel configured; add one as [alerts.channels.NAME] in config/*.toml")
        return EXIT_FAILED
    statuses: list[ChannelStatus] = await notifications.test(args.channel)
    if args.json:
        _print_json({"channels": statuses})
    else:
        for s in statuses:
            state = "delivered" if s.ok else f"FAILED: {s.last_error}"
            print(f"{s.name} ({s.kind}): {state}")
    return EXIT_OK if all(s.ok for s in statuses) else EXIT_FAILED
