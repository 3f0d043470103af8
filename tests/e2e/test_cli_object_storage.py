"""The local profile with its bars in an S3 bucket (moto on loopback): import, list, stats,
and backups (to disk and into the bucket) that restore onto local disk."""

from __future__ import annotations

from pathlib import Path

import obstore
import pytest

from arbx.domain.errors import InvalidInput
from arbx.entrypoints.cli.main import main
from arbx.entrypoints.settings import load_settings
from tests.support.objectstore import CREDENTIALS, REGION, s3_store

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
    # and a backup INTO the bucket, next to the bars
    remote = f"s3://{s3_bucket}/backups/first"
    assert cli(data, "backup", "create", "--to", remote) == 0
    capsys.readouterr()
    assert cli(data, "backup", "create", "--to", remote) == 2
    assert "holds objects already" in capsys.readouterr().err
    assert cli(data, "backup", "verify", remote) == 0
    assert "is intact" in capsys.readouterr().out
    assert cli(data, "backup", "verify", f"s3://{s3_bucket}/backups/none") == 2
    assert "is not an arbx backup" in capsys.readouterr().err
    monkeypatch.delenv("ARBX_STORAGE__BARS_URL")
    for source, target in ((str(tmp_path / "backup"), "disk"), (remote, "disk-from-s3")):
        capsys.readouterr()
        assert cli(tmp_path / target, "backup", "restore", source) == 0
        out = capsys.readouterr().out
        assert "bars             13,256 records in 5 files, restored 13,256" in out
        assert (tmp_path / target / "bars").is_dir()
    # a damaged object in the bucket: nothing restored
    store = s3_store(s3_endpoint, s3_bucket)
    victim = "backups/first/bars/kraken/BTC-USD/1m/2023.parquet"
    data_bytes = bytearray(bytes(obstore.get(store, victim).bytes()))
    data_bytes[100] ^= 0xFF
    obstore.put(store, victim, bytes(data_bytes))
    assert cli(tmp_path / "empty", "backup", "restore", remote) == 2
    assert "checksum mismatch in bars/kraken/BTC-USD/1m/2023.parquet" in capsys.readouterr().err


def test_a_bad_bucket_url_fails_at_start_up() -> None:
    with pytest.raises(InvalidInput, match="bars_url must be s3://BUCKET"):
        load_settings(profile="test", environ={"ARBX_STORAGE__BARS_URL": "gs://x"})
