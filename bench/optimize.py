"""Optimization benchmark: from the store to stored trials, with vectorbt in the same run.

    .venv/bin/python bench/optimize.py [--bars 1000000] [--arb-days 30] [--trials 200]

1. a grid of 100 SMA (fast, slow) pairs on N synthetic 1m bars, from the bar store
   (Parquet, local profile) to 100 trials stored in SQLite, through the composition root
   (process pool of 2 workers, the bars shipped to each worker once, through shared
   memory): once cold, then --rounds interleaved rounds of the warm pool and of threads,
   each round's pool / threads ratio and the median;
2. vectorbt's same grid (``vbt.MA.run`` over the windows, ``Portfolio.from_signals`` with
   the next-open fill and the same fee) on the same bars, when vectorbt is importable;
3. 200 Optuna TPE trials of threshold arbitrage on 3 venues x 30 days of 1m bars with the
   process pool (--jobs 2);
4. peak memory (resident set) of this process and of the worker processes.
Prints times and ratios; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from arbx.adapters.compute.in_process import InProcessExecutor
from arbx.app.optimize import OptimizationRequest, OptimizeStudies
from arbx.app.run_backtest import CLI_OPERATOR
from arbx.domain.market import SeriesKey
from arbx.entrypoints import runtime
from arbx.entrypoints.container import build_container, resolve
from arbx.entrypoints.settings import load_settings

START = datetime(2021, 1, 1, tzinfo=UTC)
FEE_BPS = 1.0
FAST = list(range(5, 51, 5))  # 10 x 10 = 100 pairs, every fast < slow
SLOW = list(range(60, 241, 20))


def frame(n: int, seed: int, price: float = 20_000.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    close = price * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    open_ = np.concatenate(([price], close[:-1]))
    wiggle = np.abs(rng.normal(0, 0.0005, n)) * close
    ts = np.datetime64(START.replace(tzinfo=None), "ms") + np.arange(n) * np.timedelta64(1, "m")
    return pl.DataFrame(
        {
            "ts": pl.Series(ts).dt.replace_time_zone("UTC"),
            "open": open_,
            "high": np.maximum(open_, close) + wiggle,
            "low": np.minimum(open_, close) - wiggle,
            "close": close,
            "volume": rng.gamma(2.0, 5.0, n),
        }
    )


def venues(n: int, seed: int) -> list[pl.DataFrame]:
    """Three venues quoting one market: a common walk, each venue off it by a few bps of
    its own noise (gaps open and close, as between real venues)."""
    rng = np.random.default_rng(seed)
    common = frame(n, seed)
    out = []
    for _ in range(3):
        skew = pl.Series(np.exp(rng.normal(0.0, 3e-4, n)))
        out.append(
            common.with_columns(
                *(pl.col(c) * skew for c in ("open", "close")),
                pl.Series("volume", rng.gamma(2.0, 5.0, n)),
            ).with_columns(
                pl.max_horizontal("open", "close", "high").alias("high"),
                pl.min_horizontal("open", "close", "low").alias("low"),
            )
        )
    return out


_workers_hwm_kb = 0


def sample_workers() -> None:
    """Keep the largest peak resident set (VmHWM) among this process's live children."""
    global _workers_hwm_kb
    me = str(os.getpid())
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("PPid", "").strip() == me and "VmHWM" in fields:
            _workers_hwm_kb = max(_workers_hwm_kb, int(fields["VmHWM"].split()[0]))


def peak_mb() -> tuple[float, float]:
    sample_workers()
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return me, _workers_hwm_kb / 1024


def grid_request(series: str, n: int) -> OptimizationRequest:
    end = START + timedelta(minutes=n)
    return OptimizationRequest(
        backtest={
            "strategy": "sma_cross",
            "series": [series],
            "start": START.isoformat(),
            "end": end.isoformat(),
            "fees": {"binance": {"taker_bps": FEE_BPS, "maker_bps": FEE_BPS}},
            "min_notional": 0,
            "lot_size": 0,
        },
        space={"fast": {"choices": FAST}, "slow": {"choices": SLOW}},
        method="grid",
        objective="sharpe",
    )


def arb_request(days: int, trials: int) -> OptimizationRequest:
    return OptimizationRequest(
        backtest={
            "strategy": "threshold_arb",
            "series": [f"{v}:BTC/ETH:1m" for v in ("binance", "kraken", "coinbase")],
            "start": START.isoformat(),
            "end": (START + timedelta(days=days)).isoformat(),
        },
        space={"threshold_bps": {"low": 1, "high": 60}, "max_qty": {"low": 0.05, "high": 1.0}},
        method="bayes",
        objective="net_pnl",
        trials=trials,
    )


async def timed_study(
    uc: OptimizeStudies, request: OptimizationRequest, jobs: int
) -> tuple[float, Any]:
    started = time.perf_counter()
    study = await uc.create(request, actor=CLI_OPERATOR)
    view = await uc.run(study.id, actor=CLI_OPERATOR, jobs=jobs)
    return time.perf_counter() - started, view


