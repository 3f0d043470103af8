"""The local process executor: many small calls through its worker slots (one process pool
per worker, so one call can be stopped) against a plain ``ProcessPoolExecutor`` behind the
same ``FuturesExecutor`` code, measured in the same run. Prints times and the ratio; nothing
is asserted.

    .venv/bin/python bench/executor.py --calls 400 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

from arbx.adapters.compute.futures import FuturesExecutor
from arbx.adapters.compute.local_process import LocalProcessExecutor
from arbx.ports.executor import Executor


def add(a: int, b: int) -> int:
    return a + b


async def timed(executor: Executor, calls: int, workers: int) -> float:
    await asyncio.gather(*(executor.submit(add, 1, 1).result() for _ in range(workers)))  # warm
    start = time.perf_counter()
    await asyncio.gather(*(executor.submit(add, i, 1).result() for i in range(calls)))
    elapsed = time.perf_counter() - start
    await executor.shutdown()
    return elapsed


async def main(calls: int, workers: int) -> None:
    spawn = multiprocessing.get_context("spawn")
    pool = FuturesExecutor(
        lambda: ProcessPoolExecutor(max_workers=workers, mp_context=spawn), share_by_file=True
    )
    reference = await timed(pool, calls, workers)
    slots = await timed(LocalProcessExecutor(workers=workers), calls, workers)
    print(f"{calls} small calls on {workers} workers")
    print(f"ProcessPoolExecutor (reference)  {reference * 1e3:8.1f} ms")
    print(f"LocalProcessExecutor (slots)     {slots * 1e3:8.1f} ms   ratio {slots / reference:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.workers))
