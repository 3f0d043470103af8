"""The HTTP API under load: a real ``arbx serve`` on 127.0.0.1, the sample data, an API key.

    .venv/bin/python bench/api.py [--client auto|wrk|aiohttp] [--seconds 10] [--requests 4000]
                                  [--concurrency 50] [--bars 1000] [--server-env NAME=VALUE]
                                  [--profile-server FILE]

First, in process, on the same sample data: ``QueryBars.page`` of ``--bars`` bars and
``ListSeries`` through a ParquetBarStore without its read cache (``cache_bytes=0``, the
reference) and with the default cache, interleaved, and the JSON encoding of that page as the
bars route does it, so the parts of a bars request can be compared in one run.

Then it starts a fresh local-profile server (temporary data dir, samples loaded, first admin
and an admin API key made through ``arbx users``) and drives each route with
``--concurrency`` connections, printing requests/s, p50 and p99 latency. The load comes from
``wrk`` (Debian package ``wrk``; one thread, ``--seconds`` per route) when installed, else
from aiohttp clients in this process (``--requests`` per route). Either way the clients share
the machine with the server; the Python client costs the server far more CPU (with it, large
responses wait on the client's reading, which shows as a long p99 tail).

- ``GET /health``: public, no auth and no store: the framework's own ceiling;
- ``GET /api/v1/auth/me`` with the key: the same trivial handler cost plus authentication,
  rate limiting and headers, so ``me - health`` is what auth adds to any route;
- ``GET /api/v1/series`` and ``GET /api/v1/bars`` (``--bars`` bars, JSON) with the key,
  ``/api/v1/bars`` again as an Arrow IPC stream (same query, cheap encoding: the difference
  is the JSON encoding) and with a bearer JWT.

``--profile-server FILE`` runs the server under cProfile and writes its stats to FILE.

``--telemetry-ab`` measures instead what telemetry costs (issue 18): four servers on the
same data, ``[telemetry] enabled = false``, as shipped (metrics and request ids; no exporter,
so no spans), tracing every request (spans of the request and its store calls exported over
OTLP/HTTP to a sink in this process) and tracing one request in ten (``sample_ratio`` 0.1),
driven in turn (``--rounds`` rounds, the order
rotated) on ``/api/v1/series`` and ``/api/v1/bars`` at ``--concurrency`` clients. It prints
the median requests/s and server CPU per request of each, and the ratios to "off" (target:
at least 0.95).

Targets: bars p99 under 150 ms at 50 clients (issue 12; issue 7 asked 50 ms), auth adding
under 10 % to latency.
The rate limits are raised for the run (the defaults would rightly throttle one key at
this rate).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import polars as pl

from arbx.adapters.parquet import ParquetBarStore
from arbx.adapters.parquet.cache import read_cache
from arbx.app.query_bars import ListSeries, QueryBars
from arbx.domain.market import TimeSpan
from arbx.entrypoints.settings import StorageSettings

ROOT = Path(__file__).resolve().parents[1]
ARBX = [sys.executable, "-m", "arbx.entrypoints.cli.main"]
PASSWORD = "load test passphrase 1"
# The CLI under cProfile, stats written when it ends. uvicorn re-raises SIGTERM once shut
# down, which would kill the process before ``-m cProfile`` writes anything.
PROFILED_CLI = """
import cProfile, signal, sys
from arbx.entrypoints.cli.main import main
out, sys.argv = sys.argv[1], sys.argv[1:]
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
profile = cProfile.Profile()
try:
    profile.runcall(main, sys.argv[1:])
finally:
    profile.dump_stats(out)
