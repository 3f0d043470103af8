"""The TradeStore contract, written once and run against every adapter (memory, parquet, and
objectstore: a bucket on the test's moto S3 server)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbx.adapters.memory.trade_store import MemoryTradeStore
from arbx.adapters.objectstore.day_objects import DayObjects
from arbx.adapters.objectstore.trade_store import ObjectStoreTradeStore
from arbx.adapters.parquet.trade_store import ParquetTradeStore
from arbx.domain.errors import InvalidInput
from arbx.domain.market import Symbol, TimeSpan
from arbx.domain.market.trades import TRADE_SCHEMA, Trade, TradeKey, trades_frame
from arbx.ports.trade_store import TradeStore
from tests.support.objectstore import s3_store

TRADE_STORE_ADAPTERS = ["memory", "parquet", "objectstore"]
KEY = TradeKey("binance", Symbol("BTC", "USDC"))
OTHER = TradeKey("kraken", Symbol("BTC", "USD"))
T0 = datetime(2023, 3, 10, 23, 59, tzinfo=UTC)
T0_US = int(T0.timestamp() * 1_000_000)
EVERYTHING = TimeSpan.everything()


def trade(n: int, *, at_us: int | None = None, price: float = 20_000.0) -> Trade:
    ts = T0_US + n * 7_000_000 if at_us is None else at_us
    return Trade(KEY, str(1000 + n), ts, price + n, 0.01 * (n + 1), "buy" if n % 2 else "sell")


def make_store(kind: str, root: Path, bucket: Any = None) -> TradeStore:
    """``bucket``: an obstore S3 store (objectstore); each store gets a prefix of its own."""
    if kind == "objectstore":
        return ObjectStoreTradeStore(bucket, prefix=f"t-{uuid.uuid4().hex[:12]}")
    return MemoryTradeStore() if kind == "memory" else ParquetTradeStore(root / "trades")


@pytest.fixture
def s3_trades_bucket(request: pytest.FixtureRequest) -> Any:
    endpoint = request.getfixturevalue("s3_endpoint")
    return s3_store(endpoint, request.getfixturevalue("s3_bucket"))


@pytest.fixture(params=TRADE_STORE_ADAPTERS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> TradeStore:
    bucket = request.getfixturevalue("s3_trades_bucket") if request.param == "objectstore" else None
    return make_store(request.param, tmp_path, bucket)


async def test_written_trades_read_back_sorted_across_days(store: TradeStore) -> None:
    trades = [trade(n) for n in (5, 1, 9, 3)]  # crosses midnight: two day files
    assert await store.write(KEY, trades_frame(trades)) == 4
    back = await store.read(KEY, EVERYTHING)
    assert back.schema == pl.Schema(TRADE_SCHEMA)
    assert back["trade_id"].to_list() == ["1001", "1003", "1005", "1009"]
    assert back["price"].to_list() == [20_001.0, 20_003.0, 20_005.0, 20_009.0]
    assert await store.keys() == [KEY]


async def test_writing_the_same_trades_again_changes_nothing(store: TradeStore) -> None:
    first = trades_frame([trade(n) for n in range(6)])
    assert await store.write(KEY, first) == 6
    replay = trades_frame([trade(n) for n in range(3, 9)])  # 3 seen, 3 new
    assert await store.write(KEY, replay) == 3
    assert await store.write(KEY, replay) == 0
    back = await store.read(KEY, EVERYTHING)
    assert back.height == 9
    assert back["trade_id"].n_unique() == 9


async def test_a_stored_trade_is_never_replaced(store: TradeStore) -> None:
    await store.write(KEY, trades_frame([trade(1)]))
    await store.write(KEY, trades_frame([trade(1, price=1.0)]))
    assert (await store.read(KEY, EVERYTHING))["price"].to_list() == [20_001.0]


async def test_reads_are_half_open_and_per_pair(store: TradeStore) -> None:
    await store.write(KEY, trades_frame([trade(n) for n in range(4)]))
    start = datetime.fromtimestamp((T0_US + 7_000_000) / 1e6, UTC)
    end = datetime.fromtimestamp((T0_US + 21_000_000) / 1e6, UTC)
    window = await store.read(KEY, TimeSpan(start, end))
    assert window["trade_id"].to_list() == ["1001", "1002"]
    assert (await store.read(OTHER, EVERYTHING)).is_empty()


async def test_an_invalid_row_stores_nothing(store: TradeStore) -> None:
    good = trades_frame([trade(1), trade(2)])
    bad = good.with_columns(
        pl.when(pl.col("trade_id") == "1002")
        .then(float("nan"))
        .otherwise(pl.col("price"))
        .alias("price")
    )
    with pytest.raises(InvalidInput, match="not valid"):
        await store.write(KEY, bad)
    with pytest.raises(InvalidInput, match="columns"):
        await store.write(KEY, good.drop("side"))
    assert (await store.read(KEY, EVERYTHING)).is_empty()
    assert await store.keys() == []


def test_a_trade_with_a_bad_price_or_side_is_refused() -> None:
    with pytest.raises(InvalidInput, match="price"):
        Trade(KEY, "1", T0_US, float("inf"), 1.0, "buy")
    with pytest.raises(InvalidInput, match="quantit"):
        Trade(KEY, "1", T0_US, 1.0, 0.0, "buy")
    with pytest.raises(InvalidInput, match="side"):
        Trade(KEY, "1", T0_US, 1.0, 1.0, "hold")  # type: ignore[arg-type]


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(
        st.lists(st.integers(min_value=0, max_value=40), max_size=12), min_size=1, max_size=6
    ),
    kind=st.sampled_from(TRADE_STORE_ADAPTERS),
)
async def test_any_replay_order_stores_each_trade_once(
    tmp_path_factory: pytest.TempPathFactory,
    s3_trades_bucket: Any,
    batches: list[list[int]],
    kind: str,
) -> None:
    """However a stream's batches repeat and overlap (reconnects, replays), the store holds
    each trade id once, in time order, and the write counts add up to that."""
    store = make_store(kind, tmp_path_factory.mktemp("trades"), s3_trades_bucket)
    written = 0
    for batch in batches:
        written += await store.write(KEY, trades_frame([trade(n) for n in batch]))
    seen = sorted({n for batch in batches for n in batch})
    back = await store.read(KEY, EVERYTHING)
    assert written == back.height == len(seen)
    assert back["trade_id"].to_list() == [str(1000 + n) for n in seen]


async def test_a_second_process_replacing_a_day_first_is_a_conflict(
    s3_trades_bucket: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Object storage only: two stores (processes) on one prefix; the one whose read of a day
    object is stale when it writes fails with Conflict and loses nothing already stored."""
    from arbx.domain.errors import Conflict

    ours = ObjectStoreTradeStore(s3_trades_bucket, prefix="shared")
    theirs = ObjectStoreTradeStore(s3_trades_bucket, prefix="shared")
    await ours.write(KEY, trades_frame([trade(1)]))
    real_get = DayObjects._get
    armed = True

    async def stale_get(self: DayObjects, path: str) -> Any:
        nonlocal armed
        found = await real_get(self, path)
        if armed:  # the other process replaces the day right after our read
            armed = False
            await theirs.write(KEY, trades_frame([trade(2)]))
        return found

    monkeypatch.setattr(DayObjects, "_get", stale_get)
    with pytest.raises(Conflict, match="another writer changed"):
        await ours.write(KEY, trades_frame([trade(3)]))
    monkeypatch.setattr(DayObjects, "_get", real_get)
    assert (await ours.read(KEY, EVERYTHING))["trade_id"].to_list() == ["1001", "1002"]
    assert await ours.write(KEY, trades_frame([trade(3)])) == 1  # the retry completes it
