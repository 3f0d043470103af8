"""A crash between any two file steps never loses, tears or half-applies a ParquetBarStore write.

Every file-system step the store takes (mkdir, writing a Parquet file, fsync, rename, unlink) is
counted; a crash after ``k`` steps makes that step and every later one fail, so the store's own
clean-up cannot run either, as after a real crash. A fresh store on the same folder (a restarted
process) must then hold exactly the old or exactly the new data, with no temporary files or
commit records left over; and the crashed instance itself, once the disk works again, too.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from arbx.adapters.parquet import ParquetBarStore
from arbx.domain.errors import StorageError
from arbx.domain.market import SeriesKey, TimeSpan
from tests.builders import make_bars
from tests.support.parquet import cached_store

KEY = SeriesKey.of("binance", "BTC/USDC", "1h")
OTHER = SeriesKey.of("kraken", "BTC/USDC", "1h")
EVERYTHING = TimeSpan.everything()
OLD = make_bars(24 * 60, start=datetime(2024, 1, 10, tzinfo=UTC), timeframe="1h")  # Jan 10..Mar 10


class Crash:
    """Counts file-system steps; from step ``after`` on, every step fails."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, after: int | None) -> None:
        self.after = after
        self.steps = 0
        self.crashed = False
        for name in ("replace", "fsync", "unlink", "mkdir"):
            monkeypatch.setattr(os, name, self._step(getattr(os, name)))
        write = pl.DataFrame.write_parquet

        def write_parquet(frame: pl.DataFrame, file: Any, **kwargs: Any) -> None:
            if self._fails():
                write(frame.head(frame.height // 2), file, **kwargs)
                Path(file).write_bytes(Path(file).read_bytes()[:100])  # a torn file
                raise OSError("simulated crash while writing")
            write(frame, file, **kwargs)

        monkeypatch.setattr(pl.DataFrame, "write_parquet", write_parquet)

    def _fails(self) -> bool:
        self.steps += 1
        if self.after is not None and self.steps > self.after:
            self.crashed = True
        return self.crashed

    def _step(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def step(*args: Any, **kwargs: Any) -> Any:
            if self._fails():
                raise OSError("simulated crash")
            return real(*args, **kwargs)

        return step


def leftovers(root: Path) -> list[str]:
    """Temporary files and commit records anywhere under ``root``."""
    found = []
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".tmp") or name.endswith(".json"):
                found.append(os.path.join(folder, name))
    return found


async def frame_of(store: ParquetBarStore, key: SeriesKey = KEY) -> pl.DataFrame:
    return await store.read(key, EVERYTHING)


Operation = Callable[[ParquetBarStore], Awaitable[object]]


def _changed(bars: pl.DataFrame) -> pl.DataFrame:
    return bars.with_columns(pl.col("volume") + 1.0)


# (name, initial content, operation, content after a successful operation)
UPDATE = _changed(OLD.slice(500, 800))  # from Jan 30 into early March: three partitions
UPDATED = pl.concat([OLD.slice(0, 500), UPDATE, OLD.slice(1300)])
EXTEND = make_bars(24 * 40, start=datetime(2024, 3, 20, tzinfo=UTC), timeframe="1h", seed=5)
SCENARIOS: dict[str, tuple[pl.DataFrame, Operation, pl.DataFrame]] = {
    "first write, three months": (
        OLD.clear(),
        lambda s: s.write(KEY, OLD),
        OLD,
    ),
    "upsert over three months": (
        OLD,
        lambda s: s.write(KEY, UPDATE),
        UPDATED,
    ),
    "upsert into one month": (
        OLD,
        lambda s: s.write(KEY, _changed(OLD.slice(100, 10))),
        pl.concat([OLD.slice(0, 100), _changed(OLD.slice(100, 10)), OLD.slice(110)]),
    ),
    "extend into new months": (
        OLD,
        lambda s: s.write(KEY, EXTEND),
        pl.concat([OLD.filter(pl.col("ts") < EXTEND["ts"][0]), EXTEND]),
    ),
    "delete a whole month and parts of two": (
        OLD,
        lambda s: s.delete(
            KEY, TimeSpan(datetime(2024, 1, 20, tzinfo=UTC), datetime(2024, 3, 5, tzinfo=UTC))
        ),
        OLD.filter(
            (pl.col("ts") < datetime(2024, 1, 20, tzinfo=UTC))
            | (pl.col("ts") >= datetime(2024, 3, 5, tzinfo=UTC))
        ),
    ),
    "delete everything": (OLD, lambda s: s.delete(KEY, EVERYTHING), OLD.clear()),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_a_crash_at_any_step_leaves_the_old_or_the_new_data(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcomes = await _crash_at_each_step(name, tmp_path, monkeypatch, workers=1)

    assert outcomes[0] == "old"
    assert outcomes[-1] == "new"
    # Once a crash point yields the new data, every later one does: one commit point.
    first_new = outcomes.index("new")
    assert set(outcomes[first_new:]) == {"new"}


@pytest.mark.parametrize("name", ["upsert over three months", "first write, three months"])
async def test_partitions_staged_in_parallel_are_just_as_safe(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcomes = await _crash_at_each_step(name, tmp_path, monkeypatch, workers=4)

    assert {"old", "new"} <= set(outcomes)


async def _crash_at_each_step(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, workers: int
) -> list[str]:
    """Run the scenario once per possible crash point; check and return each outcome."""
    initial, operation, final = SCENARIOS[name]
    template = tmp_path / "template"
    seed = cached_store(template)
    if not initial.is_empty():
        await seed.write(KEY, initial)
    await seed.write(OTHER, OLD)  # a bystander series that must never change
    shutil.copytree(template, tmp_path / "count")
    total = await _count_steps(cached_store(tmp_path / "count", workers=1), operation, monkeypatch)
    assert total >= 3, "the operation must take several file steps"
    outcomes = []
    for k in range(total + 1):
        root = tmp_path / f"crash-{k}"
        shutil.copytree(template, root)
        store = cached_store(root, workers=workers)

        with monkeypatch.context() as patch:
            crash = Crash(patch, after=k)
            try:
                await operation(store)
            except StorageError:
                assert crash.crashed
            else:
                assert not crash.crashed, "a crashed step must surface as an error"

        restarted = cached_store(root)
        got = await frame_of(restarted)
        if got.equals(final):
            outcomes.append("new")
        else:
            assert got.equals(initial), f"crash after step {k} left neither old nor new data"
            outcomes.append("old")
        assert leftovers(root) == [], f"crash after step {k} left files behind"
        assert (await frame_of(restarted, OTHER)).equals(OLD)
        infos = {info.key: info for info in await restarted.list_series()}
        assert (infos[KEY].rows if KEY in infos else 0) == got.height
        # The crashed instance heals itself on its next use, to the same content.
        assert (await frame_of(store)).equals(got)
    return outcomes


async def _count_steps(
    store: ParquetBarStore, operation: Operation, monkeypatch: pytest.MonkeyPatch
) -> int:
    await store.ping()
    with monkeypatch.context() as patch:
        crash = Crash(patch, after=None)
        await operation(store)
    return crash.steps


async def test_a_crashed_instance_heals_before_its_next_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = cached_store(tmp_path, workers=1)
    await store.write(KEY, OLD)
    with monkeypatch.context() as patch:
        Crash(patch, after=6)
        with pytest.raises(StorageError):
            await store.write(KEY, UPDATE)

    extra = make_bars(5, start=datetime(2024, 6, 1, tzinfo=UTC), timeframe="1h", seed=9)
    assert await store.write(KEY, extra) == 5

    got = await frame_of(store)
    assert got.tail(5).equals(extra)
    head = got.head(got.height - 5)
    assert head.equals(OLD) or head.equals(UPDATED)
    assert leftovers(tmp_path) == []
