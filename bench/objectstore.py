"""Span reads of bars kept in object storage: bytes and time of ranged (lazy) reads against
reading the month objects whole, in the same run.

    .venv/bin/python bench/objectstore.py [--days 365] [--runs 3]

Starts a moto S3 server on loopback behind a proxy that counts the bytes each read downloads,
writes one 1m series of ``--days`` days through ``ObjectStoreBarStore``, then reads, best of
``--runs``: one day, one week and the whole series, with the lazy scan (polars, HTTP range
reads of the footer and the row groups the span touches) and with whole month objects (the
reference, what the store did before). Prints bytes and times and their ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.builders, tests.support

from tests.builders import make_bars  # noqa: E402
from tests.support.counting_proxy import Counter, counting_proxy  # noqa: E402
from tests.support.objectstore import CREDENTIALS, REGION, s3_store  # noqa: E402

from arbx.adapters.objectstore.bar_store import ObjectStoreBarStore  # noqa: E402
from arbx.domain.market import SeriesKey, TimeSpan  # noqa: E402

KEY = SeriesKey.of("kraken", "BTC/USDC", "1m")
START = datetime(2024, 1, 1, tzinfo=UTC)


async def measure(
    store: ObjectStoreBarStore, proxy: Counter, span: TimeSpan, runs: int
) -> tuple[int, float, int]:
    """(bytes downloaded by one read, best seconds, rows)."""
    best, rows, read = float("inf"), 0, 0
    for _ in range(runs):
        proxy.reset()
        began = time.perf_counter()
        frame = await store.read(KEY, span)
        best = min(best, time.perf_counter() - began)
        rows, read = frame.height, proxy.bytes_read
    return read, best, rows


async def bench(endpoint: str, bucket: str, days: int, runs: int) -> None:
    with counting_proxy(endpoint) as proxy:
        lazy = ObjectStoreBarStore(s3_store(proxy.url, bucket), prefix="bench")
        whole = ObjectStoreBarStore(s3_store(proxy.url, bucket), prefix="bench", lazy=False)
        bars = make_bars(days * 1440, start=START, timeframe="1m")
        began = time.perf_counter()
        await lazy.write(KEY, bars)
        print(f"wrote {bars.height:,} 1m bars ({days} days) in {time.perf_counter() - began:.1f} s")
        middle = START + timedelta(days=days // 2)
        spans = {
            "1 day": TimeSpan(middle, middle + timedelta(days=1)),
            "1 week": TimeSpan(middle, middle + timedelta(days=7)),
            "everything": TimeSpan(START, START + timedelta(days=days)),
        }
        everything_bytes = 0
        print(
            f"{'span':<11} {'rows':>9} {'lazy bytes':>12} {'whole-month bytes':>18}"
            f" {'bytes ratio':>11} {'lazy s':>8} {'whole s':>8} {'time ratio':>10}"
        )
        results = []
        for name, span in spans.items():
            lb, ls, rows = await measure(lazy, proxy, span, runs)
            wb, ws, rows_whole = await measure(whole, proxy, span, runs)
            assert rows == rows_whole, (name, rows, rows_whole)
            results.append((name, rows, lb, wb, ls, ws))
            if name == "everything":
                everything_bytes = wb
        for name, rows, lb, wb, ls, ws in results:
            print(
                f"{name:<11} {rows:>9,} {lb:>12,} {wb:>18,} {lb / wb:>11.3f}"
                f" {ls:>8.3f} {ws:>8.3f} {ls / ws:>10.2f}"
            )
        day = results[0]
        print(
            f"1 day against the whole series: lazy reads {day[2] / everything_bytes:.4f}"
            f" of its bytes (whole months: {day[3] / everything_bytes:.4f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint, bucket = f"http://{host}:{port}", f"bench-{uuid.uuid4().hex[:12]}"
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS["access_key_id"],
            aws_secret_access_key=CREDENTIALS["secret_access_key"],
        ).create_bucket(Bucket=bucket)
        asyncio.run(bench(endpoint, bucket, args.days, args.runs))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
