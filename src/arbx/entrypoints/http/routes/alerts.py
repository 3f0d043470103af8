"""The alerts API: rules with their firing alerts, history, channels, a test, a pass now."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from arbx.app.alerts import (
    MAX_HISTORY,
    ChannelStatus,
    EvaluateAlerts,
    ManageAlertRules,
    Notifications,
    RuleView,
)
from arbx.domain.alerts import AlertRule, AlertRuleSpec, AlertTransition
from arbx.domain.auth import Permission
from arbx.entrypoints.http.security import requires

READ = requires(Permission.OBSERVABILITY_READ)
MANAGE = requires(Permission.ALERTS_MANAGE, group="admin")


class RulesOut(msgspec.Struct):
    count: int
    rules: list[RuleView]


class HistoryOut(msgspec.Struct):
    count: int
    transitions: list[AlertTransition]


class ChannelsOut(msgspec.Struct):
    channels: list[ChannelStatus]


class TestIn(msgspec.Struct, forbid_unknown_fields=True):
    channels: list[str] = msgspec.field(default_factory=list)  # empty: every channel


class EvaluationOut(msgspec.Struct):
    transitions: list[AlertTransition]


@get("", summary="Every alert rule with the alerts of it firing now", guards=[READ])
async def list_rules(manage_alert_rules: NamedDependency[ManageAlertRules]) -> RulesOut:
    views = await manage_alert_rules.overview()
    return RulesOut(len(views), views)


@post("/rules", summary="Create an alert rule", guards=[MANAGE], status_code=201)
async def create_rule(
    data: JSONBody[AlertRuleSpec], manage_alert_rules: NamedDependency[ManageAlertRules]
) -> AlertRule:
    return await manage_alert_rules.create(data)


@delete(
    "/rules/{rule_id:str}",
    summary="Delete an alert rule (its history stays)",
    guards=[MANAGE],
    status_code=204,
)
async def delete_rule(
    rule_id: FromPath[str], manage_alert_rules: NamedDependency[ManageAlertRules]
) -> None:
    await manage_alert_rules.delete(rule_id)


@get("/history", summary="Alert transitions, newest first (of one rule or all)", guards=[READ])
async def history(
    manage_alert_rules: NamedDependency[ManageAlertRules],
    rule: Annotated[str | None, QueryParameter(description="a rule id")] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_HISTORY)] = 100,
) -> HistoryOut:
    found = await manage_alert_rules.history(rule, limit=limit)
    return HistoryOut(len(found), found)


@get("/channels", summary="Each notification channel's deliveries and last error", guards=[READ])
async def channels(notifications: NamedDependency[Notifications]) -> ChannelsOut:
    return ChannelsOut(notifications.statuses())


@post("/test", summary="Send a test notification to channels now", guards=[MANAGE], status_code=200)
async def test_channels(
    data: JSONBody[TestIn], notifications: NamedDependency[Notifications]
) -> ChannelsOut:
    return ChannelsOut(await notifications.test(data.channels))


@post("/evaluate", summary="Evaluate every rule now", guards=[MANAGE], status_code=200)
async def evaluate(evaluate_alerts: NamedDependency[EvaluateAlerts]) -> EvaluationOut:
    return EvaluationOut(await evaluate_alerts.execute())


ROUTES = [list_rules, create_rule, delete_rule, history, channels, test_channels, evaluate]
