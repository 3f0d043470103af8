"""Catalog rollbacks feed the ``strategy_rolled_back`` rule through the normal pipeline: the
audit log (written by any process) -> EvaluateAlerts (dedup, cooldown) -> the channels, here
a signed webhook to a local receiver."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import aiohttp

from arbx.adapters.memory.alert_store import MemoryAlertStore
from arbx.adapters.memory.audit_log import MemoryAuditLog
from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.catalog_store import MemoryCatalogStore
from arbx.adapters.memory.job_store import MemoryJobStore
from arbx.adapters.memory.run_store import MemoryRunStore
from arbx.adapters.notifications.webhook import WebhookChannel
from arbx.adapters.telemetry.noop import NoTelemetry
from arbx.app.alerts import EvaluateAlerts, ManageAlertRules, Notifications
from arbx.app.authorize import AuditTrail
from arbx.app.evaluate_strategy import EvaluateStrategy
from arbx.app.manage_catalog import StrategyCatalog, StrategyInput
from arbx.app.observations import Observations
from arbx.app.run_backtest import RunBacktest
from arbx.domain.alerts import AlertRuleSpec, TransitionState
from arbx.domain.auth import Principal, PrincipalKind, Role
from arbx.domain.catalog import RollbackRule
from tests.builders import key, make_bars
from tests.support.receivers import webhook_receiver
from tests.unit.auth.fakes import FakeClock

ALICE = Principal(
    kind=PrincipalKind.USER, user_id="u-alice", username="alice", roles=frozenset({Role.ANALYST})
)
SMA = StrategyInput(
    strategy="sma_cross", params={"fast": 5, "slow": 20}, series=["binance:BTC/USDC:1m"]
)


class World:
    def __init__(self, channels: list[WebhookChannel]) -> None:
        self.clock = FakeClock(datetime(2024, 1, 3, tzinfo=UTC))
        self.audit = MemoryAuditLog()
        trail = AuditTrail(self.audit, self.clock)
        self.catalog = StrategyCatalog(MemoryCatalogStore(), trail, self.clock)
        self.store = MemoryAlertStore()
        self.sent = Notifications(
            channels,
            clock=self.clock,
            telemetry=NoTelemetry(),
            attempts=2,
            base_delay_s=0.01,
            max_delay_s=0.02,
        )
        names = frozenset(c.name for c in channels)
        self.rules = ManageAlertRules(store=self.store, clock=self.clock, channels=names)

    def evaluator(self, *, audit: bool = True) -> EvaluateAlerts:
        return EvaluateAlerts(
            store=self.store,
            observations=Observations(NoTelemetry(), self.clock),
            bars=MemoryBarStore(),
            jobs=MemoryJobStore(),
            exchanges={},
            notifications=self.sent,
            clock=self.clock,
            audit=self.audit if audit else None,
        )


async def test_a_manual_rollback_fires_the_alert_to_the_webhook_once_per_cooldown() -> None:
    with webhook_receiver() as receiver:
        async with aiohttp.ClientSession() as session:
            hook = WebhookChannel(
                "ops", session, url=receiver.url, secret="s3cret", slack=False, timeout_s=5
            )
            world = World([hook])
            await world.rules.sync_config(
                [AlertRuleSpec(name="rollback", kind="strategy_rolled_back", cooldown_s=600)]
            )
            evaluate = world.evaluator()
            assert await evaluate.execute() == []
            await world.catalog.create("btc-sma", SMA, actor=ALICE)
            await world.catalog.edit("btc-sma", StrategyInput(params={"slow": 40}), actor=ALICE)
            world.clock.advance(1)
            await world.catalog.rollback("btc-sma", 1, actor=ALICE)
            [fired] = await evaluate.execute()
            assert (fired.subject, fired.state) == ("btc-sma", TransitionState.FIRING)
            assert "btc-sma rolled back by user:u-alice: v3 = v1" in fired.summary
            await world.sent.drain()
            [got] = receiver.received
            body = json.loads(got.body)
            assert (body["rule"], body["subject"], body["state"]) == (
                "rollback",
                "btc-sma",
                "firing",
            )
            assert [t.state for t in await evaluate.execute()] == [TransitionState.RESOLVED]
            world.clock.advance(60)  # inside the cooldown: a second rollback is not sent
            await world.catalog.rollback("btc-sma", 2, actor=ALICE)
            assert await evaluate.execute() == []
            assert await evaluate.execute() == []  # and nothing is read twice
            world.clock.advance(timedelta(minutes=20).total_seconds())
            await world.catalog.rollback("btc-sma", 1, actor=ALICE)
            assert [t.state for t in await evaluate.execute()] == [TransitionState.FIRING]
            stored = await world.store.history(limit=10)
            assert [t.subject for t in stored] == ["btc-sma"] * 3


async def test_an_automatic_rollback_fires_it_too_and_without_the_feed_nothing_does() -> None:
    world = World([])
    await world.rules.sync_config([AlertRuleSpec(name="rollback", kind="strategy_rolled_back")])
    evaluate, blind = world.evaluator(), world.evaluator(audit=False)
    bars = MemoryBarStore()
    now = world.clock.now()
    await bars.write(key(), make_bars(2000, now - timedelta(days=1), volatility=0.01))
    backtests = RunBacktest(bars, MemoryRunStore(), world.clock)
    catalog = world.catalog
    await catalog.create("btc-sma", SMA, actor=ALICE)
    for number, rule in ((1, None), (2, RollbackRule(min_sharpe=1e9))):
        if rule is not None:
            await catalog.edit("btc-sma", StrategyInput(rollback=rule), actor=ALICE)
        await catalog.promote("btc-sma", number, "candidate", actor=ALICE)
        await catalog.promote(
            "btc-sma", number, "approved", actor=ALICE, walk_forward=f"wf-{number}"
        )
    result = await EvaluateStrategy(catalog, backtests, bars).execute(
        "btc-sma", actor=ALICE, days=2
    )
    assert result.rolled_back is not None
    assert await blind.execute() == []  # without the audit feed nothing fires
    [fired] = await evaluate.execute()
    assert fired.subject == "btc-sma"
    assert "rolled back automatically" in fired.summary
    assert "automatic rollback: Sharpe" in fired.summary
