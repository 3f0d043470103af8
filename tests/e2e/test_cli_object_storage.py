"""The local profile with its bars in an S3 bucket (moto on loopback): import, list, stats,
and backups (to disk and into the bucket) that restore onto local disk."""

from __future__ import annotations

import io
from pathlib import Path

import obstore
import polars as pl
import pytest

from arbx.domain.errors import InvalidInput
from arbx.entrypoints.cli.main import main
from arbx.entrypoints.settings import load_settings
from tests.support.objectstore import CREDENTIALS, REGION, IamUser, s3_store

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
    with pytest.raises(InvalidInput, match="books_url must be s3://BUCKET"):
        load_settings(profile="test", environ={"ARBX_STORAGE__BOOKS_URL": "s3://"})


def _s3_config(monkeypatch: pytest.MonkeyPatch, endpoint: str, key: str, secret: str) -> None:
    """Credentials through the config's [storage.s3] (here as ARBX_ variables), no AWS_*."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "ARBX_STORAGE__S3__ENDPOINT": endpoint,
        "ARBX_STORAGE__S3__REGION": REGION,
        "ARBX_STORAGE__S3__ALLOW_HTTP": "true",
        "ARBX_STORAGE__S3__ACCESS_KEY_ID": key,
        "ARBX_STORAGE__S3__SECRET_ACCESS_KEY": secret,
    }.items():
        monkeypatch.setenv(name, value)


def _objects(endpoint: str, bucket: str, **credentials: str) -> list[str]:
    store = s3_store(endpoint, bucket, **credentials)
    return sorted(o["path"] for batch in obstore.list(store) for o in batch)


def _bars(data: Path, series: str, out: Path) -> pl.DataFrame:
    assert cli(data, "data", "export", "--series", series, "--out", str(out)) == 0
    return pl.read_parquet(out)


def test_export_and_import_through_a_bucket_in_every_format(
    tmp_path: Path,
    s3_endpoint: str,
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _s3_config(monkeypatch, s3_endpoint, CREDENTIALS["access_key_id"], "arbx-test-secret")
    source, series = tmp_path / "source", "kraken:BTC/USD:1m"
    assert cli(source, "data", "load-samples", "--dir", str(SAMPLES)) == 0
    original = _bars(source, series, tmp_path / "original.parquet")
    names = [f"kraken_BTC-USD_1m.{suffix}" for suffix in ("csv", "parquet", "arrow", "json")]
    for name in names:
        url = f"s3://{s3_bucket}/exports/{name}"
        capsys.readouterr()
        assert cli(source, "data", "export", "--series", series, "--out", url) == 0
        assert f"wrote 2,880 bars of {series} to {url}" in capsys.readouterr().out
    assert _objects(s3_endpoint, s3_bucket) == sorted(f"exports/{n}" for n in names)
    for name in names:  # each format back into an empty store gives the same bars
        target = tmp_path / name.replace(".", "-")
        capsys.readouterr()
        assert cli(target, "data", "import", f"s3://{s3_bucket}/exports/{name}") == 0
        assert f"{name} -> {series}: read 2,880, accepted 2,880" in capsys.readouterr().out
        again = _bars(target, series, tmp_path / f"{name}.check.parquet")
        assert again.equals(original), name
    # format conversion inside the bucket: CSV in, Parquet out, through a store
    convert = tmp_path / "convert"
    assert cli(convert, "data", "import", f"s3://{s3_bucket}/exports/{names[0]}") == 0
    out = f"s3://{s3_bucket}/converted/btc.parquet"
    assert cli(convert, "data", "export", "--series", series, "--out", out) == 0
    store = s3_store(s3_endpoint, s3_bucket)
    converted = pl.read_parquet(
        io.BytesIO(bytes(obstore.get(store, "converted/btc.parquet").bytes()))
    )
    assert converted.equals(original)


def test_bad_object_locations_are_clear_errors(
    tmp_path: Path,
    s3_endpoint: str,
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _s3_config(monkeypatch, s3_endpoint, CREDENTIALS["access_key_id"], "arbx-test-secret")
    data = tmp_path / "var"
    assert cli(data, "data", "load-samples", "--dir", str(SAMPLES)) == 0
    capsys.readouterr()
    assert cli(data, "data", "import", f"s3://{s3_bucket}/none/kraken_BTC-USD_1m.csv") == 2
    assert f"s3://{s3_bucket}/none/kraken_BTC-USD_1m.csv does not exist" in capsys.readouterr().err
    assert cli(data, "data", "import", "s3://no-such-bucket-arbx/kraken_BTC-USD_1m.csv") == 2
    assert "does not exist" in capsys.readouterr().err
    out = f"s3://{s3_bucket}/exports/"
    assert cli(data, "data", "export", "--series", "kraken:BTC/USD:1m", "--out", out) == 2
    assert "cannot tell the format of exports" in capsys.readouterr().err
    assert _objects(s3_endpoint, s3_bucket) == []


def test_wrong_credentials_are_refused_clearly_and_write_nothing(
    tmp_path: Path,
    s3_endpoint: str,
    s3_bucket: str,
    s3_checked_credentials: IamUser,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    user, wrong_secret = s3_checked_credentials, "wrong-secret-0123456789abcdefWXYZ"
    data = tmp_path / "var"
    assert cli(data, "data", "load-samples", "--dir", str(SAMPLES)) == 0
    export = ["data", "export", "--series", "kraken:BTC/USD:1m"]
    attempts = [
        [*export, "--out", f"s3://{s3_bucket}/exports/btc.csv"],
        ["data", "import", f"s3://{s3_bucket}/exports/kraken_BTC-USD_1m.csv"],
        ["backup", "create", "--to", f"s3://{s3_bucket}/backups/one"],
    ]
    for key, secret, code in (
        (user.access_key_id, wrong_secret, "SignatureDoesNotMatch"),
        ("AKIAARBXUNKNOWNKEY00", user.secret_access_key, "InvalidAccessKeyId"),
    ):
        _s3_config(monkeypatch, s3_endpoint, key, secret)
        for args in attempts:
            capsys.readouterr()
            assert cli(data, *args) == 2, args
            said = capsys.readouterr()
            assert f"s3://{s3_bucket} at {s3_endpoint} refused the credentials" in said.err
            assert code in said.err
            for secret_text in (secret, user.secret_access_key, wrong_secret):
                assert secret_text not in said.err + said.out
    # bars kept in the bucket with wrong keys: the store is unusable, said as such (exit 1)
    monkeypatch.setenv("ARBX_STORAGE__BARS_URL", f"s3://{s3_bucket}/desk")
    capsys.readouterr()
    code = cli(data, "data", "list")
    said = capsys.readouterr()
    assert code == 1, said.err
    assert "refused the credentials to list the stored series" in said.err
    assert wrong_secret not in said.err
    assert user.secret_access_key not in said.err
    monkeypatch.delenv("ARBX_STORAGE__BARS_URL")
    # nothing was written; and the right keys work against the same checking server
    good = {"access_key_id": user.access_key_id, "secret_access_key": user.secret_access_key}
    assert _objects(s3_endpoint, s3_bucket, **good) == []
    _s3_config(monkeypatch, s3_endpoint, user.access_key_id, user.secret_access_key)
    assert cli(data, *attempts[0]) == 0
    assert _objects(s3_endpoint, s3_bucket, **good) == ["exports/btc.csv"]


def test_the_python_api_imports_an_object(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import arbx

    store = s3_store(s3_endpoint, s3_bucket)
    sample = SAMPLES / "svb_2023-03" / "kraken_BTC-USD_1m.csv"
    obstore.put(store, "raw/kraken_BTC-USD_1m.csv", sample.read_bytes())
    s3 = {
        "endpoint": s3_endpoint,
        "region": REGION,
        "allow_http": True,
        **CREDENTIALS,
    }
    with arbx.open(tmp_path / "var", create=True, config={"storage": {"s3": s3}}) as ws:
        report = ws.import_file(f"s3://{s3_bucket}/raw/kraken_BTC-USD_1m.csv")
        assert (str(report.key), report.rows_written) == ("kraken:BTC/USD:1m", 2880)
        assert ws.bars("kraken:BTC/USD:1m").height == 2880


def test_the_api_answers_503_naming_the_bucket_when_its_bars_store_is_refused(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, s3_checked_credentials: IamUser
) -> None:
    from litestar.testing import TestClient

    from arbx.entrypoints.container import build_container
    from arbx.entrypoints.http.app import create_app
    from tests.e2e.conftest import make_admin_key

    wrong = "wrong-secret-for-the-api-0123456789"
    s3 = {
        "endpoint": s3_endpoint,
        "region": REGION,
        "allow_http": True,
        "access_key_id": s3_checked_credentials.access_key_id,
        "secret_access_key": wrong,
    }
    settings = load_settings(
        profile="test",
        environ={},
        overrides={
            "storage": {
                "data_dir": str(tmp_path / "var"),
                "bars_url": f"s3://{s3_bucket}/desk",
                "s3": s3,
            }
        },
    )
    container = build_container(settings)
    with TestClient(create_app(container)) as client:
        client.headers["X-API-Key"] = client.blocking_portal.call(make_admin_key, container)
        response = client.get("/api/v1/series")
    assert response.status_code == 503, response.text
    detail = response.json()["detail"]
    assert f"s3://{s3_bucket} at {s3_endpoint} refused the credentials" in detail
    assert "SignatureDoesNotMatch" in detail
    assert wrong not in response.text
    assert s3_checked_credentials.secret_access_key not in response.text
