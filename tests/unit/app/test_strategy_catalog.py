"""StrategyCatalog and EvaluateStrategy with the in-memory stores: versions, diff,
rollback, the deployment workflow with four eyes, RBAC, the audit trail, and the automatic
rollback after a re-evaluation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from arbx.adapters.memory.audit_log import MemoryAuditLog
from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.catalog_store import MemoryCatalogStore
from arbx.adapters.memory.run_store import MemoryRunStore
from arbx.app.authorize import AuditTrail
from arbx.app.evaluate_strategy import EvaluateStrategy
from arbx.app.manage_catalog import StrategyCatalog, StrategyInput
from arbx.app.run_backtest import RunBacktest
from arbx.domain.auth import AuditQuery, Principal, PrincipalKind, Role
from arbx.domain.catalog import DeployState, RollbackRule
from arbx.domain.errors import Conflict, Forbidden, InvalidInput
from arbx.ports.clock import Clock
from tests.builders import key, make_bars

NOW = datetime(2024, 1, 3, tzinfo=UTC)


class StillClock(Clock):
    def now(self) -> datetime:
        return NOW


def person(uid: str, role: Role) -> Principal:
    return Principal(kind=PrincipalKind.USER, user_id=uid, username=uid, roles=frozenset({role}))


ALICE = person("u-alice", Role.ANALYST)
BOB = person("u-bob", Role.ANALYST)
VERA = person("u-vera", Role.VIEWER)
ADA = person("u-ada", Role.ADMIN)

SMA = StrategyInput(
    strategy="sma_cross",
    params={"fast": 5, "slow": 20},
    series=["binance:BTC/USDC:1m"],
    fees={"binance": {"maker_bps": 1.0, "taker_bps": 7.5}},  # type: ignore[dict-item]
    notes="fast cross on 1m",
)


@pytest.fixture
def world() -> tuple[StrategyCatalog, MemoryCatalogStore, MemoryAuditLog]:
    store, log = MemoryCatalogStore(), MemoryAuditLog()
    counter = iter(range(100))
    catalog = StrategyCatalog(
        store, AuditTrail(log, StillClock()), StillClock(), new_id=lambda: f"s{next(counter)}"
    )
    return catalog, store, log


async def actions(log: MemoryAuditLog) -> list[tuple[str, str]]:
    entries = await log.query(AuditQuery(limit=100))
    return [(e.event.action, e.event.outcome.value) for e in reversed(entries)]


async def test_versions_diff_and_rollback(world) -> None:  # type: ignore[no-untyped-def]
    catalog, _, log = world
    created = await catalog.create("btc-sma", SMA, actor=ALICE)
    v1 = created.current
    assert (v1.number, v1.state, v1.author, v1.source) == (1, "draft", "u-alice", "builtin")
    assert v1.spec.params == {"fast": 5, "slow": 20, "entry": "cross"}  # defaults written in
    v2 = await catalog.edit(
        "btc-sma", StrategyInput(params={"slow": 40}), actor=ALICE, why="slower"
    )
    assert (v2.number, v2.change, v2.spec.params["fast"], v2.spec.params["slow"]) == (
        2,
        "slower",
        5,
        40,
    )
    changes = await catalog.diff("btc-sma", 1, 2, actor=VERA)
    assert [(c.path, c.before, c.after) for c in changes] == [("params.slow", 20, 40)]
    v3 = await catalog.rollback("btc-sma", 1, actor=ALICE)
    assert (v3.number, v3.change, v3.rollback_of, v3.spec) == (3, "rollback to v1", 1, v1.spec)
    detail = await catalog.show("btc-sma", actor=VERA)
    assert [v.number for v in detail.versions] == [1, 2, 3]
    assert detail.versions[0] == v1  # untouched
    assert await actions(log) == [
        ("strategies.create", "success"),
        ("strategies.version", "success"),
        ("strategies.rollback", "success"),
    ]


async def test_bad_input_is_refused_and_nothing_is_stored(world) -> None:  # type: ignore[no-untyped-def]
    catalog, store, _ = world
    cases = [
        ("unknown", StrategyInput(strategy="nope"), InvalidInput, "unknown strategy 'nope'"),
        ("range", StrategyInput(strategy="rsi", params={"period": 1}), InvalidInput, "period"),
        (
            "series",
            StrategyInput(strategy="stat_arb", series=["binance:BTC/USDC:1m"]),
            InvalidInput,
            "takes 2..2",
        ),
        ("bad name!", SMA, InvalidInput, "strategy name"),
    ]
    for name, given, error, text in cases:
        with pytest.raises(error, match=text):
            await catalog.create(name, given, actor=ALICE)
    assert await store.list() == []
    await catalog.create("btc-sma", SMA, actor=ALICE)
    with pytest.raises(Conflict, match="taken"):
        await catalog.create("btc-sma", SMA, actor=BOB)
    with pytest.raises(InvalidInput, match="no version 7 to roll back to; it has versions 1..1"):
        await catalog.rollback("btc-sma", 7, actor=ALICE)
    with pytest.raises(InvalidInput, match="nothing changed"):
        await catalog.edit("btc-sma", StrategyInput(notes="fast cross on 1m"), actor=ALICE)
    with pytest.raises(InvalidInput, match="state 'live' does not exist"):
        await catalog.promote("btc-sma", 1, "live", actor=ALICE)
    with pytest.raises(Conflict, match="v1 is draft; it cannot become approved"):
        await catalog.promote("btc-sma", 1, "approved", actor=ALICE, walk_forward="wf-1")
    detail = await catalog.show("btc-sma", actor=ALICE)
    assert [v.number for v in detail.versions] == [1]
    assert detail.current.state == DeployState.DRAFT
    assert detail.history == []


async def test_analysts_manage_their_own_admins_all_viewers_read(world) -> None:  # type: ignore[no-untyped-def]
    catalog, _, log = world
    await catalog.create("alice-sma", SMA, actor=ALICE)
    await catalog.create("alice-private", SMA, actor=ALICE, shared=False)
    with pytest.raises(Forbidden):
        await catalog.edit("alice-sma", StrategyInput(notes="mine now"), actor=BOB)
    with pytest.raises(Forbidden):
        await catalog.create("vera-sma", SMA, actor=VERA)
    with pytest.raises(Forbidden):
        await catalog.show("alice-private", actor=BOB)
    assert [d.name for d in await catalog.list(actor=VERA)] == ["alice-sma"]
    assert [d.name for d in await catalog.list(actor=ADA)] == ["alice-private", "alice-sma"]
    await catalog.edit("alice-sma", StrategyInput(notes="admin fix"), actor=ADA)
    denied = [a for a in await actions(log) if a[1] == "denied"]
    assert denied == [
        ("strategies.version", "denied"),
        ("strategies.create", "denied"),
        ("strategies.read", "denied"),
    ]


async def test_the_workflow_needs_a_walk_forward_and_four_eyes(world) -> None:  # type: ignore[no-untyped-def]
    _, store, log = world
    catalog = StrategyCatalog(store, AuditTrail(log, StillClock()), StillClock(), four_eyes=True)
    await catalog.create("btc-sma", SMA, actor=ALICE)
    await catalog.promote("btc-sma", 1, "candidate", actor=ALICE)
    with pytest.raises(InvalidInput, match="walk-forward"):
        await catalog.promote("btc-sma", 1, "approved", actor=ADA)
    with pytest.raises(Forbidden, match="four eyes"):
        await catalog.promote("btc-sma", 1, "approved", actor=ALICE, walk_forward="wf-1")
    approved = await catalog.promote(
        "btc-sma", 1, "approved", actor=ADA, walk_forward="wf-1", reason="looks robust"
    )
    assert (approved.state, approved.approved_by, approved.walk_forward) == (
        "approved",
        "u-ada",
        "wf-1",
    )
    await catalog.retire("btc-sma", 1, actor=ALICE)
    with pytest.raises(Conflict, match="retired is final"):
        await catalog.promote("btc-sma", 1, "candidate", actor=ALICE)
    detail = await catalog.show("btc-sma", actor=ALICE)
    assert [(h.before, h.after, h.actor) for h in detail.history] == [
        ("draft", "candidate", "u-alice"),
        ("candidate", "approved", "u-ada"),
        ("approved", "retired", "u-alice"),
    ]
    states = [a for a in await actions(log) if a[0] == "strategies.state"]
    assert states == [
        ("strategies.state", "success"),
        ("strategies.state", "failure"),
        ("strategies.state", "denied"),
        ("strategies.state", "success"),
        ("strategies.state", "success"),
        ("strategies.state", "failure"),
    ]


async def approve(catalog: StrategyCatalog, number: int, wf: str) -> None:
    await catalog.promote("btc-sma", number, "candidate", actor=ALICE)
    await catalog.promote("btc-sma", number, "approved", actor=ALICE, walk_forward=wf)


async def test_a_bad_re_evaluation_rolls_back_to_the_previous_approved_version(world) -> None:  # type: ignore[no-untyped-def]
    catalog, _, log = world
    bars = MemoryBarStore()
    await bars.write(key(), make_bars(2000, NOW - timedelta(days=1), volatility=0.01))
    runs = MemoryRunStore()
    counter = iter(range(100))
    backtests = RunBacktest(bars, runs, StillClock(), lambda: f"run{next(counter)}")
    evaluate = EvaluateStrategy(catalog, backtests, bars)
    await catalog.create("btc-sma", SMA, actor=ALICE)
    await approve(catalog, 1, "wf-1")
    impossible = RollbackRule(min_sharpe=1e9)  # any real run is below it
    await catalog.edit("btc-sma", StrategyInput(rollback=impossible), actor=ALICE)
    await approve(catalog, 2, "wf-2")
    detail = await catalog.show("btc-sma", actor=ALICE)
    assert [v.state for v in detail.versions] == ["candidate", "approved"]
    result = await evaluate.execute("btc-sma", actor=ALICE, days=2)
    assert result.version == 2
    assert result.run.meta.strategy_version == "btc-sma@v2"
    assert result.run.meta.params == detail.versions[1].spec.params
    assert await runs.get(result.run.id) is not None
    assert result.rolled_back is not None
    assert "automatic rollback: Sharpe" in result.rolled_back
    assert "v1 approved again" in result.rolled_back
    after = await catalog.show("btc-sma", actor=ALICE)
    assert [v.state for v in after.versions] == ["approved", "candidate"]
    assert after.history[-2].reason.startswith("automatic rollback")
    assert ("strategies.auto_rollback", "success") in await actions(log)
    # v1's rule (none) never fires; re-evaluating it changes nothing
    again = await evaluate.execute("btc-sma", actor=ALICE, days=2)
    assert (again.version, again.rolled_back) == (1, None)


async def test_a_re_evaluation_without_an_approved_version_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    catalog, _, _ = world
    bars = MemoryBarStore()
    backtests = RunBacktest(bars, MemoryRunStore(), StillClock())
    evaluate = EvaluateStrategy(catalog, backtests, bars)
    await catalog.create("btc-sma", SMA, actor=ALICE)
    with pytest.raises(Conflict, match="no approved version"):
        await evaluate.execute("btc-sma", actor=ALICE)
    with pytest.raises(InvalidInput, match="days"):
        await evaluate.execute("btc-sma", actor=ALICE, days=0)
    with pytest.raises(InvalidInput, match="no bars are stored"):
        await evaluate.execute("btc-sma", actor=ALICE, number=1)
    with pytest.raises(Forbidden):  # it may roll Alice's version back: not Bob's to do
        await evaluate.execute("btc-sma", actor=BOB, number=1)


async def test_a_plugin_version_names_its_code_and_needs_it_to_load(world) -> None:  # type: ignore[no-untyped-def]
    from tests.support.plugins import EXAMPLES, plugins

    catalog, store, _ = world
    with plugins(EXAMPLES):
        created = await catalog.create(
            "boll", StrategyInput(strategy="bollinger_breakout", params={"window": 30}), actor=ALICE
        )
        v1 = created.current
        assert (v1.source, v1.code_version, len(v1.code_hash), v1.kind) == (
            "plugin",
            "1.0.0",
            64,
            "signal",
        )
        await catalog.edit("boll", StrategyInput(params={"k": 3.0}), actor=ALICE)
    with pytest.raises(InvalidInput, match="unknown strategy 'bollinger_breakout'"):
        await catalog.rollback("boll", 1, actor=ALICE)  # the plugin is not loaded now
    assert [v.number for v in await store.versions(created.definition.id)] == [1, 2]
