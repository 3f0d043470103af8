"""A CLI that starts fast: a command imports what it needs, not the server's libraries.

Each case runs ``arbx`` in a fresh interpreter and lists which of the heavy libraries ended
up in ``sys.modules``: the web framework, the HTTP client, the PostgreSQL driver, the
scheduler and the DI container.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from arbx.entrypoints.cli.main import main
from tests.builders import make_bars

HEAVY = ("litestar", "aiohttp", "psycopg", "psycopg_pool", "apscheduler", "dependency_injector")
PROBE = f"""
import sys
from arbx.entrypoints.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as done:
    code = done.code
heavy = sorted({{name.partition(".")[0] for name in sys.modules}} & set({HEAVY!r}))
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
sys.exit(code)
"""


def heavy_loaded(data: Path, *args: str) -> list[str]:
    """The heavy libraries ``arbx ARGS`` loaded (it must succeed)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "--profile", "test", "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    line = [ln for ln in done.stderr.splitlines() if ln.startswith("HEAVY=")][-1]
    return [name for name in line.removeprefix("HEAVY=").split(",") if name]


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A data folder with one series and one stored run on it; the run's id."""
    data = tmp_path_factory.mktemp("startup") / "var"
    source = data.parent / "kraken_BTC-USD_1m.csv"
    make_bars(300).with_columns(pl.col("ts").dt.epoch("ms")).write_csv(source)
    base = ["--profile", "test", "--data-dir", str(data)]
    assert main([*base, "data", "import", str(source)]) == 0
    run = [*base, "backtest", "run", "--strategy", "sma_cross", "--json"]
    run += ["--series", "kraken:BTC/USD:1m", "--start", "2000-01-01", "--end", "2100-01-01"]
    out = subprocess.run(
        [sys.executable, "-m", "arbx.entrypoints.cli.main", *run],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return data, str(json.loads(out)["id"])


def test_help_loads_none_of_them(tmp_path: Path) -> None:
    assert heavy_loaded(tmp_path, "--help") == []


def test_data_list_loads_no_server_library(stored: tuple[Path, str]) -> None:
    data, _ = stored
    loaded = heavy_loaded(data, "data", "list")
    assert [name for name in loaded if not name.startswith("psycopg")] == []


def test_data_list_loads_none_of_them(stored: tuple[Path, str]) -> None:
    assert heavy_loaded(stored[0], "data", "list") == []


def test_backtest_show_loads_none_of_them(stored: tuple[Path, str]) -> None:
    data, run_id = stored
    assert heavy_loaded(data, "backtest", "show", run_id) == []
