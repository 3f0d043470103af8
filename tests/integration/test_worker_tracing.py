"""Trace context crosses into worker processes: a call submitted inside a span runs in a
spawned worker inside a child span of it, exported by the worker to the OTLP receiver."""

from __future__ import annotations

import operator

from arbx.adapters.compute.local_process import LocalProcessExecutor
from arbx.adapters.telemetry.noop import NoTelemetry
from arbx.adapters.telemetry.workers import TracedExecutor, WorkerTracing
from tests.support.telemetry import otlp_receiver, recording_telemetry


async def test_a_worker_continues_the_submitting_trace() -> None:
    telemetry, exporter = recording_telemetry()
    with otlp_receiver() as receiver:
        config = WorkerTracing(
            service_name="arbx-test", endpoint=receiver.url, headers={}, timeout_s=5.0
        )
        executor = TracedExecutor(LocalProcessExecutor(workers=1), telemetry, config)
        try:
            with telemetry.span("backtest.start"):
                assert await executor.submit(operator.add, 2, 3).result() == 5
            assert await executor.submit(operator.mul, 2, 3).result() == 6  # no span: as is
        finally:
            await executor.shutdown()
        assert receiver.received.wait(10)
    [parent] = exporter.get_finished_spans()
    assert receiver.spans == ["worker add"]
    assert receiver.trace_ids == [format(parent.context.trace_id, "032x")]
    assert receiver.parent_ids == [format(parent.context.span_id, "016x")]


async def test_without_tracing_calls_go_as_they_are() -> None:
    executor = TracedExecutor(LocalProcessExecutor(workers=1), NoTelemetry(), None)
    try:
        assert await executor.submit(operator.add, 1, 1).result() == 2
    finally:
        await executor.shutdown()
