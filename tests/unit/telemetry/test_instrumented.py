"""``traced`` keeps the object (and its type), spans each public async call, records the
outcome, and hands results to hooks; off and without hooks it changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from arbx.adapters.telemetry.noop import NoTelemetry
from arbx.adapters.telemetry.otel import OtelTelemetry
from arbx.app.instrumented import traced
from tests.support.telemetry import recording_telemetry


class Store:
    def __init__(self) -> None:
        self.rows: list[int] = []

    async def write(self, value: int) -> int:
        self.rows.append(value)
        return value * 2

    async def fail(self) -> None:
        raise LookupError("nothing here")

    def size(self) -> int:
        return len(self.rows)


async def test_calls_are_spanned_and_hooks_see_results() -> None:
    telemetry, exporter = recording_telemetry()
    seen: list[tuple[tuple[Any, ...], Any]] = []
    store = Store()
    same = traced(
        store,
        telemetry,
        "store.things",
        system="sqlite",
        on_result={"write": lambda args, _kw, result: seen.append((args, result))},
    )
    assert same is store
    assert isinstance(same, Store)
    assert await same.write(3) == 6
    with pytest.raises(LookupError):
        await same.fail()
    assert same.size() == 1
    assert seen == [((3,), 6)]
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"store.things.write", "store.things.fail"}
    assert spans["store.things.write"].attributes == {
        "arbx.component": "store.things",
        "arbx.operation": "write",
        "db.system": "sqlite",
    }
    assert spans["store.things.fail"].status.status_code is StatusCode.ERROR
    text = telemetry.metrics_text()
    assert 'operation="write",outcome="ok"' in text
    assert 'operation="fail",outcome="error"' in text


async def test_off_without_hooks_nothing_is_wrapped() -> None:
    store = Store()
    traced(store, NoTelemetry(), "store.things")
    assert "write" not in vars(store)
    hooked: list[int] = []
    traced(
        store, NoTelemetry(), "store.things", on_result={"write": lambda a, k, r: hooked.append(r)}
    )
    assert await store.write(2) == 4
    assert hooked == [4]


async def test_spans_only_when_not_measured_and_nothing_without_an_exporter() -> None:
    telemetry, exporter = recording_telemetry()
    store = traced(Store(), telemetry, "store.things", measure=False)
    await store.write(1)
    assert [s.name for s in exporter.get_finished_spans()] == ["store.things.write"]
    assert "arbx_operation_duration" not in telemetry.metrics_text()
    quiet = OtelTelemetry(service_name="arbx")  # no exporter: no spans to make
    untouched = Store()
    traced(untouched, quiet, "store.things", measure=False)
    assert "write" not in vars(untouched)
