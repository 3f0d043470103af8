"""Live streams run by this server: their status and stats; start and stop (operators).

``GET /api/v1/streams`` lists every stream (from ``[[streams]]`` or started here) with each
channel's state and counters: messages and bytes (totals and per second), stored rows, lag
from exchange time to stored (p50, p99, max over the newest samples), reconnects, silent
sockets, gaps healed, drops, and the queue's depth, high-water mark and bound. Starting and
stopping need ``ingest:run`` (operator). A stream started here lasts until it is stopped or
the server stops (it is not written to the config).
"""

from __future__ import annotations

import msgspec
from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from arbx.app.stream_supervisor import StreamSupervisor, StreamView
from arbx.domain.auth import Permission
from arbx.domain.market.streams import StreamSpec
from arbx.entrypoints.http.security import requires

READ = requires(Permission.DATA_READ)
MANAGE = requires(Permission.INGEST_RUN, group="write")


class StreamsOut(msgspec.Struct):
    """``kinds``: the channels this server can stream."""

    count: int
    kinds: list[str]
    streams: list[StreamView]


@get("/", summary="Every live stream with its state and stats", guards=[READ])
async def list_streams(stream_supervisor: NamedDependency[StreamSupervisor]) -> StreamsOut:
    views = stream_supervisor.status()
    return StreamsOut(count=len(views), kinds=stream_supervisor.kinds, streams=views)


@get("/{stream_id:str}", summary="One live stream", guards=[READ])
async def get_stream(
    stream_id: FromPath[str], stream_supervisor: NamedDependency[StreamSupervisor]
) -> StreamView:
    return stream_supervisor.get(stream_id)


@post(
    "/",
    summary="Start a live stream",
    description=(
        "The body is a `[[streams]]` entry: `venue` (binance, coinbase, kraken), `symbols`"
        " (`BTC/USDC`), `channels` (`trades`, `candles`), and optionally `name` (the id),"
        " `url`, `batch_size`, `flush_ms`, `queue_size`, `backpressure` (`block`), `intervals`"
        " (candle widths), `bars` (bars built from trades), `restart`, `max_restarts`,"
        " `restart_delay_s`, `idle_timeout_s`, `max_attempts`. 409 while a stream of that id"
        " runs. Coinbase Exchange has no candle channel (400)."
    ),
    status_code=201,
    guards=[MANAGE],
)
async def start_stream(
    data: JSONBody[StreamSpec], stream_supervisor: NamedDependency[StreamSupervisor]
) -> StreamView:
    return await stream_supervisor.start(data)


@post(
    "/{stream_id:str}/stop",
    summary="Stop a live stream (what it received is stored first)",
    status_code=200,
    guards=[MANAGE],
)
async def stop_stream(
    stream_id: FromPath[str], stream_supervisor: NamedDependency[StreamSupervisor]
) -> StreamView:
    return await stream_supervisor.stop(stream_id)


ROUTES = [list_streams, get_stream, start_stream, stop_stream]
