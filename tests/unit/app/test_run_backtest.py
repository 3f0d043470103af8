"""RunBacktest with the in-memory bar and run stores."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import polars as pl
import pytest

from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.quality_store import MemoryQualityStore
from arbx.adapters.memory.run_store import MemoryRunStore
from arbx.app.run_backtest import BacktestRuns, RunBacktest, compute
from arbx.domain.backtest.costs import FeeSchedule
from arbx.domain.backtest.request import decode_request
from arbx.domain.errors import InvalidInput, NotFound
from arbx.ports.clock import Clock
from tests.builders import key, make_bars

START = datetime(2024, 1, 1, tzinfo=UTC)


class StillClock(Clock):
    def now(self) -> datetime:
        return datetime(2025, 1, 1, tzinfo=UTC)


def ids() -> object:
    counter = iter(range(1000))
    return lambda: f"run{next(counter)}"


@pytest.fixture
async def world() -> tuple[MemoryBarStore, MemoryRunStore, RunBacktest]:
    bars = MemoryBarStore()
    await bars.write(key("binance:BTC/USDC:1m"), make_bars(600, START, volatility=0.01))
    await bars.write(
        key("kraken:BTC/USD:1m"), make_bars(600, START, volatility=0.01, seed=8, price=100.3)
    )
    runs = MemoryRunStore()
    return bars, runs, RunBacktest(bars, runs, StillClock(), ids())  # type: ignore[arg-type]


def request(**change: object) -> dict[str, object]:
    base: dict[str, object] = {
        "strategy": "sma_cross",
        "params": {"fast": 5, "slow": 20},
        "series": ["binance:BTC/USDC:1m"],
        "start": "2024-01-01",
        "end": "2024-01-02",
        "fees": {"binance": {"taker_bps": 7.5}},
    }
    return {**base, **change}


async def test_a_run_is_validated_loaded_computed_and_stored(world) -> None:  # type: ignore[no-untyped-def]
    _, runs, uc = world
    run = await uc.execute(decode_request(request()))
    assert run.id == "run0"
    meta = run.meta
    assert meta.strategy == "sma_cross"
    assert meta.params == {"fast": 5, "slow": 20, "entry": "cross"}  # effective params
    assert meta.series[0].rows == 600
    assert meta.series[0].first_ts == START
    assert meta.engine == "vectorized"
    assert meta.engine_version
    assert meta.benchmark is not None
    assert meta.metrics.trade_count > 0
    assert run.tables["curve"].height == 600
    assert run.tables["fills"]["fee"].sum() > 0
    listed = await BacktestRuns(runs).list()
    assert [s.id for s in listed] == ["run0"]


async def test_rerunning_a_stored_request_is_bit_for_bit_identical(world) -> None:  # type: ignore[no-untyped-def]
    _, _runs, uc = world
    first = await uc.execute(decode_request(request(risk={"stop_loss": 0.01})))
    again = await uc.rerun(first.id)
    assert again.id != first.id
    assert again.meta.metrics == first.meta.metrics
    assert again.meta.engine == "event"
    for name, frame in first.tables.items():
        assert again.tables[name].equals(frame), name
    assert (
        again.tables["curve"]["equity"].to_numpy().tobytes()
        == first.tables["curve"]["equity"].to_numpy().tobytes()
    )


async def test_arbitrage_runs_store_per_leg_trades_and_balances(world) -> None:  # type: ignore[no-untyped-def]
    _, _, uc = world
    run = await uc.execute(
        decode_request(
            request(
                strategy="threshold_arb",
                params={"threshold_bps": 1.0, "max_qty": 1.0},
                series=["binance:BTC/USDC:1m", "kraken:BTC/USD:1m"],
                capital=10_000.0,
                fees={"binance": {"taker_bps": 0.0}, "kraken": {"taker_bps": 0.0}},
            )
        )
    )
    assert run.meta.engine == "arbitrage"
    assert run.meta.opportunities is not None
    assert run.meta.opportunities.seen > 0
    assert {"venue", "side", "qty", "price", "fee"} <= set(run.tables["trades"].columns)
    assert "binance:BTC/USDC:base" in run.tables["balances"].columns


async def test_prepare_then_compute_then_store_equals_execute(world) -> None:  # type: ignore[no-untyped-def]
    _, runs, uc = world
    prepared = await uc.prepare(decode_request(request()))
    assert prepared.bar_count == 600
    shipped = pickle.loads(pickle.dumps(prepared))  # what a process pool does
    result = compute(shipped)
    stored = await uc.store(prepared, result)
    direct = await uc.execute(decode_request(request()))
    assert stored.tables["curve"].equals(direct.tables["curve"])
    assert len(await runs.list()) == 2


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"strategy": "nope"}, "strategy", "unknown strategy"),
        ({"params": {"fast": 20, "slow": 5}}, "params.fast", "shorter"),
        ({"params": {"fats": 5}}, "params.fats", "unknown parameter"),
        ({"start": "2024-01-02", "end": "2024-01-01"}, "start", "before"),
        ({"start": "2023-01-01", "end": "2023-01-02"}, "series", "no data"),
        ({"params": {"fast": 5, "slow": 900}}, "series", "lookback"),
        ({"capital": -1}, "capital", "positive"),
        ({"fees": {"binance": {"taker_bps": -3}}}, "fees.taker_bps", "basis points"),
    ],
)
async def test_bad_requests_store_nothing(world, change, field, words) -> None:  # type: ignore[no-untyped-def]
    _, runs, uc = world
    with pytest.raises(InvalidInput, match=words) as err:
        await uc.execute(decode_request(request(**change)))
    assert err.value.field == field
    assert await runs.list() == []


async def test_queries(world) -> None:  # type: ignore[no-untyped-def]
    _, runs, uc = world
    run = await uc.execute(decode_request(request()))
    queries = BacktestRuns(runs)
    assert (await queries.table(run.id, "trades")).equals(run.tables["trades"])
    assert (await queries.get(run.id)).meta == run.meta
    with pytest.raises(InvalidInput):
        await queries.list(limit=0)
    await queries.delete(run.id)
    with pytest.raises(NotFound):
        await queries.get(run.id)


async def test_the_run_records_gaps_and_the_quality_score_of_its_data() -> None:
    bars = MemoryBarStore()
    whole = make_bars(300, START, volatility=0.01)
    holey = whole.filter((pl.int_range(pl.len()) < 100) | (pl.int_range(pl.len()) >= 110))
    await bars.write(key("binance:BTC/USDC:1m"), holey)
    runs, new_id = MemoryRunStore(), ids()
    plain = RunBacktest(bars, runs, StillClock(), new_id)  # type: ignore[arg-type]
    scored = RunBacktest(bars, runs, StillClock(), new_id, quality=MemoryQualityStore())  # type: ignore[arg-type]
    without = (await plain.execute(decode_request(request()))).meta.series[0]
    assert (without.gaps, without.bars_missing, without.quality_score) == (1, 10, None)
    used = (await scored.execute(decode_request(request()))).meta.series[0]
    assert (used.gaps, used.bars_missing) == (1, 10)
    assert used.quality_score is not None
    assert used.quality_score < 1.0  # 10 of 300 slots missing lowers the coverage


async def test_config_fees_fill_in_for_venues_the_request_does_not_price(world) -> None:  # type: ignore[no-untyped-def]
    bars, runs, _ = world
    defaults = {"binance": FeeSchedule(taker_bps=1.0), "kraken": FeeSchedule(taker_bps=2.0)}
    uc = RunBacktest(bars, runs, StillClock(), ids(), default_fees=defaults)  # type: ignore[arg-type]
    run = await uc.execute(decode_request(request(fees={"kraken": {"taker_bps": 9.0}})))
    assert run.meta.request.fees == {
        "binance": FeeSchedule(taker_bps=1.0),
        "kraken": FeeSchedule(taker_bps=9.0),
    }
    fills = run.tables["fills"]
    expected = (fills["qty"] * fills["price"] * 1e-4).sum()
    assert fills["fee"].sum() == pytest.approx(expected)
    again = await uc.rerun(run.id)
    assert again.meta.metrics == run.meta.metrics


async def test_a_reserved_id_and_the_owner_are_stored(world) -> None:  # type: ignore[no-untyped-def]
    _, runs, uc = world
    prepared = await uc.prepare(decode_request(request()))
    run = await uc.store(prepared, compute(prepared), run_id="chosen", owner="u1", shared=True)
    assert run.id == "chosen"
    (summary,) = await runs.list()
    assert (summary.id, summary.owner, summary.shared) == ("chosen", "u1", True)
