"""Files holding password hashes, token digests or keys are their owner's only (issue 12)."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

from arbx.entrypoints import runtime
from arbx.entrypoints.container import build_container, resolve
from arbx.entrypoints.settings import load_settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def start_and_stop(data_dir: Path) -> None:
    settings = load_settings(environ={}, overrides={"storage": {"data_dir": str(data_dir)}})

    async def cycle() -> None:
        container = build_container(settings)
        container.auth_secrets()  # what create_app does: the local profile writes its secrets
        await runtime.start(container)
        try:
            await (await resolve(container.user_store)).list()
        finally:
            await runtime.stop(container)

    asyncio.run(cycle())


def test_the_data_dir_the_database_and_the_secrets_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    start_and_stop(data_dir)
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "arbx.sqlite") == 0o600
    assert mode(data_dir / "secrets.toml") == 0o600
    for side in data_dir.glob("arbx.sqlite-*"):
        assert mode(side) == 0o600, side


def test_files_made_by_an_older_arbx_are_tightened(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    start_and_stop(data_dir)
    data_dir.chmod(0o755)
    (data_dir / "arbx.sqlite").chmod(0o644)
    start_and_stop(data_dir)
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "arbx.sqlite") == 0o600


def test_a_folder_holding_other_files_is_not_locked_up(tmp_path: Path) -> None:
    """The default data dir is ./var: run from / it is the system's /var, whose services
    must keep reading it. A folder with files arbx did not make keeps its mode."""
    shared = tmp_path / "var"
    (shared / "lib").mkdir(parents=True)
    (shared / "log").mkdir()
    shared.chmod(0o755)
    start_and_stop(shared)
    assert mode(shared) == 0o755
    assert mode(shared / "arbx.sqlite") == 0o600


def test_a_data_dir_holding_only_arbx_folders_is_tightened(tmp_path: Path) -> None:
    """Trades, quotes, books and bars are arbx's own folders: a loose data dir holding them is
    tightened."""
    data_dir = tmp_path / "var"
    (data_dir / "trades" / "binance").mkdir(parents=True)
    (data_dir / "quotes" / "kraken").mkdir(parents=True)
    (data_dir / "books" / "kraken").mkdir(parents=True)
    (data_dir / "bars").mkdir()
    data_dir.chmod(0o755)
    start_and_stop(data_dir)
    assert mode(data_dir) == 0o700
