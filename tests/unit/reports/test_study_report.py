"""The reports of an optimization study and of a walk-forward: the pure content built from
hand-made trials (exact cells), and ReportStudies on the in-memory stores (authorization,
bad input, a rendered self-contained document)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import msgspec
import pytest

from arbx.adapters.compute.in_process import InProcessExecutor
from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.run_store import MemoryRunStore
from arbx.adapters.memory.study_store import MemoryStudyStore
from arbx.adapters.memory.walk_forward_store import MemoryWalkForwardStore
from arbx.adapters.reports.html import HtmlReportRenderer
from arbx.app.optimize import OptimizeStudies, decode_optimization
from arbx.app.report_studies import ReportStudies
from arbx.app.run_backtest import CLI_OPERATOR, RunBacktest
from arbx.app.walk_forward import WalkForward, decode_walk_forward
from arbx.domain.auth import Principal, PrincipalKind, Role
from arbx.domain.backtest.metrics import Metrics
from arbx.domain.backtest.run import SeriesUsed
from arbx.domain.errors import Forbidden, InvalidInput, NotFound
from arbx.domain.reports.model import Heatmap, Paragraphs, Preformatted, Report, Table, XYChart
from arbx.domain.reports.study import MAX_CELLS, study_report
from arbx.domain.reports.walk_forward import walk_forward_report
from arbx.domain.research.objective import Objective, TrialMetrics
from arbx.domain.research.space import Dimension, SearchSpace
from arbx.domain.research.study import Study, Trial
from arbx.domain.research.walk_forward import FoldOut, WalkForwardResult
from arbx.ports.clock import Clock
from tests.builders import key, make_bars

START = datetime(2024, 1, 1, tzinfo=UTC)


def block(report: Report, block_id: str) -> Any:
    found = [b for b in report.blocks() if b.id == block_id]
    assert found, f"no block {block_id}: {[b.id for b in report.blocks()]}"
    return found[0]


def make_study(dims: tuple[Dimension, ...], direction: str = "maximize") -> Study:
    return Study(
        id="s1",
        created_at=START,
        strategy="sma_cross",
        method="grid",
        space=SearchSpace("sma_cross", dims, {"entry": "cross"}),
        objective=msgspec.convert({"metric": "sharpe", "direction": direction}, Objective),
        request={"strategy": "sma_cross", "series": ["binance:BTC/USDC:1m"]},
        n_trials=0,
        seed=7,
        engine_version="9.9.9",
        series=[SeriesUsed("binance:BTC/USDC:1m", 100, START, START, sha256="f" * 64)],
        status="done",
    )


FAST = Dimension(name="fast", kind="int", low=5, high=15, step=5)
SLOW = Dimension(name="slow", kind="int", low=20, high=40, step=10)
ENTRY = Dimension(name="entry", kind="choice", choices=("cross", "state"))


def trial(number: int, value: float | None, status: str = "done", **params: Any) -> Trial:
    return Trial(
        study_id="s1",
        number=number,
        params=params,
        seed=number,
        status=status,  # type: ignore[arg-type]
        metrics=TrialMetrics(sharpe=value, total_return=0.01 * number, trade_count=3),
        value=value,
    )


def test_heatmap_cells_hold_the_best_trial_over_the_other_parameters() -> None:
    study = make_study((FAST, SLOW, ENTRY))
    trials = [
        trial(0, 1.0, fast=5, slow=20, entry="cross"),
        trial(1, 3.0, fast=5, slow=20, entry="state"),  # best of cell (5, 20)
        trial(2, -2.0, fast=10, slow=30, entry="cross"),
        trial(3, None, fast=15, slow=40, entry="cross"),  # infeasible: no cell
        trial(4, 9.0, "failed", fast=15, slow=20, entry="cross"),  # failed: ignored
    ]
    report = study_report(study, trials)
    heat: Heatmap = block(report, "heatmap_fast_slow")
    assert heat.row_labels == ["5", "10"]
    assert heat.column_labels == ["20", "30"]
    assert heat.values == [[3.0, None], [None, -2.0]]
    assert "entry" in heat.note
    assert heat.relative
    assert not heat.percent
    # three searched parameters: every pair of them
    assert {b.id for b in report.blocks() if isinstance(b, Heatmap)} == {
        "heatmap_fast_slow",
        "heatmap_fast_entry",
        "heatmap_slow_entry",
    }
    by_choice: Heatmap = block(report, "heatmap_slow_entry")
    assert by_choice.column_labels == ["cross", "state"]
    assert by_choice.values == [[1.0, 3.0], [-2.0, None]]


def test_minimized_objective_keeps_the_lowest_and_turns_the_colours() -> None:
    study = make_study((FAST, SLOW), direction="minimize")
    trials = [trial(0, 1.0, fast=5, slow=20), trial(1, 0.5, fast=5, slow=20)]
    heat: Heatmap = block(study_report(study, trials), "heatmap_fast_slow")
    assert heat.values == [[0.5]]
    assert heat.invert


def test_many_distinct_values_are_binned() -> None:
    wide = Dimension(name="fast", kind="float", low=0.0, high=1.0)
    other = Dimension(name="slow", kind="int", low=20, high=40, step=10)
    trials = [trial(k, float(k), fast=k / 99, slow=20) for k in range(100)]
    heat: Heatmap = block(study_report(make_study((wide, other)), trials), "heatmap_fast_slow")
    assert len(heat.row_labels) == 10 < MAX_CELLS
    assert heat.row_labels[0].startswith("0..")
    assert "bins" in heat.note
    assert heat.values[-1] == [99.0]  # the last bin holds the best trial
    assert heat.values[0] == [9.0]  # values 0..9 of 0/99..9/99 < 0.1


def test_one_parameter_has_no_heatmap_and_says_why() -> None:
    report = study_report(make_study((FAST,)), [trial(0, 1.0, fast=5)])
    note: Paragraphs = block(report, "heatmap")
    assert "two searched parameters" in note.lines[0]


def test_scatter_trials_table_best_and_manifest() -> None:
    study = make_study((FAST, ENTRY))
    trials = [
        trial(k, float(k % 4), fast=5 * (1 + k % 3), entry=("cross", "state")[k % 2])
        for k in range(12)
    ]
    trials.append(trial(12, None, fast=5, entry="cross"))
    report = study_report(study, trials, top=5)
    scatter: XYChart = block(report, "scatter_fast")
    feasible, best = scatter.series
    assert best.label == "best (trial 3)"
    assert best.x == [5.0 * (1 + 3 % 3)]
    assert best.y == [3.0]
    assert len(feasible.x) == 11
    assert "trial 0: fast=5, entry=cross" in feasible.tips[0]
    choice: XYChart = block(report, "scatter_entry")
    assert choice.x_ticks == ["cross", "state"]
    assert set(choice.series[0].x) <= {0.0, 1.0}
    table: Table = block(report, "trials")
    assert len(table.rows) == 5
    values = [row[table.columns.index("sharpe (maximize)")] for row in table.rows]
    assert values == ["3.0000", "3.0000", "3.0000", "2.0000", "2.0000"]
    assert [row[1] for row in table.rows[:3]] == ["3", "7", "11"]  # ties: lower number first
    assert "1 infeasible" in table.note
    best_table: Table = block(report, "best")
    assert ["trial", "3"] in best_table.rows
    assert "promote s1 3" in best_table.note
    manifest: Preformatted = block(report, "manifest")
    for expected in ('"engine_version": "9.9.9"', "f" * 64, '"seed": 7', '"dimensions"'):
        assert expected in manifest.text
    progress: XYChart = block(report, "progress")
    assert progress.series[1].y[-1] == 3.0  # the best so far ends at the best


def test_a_running_study_is_reported_as_it_stands() -> None:
    study = msgspec.structs.replace(make_study((FAST, SLOW)), status="running", n_trials=9)
    overview: Paragraphs = block(study_report(study, [trial(0, 1.0, fast=5, slow=20)]), "overview")
    assert overview.warn
    assert any("trials stored so far" in line for line in overview.lines)


def _fold(index: int, value: float | None, error: str | None = None) -> FoldOut:
    day = START + timedelta(days=index)
    return FoldOut(
        index,
        day,
        day + timedelta(hours=12),
        day + timedelta(hours=12),
        day + timedelta(hours=18),
        None if error else {"fast": 5 + index},
        None if error else TrialMetrics(sharpe=2.0, total_return=0.02),
        None if error else TrialMetrics(sharpe=value, total_return=0.01),
        None if error else 2.0,
        value,
        None if error else 0.5,
        4,
        error,
    )


def test_walk_forward_report_shows_folds_in_and_out_of_sample_and_equity() -> None:
    result = WalkForwardResult(
        id="wf1",
        strategy="sma_cross",
        method="grid",
        objective=Objective(),
        folds=[
            _fold(0, 1.5),
            _fold(1, -0.5),
            _fold(2, None, "no feasible trial in the train fold"),
        ],
        oos_metrics=Metrics(total_return=0.03, sharpe=1.1, bars=12),
        oos_equity=[100.0 + k for k in range(12)],
        oos_ts=[START + timedelta(minutes=k) for k in range(12)],
        efficiency=0.5,
        stability={"fast": {"5": 1, "6": 1}},
        notes=["each test fold starts flat"],
    )
    report = walk_forward_report(result, request={"train": 10}, engine_version="9.9.9")
    folds: Table = block(report, "folds")
    assert [row[0] for row in folds.rows] == ["0", "1", "2"]
    assert folds.rows[0][4] == "fast=5"
    assert folds.rows[2][-1].startswith("no feasible")
    assert folds.rows[1][6] == "-0.5000"
    timeline = block(report, "fold_spans")
    assert [s.kind for s in timeline.rows[0].spans] == ["train", "test"]
    assert timeline.rows[1].spans[0].start == (START + timedelta(days=1)).timestamp()
    in_out: XYChart = block(report, "in_vs_out")
    assert in_out.series[0].y == [2.0, 2.0, None]
    assert in_out.series[1].y == [1.5, -0.5, None]
    equity = block(report, "oos_equity")
    assert equity.points_total == 12
    assert equity.traces[0].values[-1] == 111.0
    metrics: Table = block(report, "oos_metrics")
    assert ["total return", "% of capital", "3.00%"] in metrics.rows
    assert not any(row[0] == "trades" for row in metrics.rows)  # per fold, not of the chain
    overview: Paragraphs = block(report, "overview")
    assert overview.warn
    assert "efficiency 0.500" in overview.lines[1]
    assert '"train": 10' in block(report, "manifest").text


# -- the use case -----------------------------------------------------------------------------


class StillClock(Clock):
    def now(self) -> datetime:
        return datetime(2025, 1, 1, tzinfo=UTC)


def _ids(prefix: str) -> Any:
    numbers = iter(range(10_000))
    return lambda: f"{prefix}{next(numbers)}"


def analyst(user_id: str) -> Principal:
    return Principal(
        kind=PrincipalKind.USER, user_id=user_id, username=user_id, roles=frozenset({Role.ANALYST})
    )


@pytest.fixture
async def reports() -> Any:
    executor = InProcessExecutor(workers=2)
    bars = MemoryBarStore()
    await bars.write(key("binance:BTC/USDC:1m"), make_bars(3000, START, volatility=0.01))
    backtests = RunBacktest(bars, MemoryRunStore(), StillClock(), _ids("run"))
    studies = OptimizeStudies(backtests, MemoryStudyStore(), executor, StillClock(), _ids("study"))
    uc = ReportStudies(
        studies,
        WalkForward(studies, executor, MemoryWalkForwardStore(), StillClock()),
        HtmlReportRenderer(),
        generated_by="arbx test",
    )
    yield studies, uc
    await executor.shutdown()


OPTIMIZATION = {
    "backtest": {
        "strategy": "sma_cross",
        "series": ["binance:BTC/USDC:1m"],
        "start": "2024-01-01",
        "end": "2024-01-03",
    },
    "space": {
        "fast": {"low": 5, "high": 15, "step": 5},
        "slow": {"low": 20, "high": 40, "step": 10},
    },
}


class _Loads(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.loads += [v for n, v in attrs if n in ("src", "href") and v and not v.startswith("#")]


async def test_study_report_is_rendered_and_authorized(reports: Any) -> None:
    studies, uc = reports
    alice = analyst("alice")
    study = await studies.create(decode_optimization(OPTIMIZATION), actor=alice)
    await studies.run(study.id, actor=alice)
    html = await uc.report(study.id, actor=alice, top=3)
    loads = _Loads()
    loads.feed(html)
    assert loads.loads == []
    assert "heatmap_fast_slow" in html
    assert "Study manifest" in html
    assert len(re.findall(r"<tr>", html.split('id="table-trials"')[1].split("</table>")[0])) == 4
    assert "probability of backtest overfitting" in html  # PBO over the 9 trials' returns
    with pytest.raises(Forbidden):
        await uc.report(study.id, actor=analyst("bob"))
    with pytest.raises(NotFound):
        await uc.report("nope", actor=alice)
    with pytest.raises(InvalidInput) as bad:
        await uc.report(study.id, actor=alice, top=0)
    assert bad.value.field == "top"


async def test_walk_forward_report_is_run_and_rendered(reports: Any) -> None:
    _, uc = reports
    request = decode_walk_forward({"optimization": OPTIMIZATION, "train": 1200, "test": 400})
    html = await uc.walk_forward(request, actor=CLI_OPERATOR)
    assert "Train and test spans" in html
    assert 'id="table-folds"' in html
    assert "&quot;train&quot;: 1200" in html  # the request in the manifest (escaped)
    assert html.count("<tr>") > 4
    with pytest.raises(InvalidInput) as bad:
        await uc.walk_forward(
            decode_walk_forward({"optimization": OPTIMIZATION, "train": 1, "test": 9000}),
            actor=CLI_OPERATOR,
        )
    assert bad.value.field == "folds"


def test_a_study_without_trials_renders_and_escapes_its_text() -> None:
    hostile = '</script><script>alert("x")</script>'
    study = msgspec.structs.replace(
        make_study((FAST, SLOW)), status="failed", error=hostile, n_trials=9
    )
    report = study_report(study, [], diagnostic_notes=["no PBO: it needs at least 2 trials"])
    assert block(report, "heatmap").lines == ["no feasible trial yet"]
    assert block(report, "best").warn
    assert block(report, "trials").rows == []
    html = HtmlReportRenderer().render(report)
    assert hostile not in html
    assert "&lt;/script&gt;&lt;script&gt;alert" in html
    assert html.count("<script") == 3  # data, uPlot, the chart script
    assert "nothing to show" in html  # the scatters of no trial
