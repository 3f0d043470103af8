"""What only a process pool can do: lose a worker or stop one call, and recover."""

from __future__ import annotations

import asyncio

import pytest

from arbx.adapters.compute.local_process import LocalProcessExecutor
from arbx.ports.executor import CallStopped, WorkerLost
from tests.support.compute_calls import add, die, forever, nap


async def test_a_dead_worker_is_worker_lost_and_the_next_call_gets_a_new_pool() -> None:
    executor = LocalProcessExecutor(workers=1)
    try:
        with pytest.raises(WorkerLost, match="died"):
            await executor.submit(die).result()
        assert await executor.submit(add, 2, 3).result() == 5
    finally:
        await executor.shutdown()


async def test_terminate_ends_only_the_worker_of_that_call_and_replaces_it() -> None:
    executor = LocalProcessExecutor(workers=2)
    try:
        stuck = executor.submit(forever)
        other = executor.submit(nap, 1.5, "kept")
        queued = executor.submit(add, 1, 1)  # waits: both workers are busy
        deadline = asyncio.get_running_loop().time() + 30
        while not (stuck.running() and other.running()):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)
        assert queued.terminate() is True  # not started: dropped
        with pytest.raises(asyncio.CancelledError):
            await queued.result()
        await asyncio.sleep(0.3)  # let the stuck call really spin
        assert stuck.terminate() is True
        with pytest.raises(CallStopped, match="stopped"):
            await asyncio.wait_for(stuck.result(), 30)
        assert await other.result() == "kept"  # the other worker was left alone
        assert await executor.submit(add, 2, 3).result() == 5  # a fresh worker
        assert stuck.terminate() is False  # finished (stopped): nothing more to do
    finally:
        await executor.shutdown()
