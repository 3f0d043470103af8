"""A local WebSocket server that speaks like a venue: it replays recorded messages (the real
payloads in tests/fixtures/exchanges/) once a client subscribed, and can misbehave on cue
(close after N messages, fall silent, refuse the subscription), answer later messages (a
resubscribe) and serve a REST depth snapshot (Binance's ``GET /api/v3/depth``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "exchanges"


def lines(relative: str) -> list[str]:
    return [line for line in (FIXTURES / relative).read_text().splitlines() if line.strip()]


@dataclass
class Behaviour:
    """What the server does on each connection (``n``: 0 for the first)."""

    messages: list[str]
    wait_for_subscribe: bool = False
    close_after: Callable[[int], int | None] = lambda n: None  # close after k messages
    silent_after: Callable[[int], int | None] = lambda n: None  # then say nothing
    reply: Callable[[dict[str, Any]], str | None] = lambda sub: None  # answer to a subscribe
    # answers to any later client message (an unsubscribe/subscribe pair asking for a resync)
    respond: Callable[[dict[str, Any]], list[str]] = lambda msg: []
    # GET /api/v3/depth: (status, body) for the n-th call (0 for the first)
    depth: Callable[[int, dict[str, str]], tuple[int, str]] | None = None


@dataclass
class FakeVenue:
    behaviour: Behaviour
    connections: int = 0
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)  # every client message
    depth_calls: list[dict[str, str]] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    port: int = 0

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/api/v3/depth", self._depth)
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"ws://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _depth(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        n = len(self.depth_calls)
        self.depth_calls.append(query)
        if self.behaviour.depth is None:
            return web.Response(status=404, text="no depth here")
        status, body = self.behaviour.depth(n, query)
        return web.Response(status=status, text=body, content_type="application/json")

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        n = self.connections
        self.connections += 1
        self.paths.append(request.path_qs)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        b = self.behaviour
        if b.wait_for_subscribe:
            msg = await ws.receive(timeout=5)
            if msg.type != WSMsgType.TEXT:
                await ws.close()
                return ws
            sub = json.loads(msg.data)
            self.subscriptions.append(sub)
            self.received.append(sub)
            if (answer := b.reply(sub)) is not None:
                await ws.send_str(answer)
        close_after, silent_after = b.close_after(n), b.silent_after(n)
        for i, line in enumerate(b.messages):
            if close_after is not None and i >= close_after:
                await ws.close()
                return ws
            if silent_after is not None and i >= silent_after:
                break  # say nothing more, but keep the connection open
            await ws.send_str(line)
        async for msg in ws:  # keep the connection open until the client leaves
            if msg.type != WSMsgType.TEXT:
                continue
            later = json.loads(msg.data)
            self.received.append(later)
            for line in b.respond(later):
                await ws.send_str(line)
        return ws
