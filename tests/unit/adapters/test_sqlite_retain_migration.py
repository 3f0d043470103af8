"""Migration 0008 rebuilds the SQLite job tables to allow the ``retain`` kind: jobs and their
runs stored before it are kept, and runs still cascade with their job."""

from __future__ import annotations

import shutil
import sqlite3
from importlib.resources import files
from pathlib import Path

from arbx.adapters.sqlite import DEFAULT_MIGRATIONS, SqliteDatabase


def _folder_up_to(tmp_path: Path, last: int) -> Path:
    folder = tmp_path / "migrations"
    folder.mkdir()
    for entry in files(DEFAULT_MIGRATIONS).iterdir():
        if entry.name.endswith(".sql") and int(entry.name[:4]) <= last:
            shutil.copyfile(str(entry), folder / entry.name)
    return folder


async def test_jobs_and_runs_survive_and_still_cascade(tmp_path: Path) -> None:
    path = tmp_path / "arbx.sqlite"
    async with SqliteDatabase(path, migrations=_folder_up_to(tmp_path, 7)):
        pass
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO jobs VALUES ('j1', 'collect-1', 'collect', 'api', 0, '{}', 1, 1)")
        conn.execute(
            "INSERT INTO job_runs VALUES ('r1', 'j1', 1, 'manual', 'succeeded', 1, 2, 5, NULL)"
        )
    async with SqliteDatabase(path):  # applies 0008
        pass
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        assert conn.execute("SELECT id, kind FROM jobs").fetchall() == [("j1", "collect")]
        assert conn.execute("SELECT id, bars_written FROM job_runs").fetchall() == [("r1", 5)]
        conn.execute("INSERT INTO jobs VALUES ('j2', 'retain-1', 'retain', 'api', 0, '{}', 1, 1)")
        conn.execute("DELETE FROM jobs WHERE id = 'j1'")
        assert conn.execute("SELECT count(*) FROM job_runs").fetchone() == (0,)
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'job_runs'").fetchone()[0]
        assert 'REFERENCES "jobs"' in sql or "REFERENCES jobs" in sql
