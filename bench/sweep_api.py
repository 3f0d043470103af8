"""Is the API responsive while a study runs? ``GET /health`` latency during a sweep against
the same server idle, in one run.

    .venv/bin/python bench/sweep_api.py [--seconds 10] [--rate 20] [--jobs 2] [--study arb|grid]

It starts a local-profile ``arbx serve`` on the sample data, probes ``/health`` at ``--rate``
requests/s for ``--seconds`` with the server idle (the reference), then starts a study
(``POST /api/v1/optimizations``; ``arb``: 400 random trials of threshold arbitrage on the
sample de-peg days, ``grid``: SMA fast 2..60 x slow 40..300 with the broadcast kernel) in the
worker pool with ``--jobs`` processes and probes again while it runs. Prints p50/p99/max of both phases and their ratios, and the trials the study finished
meanwhile. Target (issue 13): p99 during the sweep within 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np
from api import ARBX, PASSWORD, ROOT, free_port, run_cli, wait_ready  # bench/api.py

SPACE = {"fast": {"low": 2, "high": 60, "step": 1}, "slow": {"low": 40, "high": 300, "step": 10}}
STUDIES = {
    # the broadcast grid kernel: fast, mostly in the worker pool
    "grid": {
        "backtest": {
            "strategy": "sma_cross",
            "series": ["kraken:BTC/USD:1m"],
            "start": "2023-03-09",
            "end": "2023-03-13",
        },
        "space": SPACE,
        "method": "grid",
        "objective": "sharpe",
    },
    # the arbitrage engine per trial, random search: a longer sweep
    "arb": {
        "backtest": {
            "strategy": "threshold_arb",
            "series": ["kraken:BTC/USDC:1m", "kraken:BTC/USD:1m"],
            "conversions": {"kraken:BTC/USDC:1m": "kraken:USDC/USD:1m"},
            "start": "2023-03-09",
            "end": "2023-03-13",
        },
        "space": {"threshold_bps": {"low": 1, "high": 80}, "max_qty": {"low": 0.05, "high": 1}},
        "method": "random",
        "trials": 400,
        "objective": "net_pnl",
    },
}


async def probe(
    session: aiohttp.ClientSession, base: str, seconds: float, rate: float
) -> np.ndarray:
    """Latencies (ms) of /health requests sent one after another at ``rate``/s."""
    latencies = []
    interval = 1.0 / rate
    end = time.perf_counter() + seconds
    while (began := time.perf_counter()) < end:
        async with session.get(f"{base}/health") as response:
            await response.read()
            if response.status != 200:
                raise SystemExit(f"/health answered {response.status}")
        latencies.append((time.perf_counter() - began) * 1000.0)
        await asyncio.sleep(max(0.0, interval - (time.perf_counter() - began)))
    return np.asarray(latencies)


def line(name: str, ms: np.ndarray) -> str:
    p50, p99 = np.percentile(ms, [50, 99])
    return f"{name:24} {len(ms):6d} {p50:9.2f} {p99:9.2f} {ms.max():9.2f}"


async def run(base: str, key: str, args: argparse.Namespace) -> None:
    headers = {"X-API-Key": key}
    async with aiohttp.ClientSession(headers=headers) as session:
        await probe(session, base, 1.0, args.rate)  # warm up
        idle = await probe(session, base, args.seconds, args.rate)
        body = STUDIES[args.study]
        async with session.post(f"{base}/api/v1/optimizations", json=body) as response:
            study = await response.json()
            if response.status != 202:
                raise SystemExit(f"POST /api/v1/optimizations: {response.status} {study}")
        busy = await probe(session, base, args.seconds, args.rate)
        async with session.get(f"{base}/api/v1/optimizations/{study['id']}") as response:
            state = await response.json()
    print(f"/health at {args.rate:g}/s for {args.seconds:g} s per phase; ms")
    print(f"{'phase':24} {'n':>6} {'p50':>9} {'p99':>9} {'max':>9}")
    print(line("idle (reference)", idle))
    print(line("during the sweep", busy))
    ratio = np.percentile(busy, 99) / np.percentile(idle, 99)
    print(
        f"p99 during / idle = {ratio:.2f}x; study {state['status']}, {state['trials_done']} of"
        f" {state['n_trials']} trials done while probing (target: p99 during the sweep < 50 ms:"
        f" {'met' if np.percentile(busy, 99) < 50 else 'MISSED'})"
    )
    print(f"load average at the end: {os.getloadavg()} on {os.cpu_count()} CPUs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--study", choices=sorted(STUDIES), default="arb")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="arbx-bench-sweep-"))
    env = {
        **os.environ,
        "ARBX_DATA_DIR": str(data_dir),
        "ARBX_PROFILE": "local",
        "ARBX_LOGGING__LEVEL": "WARNING",
        "ARBX_OPTIMIZE__JOBS": str(args.jobs),
        "ARBX_AUTH__RATE_LIMITS__READ__PER_MINUTE": "100000000",
        "ARBX_AUTH__RATE_LIMITS__READ__BURST": "100000000",
        "PYTHONPATH": str(ROOT / "src"),
    }
    server = None
    try:
        run_cli(env, "data", "load-samples")
        run_cli(
            env, "users", "create-admin", "--username", "bench", "--password-stdin", stdin=PASSWORD
        )
        key = run_cli(env, "users", "create-api-key", "--username", "bench", "--name", "b").strip()
        port = free_port()
        server = subprocess.Popen(
            [*ARBX, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(data_dir / "server.log").open("wb"),
        )
        base = f"http://127.0.0.1:{port}"
        asyncio.run(wait_ready(base))
        asyncio.run(run(base, key, args))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=60)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
