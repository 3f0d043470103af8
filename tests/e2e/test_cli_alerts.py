"""``arbx alerts ...`` in-process on the real local profile, with a local webhook receiver
configured through ARBX_ variables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from arbx.entrypoints.cli.main import main
from tests.support.receivers import webhook_receiver


def arbx(tmp_path: Path, *args: str) -> int:
    return main(["--profile", "test", "--data-dir", str(tmp_path / "var"), *args])


def json_out(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


def test_stale_samples_fire_are_stored_and_notified(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with webhook_receiver() as receiver:
        monkeypatch.setenv("ARBX_ALERTS__CHANNELS__OPS__KIND", "webhook")
        monkeypatch.setenv("ARBX_ALERTS__CHANNELS__OPS__URL", receiver.url)
        assert arbx(tmp_path, "data", "load-samples") == 0
        assert arbx(tmp_path, "alerts", "list") == 0
        assert "no alert rules" in capsys.readouterr().out
        add = ("alerts", "add", "--name", "stale", "--kind", "collector_stale", "--threshold", "60")
        assert arbx(tmp_path, *add, "--match", "kraken:*", "--json") == 0
        rule = json_out(capsys)
        assert (rule["name"], rule["threshold"], rule["match"]) == ("stale", 60.0, "kraken:*")
        assert arbx(tmp_path, *add) == 1  # the name is taken
        assert "taken" in capsys.readouterr().err

        assert arbx(tmp_path, "alerts", "evaluate", "--json") == 0
        fired = json_out(capsys)["transitions"]
        assert fired
        assert {t["state"] for t in fired} == {"firing"}
        assert all(t["subject"].startswith("kraken:") for t in fired)
        assert len(receiver.received) == len(fired)  # delivered before the command ended

        assert arbx(tmp_path, "alerts", "evaluate", "--json") == 0
        assert json_out(capsys)["transitions"] == []  # still firing: nothing new

        assert arbx(tmp_path, "alerts", "history", "--rule", "stale") == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].split()[:4] == ["AT", "RULE", "SUBJECT", "STATE"]
        assert len(lines) == 1 + len(fired)
        assert arbx(tmp_path, "alerts", "list") == 0
        listing = capsys.readouterr().out
        assert "stale" in listing
        assert fired[0]["subject"] in listing

        assert arbx(tmp_path, "alerts", "test", "--json") == 0
        [ops] = json_out(capsys)["channels"]
        assert (ops["name"], ops["ok"], ops["delivered"]) == ("ops", True, 1)
        assert json.loads(receiver.received[-1].body)["test"] is True
        assert arbx(tmp_path, "alerts", "test", "--channel", "pager") == 2

        assert arbx(tmp_path, "alerts", "delete", "stale") == 0
        capsys.readouterr()
        assert arbx(tmp_path, "alerts", "history", "--json") == 0
        assert len(json_out(capsys)["transitions"]) == len(fired)


def test_a_failing_channel_fails_the_test_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARBX_ALERTS__CHANNELS__OPS__KIND", "webhook")
    monkeypatch.setenv("ARBX_ALERTS__CHANNELS__OPS__URL", "http://127.0.0.1:9/hook")
    monkeypatch.setenv("ARBX_ALERTS__ATTEMPTS", "2")
    monkeypatch.setenv("ARBX_ALERTS__BASE_DELAY_S", "0.01")
    assert arbx(tmp_path, "alerts", "test") == 1
    assert "ops (webhook): FAILED: webhook ops could not be reached" in capsys.readouterr().out
    assert (
        arbx(
            tmp_path, "alerts", "add", "--name", "x", "--kind", "job_failing", "--channel", "pager"
        )
        == 2
    )
    assert "unknown channel(s) pager" in capsys.readouterr().err
