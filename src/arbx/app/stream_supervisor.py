"""Run live streams inside ``arbx serve``: start, stop and status per stream, restarts, a
clean shutdown, and their stats as metrics.

A stream (a ``StreamSpec``: one ``[[streams]]`` entry or a ``POST /api/v1/streams`` body)
runs one worker per channel. Each channel kind is an entry of the registry handed in
(``channels``: kind -> ``StreamChannel``): how to open the source for a spec and which use
case stores it; every use case has the shape ``run(source, stop)`` and keeps its counters in
``source.stats``. A worker whose use case fails (``StreamFailed``: the connection could not
be kept up; a store error) is started again after ``restart_delay_s`` (doubling each time)
at most ``max_restarts`` times when the spec's ``restart`` is ``on-failure``; a refused
subscription (``StreamRejected``) is not retried. Counters carry over restarts (the new
source gets the old ``StreamStats``). ``stop`` and ``close`` set the workers' stop events:
each use case writes what it received before its ``run`` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import msgspec

from arbx.domain.errors import Conflict, InvalidInput, NotFound
from arbx.domain.market.streams import StreamSpec, check_stream_specs
from arbx.ports.telemetry import Observation, Telemetry
from arbx.ports.trade_stream import StreamRejected, StreamStats

log = logging.getLogger(__name__)

State = Literal["starting", "running", "restarting", "failed", "stopped"]
Origin = Literal["config", "api"]


class StreamRunner(Protocol):
    """A use case that stores one source until ``stop`` (StreamTrades, StreamCandles, ...)."""

    def run(self, source: Any, stop: asyncio.Event) -> Awaitable[Any]: ...


@dataclass(frozen=True, slots=True)
class StreamChannel:
    """One channel kind: ``source(spec)`` opens its source (an object with ``stats``),
    ``runner(spec)`` builds the use case that stores it."""

    source: Callable[[StreamSpec], Any]
    runner: Callable[[StreamSpec], StreamRunner]


class StatsView(msgspec.Struct, kw_only=True):
    """A channel's counters now (rates: per second since it started)."""

    connected: bool
    connects: int
    reconnects: int
    messages: int
    bytes: int
    messages_per_s: float
    bytes_per_s: float
    items: int
    trades: int
    stored: int
    decode_errors: int
    silent_timeouts: int
    gaps: int
    gaps_healed: int
    drops: int
    queue_depth: int
    queue_max: int
    queue_size: int
    lag_ms_p50: float | None
    lag_ms_p99: float | None
    lag_ms_max: float | None
    lag_ms_last: float | None
    lag_samples: int
    started_at: float | None
    last_message_at: float | None
    last_error: str | None

    @classmethod
    def of(cls, stats: StreamStats, now: float) -> StatsView:
        per_s, bytes_per_s = stats.rates(now)
        return cls(
            connected=stats.connected,
            connects=stats.connects,
            reconnects=stats.reconnects,
            messages=stats.messages,
            bytes=stats.bytes,
            messages_per_s=round(per_s, 3),
            bytes_per_s=round(bytes_per_s, 3),
            items=stats.items,
            trades=stats.trades,
            stored=stats.stored,
            decode_errors=stats.decode_errors,
            silent_timeouts=stats.silent_timeouts,
            gaps=stats.gaps,
            gaps_healed=stats.gaps_healed,
            drops=stats.drops,
            queue_depth=stats.queue_depth,
            queue_max=stats.queue_max,
            queue_size=stats.queue_size,
            lag_ms_p50=stats.lag.percentile(0.5),
            lag_ms_p99=stats.lag.percentile(0.99),
            lag_ms_max=stats.lag.max_ms,
            lag_ms_last=stats.lag.last_ms,
            lag_samples=len(stats.lag),
            started_at=stats.started_at,
            last_message_at=stats.last_message_at,
            last_error=stats.last_error,
        )


class ChannelView(msgspec.Struct, kw_only=True):
    channel: str
    state: State
    restarts: int
    error: str | None
    stats: StatsView | None


class StreamView(msgspec.Struct, kw_only=True):
    id: str
    origin: Origin
    state: State
    venue: str
    symbols: list[str]
    channels: list[ChannelView]
    spec: StreamSpec


@dataclass(slots=True)
class _Worker:
    channel: str
    state: State = "starting"
    restarts: int = 0
    error: str | None = None
    stats: StreamStats | None = None
    task: asyncio.Task[None] | None = None


