"""The app and the CLI on the real local profile (Parquet + SQLite) in a temp folder."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from arbx.domain.auth import Principal, PrincipalKind
from arbx.domain.market import Symbol, from_ms, to_ms
from arbx.entrypoints.container import Container, build_container, resolve
from arbx.entrypoints.http.app import create_app
from arbx.entrypoints.settings import Settings, load_settings
from tests.support.exchanges import (
    GENERATED_MINUTES,
    GENERATED_START,
    FakeExchanges,
    start_fake_exchanges,
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        profile="test",
        environ={},
        overrides={"storage": {"data_dir": str(tmp_path / "var")}, "http": {"max_page_rows": 100}},
    )


@pytest.fixture
def container(settings: Settings) -> Container:
    return build_container(settings)


ADMIN_USERNAME = "root-e2e"
ADMIN_PASSWORD = "e2e boss passphrase 42"


async def make_admin_key(container: Container) -> str:
    """The first admin (through the bootstrap use case) and an API key of theirs."""
    create_admin = await resolve(container.create_first_admin)
    admin = await create_admin.execute(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    principal = Principal(
        kind=PrincipalKind.USER, user_id=admin.id, username=admin.username, roles=admin.roles
    )
    create_key = await resolve(container.create_api_key)
    new = await create_key.execute(principal, name="e2e-admin")
    return str(new.secret)


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    """The app, authorized as admin (``X-API-Key``); ``anonymous_client`` sends no key."""
    with TestClient(create_app(container)) as test_client:
        key = test_client.blocking_portal.call(make_admin_key, container)
        test_client.headers["X-API-Key"] = key
        yield test_client


_CREDENTIALS = ("x-api-key", "authorization")


class AnonymousClient:
    """The same app and client without the admin key. Headers passed per request are sent
    (so a test can present its own token); only the client's default credentials are left out."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        saved = {k: v for k, v in self.client.headers.items() if k.lower() in _CREDENTIALS}
        for name in saved:
            del self.client.headers[name]
        try:
            response: httpx.Response = self.client.request(method, url, **kwargs)
        finally:
            self.client.headers.update(saved)
        return response

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)


@pytest.fixture
def anonymous_client(client: TestClient) -> AnonymousClient:
    return AnonymousClient(client)


@pytest.fixture
def threaded_venues(
    generated_venue_data: dict[str, dict[Symbol, Any]],
) -> Iterator[FakeExchanges]:
    """The fake Binance/Coinbase/Kraken servers (tests/support/exchanges.py) on their own
    event loop in a thread, so the synchronous TestClient and the CLI (each with its own
    loop) can call them. Their clock stands 30 s after the generated series."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-venues", daemon=True)
    thread.start()
    now = from_ms(to_ms(GENERATED_START) + GENERATED_MINUTES * 60_000 + 30_000)
    started = asyncio.run_coroutine_threadsafe(
        start_fake_exchanges(generated_venue_data, now), loop
    )
    venues, servers = started.result(timeout=30)
    try:
        yield venues
    finally:
        for server in servers:
            asyncio.run_coroutine_threadsafe(server.close(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


def venue_overrides(venues: FakeExchanges, **options: Any) -> dict[str, Any]:
    """``exchanges`` settings pointing every venue at its fake server (fast, no real waits)."""
    fast = {"requests_per_second": 1000.0, "burst": 1000.0, "weight_per_minute": 600000.0}
    return {venue.name: {"base_url": venue.url, **fast, **options} for venue in venues}