def vectorbt_grid(bars: pl.DataFrame) -> float | None:
    try:
        import pandas as pd
        import vectorbt as vbt
    except ImportError:
        print("vectorbt is not importable: `make bench-deps` installs the bench group")
        return None
    pairs = [(f, s) for f in FAST for s in SLOW]

    def run() -> Any:
        close = pd.Series(bars["close"].to_numpy())
        opens = pd.Series(bars["open"].to_numpy())
        fast = vbt.MA.run(close, [f for f, _ in pairs], short_name="fast")
        slow = vbt.MA.run(close, [s for _, s in pairs], short_name="slow")
        f_ma, s_ma = fast.ma.to_numpy(), slow.ma.to_numpy()
        g_in = np.zeros(f_ma.shape, dtype=bool)
        g_out = np.zeros(f_ma.shape, dtype=bool)
        g_in[1:] = vbt.generic.nb.crossed_above_nb(f_ma, s_ma)[:-1]
        g_out[1:] = vbt.generic.nb.crossed_above_nb(s_ma, f_ma)[:-1]
        pf = vbt.Portfolio.from_signals(
            close,
            entries=g_in,
            exits=g_out,
            price=opens,
            fees=FEE_BPS * 1e-4,
            init_cash=10_000.0,
            freq="1min",
        )
        return pf.sharpe_ratio()

    warm = time.perf_counter()
    run_small(bars.head(5_000))  # numba JIT of vectorbt's kernels: not timed
    print(f"  vectorbt warm-up (numba JIT, not counted): {time.perf_counter() - warm:.1f} s")
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def run_small(small: pl.DataFrame) -> None:
    import pandas as pd
    import vectorbt as vbt

    close = pd.Series(small["close"].to_numpy())
    fast = vbt.MA.run(close, [5, 10], short_name="fast")
    slow = vbt.MA.run(close, [60, 80], short_name="slow")
    f_ma, s_ma = fast.ma.to_numpy(), slow.ma.to_numpy()
    g_in = np.zeros(f_ma.shape, dtype=bool)
    g_in[1:] = vbt.generic.nb.crossed_above_nb(f_ma, s_ma)[:-1]
    pf = vbt.Portfolio.from_signals(close, entries=g_in, exits=~g_in, freq="1min")
    pf.sharpe_ratio()


async def grid_part(
    container: Any, uc: OptimizeStudies, bars: pl.DataFrame, args: argparse.Namespace
) -> None:
    n = bars.height
    series = "binance:BTC/USDC:1m"
    print(f"grid of {len(FAST) * len(SLOW)} SMA pairs on {n:,} bars, store -> stored trials")
    pool_s, view = await timed_study(uc, grid_request(series, n), jobs=2)
    print(f"  process pool (2 workers), cold: {pool_s:6.2f} s  ({view.trials_done} trials stored)")
    threads = InProcessExecutor(workers=2)
    uc_threads = OptimizeStudies(
        await resolve(container.run_backtest),
        await resolve(container.study_store),
        threads,
        container.clock(),
    )
    # interleaved rounds (pool then threads, then threads then pool...): the machine's load
    # changes under both alike, and the ratio of each round is what compares them
    pools: list[float] = []
    thread_runs: list[float] = []
    for r in range(args.rounds):
        order = [("pool", uc), ("threads", uc_threads)]
        for name, which in order if r % 2 == 0 else reversed(order):
            seconds, _ = await timed_study(which, grid_request(series, n), jobs=2)
            (pools if name == "pool" else thread_runs).append(seconds)
        print(
            f"  round {r + 1}: process pool (warm) {pools[-1]:6.2f} s, threads {thread_runs[-1]:6.2f} s,"
            f" ratio {pools[-1] / thread_runs[-1]:4.2f}"
        )
    await threads.shutdown()
    ratios = sorted(p / t for p, t in zip(pools, thread_runs, strict=True))
    print(
        f"  best: process pool {min(pools):6.2f} s, threads {min(thread_runs):6.2f} s;"
        f" median ratio pool / threads {ratios[len(ratios) // 2]:4.2f}"
    )
    me, kids = peak_mb()
    print(f"  peak RSS before vectorbt: this process {me:,.0f} MB, largest worker {kids:,.0f} MB")
    best = min(*pools, *thread_runs)
    vbt_s = None if args.no_vectorbt else vectorbt_grid(bars)
    if vbt_s is not None:
        print(f"  vectorbt same grid (signals + from_signals + sharpe): {vbt_s:6.2f} s")
        print(
            f"  ratio vectorbt / arbx (best arbx run, store to stored trials): {vbt_s / best:5.2f}x"
        )


async def main(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="arbx-bench-opt-"))
    settings = load_settings(
        profile="local",
        environ={},
        overrides={"storage": {"data_dir": str(folder / "var")}, "backtest": {"pool_workers": 2}},
    )
    container = build_container(settings)
    await runtime.start(container)
    try:
        bars_store = await resolve(container.bar_store)
        minutes = args.arb_days * 1440
        for venue, bars in zip(("binance", "kraken", "coinbase"), venues(minutes, 10), strict=True):
            await bars_store.write(SeriesKey.parse(f"{venue}:BTC/ETH:1m"), bars)
        uc: OptimizeStudies = await resolve(container.optimize_studies)
        if not args.skip_grid:
            grid_bars = frame(args.bars, 1)
            await bars_store.write(SeriesKey.parse("binance:BTC/USDC:1m"), grid_bars)
            await grid_part(container, uc, grid_bars, args)
        days = args.arb_days
        print(
            f"\n{args.trials} Optuna TPE trials of threshold arbitrage, 3 venues x {days} days of 1m"
        )
        arb_s, view = await timed_study(uc, arb_request(days, args.trials), jobs=2)
        per = arb_s / max(view.trials_done, 1) * 1000
        print(
            f"  process pool (2 workers): {arb_s:6.2f} s  ({view.trials_done} trials stored,"
            f" {per:.0f} ms per trial)"
        )
        peak_mb()
    finally:
        await runtime.stop(container)
    me, kids = peak_mb()
    print(
        f"\npeak RSS: this process {me:,.0f} MB (vectorbt included), largest worker {kids:,.0f} MB"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--arb-days", type=int, default=30)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--no-vectorbt", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved pool/thread rounds")
    parser.add_argument("--skip-grid", action="store_true", help="only the arbitrage part")
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