@dataclass(slots=True)
class _Stream:
    spec: StreamSpec
    origin: Origin
    stop: asyncio.Event
    workers: list[_Worker] = field(default_factory=list)

    @property
    def state(self) -> State:
        states = {w.state for w in self.workers}
        for state in ("failed", "restarting", "starting", "running"):
            if state in states:
                return state
        return "stopped"

    @property
    def active(self) -> bool:
        return any(w.task is not None and not w.task.done() for w in self.workers)


class StreamSupervisor:
    def __init__(
        self,
        channels: Mapping[str, StreamChannel],
        *,
        telemetry: Telemetry | None = None,
        clock: Callable[[], float] = time.time,
        max_streams: int = 64,
    ) -> None:
        self._channels = dict(channels)
        self._clock = clock
        self._max = max_streams
        self._streams: dict[str, _Stream] = {}
        if telemetry is not None:
            register_stream_metrics(telemetry, self)

    @property
    def kinds(self) -> list[str]:
        return sorted(self._channels)

    def check(self, spec: StreamSpec) -> None:
        """Raise ``InvalidInput`` when a channel of ``spec`` has no runner here."""
        missing = [c for c in spec.channels if c not in self._channels]
        if missing:
            raise InvalidInput(
                f"channel(s) {', '.join(missing)} cannot be streamed by this server; it streams"
                f" {', '.join(self.kinds)}",
                field="channels",
            )

    async def start_all(self, specs: Iterable[StreamSpec]) -> list[StreamView]:
        """Start the config's streams (``[[streams]]``): each checked first, so a bad one
        starts none."""
        chosen = list(specs)
        check_stream_specs(chosen)
        for spec in chosen:
            self.check(spec)
        return [await self.start(spec, origin="config") for spec in chosen]

    async def start(self, spec: StreamSpec, *, origin: Origin = "api") -> StreamView:
        """Start ``spec``'s stream; ``Conflict`` while a stream of that id runs."""
        self.check(spec)
        current = self._streams.get(spec.id)
        if current is not None and current.active:
            raise Conflict(
                f"stream {spec.id!r} is running; stop it first (POST /api/v1/streams/"
                f"{spec.id}/stop) or give the new one another name"
            )
        if current is None and sum(s.active for s in self._streams.values()) >= self._max:
            raise Conflict(f"{self._max} streams run already; stop one first")
        stream = _Stream(spec, origin, asyncio.Event())
        for channel in spec.channels:
            worker = _Worker(channel)
            worker.task = asyncio.create_task(
                self._supervise(stream, worker), name=f"stream {spec.id} {channel}"
            )
            stream.workers.append(worker)
        self._streams[spec.id] = stream
        await asyncio.sleep(0)  # let the workers open their sources
        return self._view(stream)

    async def stop(self, stream_id: str, *, timeout_s: float = 30.0) -> StreamView:
        """Stop a stream and wait until it wrote what it received."""
        stream = self._streams.get(stream_id)
        if stream is None:
            known = ", ".join(sorted(self._streams)) or "none"
            raise NotFound(f"no stream {stream_id!r}; streams: {known}")
        stream.stop.set()
        tasks = [w.task for w in stream.workers if w.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)
        return self._view(stream)

    def status(self) -> list[StreamView]:
        return [self._view(s) for _, s in sorted(self._streams.items())]

    def connections(self) -> list[tuple[str, bool]]:
        """(``stream/channel``, connected now) of every channel of every stream: a channel is
        connected while it runs with its socket open (the stream_disconnected alert rules)."""
        return [
            (
                f"{stream.spec.id}/{w.channel}",
                w.state == "running" and w.stats is not None and w.stats.connected,
            )
            for _, stream in sorted(self._streams.items())
            for w in stream.workers
        ]

    def get(self, stream_id: str) -> StreamView:
        stream = self._streams.get(stream_id)
        if stream is None:
            raise NotFound(f"no stream {stream_id!r}")
        return self._view(stream)

    async def close(self, timeout_s: float = 30.0) -> None:
        """Stop every stream; each writes what it received (then tasks left are cancelled)."""
        for stream in self._streams.values():
            stream.stop.set()
        tasks = [w.task for s in self._streams.values() for w in s.workers if w.task]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    def channel_stats(self) -> list[tuple[StreamSpec, _Worker, StreamStats]]:
        """Every worker that has counters (for the metrics)."""
        return [
            (s.spec, w, w.stats)
            for s in self._streams.values()
            for w in s.workers
            if w.stats is not None
        ]

    async def _supervise(self, stream: _Stream, worker: _Worker) -> None:
        spec, kind = stream.spec, self._channels[worker.channel]
        delay = spec.restart_delay_s
        while not stream.stop.is_set():
            worker.state = "starting"
            try:
                source = kind.source(spec)
                if worker.stats is not None:
                    source.stats = worker.stats  # counters carry over a restart
                worker.stats = source.stats
                runner = kind.runner(spec)
                worker.state = "running"
                await runner.run(source, stream.stop)
                if stream.stop.is_set():
                    break
                worker.error = "the source ended"
            except StreamRejected as exc:
                worker.error = exc.message
                worker.state = "failed"
                log.warning("stream %s %s refused: %s", spec.id, worker.channel, exc.message)
                return
            except asyncio.CancelledError:
                worker.state = "stopped"
                raise
            except Exception as exc:  # a failed stream must not take the server down
                worker.error = f"{type(exc).__name__}: {exc}"
                log.warning("stream %s %s failed: %s", spec.id, worker.channel, worker.error)
            if spec.restart == "never" or worker.restarts >= spec.max_restarts:
                worker.state = "failed"
                return
            worker.restarts += 1
            worker.state = "restarting"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stream.stop.wait(), delay)
            delay = max(delay * 2, 0.001) if delay else 0.0
        worker.state = "stopped"

    def _view(self, stream: _Stream) -> StreamView:
        now = self._clock()
        spec = stream.spec
        return StreamView(
            id=spec.id,
            origin=stream.origin,
            state=stream.state,
            venue=spec.venue,
            symbols=list(spec.symbols),
            channels=[
                ChannelView(
                    channel=w.channel,
                    state=w.state,
                    restarts=w.restarts,
                    error=w.error,
                    stats=None if w.stats is None else StatsView.of(w.stats, now),
                )
                for w in stream.workers
            ],
            spec=spec,
        )


