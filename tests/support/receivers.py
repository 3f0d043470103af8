"""Local receivers of alert notifications: an aiohttp webhook server and an aiosmtpd SMTP
server, each on 127.0.0.1 in its own thread (usable from sync and async tests)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller


@dataclass
class Hook:
    body: bytes
    headers: dict[str, str]


@dataclass
class WebhookReceiver:
    url: str
    statuses: list[int] = field(default_factory=list)  # answers to give, then 200
    received: list[Hook] = field(default_factory=list)
    attempts: int = 0
    arrived: threading.Event = field(default_factory=threading.Event)


@contextmanager
def webhook_receiver(statuses: list[int] | None = None) -> Iterator[WebhookReceiver]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="webhook-receiver", daemon=True)
    thread.start()
    box: dict[str, WebhookReceiver] = {}

    async def hook(request: web.Request) -> web.Response:
        receiver = box["r"]
        receiver.attempts += 1
        if receiver.statuses:
            return web.Response(status=receiver.statuses.pop(0), text="receiver says no")
        receiver.received.append(Hook(await request.read(), dict(request.headers)))
        receiver.arrived.set()
        return web.Response(status=204)

    async def start() -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        box["r"] = WebhookReceiver(f"http://127.0.0.1:{port}/hook", list(statuses or []))
        return runner

    runner = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    try:
        yield box["r"]
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@dataclass
class SmtpReceiver:
    host: str
    port: int
    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    secured: list[bool] = field(default_factory=list)  # per message: sent inside TLS
    arrived: threading.Event = field(default_factory=threading.Event)


class _Handler:
    def __init__(self, receiver: SmtpReceiver) -> None:
        self.receiver = receiver

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.receiver.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.receiver.secured.append(session.ssl is not None)
        self.receiver.messages.append(message_from_bytes(envelope.original_content))
        self.receiver.arrived.set()
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def smtp_receiver(tls_context: ssl.SSLContext | None = None) -> Iterator[SmtpReceiver]:
    """With ``tls_context`` the server offers STARTTLS and refuses mail before it."""
    receiver = SmtpReceiver("127.0.0.1", free_port())
    tls: dict[str, Any] = (
        {"tls_context": tls_context, "require_starttls": True} if tls_context else {}
    )
    controller = Controller(_Handler(receiver), hostname=receiver.host, port=receiver.port, **tls)
    controller.start()
    try:
        yield receiver
    finally:
        controller.stop()
