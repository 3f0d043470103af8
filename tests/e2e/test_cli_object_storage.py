"""The local profile with its bars in an S3 bucket (moto on loopback): import, list, stats,
a backtest, and a backup that restores onto local disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbx.domain.errors import InvalidInput
from arbx.entrypoints.cli.main import main
from arbx.entrypoints.settings import load_settings
from tests.support.objectstore import CREDENTIALS, REGION

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


def cli(data: Path, *args: str) -> int:
    return main(["--profile", "test", "--data-dir", str(data), *args])


def test_bars_in_a_bucket(
    tmp_path: Path,
    s3_endpoint: str,
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": CREDENTIALS["access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["secret_access_key"],
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ALLOW_HTTP": "true",
        "ARBX_STORAGE__BARS_URL": f"s3://{s3_bucket}/desk/arbx",
    }.items():
        monkeypatch.setenv(name, value)
    data = tmp_path / "var"
    assert cli(data, "data", "load-samples", "--dir", str(SAMPLES)) == 0
    assert not (data / "bars").exists()  # nothing on local disk
    capsys.readouterr()
    assert cli(data, "data", "list") == 0
    assert "kraken:BTC/USD:1m                2023-03-10 00:00" in capsys.readouterr().out
    assert cli(data, "data", "stats", "kraken:BTC/USD:1m") == 0
    assert "2,880 bars" in capsys.readouterr().out
    assert cli(data, "backup", "create", "--to", str(tmp_path / "backup")) == 0
    monkeypatch.delenv("ARBX_STORAGE__BARS_URL")
    capsys.readouterr()
    assert cli(tmp_path / "disk", "backup", "restore", str(tmp_path / "backup")) == 0
    assert "bars             13,256 records in 5 files, restored 13,256" in capsys.readouterr().out
    assert (tmp_path / "disk" / "bars").is_dir()


def test_a_bad_bucket_url_fails_at_start_up() -> None:
    with pytest.raises(InvalidInput, match="bars_url must be s3://BUCKET"):
        load_settings(profile="test", environ={"ARBX_STORAGE__BARS_URL": "gs://x"})
