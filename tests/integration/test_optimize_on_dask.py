"""One study gives identical trials on threads, a local process pool and a real Dask
cluster (``distributed.LocalCluster``, two worker processes); the settings pick Dask."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from arbx.adapters.compute.dask import DaskExecutor
from arbx.adapters.compute.in_process import InProcessExecutor
from arbx.adapters.compute.local_process import LocalProcessExecutor
from arbx.app.optimize import decode_optimization
from arbx.domain.errors import InvalidInput
from arbx.entrypoints.container import build_container
from arbx.entrypoints.settings import load_settings
from arbx.ports.executor import Executor
from tests.unit.app.test_optimize import OP, World, arb, sma


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    import distributed

    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as made:
        yield made


async def trials_on(executor: Executor, body: dict[str, Any]) -> list[Any]:
    world = World(executor)
    await world.load()
    study = await world.uc.create(decode_optimization(body), actor=OP)
    await world.uc.run(study.id, actor=OP, jobs=2)
    found = await world.studies.trials(study.id)
    return [msgspec.structs.replace(t, seconds=0.0, study_id="") for t in found]


@pytest.mark.parametrize("body", [sma(), arb(method="random", trials=6)], ids=["grid", "arb"])
async def test_the_same_study_gives_the_same_trials_on_every_executor(
    cluster: Any, body: dict[str, Any]
) -> None:
    import distributed

    executors: list[Executor] = [InProcessExecutor(workers=2), LocalProcessExecutor(workers=2)]
    client = distributed.Client(cluster, set_as_default=False)
    executors.append(DaskExecutor(client=client))
    try:
        results = [await trials_on(e, body) for e in executors]
    finally:
        for e in executors:
            await e.shutdown()
        client.close()
    assert results[0] == results[1] == results[2]
    assert len(results[0]) > 1


async def test_the_compute_scheduler_setting_picks_dask(tmp_path: Any, cluster: Any) -> None:
    settings = load_settings(
        profile="test",
        environ={},
        overrides={
            "storage": {"data_dir": str(tmp_path / "var")},
            "compute": {"scheduler": cluster.scheduler_address},
        },
    )
    executor = build_container(settings).compute_executor()
    assert isinstance(executor, DaskExecutor)
    from tests.support.compute_calls import add

    assert await executor.submit(add, 2, 3).result() == 5
    await executor.shutdown()
    with pytest.raises(InvalidInput, match="tcp://host:8786"):
        load_settings(profile="test", environ={}, overrides={"compute": {"scheduler": "host:1"}})