"""
ISO_MS = "%Y-%m-%dT%H:%M:%S%.3fZ"  # as entrypoints/http/routes/market.py
ARROW = "application/vnd.apache.arrow.stream"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [*ARBX, *args], env=env, input=stdin, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"arbx {' '.join(args)} failed: {done.stderr}")
    return done.stdout


async def wait_ready(base: str, within_s: float = 30.0) -> None:
    deadline = time.monotonic() + within_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{base}/ready") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit("the server did not become ready")


async def drive(
    base: str, path: str, headers: dict[str, str], requests: int, concurrency: int
) -> tuple[float, np.ndarray, int]:
    """(requests/s, latencies in ms, failures) for ``requests`` GETs of ``path``."""
    latencies: list[float] = []
    failures = 0
    left = requests
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            nonlocal left, failures
            while left > 0:
                left -= 1
                began = time.perf_counter()
                async with session.get(base + path) as response:
                    await response.read()
                    if response.status != 200:
                        failures += 1
                latencies.append((time.perf_counter() - began) * 1000.0)

        for _ in range(min(200, requests)):  # warm up connections and caches
            async with session.get(base + path) as response:
                await response.read()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return requests / elapsed, np.asarray(latencies), failures


WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def drive_wrk(
    base: str, path: str, headers: dict[str, str], seconds: float, concurrency: int
) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, failures) from wrk (one thread) over ``seconds``."""
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run(
        [*command, base + path], capture_output=True, text=True, check=False, timeout=600
    )
    out = done.stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if done.returncode != 0 or rate is None:
        raise SystemExit(f"wrk failed: {done.stderr or out}")

    def percentile(p: int) -> float:
        found = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if found is None:
            raise SystemExit(f"no {p}% latency in wrk's output: {out}")
        return float(found[1]) * WRK_UNITS[found[2]]

    failures = 0
    if bad := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        failures += int(bad[1])
    if sockets := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    ):
        failures += sum(int(n) for n in sockets.groups())
    return float(rate[1]), percentile(50), percentile(99), failures


async def timed(call: Callable[[], Awaitable[object]], rounds: int) -> float:
    """Median ms of ``rounds`` calls."""
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        await call()
        times.append((time.perf_counter() - began) * 1000.0)
    return float(np.median(times))


def encode_page_json(bars: pl.DataFrame) -> bytes:
    """The rows part of the bars route's JSON body, encoded as the route does it."""
    return bars.with_columns(pl.col("ts").dt.to_string(ISO_MS)).write_json().encode()


