"""Client addresses behind a real uvicorn (as ``arbx serve`` runs it): X-Forwarded-For from a
loopback client is ignored unless the peer is a configured trusted proxy (issue 12)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from arbx.entrypoints import runtime
from arbx.entrypoints.cli.serve import server_config
from arbx.entrypoints.container import build_container
from arbx.entrypoints.http.app import create_app
from arbx.entrypoints.settings import load_settings
from tests.e2e.conftest import make_admin_key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served(tmp_path: Path, **http: Any) -> Iterator[tuple[str, str]]:
    """A real uvicorn serving arbx on loopback; yields (base url, admin API key)."""
    settings = load_settings(
        profile="test",
        environ={},
        overrides={
            "storage": {"data_dir": str(tmp_path / "var")},
            "auth": {"rate_limits": {"auth": {"per_minute": 60, "burst": 2}}},
            "http": http,
        },
    )
    container = build_container(settings)
    port = free_port()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def serve() -> None:
        async def main() -> None:
            await runtime.start(container)
            try:
                holder["key"] = await make_admin_key(container)
                app = create_app(container, manage_resources=False)
                server = uvicorn.Server(server_config(app, settings, host="127.0.0.1", port=port))
                holder["server"] = server
                ready.set()
                await server.serve()
            finally:
                await runtime.stop(container)

        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(20)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield base, holder["key"]
    finally:
        holder["server"].should_exit = True
        thread.join(20)


def sign_in_attempts(base: str, forwarded_for: list[str]) -> list[int]:
    return [
        httpx.post(
            f"{base}/api/v1/auth/login",
            json={"username": "nobody", "password": "wrong password 1"},
            headers={"X-Forwarded-For": fake},
        ).status_code
        for fake in forwarded_for
    ]


def audited_addresses(base: str, key: str) -> list[str | None]:
    entries = httpx.get(
        f"{base}/api/v1/audit", params={"action": "auth.login"}, headers={"X-API-Key": key}
    ).json()["entries"]
    return [e["client_address"] for e in entries]


def test_a_made_up_forwarded_for_neither_resets_the_limit_nor_reaches_the_audit_log(
    tmp_path: Path,
) -> None:
    with served(tmp_path) as (base, key):
        statuses = sign_in_attempts(base, [f"203.0.113.{i}" for i in range(5)])
        assert statuses.count(429) == 3, statuses  # one bucket: the real peer's
        assert set(audited_addresses(base, key)) == {"127.0.0.1"}


def test_a_trusted_proxy_names_the_client(tmp_path: Path) -> None:
    with served(tmp_path, trusted_proxies=["127.0.0.1"]) as (base, key):
        statuses = sign_in_attempts(base, ["203.0.113.1", "203.0.113.2", "203.0.113.1"])
        assert 429 not in statuses[:2]  # two clients behind the proxy, a bucket each
        assert set(audited_addresses(base, key)) == {"203.0.113.1", "203.0.113.2"}
