"""Strategy plugins: loading, running like built-ins, and failing as the user's run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from arbx.domain.backtest.execution import BarArrays
from arbx.domain.backtest.request import decode_request, validate_request
from arbx.domain.backtest.runner import run
from arbx.domain.errors import InvalidInput
from arbx.domain.strategies import STRATEGIES, describe, get_strategy, parse_params
from arbx.domain.strategies.plugin import StrategyFailed
from tests.builders import key, make_bars
from tests.support.plugins import EXAMPLES, plugins, write_plugin

START = datetime(2024, 1, 1, tzinfo=UTC)

BROKEN = {
    "raises": """
        from arbx.strategy import signal

        @signal
        def raises(bars, p):
            return helper(bars)

        def helper(bars):
            raise ZeroDivisionError("my bug")
    """,
    "short": """
        import numpy as np
        from arbx.strategy import signal

        @signal
        def short(bars, p):
            return np.zeros(bars.n - 1)
    """,
    "nans": """
        import numpy as np
        from arbx.strategy import signal

        @signal
        def nans(bars, p):
            out = np.ones(bars.n)
            out[:5] = np.nan
            return out
    """,
    "halves": """
        import numpy as np
        from arbx.strategy import signal

        @signal
        def halves(bars, p):
            return np.full(bars.n, 0.5)
    """,
    "writer": """
        from arbx.strategy import signal

        @signal
        def writer(bars, p):
            bars.close[0] = 0.0
            return bars.close * 0
    """,
    "wrong_type": """
        from arbx.strategy import signal

        @signal(per_bar=True)
        def wrong_type(bars, p):
            return "long"
    """,
    "event_raises": """
        from arbx.strategy import event

        @event
        class EventRaises:
            def __init__(self, p):
                pass

            def on_bar(self, ctx):
                if ctx.t == 30:
                    ctx.buy(qty=-1.0)
    """,
}

EXPECTED = {
    "raises": ["failed in its signal function: ZeroDivisionError: my bug", "raises.py", "helper"],
    "short": ["shape (599,) for 600 bars", "shape (600,)"],
    "nans": ["NaN or infinite positions at 5 bar(s), first at bar 0"],
    "halves": ["position 0.5 at bar 0", "0 (flat) or 1 (long)"],
    "writer": ["read-only", "writer.py"],
    "wrong_type": ["returned str at bar 0"],
    "event_raises": ["on_bar at bar 30", "order quantity must be > 0", "event_raises.py"],
}


def valid(strategy: str, params: dict[str, object] | None = None, n: int = 600) -> object:
    request = decode_request(
        {
            "strategy": strategy,
            "params": params or {},
            "series": ["binance:BTC/USDC:1m"],
            "start": "2024-01-01",
            "end": "2024-01-02",
        }
    )
    return validate_request(request), {key(): make_bars(n, START, volatility=0.01)}


def test_the_examples_load_as_plugins_with_their_origin_and_schema() -> None:
    with plugins(EXAMPLES) as report:
        assert sorted(s.name for s in report.loaded) == [
            "PairsReversion",
            "StopAndReverse",
            "bollinger_breakout",
        ]
        assert report.failures == {}
        bollinger = describe(get_strategy("bollinger_breakout"))
        assert bollinger["source"] == "plugin"
        assert bollinger["location"].endswith("examples/strategies/bollinger_breakout.py")
        assert len(bollinger["code_hash"]) == 64
        assert bollinger["version"] == "1.0.0"
        assert bollinger["params"]["properties"]["window"] == {
            "type": "integer",
            "minimum": 2,
            "maximum": 2000,
            "default": 20,
        }
        assert bollinger["defaults"] == {"window": 20, "k": 2.0}
        assert get_strategy("StopAndReverse").kind == "event"
    assert "bollinger_breakout" not in STRATEGIES  # forgotten after the block


def test_parameters_outside_their_range_are_refused() -> None:
    with plugins(EXAMPLES):
        strategy = get_strategy("bollinger_breakout")
        with pytest.raises(InvalidInput, match=">= 2") as caught:
            parse_params(strategy, {"window": 1})
        assert caught.value.field == "params.window"
        with pytest.raises(InvalidInput, match="unknown parameter 'kk'"):
            parse_params(strategy, {"kk": 1})


def test_the_example_plugins_backtest_like_builtins() -> None:
    with plugins(EXAMPLES):
        v, bars = valid("bollinger_breakout", {"window": 20, "k": 1.5})
        result = run(v, bars)  # type: ignore[arg-type]
        assert result.metrics.trade_count > 0
        assert result.benchmark is not None
        v, bars = valid("StopAndReverse", {"window": 15, "exit_window": 8})
        assert v.engine == "event"  # type: ignore[attr-defined]
        result = run(v, bars)  # type: ignore[arg-type]
        assert result.metrics.trade_count > 0
        kinds = set(result.orders["kind"].to_list())
        assert kinds == {"stop"}
        first = result.fills["bar"].min()
        assert first is not None
        assert first > 15  # nothing before the lookback


def test_an_event_strategy_may_not_run_on_the_vectorized_engine() -> None:
    with plugins(EXAMPLES):
        request = decode_request(
            {
                "strategy": "StopAndReverse",
                "series": ["binance:BTC/USDC:1m"],
                "start": "2024-01-01",
                "end": "2024-01-02",
                "engine": "vectorized",
            }
        )
        with pytest.raises(InvalidInput, match="event strategy") as caught:
            validate_request(request)
        assert caught.value.field == "engine"


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_plugin_fails_its_run_with_a_clear_message(tmp_path: Path, name: str) -> None:
    write_plugin(tmp_path, name, BROKEN[name])
    with plugins(tmp_path) as report:
        assert report.failures == {}
        strategy = next(s for s in report.loaded)
        v, bars = valid(strategy.name)
        with pytest.raises(StrategyFailed) as caught:
            run(v, bars)  # type: ignore[arg-type]
        message = caught.value.message
        assert message.startswith(f"strategy {strategy.name}"), message
        for part in EXPECTED[name]:
            assert part in message, message


def test_a_plugin_that_fails_to_import_is_named_with_its_error(tmp_path: Path) -> None:
    write_plugin(tmp_path, "typo", "from arbx.strategy import signal\n\ndef f(:\n")
    write_plugin(tmp_path, "empty", "X = 1\n")
    write_plugin(
        tmp_path,
        "shadow",
        """
        from arbx.strategy import signal

        @signal(name="sma_cross")
        def mine(bars, p):
            return bars.close * 0
        """,
    )
    write_plugin(tmp_path, "_private", "raise RuntimeError('never imported')\n")
    write_plugin(
        tmp_path,
        "fine",
        """
        from arbx.strategy import signal

        @signal
        def fine(bars, p):
            return bars.close * 0
        """,
    )
    with plugins(tmp_path) as report:
        assert [s.name for s in report.loaded] == ["fine"]
        failures = {Path(k.split(":")[0]).name: v for k, v in report.failures.items()}
        assert set(failures) == {"typo.py", "empty.py", "shadow.py"}
        assert "SyntaxError" in failures["typo.py"]
        assert "defines no strategy" in failures["empty.py"]
        assert "name of a built-in" in failures["shadow.py"]
        with pytest.raises(InvalidInput, match=r"plugin .*typo\.py failed to load"):
            get_strategy("typo")
        assert get_strategy("sma_cross").origin.source == "builtin"


def test_per_bar_plugins_only_ever_see_bars_up_to_the_decision_bar(tmp_path: Path) -> None:
    write_plugin(
        tmp_path,
        "spy",
        """
        from arbx.strategy import signal

        SEEN = []

        @signal(per_bar=True)
        def spy(bars, p):
            SEEN.append((bars.n, bars.close[-1]))
            return bars.n % 7 == 0
        """,
    )
    with plugins(tmp_path):
        strategy = get_strategy("spy")
        frame = make_bars(50, START)
        bars = BarArrays.from_frame(frame)
        assert strategy.target is not None
        out = strategy.target(bars, strategy.params())
        module = __import__(
            next(m for m in __import__("sys").modules if m.startswith("arbx_strategy_plugins.spy")),
            fromlist=["SEEN"],
        )
        seen = module.SEEN
        assert [n for n, _ in seen] == list(range(1, 51))
        assert [c for _, c in seen] == bars.close.tolist()
        np.testing.assert_array_equal(out, [float((t + 1) % 7 == 0) for t in range(50)])


def test_on_fill_sees_the_fill_at_its_bars_close(tmp_path: Path) -> None:
    write_plugin(
        tmp_path,
        "fills",
        """
        from arbx.strategy import event

        LOG = []

        @event
        class Fills:
            def __init__(self, p):
                pass

            def on_bar(self, ctx):
                if ctx.t == 10:
                    ctx.buy()

            def on_fill(self, ctx, fill):
                LOG.append((ctx.t, fill.bar, fill.side, ctx.history().n))
                if fill.side > 0:
                    ctx.sell(kind="limit", limit=fill.price * 1.001)
        """,
    )
    with plugins(tmp_path):
        v, bars = valid("Fills")
        result = run(v, bars)  # type: ignore[arg-type]
        import sys

        log = next(m for n, m in sys.modules.items() if n.startswith("arbx_strategy_plugins.fills"))
        first = log.LOG[0]
        assert first == (11, 11, 1, 12)  # filled at bar 11's open, shown at its close
        orders = result.orders
        assert orders["created_bar"].to_list()[:2] == [10, 11]
        assert orders["kind"].to_list()[:2] == ["market", "limit"]


def test_a_slow_plugin_is_stopped_at_its_time_limit(tmp_path: Path) -> None:
    from arbx.adapters.plugins.strategy_loader import load_strategy_plugins
    from arbx.domain.strategies import clear_plugins

    write_plugin(
        tmp_path,
        "slow",
        """
        import time
        from arbx.strategy import event, signal

        @signal(per_bar=True)
        def slow(bars, p):
            time.sleep(0.01)
            return 0

        @event
        class SlowEvents:
            def __init__(self, p):
                pass

            def on_bar(self, ctx):
                time.sleep(0.01)
        """,
    )
    try:
        load_strategy_plugins([tmp_path], entry_points=False, time_limit_s=0.2)
        for name in ("slow", "SlowEvents"):
            v, bars = valid(name)
            with pytest.raises(StrategyFailed, match="was stopped at bar .*time limit of 0.2 s"):
                run(v, bars)  # type: ignore[arg-type]
        load_strategy_plugins([tmp_path], entry_points=False)  # no limit: it finishes
        v, bars = valid("slow", n=60)
        assert run(v, bars).metrics.trade_count == 0  # type: ignore[arg-type]
    finally:
        clear_plugins()


def test_installed_packages_register_plugins_by_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arbx.adapters.plugins.strategy_loader import load_strategy_plugins
    from arbx.domain.strategies import clear_plugins

    write_plugin(
        tmp_path,
        "acme_strategies",
        """
        from arbx.strategy import signal

        @signal
        def acme_flat(bars, p):
            "Never trades."
            return bars.close * 0
        """,
    )
    info = tmp_path / "acme_strategies-1.2.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-strategies\nVersion: 1.2.0\n")
    (info / "entry_points.txt").write_text(
        "[arbx.strategies]\nacme = acme_strategies\nbroken = acme_missing_module\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        report = load_strategy_plugins([], entry_points=True)
        acme = get_strategy("acme_flat")
        assert acme.origin.source == "plugin"
        assert acme.origin.version == "1.2.0"
        assert acme.origin.location == "entry point acme = acme_strategies"
        assert len(acme.origin.code_hash) == 64
        (where,) = [w for w in report.failures if "broken" in w]
        assert "ModuleNotFoundError" in report.failures[where]
    finally:
        clear_plugins()
