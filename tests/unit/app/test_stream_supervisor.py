"""The stream supervisor with hand-written channels: restarts on failure (counters carried
over), no retry of a refused subscription, stop and close wait for what was received to be
stored, one running stream per id, unknown channels refused."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from arbx.adapters.telemetry.noop import NoTelemetry
from arbx.app.stream_supervisor import StreamChannel, StreamSupervisor
from arbx.domain.errors import Conflict, InvalidInput, NotFound
from arbx.domain.market.streams import StreamSpec
from arbx.ports.trade_stream import StreamFailed, StreamRejected, StreamStats


@dataclass
class Source:
    stats: StreamStats = field(default_factory=lambda: StreamStats("binance"))


@dataclass
class Script:
    """What each run does in turn: 'fail', 'reject' or 'run' (until stop, then flush)."""

    steps: list[str]
    runs: int = 0
    flushed: int = 0
    sources: list[Source] = field(default_factory=list)

    def channel(self) -> StreamChannel:
        def source(spec: StreamSpec) -> Source:
            made = Source()
            self.sources.append(made)
            return made

        return StreamChannel(source, lambda spec: self)

    async def run(self, source: Source, stop: asyncio.Event) -> None:
        step = self.steps[min(self.runs, len(self.steps) - 1)]
        self.runs += 1
        source.stats.messages += 10
        if step == "fail":
            raise StreamFailed("lost the connection 10 times in a row")
        if step == "reject":
            raise StreamRejected("binance refused the stream: Invalid symbol")
        await stop.wait()
        await asyncio.sleep(0.01)  # writing what was queued
        self.flushed += 1


def spec(**kw: object) -> StreamSpec:
    base: dict[str, object] = {"venue": "binance", "symbols": ["BTC/USDC"], "restart_delay_s": 0.0}
    return StreamSpec(**{**base, **kw})  # type: ignore[arg-type]


async def settle(supervisor: StreamSupervisor, stream_id: str, state: str) -> None:
    for _ in range(200):
        if supervisor.get(stream_id).channels[0].state == state:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{stream_id} never became {state}: {supervisor.get(stream_id)}")


async def test_a_failing_stream_restarts_and_keeps_its_counters() -> None:
    script = Script(["fail", "fail", "run"])
    supervisor = StreamSupervisor({"trades": script.channel()}, telemetry=NoTelemetry())
    view = await supervisor.start(spec())
    await settle(supervisor, view.id, "running")
    channel = supervisor.get(view.id).channels[0]
    assert channel.restarts == 2
    assert script.runs == 3
    assert channel.stats is not None
    assert channel.stats.messages == 30
    assert "lost the connection" in str(channel.error)
    stopped = await supervisor.stop(view.id)
    assert stopped.state == "stopped"
    assert script.flushed == 1


async def test_restarts_end_at_max_restarts_and_never_means_never() -> None:
    script = Script(["fail"])
    supervisor = StreamSupervisor({"trades": script.channel()})
    view = await supervisor.start(spec(max_restarts=2))
    await settle(supervisor, view.id, "failed")
    assert script.runs == 3
    assert supervisor.get(view.id).state == "failed"
    once = Script(["fail"])
    supervisor = StreamSupervisor({"trades": once.channel()})
    view = await supervisor.start(spec(restart="never"))
    await settle(supervisor, view.id, "failed")
    assert once.runs == 1


async def test_a_refused_subscription_is_not_retried() -> None:
    script = Script(["reject"])
    supervisor = StreamSupervisor({"trades": script.channel()})
    view = await supervisor.start(spec())
    await settle(supervisor, view.id, "failed")
    channel = supervisor.get(view.id).channels[0]
    assert script.runs == 1
    assert channel.restarts == 0
    assert channel.error == "binance refused the stream: Invalid symbol"


async def test_one_running_stream_per_id_and_close_flushes_every_stream() -> None:
    trades, candles = Script(["run"]), Script(["run"])
    supervisor = StreamSupervisor({"trades": trades.channel(), "candles": candles.channel()})
    first = await supervisor.start(spec(channels=["trades", "candles"]))
    with pytest.raises(Conflict, match="is running"):
        await supervisor.start(spec(channels=["trades", "candles"]))
    await supervisor.start(spec(name="second"))
    await settle(supervisor, "second", "running")
    await supervisor.close()
    assert trades.flushed == 2
    assert candles.flushed == 1
    assert {v.id: v.state for v in supervisor.status()} == {
        first.id: "stopped",
        "second": "stopped",
    }
    restarted = await supervisor.start(spec(name="second"))  # a stopped id may start again
    assert restarted.id == "second"
    await supervisor.close()


async def test_unknown_ids_and_channels_without_a_runner_are_refused() -> None:
    supervisor = StreamSupervisor({"trades": Script(["run"]).channel()})
    with pytest.raises(NotFound, match="no stream 'x'"):
        await supervisor.stop("x")
    with pytest.raises(InvalidInput, match="cannot be streamed by this server; it streams trades"):
        await supervisor.start(spec(channels=["quotes"]))
    with pytest.raises(InvalidInput, match="appears twice"):
        await supervisor.start_all([spec(), spec()])
    assert supervisor.status() == []


def test_lag_percentiles_use_the_newest_samples_only() -> None:
    stats = StreamStats("binance")
    for value in range(1, 101):
        stats.lag.add(float(value))
    assert stats.lag.percentile(0.5) == 50.0
    assert stats.lag.percentile(0.99) == 99.0
    for _ in range(5000):
        stats.lag.add(1.0)
    assert len(stats.lag) == 2048
    assert stats.lag.percentile(0.99) == 1.0
    assert stats.lag.max_ms == 100.0
    assert stats.lag.last_ms == 1.0
