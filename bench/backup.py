"""Backup, verify and restore of the local profile against a plain read of the same bars.

    .venv/bin/python bench/backup.py [--series 4] [--days 365] [--runs 3]

Writes ``--series`` 1m series of ``--days`` days each into a temporary local store, then
times, best of ``--runs``: reading every bar through the bar store (the reference, with the read
cache off: what any backup has to do at least), ``arbx backup create`` (read + Parquet encode + sha256 + write),
``verify`` (read + sha256 + decode every file) and ``restore`` into an empty store (verify +
write through the store). Prints bars/s and each figure as a ratio to the plain read.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from arbx.domain.market import SeriesKey, TimeSpan
from arbx.entrypoints import runtime
from arbx.entrypoints.container import Container, build_container, resolve
from arbx.entrypoints.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.builders: make_bars
EVERYTHING = TimeSpan(datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


async def opened(folder: Path) -> Container:
    settings = load_settings(
        profile="test",
        environ={},
        overrides={"storage": {"data_dir": str(folder), "bars_cache_bytes": 0}},
    )
    container = build_container(settings)
    await runtime.start(container)
    return container


async def best(runs: int, step: Callable[[int], Awaitable[object]]) -> float:
    times = []
    for attempt in range(runs):
        started = time.perf_counter()
        await step(attempt)
        times.append(time.perf_counter() - started)
    return min(times)


async def main(series: int, days: int, runs: int) -> None:
    from tests.builders import make_bars

    root = Path(tempfile.mkdtemp(prefix="arbx-bench-backup-"))
    try:
        source = await opened(root / "source")
        bars = await resolve(source.bar_store)
        total = 0
        for n in range(series):
            key = SeriesKey.of("kraken", f"C{n}/USDC", "1m")
            frame = make_bars(days * 1440, start=datetime(2024, 1, 1, tzinfo=UTC), seed=n)
            total += await bars.write(key, frame)

        async def read_all(_: int) -> None:
            for info in await bars.list_series():
                await bars.read(info.key, EVERYTHING)

        create = await resolve(source.create_backup)
        read_s = await best(runs, read_all)
        create_s = await best(runs, lambda i: create.execute(str(root / f"backup-{i}")))
        verify = await resolve(source.verify_backup)
        verify_s = await best(runs, lambda i: verify.execute(str(root / f"backup-{i}")))
        await runtime.stop(source)

        async def restore(i: int) -> None:
            target = await opened(root / f"target-{i}")
            try:
                await (await resolve(target.restore_backup)).execute(str(root / f"backup-{i}"))
            finally:
                await runtime.stop(target)

        restore_s = await best(runs, restore)
        size = sum(p.stat().st_size for p in (root / "backup-0").rglob("*") if p.is_file())
        print(
            f"{series} series x {days} days of 1m bars = {total:,} bars; backup {size / 1e6:.1f} MB"
        )
        for name, seconds in (
            ("read all bars", read_s),
            ("backup create", create_s),
            ("backup verify", verify_s),
            ("backup restore", restore_s),
        ):
            print(
                f"{name:15} {seconds:7.2f} s  {total / seconds:>12,.0f} bars/s"
                f"  x{seconds / read_s:5.2f} the plain read"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=4)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.series, args.days, args.runs))
