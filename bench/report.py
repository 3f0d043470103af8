"""Report benchmark: size and render time of the report of a 1M-bar run, and of a
100-trial optimization study.

    .venv/bin/python bench/report.py [--bars 1000000] [--chromium /usr/bin/chromium]
    .venv/bin/python bench/report.py --only study [--study-trials 100] [--study-bars 20000]

Builds SMA cross (10, 50) and threshold-arbitrage runs of N 1m bars on the in-memory stores
(the real use cases: RunBacktest, ReportBacktests, HtmlReportRenderer), writes each report,
and prints its size against the 5 MB target, the time to build and render the HTML, and
the time Chromium (headless, networking off) takes from navigation to every chart drawn
(``body[data-charts-ms]``, set by the page itself) against the 2 s target.

The study: a grid of ``--study-trials`` SMA-cross trials (fast x slow) on ``--study-bars``
bars (the real OptimizeStudies and ReportStudies), its report's size and render time
beside the 1M-bar run's targets (the study report has its heatmap, a scatter per
parameter, the trial table and the PBO histogram).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.run_store import MemoryRunStore
from arbx.adapters.reports.html import HtmlReportRenderer
from arbx.app.report_backtests import ReportBacktests
from arbx.app.run_backtest import CLI_OPERATOR, BacktestRuns, RunBacktest
from arbx.domain.backtest.request import decode_request
from arbx.domain.market import SeriesKey
from arbx.ports.clock import Clock

START = datetime(2021, 1, 1, tzinfo=UTC)
SIZE_TARGET_MB = 5.0
RENDER_TARGET_S = 2.0
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def make_bars(n: int, seed: int, price: float = 100.0, volatility: float = 0.0008) -> pl.DataFrame:
    """``n`` 1m bars from START: a seeded random walk with consistent OHLC."""
    rng = np.random.default_rng(seed)
    close = price * np.exp(np.cumsum(rng.normal(0.0, volatility, n)))
    open_ = np.concatenate(([price], close[:-1]))
    wick = np.abs(rng.normal(0.0, volatility / 2, n)) * close
    ts = int(START.timestamp() * 1000) + np.arange(n, dtype=np.int64) * 60_000
    return pl.DataFrame(
        {
            "ts": pl.Series(ts).cast(pl.Datetime("ms", "UTC")),
            "open": open_,
            "high": np.maximum(open_, close) + wick,
            "low": np.minimum(open_, close) - wick,
            "close": close,
            "volume": rng.uniform(1.0, 10.0, n),
        }
    )


class Now(Clock):
    def now(self) -> datetime:
        return datetime.now(UTC)


def _end(bars: int) -> str:
    return datetime.fromtimestamp(START.timestamp() + bars * 60, UTC).isoformat()


async def build(bars: int, folder: Path) -> list[tuple[str, Path, float]]:
    store, runs = MemoryBarStore(), MemoryRunStore()
    await store.write(SeriesKey.parse("binance:BTC/USDC:1m"), make_bars(bars, seed=7))
    await store.write(
        SeriesKey.parse("coinbase:BTC/USDC:1m"),
        make_bars(bars, seed=11, price=100.05),
    )
    uc = RunBacktest(store, runs, Now())
    reports = ReportBacktests(BacktestRuns(runs), store, HtmlReportRenderer(), generated_by="bench")
    requests: dict[str, dict[str, Any]] = {
        "sma_cross": {
            "strategy": "sma_cross",
            "params": {"fast": 10, "slow": 50},
            "series": ["binance:BTC/USDC:1m"],
        },
        "threshold_arb": {
            "strategy": "threshold_arb",
            "params": {"threshold_bps": 3},
            "series": ["binance:BTC/USDC:1m", "coinbase:BTC/USDC:1m"],
            "fees": {"binance": {"taker_bps": 1}, "coinbase": {"taker_bps": 1}},
        },
    }
    out = []
    for name, body in requests.items():
        request = decode_request({**body, "start": START.isoformat(), "end": _end(bars)})
        started = time.perf_counter()
        run = await uc.execute(request, actor=CLI_OPERATOR)
        ran = time.perf_counter() - started
        started = time.perf_counter()
        text = await reports.report(run.id, actor=CLI_OPERATOR)
        took = time.perf_counter() - started
        path = folder / f"{name}.html"
        path.write_text(text, encoding="utf-8")
        trades = run.tables["trades"].height
        print(
            f"{name}: {bars:,} bars, {trades:,} trades; run {ran:.2f} s; report built in {took:.2f} s"
        )
        out.append((name, path, took))
    return out


async def build_study(trials: int, bars: int, folder: Path) -> tuple[Path, float, int]:
    """A grid study of about ``trials`` trials and its report."""
    from arbx.adapters.compute.in_process import InProcessExecutor
    from arbx.adapters.memory.study_store import MemoryStudyStore
    from arbx.adapters.memory.walk_forward_store import MemoryWalkForwardStore
    from arbx.app.optimize import OptimizeStudies, decode_optimization
    from arbx.app.report_studies import ReportStudies
    from arbx.app.walk_forward import WalkForward

    store, runs = MemoryBarStore(), MemoryRunStore()
    await store.write(SeriesKey.parse("binance:BTC/USDC:1m"), make_bars(bars, seed=7))
    side = max(2, round(trials**0.5))
    executor = InProcessExecutor(workers=2)
    try:
        studies = OptimizeStudies(
            RunBacktest(store, runs, Now()), MemoryStudyStore(), executor, Now()
        )
        reports = ReportStudies(
            studies,
            WalkForward(studies, executor, MemoryWalkForwardStore(), Now()),
            HtmlReportRenderer(),
            generated_by="bench",
        )
        request = decode_optimization(
            {
                "backtest": {
                    "strategy": "sma_cross",
                    "series": ["binance:BTC/USDC:1m"],
                    "start": START.isoformat(),
                    "end": _end(bars),
                },
                "space": {
                    "fast": {"low": 2, "high": 2 + (side - 1), "step": 1},
                    "slow": {"low": 20, "high": 20 + 5 * (side - 1), "step": 5},
                },
            }
        )
        started = time.perf_counter()
        study = await studies.create(request, actor=CLI_OPERATOR)
        await studies.run(study.id, actor=CLI_OPERATOR)
        ran = time.perf_counter() - started
        done = len(await studies.trials(study.id, actor=CLI_OPERATOR))
        started = time.perf_counter()
        await studies.diagnostics(study.id, actor=CLI_OPERATOR)
        diagnosed = time.perf_counter() - started
        started = time.perf_counter()
        text = await reports.report(study.id, actor=CLI_OPERATOR)
        took = time.perf_counter() - started
    finally:
        await executor.shutdown()
    path = folder / "study.html"
    path.write_text(text, encoding="utf-8")
    print(
        f"study: {done} trials on {bars:,} bars in {ran:.2f} s; report built in {took:.2f} s,"
        f" of which the diagnostics (deflated Sharpe, PBO by CSCV) take about {diagnosed:.2f} s"
    )
    return path, took, done


def render_seconds(path: Path, chromium: str, repeat: int = 3) -> float:
    """Best of ``repeat``: navigation start to every chart drawn, networking off."""
    from playwright.sync_api import sync_playwright

    best = float("inf")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        errors: list[str] = []
        try:
            for _ in range(repeat):
                context = browser.new_context(offline=True, viewport={"width": 1280, "height": 800})
                page = context.new_page()
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(path.as_uri())
                page.wait_for_selector("body[data-charts-drawn]", timeout=60_000)
                ms = float(page.get_attribute("body", "data-charts-ms") or "nan")
                if errors:
                    raise SystemExit(f"console errors in {path.name}: {errors}")
                best = min(best, ms / 1000.0)
                context.close()
        finally:
            browser.close()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--only", choices=["all", "runs", "study"], default="all")
    parser.add_argument("--study-trials", type=int, default=100)
    parser.add_argument("--study-bars", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in ("all", "study"):
            path, took, trials = asyncio.run(
                build_study(args.study_trials, args.study_bars, Path(tmp))
            )
            mb = path.stat().st_size / 1e6
            seconds = render_seconds(path, args.chromium)
            print(
                f"study of {trials} trials: report {mb:.2f} MB ({mb / SIZE_TARGET_MB:.2f} of the"
                f" {SIZE_TARGET_MB:g} MB target); built {took:.2f} s; Chromium draws it in"
                f" {seconds:.2f} s ({seconds / RENDER_TARGET_S:.2f} of the {RENDER_TARGET_S:g} s"
                " target)"
            )
        if args.only == "study":
            return
        built = asyncio.run(build(args.bars, Path(tmp)))
        for name, path, took in built:
            mb = path.stat().st_size / 1e6
            seconds = render_seconds(path, args.chromium)
            print(
                f"{name}: report {mb:.2f} MB ({mb / SIZE_TARGET_MB:.2f} of the {SIZE_TARGET_MB:g} MB"
                f" target); built {took:.2f} s; Chromium draws it in {seconds:.2f} s"
                f" ({seconds / RENDER_TARGET_S:.2f} of the {RENDER_TARGET_S:g} s target)"
            )


if __name__ == "__main__":
    main()
