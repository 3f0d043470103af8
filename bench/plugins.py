"""What the plugin API costs: a strategy written as a plugin against the same rule built in.

    .venv/bin/python bench/plugins.py [--bars 200000] [--repeat 5]

On seeded synthetic 1m bars it times (best of ``--repeat``):

- the built-in ``mean_reversion`` target vs the same long/flat rule as a whole-array plugin
  (``@signal``: read-only views, output checks) -> the guard's overhead;
- the example ``bollinger_breakout`` plugin (whole array) vs a per-bar plugin (``per_bar=True``:
  called at every bar with the bars up to it) deciding the same thing -> what the per-bar
  guarantee costs;
- the event engine running the example ``StopAndReverse`` plugin, per bar;
- the several-series event engine running the ``PairsReversion`` example on two series.

and prints times and ratios. Nothing is asserted: read the ratios.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from arbx.adapters.plugins.strategy_loader import load_strategy_plugins
from arbx.domain.backtest.events import run_events
from arbx.domain.backtest.execution import Execution
from arbx.domain.backtest.kernels import zscore
from arbx.domain.backtest.multi_events import SeriesLeg, run_multi_events
from arbx.domain.strategies import STRATEGIES, get_strategy
from arbx.domain.strategies.lookahead import several_synthetic, synthetic_bars
from arbx.domain.strategies.plugin import Signals, readonly, signal_type

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "strategies"


def best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    load_strategy_plugins([EXAMPLES], entry_points=False)
    bars = synthetic_bars(args.bars, seed=3)
    builtin = STRATEGIES["mean_reversion"]
    params = builtin.params()

    def as_plugin_fn(b: Any, p: Any) -> Signals:
        z = zscore(b.close, p.window)
        return Signals(entries=z < -p.z_entry, exits=z > -p.z_exit)

    plugin = signal_type(as_plugin_fn, name="mr_plugin", params=type(params))
    assert builtin.target is not None
    assert plugin.target is not None
    same = np.array_equal(builtin.target(bars, params), plugin.target(bars, params))
    t_builtin = best(lambda: builtin.target(bars, params), args.repeat)  # type: ignore[misc]
    t_plugin = best(lambda: plugin.target(bars, params), args.repeat)  # type: ignore[misc]
    print(f"{args.bars:,} bars")
    print(f"mean_reversion built in        {t_builtin * 1e3:9.2f} ms")
    print(
        f"same rule as a @signal plugin  {t_plugin * 1e3:9.2f} ms   ratio {t_plugin / t_builtin:5.2f}"
        f"   same positions: {same}"
    )

    boll = get_strategy("bollinger_breakout")
    bp = boll.params()
    n_step = min(args.bars, 20_000)
    small = synthetic_bars(n_step, seed=3)

    def step(b: Any, p: Any) -> float | None:
        if b.n < p.window:
            return None
        w = b.close[-p.window :]
        m, s = w.mean(), w.std()
        c = b.close[-1]
        return 1.0 if c > m + p.k * s else (0.0 if c < m else None)

    per_bar = signal_type(step, name="boll_step", params=type(bp), per_bar=True)
    assert boll.target is not None
    assert per_bar.target is not None
    whole_out = boll.target(small, bp)
    step_out = per_bar.target(small, bp)
    t_whole = best(lambda: boll.target(small, bp), args.repeat)  # type: ignore[misc]
    t_step = best(lambda: per_bar.target(small, bp), max(1, args.repeat // 2))  # type: ignore[misc]
    print(f"{n_step:,} bars")
    print(f"bollinger_breakout (whole)     {t_whole * 1e3:9.2f} ms")
    print(
        f"bollinger per bar              {t_step * 1e3:9.2f} ms   ratio {t_step / t_whole:7.1f}"
        f"   same positions: {np.array_equal(whole_out, step_out)}"
        f"   {t_step / n_step * 1e6:.1f} us/bar"
    )
    sar = get_strategy("StopAndReverse")
    assert sar.events is not None
    sp = sar.params()
    t_sar = best(
        lambda: run_events(readonly(small), Execution(), strategy=sar.events(sp)),  # type: ignore[misc]
        max(1, args.repeat // 2),
    )
    print(
        f"StopAndReverse (event engine)  {t_sar * 1e3:9.2f} ms   {t_sar / n_step * 1e6:.1f} us/bar"
    )
    # several series: the pairs example over two venues (one missing 5% of the bars)
    pairs = get_strategy("PairsReversion")
    assert pairs.events is not None
    pp = pairs.params()
    legs = [SeriesLeg(readonly(b), Execution()) for b in several_synthetic(n_step, 7, 2)]
    t_pairs = best(
        lambda: run_multi_events(legs, pairs.events(pp)),  # type: ignore[misc]
        max(1, args.repeat // 2),
    )
    print(
        f"PairsReversion (2 series)      {t_pairs * 1e3:9.2f} ms   {t_pairs / n_step * 1e6:.1f}"
        f" us/time   ratio to StopAndReverse {t_pairs / t_sar:5.2f}"
    )


if __name__ == "__main__":
    main()
