"""``arbx stream run`` against a local fake Binance replaying real aggTrade messages, then
``arbx stream trades``; a stop by SIGINT stores what was received and exits 0."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.streams.fake_venue import Behaviour, FakeVenue, lines

ARBX = [sys.executable, "-m", "arbx.entrypoints.cli.main"]


@pytest.fixture
def fake_binance() -> Iterator[str]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    venue = FakeVenue(
        Behaviour(
            lines("binance/binanceus_ws_aggTrade_real.jsonl"),
            close_after=lambda n: 4 if n == 0 else None,
        )
    )
    url = asyncio.run_coroutine_threadsafe(venue.start(), loop).result(10)
    try:
        yield url
    finally:
        asyncio.run_coroutine_threadsafe(venue.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def env(data_dir: Path) -> dict[str, str]:
    return {**os.environ, "ARBX_DATA_DIR": str(data_dir), "ARBX_PROFILE": "local"}


def test_stream_run_stores_trades_once_across_a_reconnect(
    tmp_path: Path, fake_binance: str
) -> None:
    data = tmp_path / "var"
    done = subprocess.run(
        [
            *ARBX,
            "stream",
            "run",
            "--venue",
            "binance",
            "--symbol",
            "OMG/BUSD",
            "--url",
            fake_binance,
            "--seconds",
            "3",
            "--flush-ms",
            "50",
        ],
        env=env(data),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "trades stored 11 (duplicates skipped 4)" in done.stdout
    assert "reconnects 1" in done.stdout
    shown = subprocess.run(
        [*ARBX, "stream", "trades", "--venue", "binance", "--symbol", "OMG/BUSD", "--limit", "0"],
        env=env(data),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "binance:OMG/BUSD: 11 trade(s) stored" in shown.stdout
    assert "425085" in shown.stdout
    assert "425095" in shown.stdout


def test_ctrl_c_stores_what_was_received_and_exits_0(tmp_path: Path, fake_binance: str) -> None:
    data = tmp_path / "var"
    proc = subprocess.Popen(
        [
            *ARBX,
            "stream",
            "run",
            "--venue",
            "binance",
            "--symbol",
            "OMG/BUSD",
            "--url",
            fake_binance,
            "--flush-ms",
            "600000",
            "--batch-size",
            "100000",
        ],
        env=env(data),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        started = proc.stderr.readline()  # printed once the signal handlers are in place
        assert started.startswith("streaming binance trades"), started
        time.sleep(1.5)  # enough to receive the replay; the flush interval is far off
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "trades stored 11" in out, (out, err)


def test_an_unknown_venue_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [*ARBX, "stream", "run", "--venue", "krakn", "--symbol", "BTC/USD", "--seconds", "1"],
        env=env(tmp_path / "var"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "no trade stream for venue 'krakn'" in done.stderr
    assert "Traceback" not in done.stderr


def test_trades_recorded_into_a_bucket(
    tmp_path: Path, fake_binance: str, s3_endpoint: str, s3_bucket: str
) -> None:
    """``storage.trades_url``: the stream's trades go to the bucket, none to the data dir."""
    import obstore

    from tests.support.objectstore import CREDENTIALS, REGION, s3_store

    data = tmp_path / "var"
    bucket_env = {
        **env(data),
        "ARBX_STORAGE__TRADES_URL": f"s3://{s3_bucket}/desk",
        "ARBX_STORAGE__S3__ENDPOINT": s3_endpoint,
        "ARBX_STORAGE__S3__REGION": REGION,
        "ARBX_STORAGE__S3__ALLOW_HTTP": "true",
        "ARBX_STORAGE__S3__ACCESS_KEY_ID": CREDENTIALS["access_key_id"],
        "ARBX_STORAGE__S3__SECRET_ACCESS_KEY": CREDENTIALS["secret_access_key"],
    }
    run = [*ARBX, "stream", "run", "--venue", "binance", "--symbol", "OMG/BUSD"]
    done = subprocess.run(
        [*run, "--url", fake_binance, "--seconds", "3", "--flush-ms", "50"],
        env=bucket_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "trades stored 11 (duplicates skipped 4)" in done.stdout
    assert not (data / "trades").exists()
    objects = [o["path"] for batch in obstore.list(s3_store(s3_endpoint, s3_bucket)) for o in batch]
    assert objects
    assert all(p.startswith("desk/trades/binance/OMG-BUSD/") for p in objects), objects
    shown = subprocess.run(
        [*ARBX, "stream", "trades", "--venue", "binance", "--symbol", "OMG/BUSD", "--limit", "0"],
        env=bucket_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "binance:OMG/BUSD: 11 trade(s) stored" in shown.stdout
