"""What only a process pool can do: lose a worker, and recover from it."""

from __future__ import annotations

import pytest

from arbx.adapters.compute.local_process import LocalProcessExecutor
from arbx.ports.executor import WorkerLost
from tests.support.compute_calls import add, die


async def test_a_dead_worker_is_worker_lost_and_the_next_call_gets_a_new_pool() -> None:
    executor = LocalProcessExecutor(workers=1)
    try:
        with pytest.raises(WorkerLost, match="died"):
            await executor.submit(die).result()
        assert await executor.submit(add, 2, 3).result() == 5
    finally:
        await executor.shutdown()
