"""``arbx jobs ...`` in-process on the real local profile (SQLite jobs) in a temp folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from arbx.entrypoints.cli.jobs import parse_duration
from arbx.entrypoints.cli.main import main

CREATE = (
    "jobs",
    "create",
    "--name",
    "check-btc",
    "--kind",
    "validate",
    "--series",
    "binance:BTC/USDC:1m",
    "--every",
    "5m",
    "--lookback-bars",
    "10",
)


def arbx(tmp_path: Path, *args: str) -> int:
    return main(["--profile", "test", "--data-dir", str(tmp_path / "var"), *args])


def json_out(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


def test_help_explains_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["jobs", "--help"], ["jobs", "create", "--help"], ["jobs", "run", "--help"]):
        with pytest.raises(SystemExit) as done:
            main(args)
        assert done.value.code == 0
    out = capsys.readouterr().out
    for text in ("list", "pause", "runs", "--every", "--cron", "crontab", "Exit code 1"):
        assert text in out, text


def test_a_job_from_creation_to_deletion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert arbx(tmp_path, *CREATE) == 0
    out = capsys.readouterr().out
    assert "name:      check-btc" in out
    assert "schedule:  every 300 s" in out
    assert "targets:   binance:BTC/USDC:1m" in out

    assert arbx(tmp_path, "jobs", "list") == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split() == [
        "ID",
        "NAME",
        "KIND",
        "SCHEDULE",
        "STATE",
        "TARGETS",
        "LAST",
        "RUN",
    ]
    assert "check-btc" in listing[1]
    assert "active" in listing[1]

    assert arbx(tmp_path, "jobs", "update", "check-btc", "--cron", "*/15 * * * *") == 0
    assert "minute=*/15" in capsys.readouterr().out
    assert arbx(tmp_path, "jobs", "pause", "check-btc") == 0
    assert "paused job check-btc" in capsys.readouterr().out

    assert arbx(tmp_path, "jobs", "run", "check-btc") == 0  # paused jobs run by hand
    ran = capsys.readouterr().out
    assert "succeeded (attempt 1, manual)" in ran

    assert arbx(tmp_path, "jobs", "show", "check-btc", "--json") == 0
    shown = json_out(capsys)
    assert shown["paused"] is True
    assert shown["schedule"]["cron"]["minute"] == "*/15"
    assert shown["last_run"]["status"] == "succeeded"
    assert arbx(tmp_path, "jobs", "show", shown["id"]) == 0  # by id as well as by name
    capsys.readouterr()

    assert arbx(tmp_path, "jobs", "resume", "check-btc") == 0
    assert "resumed job check-btc" in capsys.readouterr().out
    assert arbx(tmp_path, "jobs", "runs", "check-btc", "--json") == 0
    runs = json_out(capsys)
    assert runs["count"] == 1
    assert runs["runs"][0]["trigger"] == "manual"
    assert arbx(tmp_path, "jobs", "runs", "check-btc") == 0
    assert "succeeded" in capsys.readouterr().out

    assert arbx(tmp_path, "jobs", "delete", "check-btc") == 0
    assert "deleted job check-btc" in capsys.readouterr().out
    assert arbx(tmp_path, "jobs", "show", "check-btc") == 1
    assert "no job with id or name 'check-btc'" in capsys.readouterr().err
    assert arbx(tmp_path, "jobs", "list", "--json") == 0
    assert json_out(capsys) == {"count": 0, "jobs": []}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("--every", "5 minutes"), "--every '5 minutes' is not a duration"),
        (("--kind", "backfill"), "job kind 'backfill' is not known"),
        (("--exchanges", "binance"), "add --symbols, --timeframes"),
        (("--series", "binance:BTC/USDC:7m"), "7m"),
        (("--lookback-bars", "0"), "lookback_bars 0 is out of range"),
        (("--repair-policy", "ffill"), "only repair jobs take repair_policy"),
    ],
)
def test_bad_input_exits_2_with_the_reason_and_stores_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: tuple[str, str], message: str
) -> None:
    args = list(CREATE)
    if change[0] in args:
        args[args.index(change[0]) + 1] = change[1]
    else:
        args.extend(change)
    assert arbx(tmp_path, *args) == 2
    assert message in capsys.readouterr().err
    assert arbx(tmp_path, "jobs", "list", "--json") == 0
    assert json_out(capsys)["count"] == 0


def test_name_clashes_and_empty_updates_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert arbx(tmp_path, *CREATE) == 0
    assert arbx(tmp_path, *CREATE) == 1
    assert "is taken" in capsys.readouterr().err
    assert arbx(tmp_path, "jobs", "update", "check-btc") == 2
    assert "nothing to change" in capsys.readouterr().err


def test_a_failing_run_exits_1_and_is_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the test profile points the venues where nothing listens
    args = [*CREATE, "--max-attempts", "1"]
    args[args.index("validate")] = "collect"
    assert arbx(tmp_path, *args) == 0
    capsys.readouterr()
    assert arbx(tmp_path, "jobs", "run", "check-btc") == 1
    out = capsys.readouterr().out
    assert "failed (attempt 1, manual)" in out
    assert "ExchangeUnavailable" in out
    assert arbx(tmp_path, "jobs", "runs", "check-btc", "--json") == 0
    (run,) = json_out(capsys)["runs"]
    assert run["status"] == "failed"
    assert run["finished_at"] is not None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("30s", 30.0), ("5m", 300.0), ("1.5h", 5400.0), ("1d", 86400.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
