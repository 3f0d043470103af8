"""The Executor contract, run against every adapter (threads in-process, a process pool, a
Dask cluster: a real ``distributed.LocalCluster`` with two worker processes)."""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from arbx.adapters.compute.dask import DaskExecutor
from arbx.adapters.compute.in_process import InProcessExecutor
from arbx.adapters.compute.local_process import LocalProcessExecutor
from arbx.domain.backtest.request import decode_request
from arbx.domain.errors import InvalidInput
from arbx.ports.executor import ComputeUnavailable, Executor
from tests.support.compute_calls import add, arrays_of, fail, frame_of, nap, refuse, total

QUEUE_AHEAD = 4  # calls a pool may already have handed to its workers' queue


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    """A real ``distributed.LocalCluster``: two worker processes of one thread each."""
    import distributed

    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        yield client


@pytest.fixture(params=["in_process", "local_process", "dask"])
async def executor(request: pytest.FixtureRequest) -> AsyncIterator[Executor]:
    made: Executor
    if request.param == "in_process":
        made = InProcessExecutor(workers=1)
    elif request.param == "local_process":
        made = LocalProcessExecutor(workers=1)
    else:
        # one call on the cluster at a time, as the other adapters' single worker: the
        # queueing tests then hold for every adapter alike
        made = DaskExecutor(client=request.getfixturevalue("dask_client"), max_in_flight=1)
    try:
        yield made
    finally:
        await made.shutdown()


async def test_results_come_back_from_args_and_kwargs(executor: Executor) -> None:
    calls = [executor.submit(add, n, 1, times=2) for n in range(5)]
    assert [await c.result() for c in calls] == [2, 4, 6, 8, 10]
    assert all(c.done() and not c.running() for c in calls)
    assert calls[0].cancel() is False  # finished: nothing to stop


async def test_exceptions_propagate_with_their_class_and_message(executor: Executor) -> None:
    with pytest.raises(ValueError, match="boom 42"):
        await executor.submit(fail, "boom 42").result()
    with pytest.raises(InvalidInput, match="fast must be shorter"):
        await executor.submit(refuse, "fast must be shorter").result()
    assert await executor.submit(add, 1, 2).result() == 3  # the executor still works


async def test_a_queued_call_can_be_cancelled_and_never_runs(executor: Executor) -> None:
    blocker = executor.submit(nap, 1.0)
    ahead = [executor.submit(add, n, 0) for n in range(QUEUE_AHEAD)]
    queued = executor.submit(add, 40, 2)
    assert queued.cancel() is True
    assert queued.done()
    with pytest.raises(asyncio.CancelledError):
        await queued.result()
    assert await blocker.result() == "done"
    assert [await a.result() for a in ahead] == list(range(QUEUE_AHEAD))


async def test_cancelling_the_waiter_cancels_a_call_not_started(executor: Executor) -> None:
    blocker = executor.submit(nap, 1.0)
    for n in range(QUEUE_AHEAD):
        executor.submit(add, n, 0)
    queued = executor.submit(add, 40, 2)
    waiter = asyncio.create_task(queued.result())
    await asyncio.sleep(0.05)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await asyncio.sleep(0)  # the cancellation reaches the call
    assert queued.done()
    assert queued.cancel() is True  # cancelled already
    assert await blocker.result() == "done"


async def test_shutdown_finishes_running_calls_drops_queued_ones_and_refuses_new(
    executor: Executor,
) -> None:
    running = executor.submit(nap, 0.5, "finished")
    for _ in range(500):  # until a worker has it (a process pool spawns first)
        if running.running():
            break
        await asyncio.sleep(0.01)
    queued = [executor.submit(nap, 0.2) for _ in range(QUEUE_AHEAD + 1)]
    await executor.shutdown()
    assert await running.result() == "finished"
    with pytest.raises(asyncio.CancelledError):
        await queued[-1].result()
    with pytest.raises(ComputeUnavailable, match="shut down"):
        executor.submit(add, 1, 1)
    await executor.shutdown()  # twice is fine


async def test_a_shared_value_reaches_every_call_through_a_small_handle(
    executor: Executor,
) -> None:
    value = list(range(200_000))
    shared = executor.share(value)
    assert len(pickle.dumps(shared)) < 2_000 or shared.get() is value  # threads: the value
    calls = [executor.submit(total, shared, times=n) for n in range(1, 6)]
    got = [await c.result() for c in calls]
    assert [s for s, _ in got] == [sum(value) * n for n in range(1, 6)]
    executor.release(shared)
    await executor.shutdown()
    with pytest.raises(ComputeUnavailable):
        executor.share([1])


async def test_warm_starts_workers_and_calls_work_as_before(executor: Executor) -> None:
    executor.warm()
    executor.warm()
    assert await executor.submit(add, 2, 3).result() == 5


async def test_shared_numpy_arrays_and_study_data_arrive_intact(executor: Executor) -> None:
    import numpy as np

    from arbx.domain.research.evaluate import StudyData
    from arbx.domain.research.objective import Objective
    from tests.builders import key, make_bars

    prices = np.linspace(1.0, 2.0, 300_001)
    shared = executor.share({"prices": prices, "n": 7})
    total, dtype, n, _ = await executor.submit(arrays_of, shared).result()
    assert (total, dtype, n) == (float(prices.sum()), "float64", 7)
    bars = make_bars(5000, datetime(2024, 1, 1, tzinfo=UTC))
    request = decode_request(
        {"strategy": "buy_and_hold", "series": ["binance:BTC/USDC:1m"], "start": "2024-01-01",
         "end": "2024-01-05"}
    )  # fmt: skip
    data = StudyData("s", request, {key("binance:BTC/USDC:1m"): bars}, Objective())
    study = executor.share(data)
    frame, close = await executor.submit(frame_of, study).result()
    assert frame.equals(bars)
    assert frame.schema == bars.schema
    assert (close == bars["close"].to_numpy()).all()
    executor.release(shared)
    executor.release(study)
