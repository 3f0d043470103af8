"""RunBacktest with the in-memory bar and run stores."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import msgspec
import polars as pl
import pytest

from arbx.adapters.compute.local_process import LocalProcessExecutor
from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.quality_store import MemoryQualityStore
from arbx.adapters.memory.run_store import MemoryRunStore
from arbx.app.run_backtest import CLI_OPERATOR, BacktestRuns, RunBacktest, compute
from arbx.domain.auth import Principal, PrincipalKind, Role
from arbx.domain.backtest.costs import DEFAULT_FEES, FeeSchedule, venue_rules
from arbx.domain.backtest.request import ArbitrageSettings, decode_request
from arbx.domain.backtest.run import BacktestRun, fingerprint_bars
from arbx.domain.errors import Forbidden, InvalidInput, NotFound
from arbx.domain.market import TimeSpan
from arbx.ports.clock import Clock
from tests.builders import key, make_bars

START = datetime(2024, 1, 1, tzinfo=UTC)
OP = CLI_OPERATOR  # the local CLI: may do anything


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
    run = await uc.execute(decode_request(request()), actor=OP)
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
    listed = await BacktestRuns(runs).list(actor=OP)
    assert [s.id for s in listed] == ["run0"]


async def test_rerunning_a_stored_request_is_bit_for_bit_identical(world) -> None:  # type: ignore[no-untyped-def]
    _, _runs, uc = world
    first = await uc.execute(decode_request(request(risk={"stop_loss": 0.01})), actor=OP)
    again = await uc.rerun(first.id, actor=OP)
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
                # USD and USDC on two venues: 1:1 only when the request says so
                arbitrage={"assume_parity": ["USD"]},
            )
        ),
        actor=OP,
    )
    assert run.meta.engine == "arbitrage"
    assert run.meta.common_currency == "USDC"
    assert any("assume_parity" in note for note in run.meta.notes)
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
    direct = await uc.execute(decode_request(request()), actor=OP)
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
        await uc.execute(decode_request(request(**change)), actor=OP)
    assert err.value.field == field
    assert await runs.list() == []


async def test_queries(world) -> None:  # type: ignore[no-untyped-def]
    _, runs, uc = world
    run = await uc.execute(decode_request(request()), actor=OP)
    queries = BacktestRuns(runs)
    assert (await queries.table(run.id, "trades", actor=OP)).equals(run.tables["trades"])
    assert (await queries.get(run.id, actor=OP)).meta == run.meta
    with pytest.raises(InvalidInput):
        await queries.list(actor=OP, limit=0)
    await queries.delete(run.id, actor=OP)
    with pytest.raises(NotFound):
        await queries.get(run.id, actor=OP)


async def test_the_run_records_gaps_and_the_quality_score_of_its_data() -> None:
    bars = MemoryBarStore()
    whole = make_bars(300, START, volatility=0.01)
    holey = whole.filter((pl.int_range(pl.len()) < 100) | (pl.int_range(pl.len()) >= 110))
    await bars.write(key("binance:BTC/USDC:1m"), holey)
    runs, new_id = MemoryRunStore(), ids()
    plain = RunBacktest(bars, runs, StillClock(), new_id)  # type: ignore[arg-type]
    scored = RunBacktest(bars, runs, StillClock(), new_id, quality=MemoryQualityStore())  # type: ignore[arg-type]
    without = (await plain.execute(decode_request(request()), actor=OP)).meta.series[0]
    assert (without.gaps, without.bars_missing, without.quality_score) == (1, 10, None)
    used = (await scored.execute(decode_request(request()), actor=OP)).meta.series[0]
    assert (used.gaps, used.bars_missing) == (1, 10)
    assert used.quality_score is not None
    assert used.quality_score < 1.0  # 10 of 300 slots missing lowers the coverage


async def test_config_fees_fill_in_for_venues_the_request_does_not_price(world) -> None:  # type: ignore[no-untyped-def]
    bars, runs, _ = world
    defaults = {"binance": FeeSchedule(taker_bps=1.0), "kraken": FeeSchedule(taker_bps=2.0)}
    uc = RunBacktest(bars, runs, StillClock(), ids(), default_fees=defaults)  # type: ignore[arg-type]
    run = await uc.execute(decode_request(request(fees={})), actor=OP)
    assert run.meta.request.fees == {"binance": FeeSchedule(taker_bps=1.0)}
    fills = run.tables["fills"]
    expected = (fills["qty"] * fills["price"] * 1e-4).sum()
    assert fills["fee"].sum() == pytest.approx(expected)
    again = await uc.rerun(run.id, actor=OP)
    assert again.meta.metrics == run.meta.metrics


async def test_a_fee_for_a_venue_the_run_does_not_trade_is_refused_naming_it(world) -> None:  # type: ignore[no-untyped-def]
    _, runs, uc = world
    with pytest.raises(InvalidInput, match="did you mean binance") as caught:
        await uc.execute(decode_request(request(fees={"binanse": {"taker_bps": 9.0}})), actor=OP)
    assert caught.value.field == "fees.binanse"
    assert await runs.list() == []


async def test_a_reserved_id_and_the_owner_are_stored(world) -> None:  # type: ignore[no-untyped-def]
    _, runs, uc = world
    prepared = await uc.prepare(decode_request(request()))
    run = await uc.store(prepared, compute(prepared), run_id="chosen", owner="u1", shared=True)
    assert run.id == "chosen"
    (summary,) = await runs.list()
    assert (summary.id, summary.owner, summary.shared) == ("chosen", "u1", True)


# -- the effective request and the data's fingerprints (issue 10) -----------------------------


async def test_the_stored_request_holds_the_effective_fee_of_every_traded_venue(world) -> None:  # type: ignore[no-untyped-def]
    _, runs, uc = world
    run = await uc.execute(decode_request(request(series=["kraken:BTC/USD:1m"], fees={})), actor=OP)
    # no fee given and none in config: the built-in kraken schedule is written in
    assert run.meta.request.fees == {"kraken": DEFAULT_FEES["kraken"]}
    assert (await runs.get(run.id)).meta.request.fees == {"kraken": DEFAULT_FEES["kraken"]}
    stored = msgspec.json.decode(msgspec.json.encode(run.meta))["request"]
    assert stored["fees"] == {"kraken": {"maker_bps": 25.0, "taker_bps": 40.0}}
    # every arbitrage setting is explicit, so a default changed later cannot alter a rerun
    assert set(stored["arbitrage"]) == set(ArbitrageSettings.__struct_fields__)
    # the venue's order rules the run used are written in too (not None: "the default")
    rules = venue_rules("kraken")
    assert stored["lot_size"] == rules.lot_size("BTC")
    assert stored["min_notional"] == rules.min_notional


async def test_the_stored_arbitrage_request_names_its_common_currency(world) -> None:  # type: ignore[no-untyped-def]
    bars, _, uc = world
    other = key("kraken:BTC/USDC:1m")
    await bars.write(other, make_bars(600, START, seed=4))
    arb = request(
        strategy="threshold_arb",
        params={"threshold_bps": 5.0},
        series=["binance:BTC/USDC:1m", "kraken:BTC/USDC:1m"],
    )
    run = await uc.execute(decode_request(arb), actor=OP)
    assert run.meta.request.arbitrage.common_currency == "USDC"
    assert run.meta.common_currency == "USDC"


async def test_each_series_read_is_fingerprinted(world) -> None:  # type: ignore[no-untyped-def]
    bars, _, uc = world
    run = await uc.execute(decode_request(request()), actor=OP)
    (used,) = run.meta.series
    frame = await bars.read(key("binance:BTC/USDC:1m"), TimeSpan.everything())
    assert used.fingerprint == fingerprint_bars(frame)
    assert used.sha256 is not None
    assert len(used.sha256) == 64
    assert (used.fingerprint.rows, used.fingerprint.first_ts) == (600, START)


def test_the_fingerprint_is_the_bars_bit_for_bit() -> None:
    frame = make_bars(500, START, volatility=0.01)
    same = pl.DataFrame(frame.to_dict())  # rebuilt from plain values
    assert fingerprint_bars(same) == fingerprint_bars(frame)
    nudged = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 250)
        .then(pl.col("close") + 1e-9)
        .otherwise(pl.col("close"))
        .alias("close")
    )
    assert fingerprint_bars(nudged).sha256 != fingerprint_bars(frame).sha256
    assert fingerprint_bars(nudged).rows == 500


async def test_the_fingerprint_is_the_same_in_another_process() -> None:
    frame = make_bars(2000, START, volatility=0.01)
    executor = LocalProcessExecutor(workers=1)
    try:
        there = await executor.submit(fingerprint_bars, frame).result()
    finally:
        await executor.shutdown()
    assert there == fingerprint_bars(frame)


async def test_a_rerun_on_the_same_data_says_so(world) -> None:  # type: ignore[no-untyped-def]
    _, _, uc = world
    first = await uc.execute(decode_request(request()), actor=OP)
    again = await uc.rerun(first.id, actor=OP)
    assert (again.meta.rerun_of, again.meta.data_changed) == (first.id, [])
    assert not any("data changed" in note for note in again.meta.notes)
    assert first.meta.rerun_of is None
    assert first.meta.data_changed is None


async def test_a_rerun_on_changed_data_shows_both_fingerprints(world) -> None:  # type: ignore[no-untyped-def]
    bars, runs, uc = world
    k = key("binance:BTC/USDC:1m")
    first = await uc.execute(decode_request(request()), actor=OP)
    stored = await bars.read(k, TimeSpan.everything())
    revised = stored.with_columns(pl.col("close") * 1.001).head(10)  # a vendor revision
    await bars.write(k, revised)
    again = await uc.rerun(first.id, actor=OP)
    (change,) = again.meta.data_changed or []
    assert change.series == "binance:BTC/USDC:1m"
    assert change.before == first.meta.series[0].fingerprint
    assert change.now == again.meta.series[0].fingerprint
    assert change.before is not None
    assert change.now is not None
    assert change.before.rows == change.now.rows == 600
    assert change.before.sha256 != change.now.sha256
    (note,) = [n for n in again.meta.notes if n.startswith("data changed")]
    assert first.id in note
    assert change.now.sha256[:12] in note
    assert (await runs.get(again.id)).meta.data_changed == [change]


async def test_a_run_stored_before_hashes_compares_rows_and_ends(world) -> None:  # type: ignore[no-untyped-def]
    _, runs, uc = world
    first = await uc.execute(decode_request(request()), actor=OP)
    old = BacktestRun(
        msgspec.structs.replace(
            first.meta,
            id="old",
            series=[msgspec.structs.replace(s, sha256=None) for s in first.meta.series],
        ),
        first.tables,
    )
    await runs.save(old)
    assert (await uc.rerun("old", actor=OP)).meta.data_changed == []


# -- who may do what ------------------------------------------------------------------------


def analyst(user_id: str) -> Principal:
    return Principal(
        kind=PrincipalKind.USER, user_id=user_id, username=user_id, roles=frozenset({Role.ANALYST})
    )


async def test_readers_list_their_own_shared_and_ownerless_runs_paged_in_the_store(world) -> None:  # type: ignore[no-untyped-def]
    _, runs, uc = world
    ana, bob = analyst("ana"), analyst("bob")
    mine = await uc.execute(decode_request(request()), actor=ana)
    shared = await uc.execute(decode_request(request()), actor=bob, shared=True)
    cli = await uc.execute(decode_request(request()), actor=OP)
    for _ in range(3):
        await uc.execute(decode_request(request()), actor=bob)
    queries = BacktestRuns(runs)
    assert [s.id for s in await queries.list(actor=ana)] == [cli.id, shared.id, mine.id]
    assert [s.id for s in await queries.list(actor=ana, limit=2)] == [cli.id, shared.id]
    assert len(await queries.list(actor=OP)) == 6
    assert (mine.meta.owner, cli.meta.owner) == ("ana", None)


async def test_reading_rerunning_and_deleting_others_runs_is_forbidden(world) -> None:  # type: ignore[no-untyped-def]
    _, runs, uc = world
    ana, bob = analyst("ana"), analyst("bob")
    private = await uc.execute(decode_request(request()), actor=ana)
    shared = await uc.execute(decode_request(request()), actor=ana, shared=True)
    queries = BacktestRuns(runs)
    with pytest.raises(Forbidden):
        await queries.get(private.id, actor=bob)
    with pytest.raises(Forbidden):
        await queries.table(private.id, "trades", actor=bob)
    with pytest.raises(Forbidden):
        await queries.status(private.id, actor=bob)
    with pytest.raises(Forbidden):
        await uc.rerun(private.id, actor=bob)
    assert (await queries.get(shared.id, actor=bob)).id == shared.id
    with pytest.raises(Forbidden):
        await queries.delete(shared.id, actor=bob)  # shared to read, not to delete
    again = await uc.rerun(shared.id, actor=bob)
    assert (again.meta.owner, again.meta.shared) == ("bob", True)
    viewer = Principal(
        kind=PrincipalKind.USER, user_id="vic", username="vic", roles=frozenset({Role.VIEWER})
    )
    with pytest.raises(Forbidden):
        await uc.execute(decode_request(request()), actor=viewer)
    await queries.delete(private.id, actor=ana)
    with pytest.raises(NotFound):
        await queries.get(private.id, actor=ana)
