"""The composition root: the only module that names concrete adapter classes.

Settings come in as a plain object; ``providers.Selector`` picks the storage profile;
resources (pools, sessions, databases) open in ``runtime.start`` and close in
``runtime.stop``. Nothing here opens a connection at import time.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

from dependency_injector import containers, providers

from arbx.adapters.files.polars_table_files import PolarsTableFiles
from arbx.adapters.parquet.bar_store import ParquetBarStore
from arbx.adapters.sqlite.database import SqliteDatabase
from arbx.adapters.system_clock import SystemClock
from arbx.app.import_bars import ImportBars, LoadSamples
from arbx.app.query_bars import ExportBars, ListSeries, QueryBars
from arbx.app.readiness import CheckReadiness
from arbx.entrypoints.settings import Settings

T = TypeVar("T")


def _data_path(settings: Settings, *parts: str) -> Path:
    return settings.data_dir.joinpath(*parts)


async def _open_sqlite(path: Path) -> AsyncIterator[SqliteDatabase]:
    """The local profile's SQLite file, migrated to head, closed at shutdown."""
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    database = SqliteDatabase(path)
    await database.open()
    try:
        yield database
    finally:
        await database.close()


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    clock = providers.Singleton(SystemClock)
    sqlite = providers.Resource(
        _open_sqlite, path=providers.Callable(_data_path, settings, "arbx.sqlite")
    )
    table_files = providers.Singleton(PolarsTableFiles)

    bar_store = providers.Selector(
        settings.provided.profile,
        local=providers.Singleton(
            ParquetBarStore, root=providers.Callable(_data_path, settings, "bars")
        ),
        server=providers.Singleton(
            ParquetBarStore, root=providers.Callable(_data_path, settings, "bars")
        ),
    )

    import_bars = providers.Factory(ImportBars, files=table_files, store=bar_store)
    load_samples = providers.Factory(LoadSamples, importer=import_bars, store=bar_store)
    query_bars = providers.Factory(
        QueryBars, store=bar_store, max_limit=settings.provided.http.max_page_rows
    )
    list_series = providers.Factory(ListSeries, store=bar_store)
    export_bars = providers.Factory(ExportBars, store=bar_store, files=table_files)

    # async callables returning a readiness Check; stores and breakers add theirs here
    readiness_probes = providers.List()
    check_readiness = providers.Factory(
        CheckReadiness, bar_store=bar_store, probes=readiness_probes
    )


def build_container(settings: Settings) -> Container:
    container = Container(settings=settings)
    return container


async def resolve(provider: Any) -> Any:
    """Call a provider; await the result when it depends on an async resource."""
    value = provider()
    if inspect.isawaitable(value):
        value = await value
    return value
