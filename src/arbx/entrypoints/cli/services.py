"""The light path of the CLI: the local profile's stores for the commands that need few.

``arbx data list`` or ``arbx backtest show ID`` read a Parquet folder or one SQLite file;
building the whole container for them would import the HTTP client, the PostgreSQL driver
and the scheduler and open an HTTP session, several times the work of the command. For the
commands named in ``LIGHT_COMMANDS`` on the local profile, ``LocalStores`` stands in for the
container: it offers the same provider names (``list_series``, ``backtest_runs``, ...),
builds each adapter on first use and opens the SQLite file only when a store on it is asked
for. Any other command, or the server profile, gets the container.

The stores come from the container's own profile module (``profiles.local_stores``), so the
wiring exists once; a provider name the command asks for that is not here fails loudly,
naming this module.
"""

from __future__ import annotations

import asyncio
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    from arbx.adapters.sqlite.database import SqliteDatabase
    from arbx.app.query_bars import ListSeries
    from arbx.app.run_backtest import BacktestRuns, RunBacktest
    from arbx.entrypoints.profiles import Stores
    from arbx.entrypoints.settings import Settings
    from arbx.ports.bar_store import BarStore
    from arbx.ports.clock import Clock

# (group, command) pairs that run on LocalStores when the profile stores locally
LIGHT_COMMANDS: frozenset[tuple[str, str]] = frozenset(
    {
        ("data", "list"),
        ("backtest", "run"),
        ("backtest", "list"),
        ("backtest", "show"),
        ("backtest", "rerun"),
        ("backtest", "delete"),
        ("backtest", "strategies"),
    }
)


# commands that only read: on the local profile they never create a missing data dir
READ_COMMANDS: frozenset[tuple[str, str]] = frozenset(
    {
        ("data", "list"),
        ("data", "export"),
        ("backtest", "list"),
        ("backtest", "show"),
        ("backtest", "export"),
        ("jobs", "list"),
        ("jobs", "runs"),
    }
)


def check_data_dir(args: argparse.Namespace, settings: Settings) -> None:
    """Refuse a data dir that is a file (every command) or that does not exist for a command
    that only reads (it would otherwise be created, empty, by a typo), before anything opens."""
    if settings.profile != "local":
        return
    from arbx.domain.errors import InvalidInput

    path = settings.data_dir
    if path.exists() and not path.is_dir():
        raise InvalidInput(
            f"data dir {path} is a file, not a folder; point --data-dir (or ARBX_DATA_DIR) at"
            " a folder",
            field="data_dir",
        )
    group = getattr(args, "group", None)
    action = getattr(args, "command", None) or getattr(args, f"{group}_command", None)
    if (group, action) in READ_COMMANDS and not path.exists():
        raise InvalidInput(
            f"data dir {path} does not exist, so nothing is stored there; check --data-dir"
            " (or ARBX_DATA_DIR), or create the store with 'arbx data load-samples' or"
            " 'arbx data import'",
            field="data_dir",
        )


def light_command(args: argparse.Namespace, settings: Settings) -> bool:
    """Whether the parsed command runs on ``LocalStores`` rather than the container."""
    command = (getattr(args, "group", None), getattr(args, "command", None))
    return settings.profile == "local" and command in LIGHT_COMMANDS


class LocalStores:
    """The local profile's stores (``profiles.local_stores``, the container's own bundle) and
    the use cases these commands call, built on first use; close with ``aclose``."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._database: SqliteDatabase | None = None
        self._stores: Stores | None = None
        self._opening = asyncio.Lock()

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"the CLI's light path has no provider {name!r}: add it to"
            " arbx.entrypoints.cli.services.LocalStores or drop the command from LIGHT_COMMANDS"
        )

    def settings(self) -> Settings:
        return self._settings

    async def aclose(self) -> None:
        if self._database is not None:
            database, self._database, self._stores = self._database, None, None
            await database.close()

    @cached_property
    def _bar_store(self) -> BarStore:
        from arbx.entrypoints.profiles import local_bar_store

        return local_bar_store(self._settings)

    @cached_property
    def _clock(self) -> Clock:
        from arbx.adapters.system_clock import SystemClock

        return SystemClock()

    async def _bundle(self) -> Stores:
        """The profile's stores on its SQLite file, migrated to head (opened once)."""
        async with self._opening:
            if self._stores is None:
                from arbx.adapters.sqlite.database import SqliteDatabase
                from arbx.entrypoints.profiles import (
                    local_stores,
                    private_dir,
                    sqlite_path,
                )

                path = sqlite_path(self._settings)
                await asyncio.to_thread(private_dir, path.parent)
                database = SqliteDatabase(path)
                await database.open()
                self._database = database
                self._stores = local_stores(database, self._settings)
            return self._stores

    # -- providers (the container's names) -------------------------------------------------

    def list_series(self) -> ListSeries:
        from arbx.app.query_bars import ListSeries

        return ListSeries(store=self._bar_store)

    async def backtest_runs(self) -> BacktestRuns:
        from arbx.app.run_backtest import BacktestRuns

        return BacktestRuns(runs=(await self._bundle()).runs)

    async def run_backtest(self) -> RunBacktest:
        from arbx.app.run_backtest import RunBacktest

        stores = await self._bundle()
        return RunBacktest(
            bars=self._bar_store,
            runs=stores.runs,
            clock=self._clock,
            quality=stores.quality,
            default_fees=self._settings.backtest.fees,
        )
