"""The AlertStore contract, written once and run against every adapter (memory, sqlite,
postgres). Tests use only the port's methods."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.memory.alert_store import MemoryAlertStore
from arbx.adapters.postgres.alert_store import PostgresAlertStore
from arbx.adapters.sqlite.alert_store import SqliteAlertStore
from arbx.adapters.sqlite.database import SqliteDatabase
from arbx.domain.alerts import (
    AlertRule,
    AlertRuleSpec,
    AlertTransition,
    RuleKind,
    RuleOrigin,
    Severity,
    TransitionState,
)
from arbx.domain.errors import Conflict, NotFound
from arbx.ports.alert_store import AlertStore
from tests.support.postgres import PostgresTestDatabase

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def memory_alert_store() -> AlertStore:
    return MemoryAlertStore()


@pytest.fixture
async def sqlite_alert_store(tmp_path: Path) -> AsyncIterator[AlertStore]:
    async with SqliteDatabase(tmp_path / "arbx.sqlite") as database:
        yield SqliteAlertStore(database)


@pytest.fixture
async def postgres_alert_store(
    postgres_database: PostgresTestDatabase, postgres_pool: AsyncConnectionPool
) -> AlertStore:
    async with postgres_pool.connection() as conn:
        for table in ("alert_rules", "alert_transitions"):
            await conn.execute(
                sql.SQL("TRUNCATE {}").format(sql.Identifier(postgres_database.schema, table))
            )
    return PostgresAlertStore(postgres_pool, postgres_database.schema)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def alerts(request: pytest.FixtureRequest) -> AlertStore:
    store: AlertStore = request.getfixturevalue(f"{request.param}_alert_store")
    return store


def rule(
    rule_id: str = "r1", name: str = "stale-btc", *, at: datetime = T0, **spec: object
) -> AlertRule:
    fields: dict[str, object] = {"name": name, "kind": "collector_stale", "threshold": 5.0}
    fields.update(spec)
    return AlertRule.from_spec(
        AlertRuleSpec(**fields),  # type: ignore[arg-type]
        id=rule_id,
        origin=RuleOrigin.API,
        created_at=at,
    )


def transition(
    tid: str, *, rule_id: str = "r1", subject: str = "binance:BTC/USDC:1m", minutes: int = 0,
    state: TransitionState = TransitionState.FIRING,
) -> AlertTransition:  # fmt: skip
    return AlertTransition(
        id=tid,
        rule_id=rule_id,
        rule_name="stale-btc",
        kind=RuleKind.COLLECTOR_STALE,
        severity=Severity.WARNING,
        subject=subject,
        state=state,
        at=T0 + timedelta(minutes=minutes),
        value=12.5 if state is TransitionState.FIRING else None,
        summary=f"{subject} {state.value}",
    )


async def test_rules_round_trip_oldest_first(alerts: AlertStore) -> None:
    later = rule("r2", "gaps", at=T0 + timedelta(minutes=1), kind="outage_gap", threshold=None)
    first = rule(channels=[], match="binance:*", severity="critical", cooldown_s=60)
    await alerts.save_rule(later)
    await alerts.save_rule(first)
    assert await alerts.list_rules() == [first, later]
    assert await alerts.get_rule("r2") == later
    assert (await alerts.get_rule("r2")).threshold == 1.0


async def test_a_taken_id_or_name_conflicts_and_changes_nothing(alerts: AlertStore) -> None:
    original = rule()
    await alerts.save_rule(original)
    with pytest.raises(Conflict, match="exists already"):
        await alerts.save_rule(rule(threshold=9.0))
    with pytest.raises(Conflict, match="is taken"):
        await alerts.save_rule(rule("r2", "stale-btc"))
    assert await alerts.list_rules() == [original]


async def test_replace_updates_a_rule_in_place(alerts: AlertStore) -> None:
    await alerts.save_rule(rule())
    changed = rule(threshold=30.0, enabled=False)
    await alerts.save_rule(changed, replace=True)
    assert await alerts.list_rules() == [changed]
    await alerts.save_rule(rule("r2", "other"))
    with pytest.raises(Conflict):
        await alerts.save_rule(rule("r2", "stale-btc"), replace=True)


async def test_unknown_rules_are_not_found(alerts: AlertStore) -> None:
    with pytest.raises(NotFound):
        await alerts.get_rule("nope")
    with pytest.raises(NotFound):
        await alerts.delete_rule("nope")


async def test_history_is_newest_first_per_rule_and_survives_deletion(alerts: AlertStore) -> None:
    await alerts.save_rule(rule())
    fired = transition("t1")
    resolved = transition("t2", minutes=5, state=TransitionState.RESOLVED)
    other = transition("t3", rule_id="r9", minutes=2)
    for t in (fired, other, resolved):
        await alerts.record(t)
    assert await alerts.history("r1") == [resolved, fired]
    assert await alerts.history() == [resolved, other, fired]
    assert await alerts.history(limit=1) == [resolved]
    await alerts.delete_rule("r1")
    assert await alerts.history("r1") == [resolved, fired]
    with pytest.raises(Conflict):
        await alerts.record(fired)


async def test_firing_lists_the_alerts_whose_latest_transition_fires(alerts: AlertStore) -> None:
    a, b = "binance:BTC/USDC:1m", "kraken:BTC/USDC:1m"
    for t in (
        transition("t1", subject=a),
        transition("t2", subject=a, minutes=1, state=TransitionState.RESOLVED),
        transition("t3", subject=b, minutes=1),
        transition("t4", subject=a, minutes=3),
        transition("t5", rule_id="r2", subject=a, minutes=1),
        transition("t6", rule_id="r2", subject=a, minutes=2, state=TransitionState.RESOLVED),
    ):
        await alerts.record(t)
    assert sorted(t.id for t in await alerts.firing()) == ["t3", "t4"]
