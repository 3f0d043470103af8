"""Studies and walk-forwards of catalog versions (``name@vN``): they run the version's
strategy, parameters, series and fees, record the version, and promote keeps it."""

from __future__ import annotations

from typing import Any

import pytest

from arbx.adapters.compute.in_process import InProcessExecutor
from arbx.adapters.memory.audit_log import MemoryAuditLog
from arbx.adapters.memory.catalog_store import MemoryCatalogStore
from arbx.adapters.memory.walk_forward_store import MemoryWalkForwardStore
from arbx.app.authorize import AuditTrail
from arbx.app.manage_catalog import StrategyCatalog, StrategyInput
from arbx.app.optimize import OptimizeStudies, decode_optimization
from arbx.app.walk_forward import WalkForward, decode_walk_forward
from arbx.domain.errors import InvalidInput
from tests.unit.app.test_optimize import OP, StillClock, World, counter

SPACE = {"fast": {"choices": [5, 10]}, "slow": {"choices": [30, 60]}}
SPAN = {"start": "2024-01-01", "end": "2024-01-03"}


@pytest.fixture
async def setup() -> Any:
    executor = InProcessExecutor(workers=2)
    w = World(executor)
    await w.load()
    wfs = MemoryWalkForwardStore()
    catalog = StrategyCatalog(
        MemoryCatalogStore(), AuditTrail(MemoryAuditLog(), StillClock()), StillClock(),
        walk_forwards=wfs,
    )  # fmt: skip
    uc = OptimizeStudies(
        w.backtests, w.studies, executor, StillClock(), counter("study"), catalog=catalog
    )
    wf = WalkForward(uc, executor, wfs, StillClock(), counter("wf"))
    spec = StrategyInput(
        strategy="sma_cross",
        params={"fast": 5, "slow": 20, "entry": "state"},
        series=["binance:BTC/USDC:1m"],
        fees={"binance": {"maker_bps": 2.0, "taker_bps": 9.0}},  # type: ignore[dict-item]
    )
    await catalog.create("btc-sma", spec, actor=OP)
    await catalog.edit("btc-sma", StrategyInput(params={"entry": "cross"}), actor=OP, why="x")
    yield uc, wf, catalog
    await executor.shutdown()


async def test_a_study_of_a_catalog_version_records_it_and_promote_keeps_it(setup: Any) -> None:
    uc, _, _ = setup
    body = {"backtest": {"strategy": "btc-sma@v1", **SPAN}, "space": SPACE}
    study = await uc.create(decode_optimization(body), actor=OP)
    assert study.strategy == "sma_cross"
    assert study.strategy_version == "btc-sma@v1"
    assert study.request["series"] == ["binance:BTC/USDC:1m"]  # the version's series
    assert study.request["fees"]["binance"]["taker_bps"] == 9.0  # and fees
    assert study.space.fixed["entry"] == "state"  # v1's parameters, v2 says cross
    await uc.run(study.id, actor=OP)
    run = await uc.promote(study.id, actor=OP)
    assert run.meta.strategy_version == "btc-sma@v1"
    assert (await uc.get(study.id, actor=OP)).strategy_version == "btc-sma@v1"


@pytest.mark.parametrize(
    ("strategy", "words"),
    [
        ("btc-sma@v9", "no version 9"),
        ("nobody@v1", "nobody"),
        ("btc-sma@latest", "NAME@vN"),
    ],
)
async def test_unknown_catalog_versions_are_a_422_on_the_strategy(
    setup: Any, strategy: str, words: str
) -> None:
    uc, _, _ = setup
    body = {"backtest": {"strategy": strategy, **SPAN}, "space": SPACE}
    with pytest.raises(InvalidInput) as err:
        await uc.create(decode_optimization(body), actor=OP)
    assert err.value.field == "backtest.strategy"
    assert words in err.value.message
    assert await uc.list(actor=OP) == []


async def test_approval_needs_a_finished_walk_forward_of_that_version(setup: Any) -> None:
    _, wf, catalog = setup
    await catalog.promote("btc-sma", 2, "candidate", actor=OP)

    def body(strategy: str) -> Any:
        series = {"series": ["binance:BTC/USDC:1m"]} if "@" not in strategy else {}
        opt = {"backtest": {"strategy": strategy, **series, **SPAN}, "space": SPACE}
        return decode_walk_forward({"optimization": opt, "train": 1000, "test": 400})

    with pytest.raises(InvalidInput, match="'wf-x' does not exist"):
        await catalog.promote("btc-sma", 2, "approved", actor=OP, walk_forward="wf-x")
    of_v1 = await wf.execute(body("btc-sma@v1"), actor=OP)
    with pytest.raises(InvalidInput, match="was run on btc-sma@v1, not on btc-sma@v2"):
        await catalog.promote("btc-sma", 2, "approved", actor=OP, walk_forward=of_v1.id)
    plain = await wf.execute(body("sma_cross"), actor=OP)
    with pytest.raises(InvalidInput, match="not a catalog version"):
        await catalog.promote("btc-sma", 2, "approved", actor=OP, walk_forward=plain.id)
    unfinished = await wf.create(body("btc-sma@v2"), actor=OP)
    with pytest.raises(InvalidInput, match="is running; give a finished one"):
        await catalog.promote("btc-sma", 2, "approved", actor=OP, walk_forward=unfinished.id)
    detail = await catalog.show("btc-sma", actor=OP)
    assert [v.state for v in detail.versions] == ["draft", "candidate"]  # nothing changed
    of_v2 = await wf.execute(body("btc-sma@v2"), actor=OP)
    assert of_v2.strategy_version == "btc-sma@v2"
    approved = await catalog.promote("btc-sma", 2, "approved", actor=OP, walk_forward=of_v2.id)
    assert approved.walk_forward == of_v2.id
