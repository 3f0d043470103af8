"""A real ``arbx optimize run`` process killed mid-study: the next arbx shows the study
``interrupted`` (not ``running`` forever), with its finished trials kept; while the process
lives, another arbx leaves its study alone."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from arbx.entrypoints.cli.main import main

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
LONG_STUDY = [
    "optimize", "run", "--strategy", "sma_cross", "--series", "kraken:BTC/USD:1m",
    "--start", "2023-03-10", "--end", "2023-03-12", "--space", "fast=2:60",
    "--space", "slow=61:400", "--method", "random", "--trials", "9000", "--jobs", "1",
]  # fmt: skip


def arbx(data: Path, *args: str) -> int:
    return main(["--profile", "test", "--data-dir", str(data), *args])


def stored(data: Path) -> tuple[str, str, int] | None:
    """(id, status, trials stored) of the one study in the data dir's SQLite file."""
    files = list(data.glob("*.sqlite"))
    if not files:
        return None
    with sqlite3.connect(files[0], timeout=10) as conn:
        row = conn.execute(
            "SELECT id, json_extract(meta, '$.status'),"
            " (SELECT count(*) FROM study_trials t WHERE t.study_id = s.id) FROM studies s"
        ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]), int(row[2]))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "var"
    assert arbx(folder, "data", "load-samples", "--dir", str(SAMPLES)) == 0
    return folder


def test_a_killed_study_is_interrupted_at_the_next_start(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = (
        "import sys; from arbx.entrypoints.cli.main import main;"
        f" sys.exit(main(['--profile', 'test', '--data-dir', {str(data)!r}, *sys.argv[1:]]))"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, *LONG_STUDY],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 120
        seen = None
        while time.monotonic() < deadline:
            seen = stored(data)
            if seen is not None and seen[2] >= 5:
                break
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            time.sleep(0.1)
        assert seen is not None, "the study was not stored"
        assert seen[2] >= 5, "the study did not start storing trials"
        sid = seen[0]
        # alive: another arbx shows it running, and will not run it twice
        assert arbx(data, "optimize", "status", sid) == 0
        assert f"study {sid}: running" in capsys.readouterr().out
        assert arbx(data, "optimize", "resume", sid) != 0
        assert f"running in process {child.pid}" in capsys.readouterr().err
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    after = stored(data)
    assert after is not None
    assert after[1] == "running"
    kept = after[2]
    assert arbx(data, "optimize", "status", sid) == 0
    out = capsys.readouterr().out
    assert f"study {sid}: interrupted" in out, out
    assert arbx(data, "optimize", "list") == 0
    assert "interrupted" in capsys.readouterr().out
    assert arbx(data, "optimize", "show", sid, "--trials", "1") == 0
    shown = capsys.readouterr().out
    assert f"process {child.pid} on" in shown
    assert "is gone" in shown
    assert f"trials: {kept} done" in shown or f"{kept} failed" in shown
    final = stored(data)
    assert final is not None
    assert final[1] == "interrupted"
    assert final[2] == kept