_COUNTERS = (
    ("messages", "messages received"),
    ("bytes", "bytes received"),
    ("items", "trades, candles or quotes decoded"),
    ("stored", "rows stored"),
    ("reconnects", "reconnections"),
    ("decode_errors", "messages that could not be read"),
    ("silent_timeouts", "silent sockets dropped"),
    ("gaps", "sequence gaps or bad checksums seen"),
    ("gaps_healed", "gaps healed from a fresh snapshot"),
    ("drops", "updates dropped by the drop policy"),
    ("queue_depth", "items queued between the socket and the store now"),
    ("queue_max", "high-water mark of the queue"),
)


def register_stream_metrics(telemetry: Telemetry, supervisor: StreamSupervisor) -> None:
    """Gauges (read when metrics are collected) of every stream channel's counters, rates,
    lag percentiles and state, labelled stream, channel and venue."""

    def labels(spec: StreamSpec, worker: _Worker) -> dict[str, str]:
        return {"stream": spec.id, "channel": worker.channel, "venue": spec.venue}

    def counter_of(name: str) -> Callable[[], Iterable[Observation]]:
        def observe() -> Iterable[Observation]:
            return [
                (float(getattr(stats, name)), labels(spec, worker))
                for spec, worker, stats in supervisor.channel_stats()
            ]

        return observe

    for name, description in _COUNTERS:
        telemetry.gauge(f"arbx.stream.{name}", counter_of(name), description=description)

    def rates() -> Iterable[Observation]:
        now = time.time()
        out: list[Observation] = []
        for spec, worker, stats in supervisor.channel_stats():
            per_s, bytes_per_s = stats.rates(now)
            out.append((per_s, {**labels(spec, worker), "unit": "messages"}))
            out.append((bytes_per_s, {**labels(spec, worker), "unit": "bytes"}))
        return out

    telemetry.gauge("arbx.stream.rate", rates, description="messages or bytes per second")

    def lags() -> Iterable[Observation]:
        out: list[Observation] = []
        for spec, worker, stats in supervisor.channel_stats():
            for quantile in (0.5, 0.99):
                value = stats.lag.percentile(quantile)
                if value is not None:
                    out.append((value, {**labels(spec, worker), "quantile": str(quantile)}))
        return out

    telemetry.gauge(
        "arbx.stream.lag", lags, unit="ms", description="exchange time to stored, p50 and p99"
    )

    def up() -> Iterable[Observation]:
        return [
            (1.0 if w.state == "running" else 0.0, labels(s.spec, w))
            for s in supervisor._streams.values()
            for w in s.workers
        ]

    telemetry.gauge("arbx.stream.up", up, description="1 while the stream channel runs")