def encode_page_arrow(bars: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    bars.write_ipc_stream(buffer)
    return buffer.getvalue()


async def in_process(data_dir: Path, args: argparse.Namespace) -> None:
    """QueryBars.page and ListSeries without and with the read cache, interleaved."""
    stores = {
        "no cache": ParquetBarStore(data_dir / "bars", cache=read_cache(0)),
        "cache": ParquetBarStore(
            data_dir / "bars", cache=read_cache(StorageSettings().bars_cache_bytes)
        ),
    }
    infos = await ListSeries(stores["no cache"]).execute()
    key = max(infos, key=lambda i: i.rows).key
    everything = TimeSpan.everything()
    calls: dict[str, dict[str, Callable[[], Awaitable[object]]]] = {}
    for name, store in stores.items():
        query, lister = QueryBars(store, max(args.bars, 1)), ListSeries(store)
        calls[name] = {
            "page": functools.partial(query.page, key, everything, args.bars),
            "list": lister.execute,
        }
        for call in calls[name].values():
            await call()  # warm up (fills the cache)
    page = await QueryBars(stores["cache"], max(args.bars, 1)).page(key, everything, args.bars)
    reference = await QueryBars(stores["no cache"], max(args.bars, 1)).page(
        key, everything, args.bars
    )
    if not page.bars.equals(reference.bars):
        raise SystemExit("the cached store returned other bars than the uncached one")
    best: dict[tuple[str, str], float] = {}
    for _ in range(3):  # interleaved so machine load hits both alike; best of three medians
        for name, named in calls.items():
            for what, call in named.items():
                ms = await timed(call, 50)
                best[name, what] = min(best.get((name, what), ms), ms)
    json_ms = await timed(lambda: asyncio.sleep(0, encode_page_json(page.bars)), 100)
    arrow_ms = await timed(lambda: asyncio.sleep(0, encode_page_arrow(page.bars)), 100)
    print(f"in process, {key}: median ms per call (best of 3 interleaved rounds)")
    print(f"{'':34} {'no cache':>9} {'cache':>9} {'speed-up':>9}")
    for what, label in (
        ("page", f"QueryBars.page {page.bars.height} bars"),
        ("list", "ListSeries"),
    ):
        cold, warm = best["no cache", what], best["cache", what]
        print(f"{label:34} {cold:9.3f} {warm:9.3f} {cold / warm:8.1f}x")
    print(
        f"encoding that page as the route does: JSON {json_ms:.3f} ms, Arrow IPC"
        f" {arrow_ms:.3f} ms (JSON = {json_ms / best['cache', 'page']:.1f}x the cached query)"
    )
    print()


async def bench(base: str, key: str, token: str, args: argparse.Namespace) -> None:
    async with (
        aiohttp.ClientSession(headers={"X-API-Key": key}) as session,
        session.get(f"{base}/api/v1/series") as response,
    ):
        series = (await response.json())["series"]
    if not series:
        raise SystemExit("no sample series loaded")
    first = max(series, key=lambda s: s["rows"])
    bars_path = (
        f"/api/v1/bars?exchange={first['exchange']}&symbol={first['symbol']}"
        f"&timeframe={first['timeframe']}&limit={args.bars}"
    )
    keyed = {"X-API-Key": key}
    cases = [
        ("GET /health (public)", "/health", {}),
        ("GET /api/v1/auth/me (api key)", "/api/v1/auth/me", keyed),
        ("GET /api/v1/series (api key)", "/api/v1/series", keyed),
        (f"GET /api/v1/bars {args.bars} (api key)", bars_path, keyed),
        (f"GET /api/v1/bars {args.bars} Arrow (api key)", bars_path, {**keyed, "Accept": ARROW}),
        (f"GET /api/v1/bars {args.bars} (JWT)", bars_path, {"Authorization": f"Bearer {token}"}),
    ]
    amount = f"{args.seconds:g} s" if args.client == "wrk" else f"{args.requests} requests"
    print(
        f"{args.client}: {amount} per route, {args.concurrency} concurrent clients;"
        f" bars from {first['exchange']}:{first['symbol']}:{first['timeframe']}"
        + (f"; server env {' '.join(args.server_env)}" if args.server_env else "")
    )
    print(f"{'route':40} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    results: dict[str, tuple[float, float, float]] = {}
    for label, path, headers in cases:
        if args.client == "wrk":
            rps, p50, p99, failures = await asyncio.to_thread(
                drive_wrk, base, path, headers, args.seconds, args.concurrency
            )
        else:
            rps, latencies, failures = await drive(
                base, path, headers, args.requests, args.concurrency
            )
            p50, p99 = (float(x) for x in np.percentile(latencies, [50, 99]))
        results[label] = (rps, p50, p99)
        print(f"{label:40} {rps:9.0f} {p50:8.2f} {p99:8.2f} {failures:7d}")
    health, me = results["GET /health (public)"], results["GET /api/v1/auth/me (api key)"]
    bars = results[f"GET /api/v1/bars {args.bars} (api key)"]
    per_request_ms = 1000.0 / me[0] - 1000.0 / health[0]
    print(
        f"auth cost per request (service time, me - health): {per_request_ms:.3f} ms ="
        f" {100.0 * per_request_ms / (1000.0 / bars[0]):.1f} % of a bars request;"
        f" p50 me - health = {me[1] - health[1]:.2f} ms"
        f" ({100.0 * (me[1] - health[1]) / bars[1]:.1f} % of bars p50)"
    )
    print(
        f"bars p99 {bars[2]:.1f} ms (target < 150 ms at 50 clients); /health's own p99 in this run"
        f" {health[2]:.1f} ms, so bars p99 = {bars[2] / health[2]:.1f}x the framework ceiling"
    )
    print(
        f"load average (1, 5, 15 min) at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
        f" on {os.cpu_count()} CPUs (the clients share them with the server)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--bars", type=int, default=1000)
    parser.add_argument(
        "--client",
        choices=["auto", "wrk", "aiohttp"],
        default="auto",
        help="load generator: wrk (C, one thread: the least client CPU taken from the server)"
        " or aiohttp (in this process); auto: wrk when installed (Debian package wrk)",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="per route, with wrk")
    parser.add_argument("--profile-server", type=Path, help="write the server's cProfile stats")
    parser.add_argument(
        "--telemetry-ab",
        action="store_true",
        help="compare throughput with telemetry on and off (two servers, same run)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --telemetry-ab")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the server only (repeatable), e.g. POLARS_MAX_THREADS=1",
    )
    args = parser.parse_args()
    if args.client == "auto":
        args.client = "wrk" if shutil.which("wrk") else "aiohttp"
    data_dir = Path(tempfile.mkdtemp(prefix="arbx-bench-api-"))
    port = free_port()
    env = {
        **os.environ,
        "ARBX_DATA_DIR": str(data_dir),
        "ARBX_PROFILE": "local",
        "ARBX_LOGGING__LEVEL": "WARNING",
        "ARBX_AUTH__RATE_LIMITS__READ__PER_MINUTE": "100000000",
        "ARBX_AUTH__RATE_LIMITS__READ__BURST": "100000000",
        "PYTHONPATH": str(ROOT / "src"),
    }
    server_env = dict(item.split("=", 1) for item in args.server_env)
    server = None
    servers: list[subprocess.Popen[bytes]] = []
    server_log = data_dir / "server.log"
    try:
        run_cli(env, "data", "load-samples")
        asyncio.run(in_process(data_dir, args))
        run_cli(
            env, "users", "create-admin", "--username", "bench", "--password-stdin", stdin=PASSWORD
        )
        key = run_cli(
            env, "users", "create-api-key", "--username", "bench", "--name", "bench"
        ).strip()
        if args.telemetry_ab:
            servers = telemetry_ab(env, key, args, data_dir)
            return
        command = ARBX
        if args.profile_server:
            command = [sys.executable, "-c", PROFILED_CLI, str(args.profile_server.resolve())]
        server = subprocess.Popen(
            [*command, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env={**env, **server_env},
            stdout=subprocess.DEVNULL,
            stderr=server_log.open("wb"),
        )
        base = f"http://127.0.0.1:{port}"
        try:
            asyncio.run(wait_ready(base))
        except SystemExit:
            print(server_log.read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        token = asyncio.run(sign_in(base))
        asyncio.run(bench(base, key, token, args))
    finally:
        for running in [server, *servers]:
            if running is not None:
                running.terminate()
                running.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


# the servers of --telemetry-ab: name -> extra environment (trace: OTLP to a local sink)
TELEMETRY_CONFIGS = {
    "off": {"ARBX_TELEMETRY__ENABLED": "false"},
    "metrics": {},  # as shipped: metrics, request ids, no exporter so no spans
    "traced": {"ARBX_TELEMETRY__OTLP_ENDPOINT": "SINK", "ARBX_TELEMETRY__OTLP_INTERVAL_S": "5"},
    "sampled": {
        "ARBX_TELEMETRY__OTLP_ENDPOINT": "SINK",
        "ARBX_TELEMETRY__OTLP_INTERVAL_S": "5",
        "ARBX_TELEMETRY__SAMPLE_RATIO": "0.1",
    },
}


def otlp_sink() -> tuple[str, Callable[[], int]]:
    """An OTLP/HTTP receiver on loopback in a thread that only counts the posts."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    posts = [0]

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            posts[0] += 1
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", lambda: posts[0]


def telemetry_ab(
    env: dict[str, str], key: str, args: argparse.Namespace, data_dir: Path
) -> list[subprocess.Popen[bytes]]:
    """Telemetry off, as shipped, tracing every request and one in ten to a sink, interleaved
    on four servers of the same data; returns them for the caller to stop."""
    sink, posts = otlp_sink()
    servers: dict[str, subprocess.Popen[bytes]] = {}
    bases: dict[str, str] = {}
    for label, extra in TELEMETRY_CONFIGS.items():
        port = free_port()
        # one arbx serve per data dir (serve.lock): each server gets a copy of the same data
        own = data_dir / f"server-{label}"
        shutil.copytree(data_dir, own, ignore=shutil.ignore_patterns("server-*", "serve.lock"))
        log = data_dir / f"server-{label}.log"
        servers[label] = subprocess.Popen(
            [*ARBX, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env={
                **env,
                "ARBX_DATA_DIR": str(own),
                **{k: sink if v == "SINK" else v for k, v in extra.items()},
            },
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
        )
        bases[label] = f"http://127.0.0.1:{port}"
        asyncio.run(wait_ready(bases[label]))
    pids = {label: server.pid for label, server in servers.items()}
    cost = middleware_cost_us()
    print(
        "in process, the HTTP telemetry around a do-nothing app, us per request (best of 7):"
        + "".join(f" {label} {us:.1f};" for label, us in cost.items())
        + f" so as shipped it adds {cost['metrics'] - cost['off']:.1f} us and a traced request"
        f" {cost['traced'] - cost['off']:.1f} us (server span only; store spans come on top)"
    )
    asyncio.run(_telemetry_ab(bases, pids, key, args))
    print(f"the OTLP sink received {posts()} export request(s) from the traced servers")
    return list(servers.values())


def middleware_cost_us(rounds: int = 7, calls: int = 3000) -> dict[str, float]:
    """Microseconds the HTTP telemetry adds to one request, in process (best of ``rounds``):
    the middleware and request-id hook around a do-nothing ASGI app, with telemetry off, as
    shipped (metrics, no exporter) and tracing (spans to an in-memory exporter)."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from arbx.adapters.telemetry.noop import NoTelemetry
    from arbx.adapters.telemetry.otel import OtelTelemetry
    from arbx.entrypoints.http.telemetry import HttpTelemetry

    async def app(
        scope: object, receive: object, send: Callable[[dict[str, object]], Awaitable[None]]
    ) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    exporter = InMemorySpanExporter()
    configs = {
        "off": NoTelemetry(),
        "metrics": OtelTelemetry(service_name="bench"),
        "traced": OtelTelemetry(
            service_name="bench", span_processors=[SimpleSpanProcessor(exporter)]
        ),
    }
    loop = asyncio.new_event_loop()
    try:
        return {
            label: _per_request_us(
                HttpTelemetry(t, header="X-Request-ID"), app, loop, rounds, calls
            )
            for label, t in configs.items()
        }
    finally:
        loop.close()
        exporter.clear()


def _per_request_us(
    http: Any, app: Any, loop: asyncio.AbstractEventLoop, rounds: int, calls: int
) -> float:
    import timeit

    from arbx.entrypoints.http.telemetry import request_id_header

    wrapped, hook = http.middleware(app), request_id_header("X-Request-ID")
    base = {"type": "http", "method": "GET", "path": "/api/v1/series",
            "path_template": "/api/v1/series", "headers": [], "state": {}}  # fmt: skip
    scope: dict[str, Any] = {}

    async def send(message: dict[str, Any]) -> None:
        await hook(message, scope)  # type: ignore[arg-type]

    async def many() -> None:
        for _ in range(calls):
            scope.clear()
            scope.update(base, state={})
            await wrapped(scope, None, send)

    best = min(timeit.repeat(lambda: loop.run_until_complete(many()), number=1, repeat=rounds))
    return best / calls * 1e6


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _telemetry_ab(
    bases: dict[str, str], pids: dict[str, int], key: str, args: argparse.Namespace
) -> None:
    keyed = {"X-API-Key": key}
    async with (
        aiohttp.ClientSession(headers=keyed) as session,
        session.get(f"{bases['off']}/api/v1/series") as response,
    ):
        series = (await response.json())["series"]
    first = max(series, key=lambda s: s["rows"])
    bars_path = (
        f"/api/v1/bars?exchange={first['exchange']}&symbol={first['symbol']}"
        f"&timeframe={first['timeframe']}&limit={args.bars}"
    )
    routes = [
        ("GET /api/v1/series", "/api/v1/series"),
        (f"GET /api/v1/bars {args.bars}", bars_path),
    ]
    labels = list(TELEMETRY_CONFIGS)
    rates: dict[tuple[str, str], list[float]] = {}
    cpu_ms: dict[tuple[str, str], list[float]] = {}
    print(
        "telemetry off / metrics (as shipped) / traced (every request, OTLP to a local sink)"
        " / sampled (sample_ratio 0.1):"
        f" {args.client}, {args.concurrency} clients, {args.seconds:g} s or {args.requests}"
        f" requests per measurement, {args.rounds} rounds, the order rotated each round"
    )
    for round_no in range(args.rounds):
        shift = round_no % len(labels)
        order = labels[shift:] + labels[:shift]
        for label, path in routes:
            for which in order:
                before, began = cpu_seconds(pids[which]), time.perf_counter()
                if args.client == "wrk":
                    rps, *_ = await asyncio.to_thread(
                        drive_wrk, bases[which], path, keyed, args.seconds, args.concurrency
                    )
                else:
                    rps, _, _ = await drive(
                        bases[which], path, keyed, args.requests, args.concurrency
                    )
                served = rps * (time.perf_counter() - began)
                used = cpu_seconds(pids[which]) - before
                rates.setdefault((label, which), []).append(rps)
                cpu_ms.setdefault((label, which), []).append(1000.0 * used / max(1.0, served))
    for title, table, unit, better_high in (
        ("requests/s (median)", rates, "req/s", True),
        (
            "server CPU ms per request (median; robust to other load on the machine)",
            cpu_ms,
            "ms",
            False,
        ),
    ):
        print(title)
        print(
            f"{'route':24}"
            + "".join(f" {w:>9}" for w in labels)
            + "".join(f" {w + '/off':>12}" for w in labels[1:])
            + "   (throughput ratios; 1.0 = free)"
        )
        for label, _ in routes:
            med = {w: float(np.median(table[(label, w)])) for w in labels}
            ratios = [
                med[w] / med["off"] if better_high else med["off"] / med[w] for w in labels[1:]
            ]
            fmt = ".0f" if unit == "req/s" else ".3f"
            print(
                f"{label:24}"
                + "".join(f" {med[w]:9{fmt}}" for w in labels)
                + "".join(f" {r:12.3f}" for r in ratios)
            )
    print(
        f"load average (1, 5, 15 min) at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
        f" on {os.cpu_count()} CPUs (the clients share them with the servers)"
    )


async def sign_in(base: str) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{base}/api/v1/auth/login", json={"username": "bench", "password": PASSWORD}
        ) as response,
    ):
        body = await response.json()
        if response.status != 200:
            raise SystemExit(f"sign-in failed: {body}")
        return str(body["access_token"])


if __name__ == "__main__":
    main()
