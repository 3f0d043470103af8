"""The Litestar application factory. Handlers see named dependencies, never the container."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin

import arbx
from arbx.entrypoints import runtime
from arbx.entrypoints.container import Container, resolve
from arbx.entrypoints.http.errors import EXCEPTION_HANDLERS
from arbx.entrypoints.http.routes import market, system


def _provide(container: Container, name: str) -> Provide:
    provider = getattr(container, name)

    async def dependency() -> Any:
        return await resolve(provider)

    dependency.__name__ = f"provide_{name}"
    return Provide(dependency)


def _provide_value(value: Any) -> Provide:
    def dependency() -> Any:
        return value

    return Provide(dependency, sync_to_thread=False)


# Named dependencies handlers may ask for (each is a provider of the container).
DEPENDENCIES = ("check_readiness", "import_bars", "query_bars", "list_series")


def create_app(container: Container, *, manage_resources: bool = True) -> Litestar:
    """Build the HTTP app. With ``manage_resources`` the app opens and closes the container's
    resources (stores, pools) in its lifespan; tests may open them themselves."""
    settings = container.settings()

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        if manage_resources:
            await runtime.start(container)
        try:
            yield
        finally:
            if manage_resources:
                await runtime.stop(container)

    dependencies: dict[str, Provide] = {name: _provide(container, name) for name in DEPENDENCIES}
    dependencies["profile"] = _provide_value(settings.profile)
    route_modules: list[Any] = [system, market]
    handlers: list[Callable[..., Any]] = [h for m in route_modules for h in m.ROUTES]
    return Litestar(
        route_handlers=handlers,
        dependencies=dependencies,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=[lifespan],
        request_max_body_size=settings.http.max_body_bytes,
        cors_config=None,
        openapi_config=OpenAPIConfig(
            title="arbx",
            version=arbx.__version__,
            description="Market data and backtesting for crypto strategies.",
            path="/schema",
            render_plugins=[ScalarRenderPlugin()],
        ),
        debug=False,
    )


__all__ = ["CORSConfig", "create_app"]
