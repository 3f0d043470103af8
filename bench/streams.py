"""Live trade streams: throughput, frame-to-storage latency, memory under a burst.

    .venv/bin/python bench/streams.py [--messages 100000] [--rate 5000] [--seconds 5]
                                      [--burst 100000] [--repeat 3]

Prints, all measured in this run:

1. throughput on one core: Binance aggTrade frames (the combined-stream format of the
   recorded tests/fixtures/exchanges/binance/binanceus_ws_aggTrade_real.jsonl, with fresh
   ids, times and prices) decoded, applied and stored (``WebSocketTrades.receive`` -> the
   bounded buffer -> batched writes of ``StreamTrades``) into the memory store and into the
   Parquet store, against a bare ``msgspec.json.decode`` loop over the same frames (the
   reference; ratio = how many times slower the pipeline is). Best of ``--repeat``,
   interleaved. Targets: >= 50,000 msg/s and within 3x of the reference.
2. latency: a local fake WebSocket server (another process, on loopback) sends ``--rate``
   frames/s for ``--seconds``, each stamped with its send time; the client stores them in
   the Parquet store with ``flush_ms=50``; the lag of every trade (stored time minus send
   time, ms) gives p50/p99/max. Target: p99 < 250 ms.
3. memory under a burst: the server sends ``--burst`` frames as fast as it can into a client
   whose store is slow (20 ms a write, counting only); peak traced memory and the buffer's
   high-water mark for two queue sizes and two burst sizes: bounded by the queue, not by
   the burst.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import random
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import cast

import aiohttp
import msgspec
import polars as pl
from aiohttp import web

from arbx.adapters.memory.trade_store import MemoryTradeStore
from arbx.adapters.parquet.trade_store import ParquetTradeStore
from arbx.adapters.streams.venues import Binance
from arbx.adapters.streams.websocket import WebSocketTrades
from arbx.app.stream_trades import StreamTrades
from arbx.domain.market import Symbol, TimeSpan
from arbx.domain.market.trades import Trade, TradeKey
from arbx.ports.trade_store import TradeStore
from arbx.ports.trade_stream import LagWindow, StreamStats

PAIR = Symbol("OMG", "BUSD")
START_MS = 1633998288467  # the recorded capture's first trade time


def frame(i: int, t_ms: int, rng: random.Random) -> str:
    """One aggTrade message in the recorded layout (fields and types as Binance sends)."""
    price = 13.7 + rng.random() * 0.2
    data = {
        "e": "aggTrade",
        "E": t_ms + 1,
        "s": "OMGBUSD",
        "a": 425085 + i,
        "p": f"{price:.8f}",
        "q": f"{0.01 + rng.random() * 100:.8f}",
        "f": 439577 + i,
        "l": 439577 + i,
        "T": t_ms,
        "m": rng.random() < 0.5,
        "M": True,
    }
    return json.dumps({"stream": "omgbusd@aggTrade", "data": data}, separators=(",", ":"))


def make_frames(n: int) -> list[str]:
    rng = random.Random(17)
    return [frame(i, START_MS + i * 3, rng) for i in range(n)]


class FramesSource:
    """The per-frame work of ``WebSocketTrades`` (count, decode, map) without a socket."""

    def __init__(self, frames: list[str]) -> None:
        # the session is never used: no connection is made
        self._feed = WebSocketTrades(cast(aiohttp.ClientSession, None), Binance(), [PAIR])
        self._frames = frames
        self.stats: StreamStats = self._feed.stats

    async def batches(self) -> AsyncIterator[list[Trade]]:
        receive = self._feed.receive
        for data in self._frames:
            items = receive(data)
            if items:
                yield items


def best(runs: list[float]) -> float:
    return min(runs)


async def pipeline(frames: list[str], store: TradeStore) -> float:
    use_case = StreamTrades(store, batch_size=5000, flush_ms=1000.0, queue_size=10_000)
    source = FramesSource(frames)
    started = time.perf_counter()
    report = await use_case.run(source, asyncio.Event())
    elapsed = time.perf_counter() - started
    assert report.stored == len(frames), report
    return elapsed


def reference(frames: list[str]) -> float:
    decode = msgspec.json.decode
    started = time.perf_counter()
    for data in frames:
        decode(data)
    return time.perf_counter() - started


def throughput(n: int, repeat: int) -> None:
    frames = make_frames(n)
    ref: list[float] = []
    mem: list[float] = []
    pq: list[float] = []
    for _ in range(repeat):
        gc.collect()
        ref.append(reference(frames))
        mem.append(asyncio.run(pipeline(frames, MemoryTradeStore())))
        with tempfile.TemporaryDirectory() as folder:
            pq.append(asyncio.run(pipeline(frames, ParquetTradeStore(Path(folder)))))
    r, m, p = best(ref), best(mem), best(pq)
    print(f"throughput, {n:,} Binance aggTrade frames, one core, best of {repeat}:")
    print(f"  reference msgspec.json.decode loop   {n / r:>12,.0f} msg/s")
    print(
        f"  decode+apply+store (memory store)    {n / m:>12,.0f} msg/s   {m / r:5.2f}x the reference"
    )
    print(
        f"  decode+apply+store (parquet store)   {n / p:>12,.0f} msg/s   {p / r:5.2f}x the reference"
    )
    print("  targets: >= 50,000 msg/s and within 3x of the reference")


# -- a fake venue in another process ------------------------------------------------------


def serve_frames(port_out: multiprocessing.Queue, mode: str, count: int, rate: float) -> None:  # type: ignore[type-arg]
    async def main() -> None:
        rng = random.Random(5)
        done = asyncio.Event()

        async def handle(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            if mode == "paced":
                started = time.perf_counter()
                for i in range(count):
                    due = started + i / rate
                    delay = due - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    await ws.send_str(frame(i, int(time.time() * 1000), rng))
            else:  # a burst: as fast as the client lets us (TCP backpressure)
                payloads = [frame(i, START_MS + i, rng) for i in range(count)]
                for data in payloads:
                    await ws.send_str(data)
            await ws.send_str('{"result":null,"id":1}')
            async for _ in ws:
                pass
            done.set()
            return ws

        app = web.Application()
        app.router.add_get("/{tail:.*}", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_out.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.wait_for(done.wait(), 600)
        await runner.cleanup()

    asyncio.run(main())


def start_server(mode: str, count: int, rate: float) -> tuple[multiprocessing.Process, str]:
    ctx = multiprocessing.get_context("spawn")
    ports: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    process = ctx.Process(target=serve_frames, args=(ports, mode, count, rate), daemon=True)
    process.start()
    return process, f"ws://127.0.0.1:{ports.get(timeout=60)}"


async def run_until(
    url: str,
    store: TradeStore,
    count: int,
    *,
    flush_ms: float,
    batch_size: int,
    queue_size: int,
    every_lag: bool = False,
) -> tuple[StreamTrades, WebSocketTrades, object]:
    async with aiohttp.ClientSession() as session:
        source = WebSocketTrades(session, Binance(), [PAIR], url=url, idle_timeout_s=30.0)
        if every_lag:  # every sample, for exact percentiles (memory grows with the count)
            source.stats.lag = LagWindow(size=count + 10)
        use_case = StreamTrades(
            store, batch_size=batch_size, flush_ms=flush_ms, queue_size=queue_size
        )
        stop = asyncio.Event()
        task = asyncio.create_task(use_case.run(source, stop))
        while source.stats.stored < count and not task.done():  # noqa: ASYNC110 - polling the counter
            await asyncio.sleep(0.02)
        stop.set()
        report = await task
    return use_case, source, report


def latency_with(store: TradeStore, rate: float, count: int) -> tuple[LagWindow, float, int]:
    process, url = start_server("paced", count, rate)
    try:
        started = time.perf_counter()
        _, source, _ = asyncio.run(
            run_until(
                url, store, count, flush_ms=50.0, batch_size=500, queue_size=10_000, every_lag=True
            )
        )
        elapsed = time.perf_counter() - started
        stored = asyncio.run(store.read(TradeKey("binance", PAIR), TimeSpan.everything())).height
    finally:
        process.join(30)
    return source.stats.lag, elapsed, stored


def latency(rate: float, seconds: float) -> None:
    count = int(rate * seconds)
    print(
        f"latency, {count:,} frames at {rate:,.0f}/s from a local fake WebSocket server"
        " (another process), flush_ms=50, batch 500:"
    )
    with tempfile.TemporaryDirectory() as folder:
        for name, store in (
            ("memory store ", MemoryTradeStore()),
            ("parquet store", ParquetTradeStore(Path(folder))),
        ):
            lag, elapsed, stored = latency_with(store, rate, count)
            print(
                f"  {name}: stored {stored:,} in {elapsed:.1f} s; frame-to-storage p50"
                f" {lag.percentile(0.5) or 0:.1f} ms, p99 {lag.percentile(0.99) or 0:.1f} ms,"
                f" max {lag.max_ms or 0:.1f} ms"
            )
    print("  target: p99 < 250 ms")


class SlowSink(TradeStore):
    """A store that takes 20 ms a write and keeps nothing (memory is the queue's only)."""

    def __init__(self) -> None:
        self.count = 0

    async def write(self, key: TradeKey, trades: pl.DataFrame) -> int:
        await asyncio.sleep(0.02)
        self.count += trades.height
        return trades.height

    async def read(self, key: TradeKey, span: TimeSpan) -> pl.DataFrame:
        raise NotImplementedError

    async def keys(self) -> list[TradeKey]:
        return []


def burst(count: int, queue_size: int) -> tuple[float, int]:
    process, url = start_server("burst", count, 0.0)
    try:
        tracemalloc.start()
        _, source, _report = asyncio.run(
            run_until(
                url, SlowSink(), count, flush_ms=1000.0, batch_size=1000, queue_size=queue_size
            )
        )
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        process.join(30)
    return peak / 2**20, source.stats.queue_max


def memory(count: int) -> None:
    print("memory under a burst (slow store: 20 ms a write of 1,000), traced peak:")
    for n, q in ((count, 1_000), (count, 10_000), (count * 2, 1_000)):
        peak, high = burst(n, q)
        print(
            f"  burst {n:>9,} frames, queue {q:>6,}: peak {peak:7.1f} MiB, queue high-water {high:,}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=5_000.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--burst", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["throughput", "latency", "memory"])
    args = parser.parse_args(argv)
    parts: dict[str, Callable[[], None]] = {
        "throughput": lambda: throughput(args.messages, args.repeat),
        "latency": lambda: latency(args.rate, args.seconds),
        "memory": lambda: memory(args.burst),
    }
    for name, part in parts.items():
        if args.only in (None, name):
            part()


if __name__ == "__main__":
    main()
