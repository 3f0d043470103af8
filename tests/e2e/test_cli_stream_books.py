"""``arbx stream run --channel quotes|book`` against local fake venues replaying documented
payloads, then ``arbx stream quotes`` and ``arbx stream book``; bad choices are refused."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.streams.fake_venue import Behaviour, FakeVenue, lines

ARBX = [sys.executable, "-m", "arbx.entrypoints.cli.main"]


def serve_in_thread(behaviour: Behaviour) -> Iterator[str]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    venue = FakeVenue(behaviour)
    url = asyncio.run_coroutine_threadsafe(venue.start(), loop).result(10)
    try:
        yield url
    finally:
        asyncio.run_coroutine_threadsafe(venue.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@pytest.fixture
def fake_kraken_book() -> Iterator[str]:
    yield from serve_in_thread(
        Behaviour(lines("kraken/ws_v2_book_docs_example.jsonl"), wait_for_subscribe=True)
    )


@pytest.fixture
def fake_coinbase_ticker() -> Iterator[str]:
    yield from serve_in_thread(
        Behaviour(lines("coinbase/ws_ticker_docs_example.jsonl"), wait_for_subscribe=True)
    )


def arbx(
    data: Path, *args: str, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ARBX, *args],
        env={**os.environ, "ARBX_DATA_DIR": str(data), "ARBX_PROFILE": "local", **(extra or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_recorded_book_is_shown_rebuilt(tmp_path: Path, fake_kraken_book: str) -> None:
    data = tmp_path / "var"
    done = arbx(
        data,
        "stream",
        "run",
        "--channel",
        "book",
        "--venue",
        "kraken",
        "--symbol",
        "MATIC/USD",
        "--url",
        fake_kraken_book,
        "--seconds",
        "2",
        "--flush-ms",
        "50",
    )
    assert done.returncode == 0, done.stderr
    assert "book rows stored 21" in done.stdout  # 20 snapshot levels and one update level
    assert "bad checksums 0" in done.stdout
    assert any((data / "books" / "kraken" / "MATIC-USD").glob("2023-10-06.parquet"))
    shown = arbx(
        data, "stream", "book", "--venue", "kraken", "--symbol", "MATIC/USD", "--levels", "10"
    )
    assert shown.returncode == 0, shown.stderr
    assert "from 2 stored update(s)" in shown.stdout
    assert "1098.3948         0.5657 | 0.5677         36304.085" in shown.stdout
    before = arbx(
        data,
        "stream",
        "book",
        "--venue",
        "kraken",
        "--symbol",
        "MATIC/USD",
        "--at",
        "2023-10-06T00:00:00Z",
    )
    assert "no book updates stored up to that time" in before.stdout


def test_recorded_quotes_are_shown(tmp_path: Path, fake_coinbase_ticker: str) -> None:
    data = tmp_path / "var"
    done = arbx(
        data,
        "stream",
        "run",
        "--channel",
        "quotes",
        "--venue",
        "coinbase",
        "--symbol",
        "ETH/USD",
        "--url",
        fake_coinbase_ticker,
        "--seconds",
        "2",
        "--flush-ms",
        "50",
        "--policy",
        "drop",
    )
    assert done.returncode == 0, done.stderr
    assert "quotes rows stored 1" in done.stdout
    assert "dropped 0 (policy drop)" in done.stdout
    shown = arbx(data, "stream", "quotes", "--venue", "coinbase", "--symbol", "ETH/USD")
    assert shown.returncode == 0, shown.stderr
    assert "1 quote(s) stored" in shown.stdout
    assert "1285.04" in shown.stdout


def test_a_book_recorded_into_a_bucket(
    tmp_path: Path, fake_kraken_book: str, s3_endpoint: str, s3_bucket: str
) -> None:
    """``storage.books_url``: the stream's book rows go to the bucket, none to the data dir,
    and ``arbx stream book`` rebuilds the book from there."""
    import obstore

    from tests.support.objectstore import CREDENTIALS, REGION, s3_store

    data = tmp_path / "var"
    bucket = {
        "ARBX_STORAGE__BOOKS_URL": f"s3://{s3_bucket}/desk",
        "ARBX_STORAGE__S3__ENDPOINT": s3_endpoint,
        "ARBX_STORAGE__S3__REGION": REGION,
        "ARBX_STORAGE__S3__ALLOW_HTTP": "true",
        "ARBX_STORAGE__S3__ACCESS_KEY_ID": CREDENTIALS["access_key_id"],
        "ARBX_STORAGE__S3__SECRET_ACCESS_KEY": CREDENTIALS["secret_access_key"],
    }
    run = ["stream", "run", "--channel", "book", "--venue", "kraken", "--symbol", "MATIC/USD"]
    done = arbx(
        data, *run, "--url", fake_kraken_book, "--seconds", "2", "--flush-ms", "50", extra=bucket
    )
    assert done.returncode == 0, done.stderr
    assert "book rows stored 21" in done.stdout
    assert not (data / "books").exists()
    objects = [o["path"] for batch in obstore.list(s3_store(s3_endpoint, s3_bucket)) for o in batch]
    assert objects == ["desk/books/kraken/MATIC-USD/2023-10-06.parquet"]
    book = ["stream", "book", "--venue", "kraken", "--symbol", "MATIC/USD", "--levels", "10"]
    shown = arbx(data, *book, extra=bucket)
    assert shown.returncode == 0, shown.stderr
    assert "from 2 stored update(s)" in shown.stdout
    assert "1098.3948         0.5657 | 0.5677         36304.085" in shown.stdout
    assert "no book updates stored" in arbx(data, *book).stdout  # the data dir holds none


def test_bad_choices_are_refused(tmp_path: Path) -> None:
    data = tmp_path / "var"
    wrong = arbx(
        data, "stream", "run", "--channel", "candles", "--venue", "kraken", "--symbol", "BTC/USD"
    )
    assert wrong.returncode == 2
    assert "invalid choice: 'candles'" in wrong.stderr
    drop = arbx(
        data, "stream", "run", "--venue", "kraken", "--symbol", "BTC/USD", "--policy", "drop"
    )
    assert drop.returncode != 0
    assert "trades are never dropped" in drop.stderr
    levels = arbx(
        data, "stream", "book", "--venue", "kraken", "--symbol", "BTC/USD", "--levels", "0"
    )
    assert levels.returncode != 0
    assert "--levels must be >= 1" in levels.stderr
    assert not (data / "books").exists()
