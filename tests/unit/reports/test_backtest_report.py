"""The report of a stored run, built by ReportBacktests on the in-memory stores and
rendered by HtmlReportRenderer: what it shows matches what the run stored."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import msgspec
import polars as pl
import pytest

from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.run_store import MemoryRunStore
from arbx.adapters.reports.html import HtmlReportRenderer
from arbx.app.background_backtests import RUNNING, BackgroundRun
from arbx.app.report_backtests import ReportBacktests
from arbx.app.run_backtest import CLI_OPERATOR, BacktestRuns, RunBacktest
from arbx.domain.auth import Principal, PrincipalKind, Role
from arbx.domain.backtest.request import decode_request
from arbx.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from arbx.domain.market import TimeSpan
from arbx.domain.reports.figures import cell
from arbx.domain.reports.model import (
    Heatmap,
    Paragraphs,
    Preformatted,
    Report,
    Table,
    TimeChart,
    Waterfall,
)
from arbx.ports.clock import Clock
from tests.builders import key, make_bars

START = datetime(2024, 1, 1, tzinfo=UTC)
GAP = slice(300, 320)  # bars missing from the traded series


class StillClock(Clock):
    def now(self) -> datetime:
        return datetime(2025, 1, 1, tzinfo=UTC)


def ids() -> Any:
    counter = iter(range(1000))
    return lambda: f"run{next(counter)}"


class World:
    def __init__(self) -> None:
        self.bars = MemoryBarStore()
        self.runs = MemoryRunStore()
        self.run = RunBacktest(self.bars, self.runs, StillClock(), ids())  # type: ignore[arg-type]
        self.flying: dict[str, BackgroundRun] = {}
        queries = BacktestRuns(self.runs, self)  # type: ignore[arg-type]
        self.reports = ReportBacktests(
            queries, self.bars, HtmlReportRenderer(), generated_by="arbx test", points=400
        )

    # the two methods of BackgroundBacktests that BacktestRuns asks
    def running(self, run_id: str) -> BackgroundRun | None:
        return self.flying.get(run_id)

    def in_flight(self, actor: Principal) -> list[BackgroundRun]:
        return list(self.flying.values())


@pytest.fixture
async def world() -> World:
    w = World()
    full = make_bars(1500, START, volatility=0.004)
    with_gap = pl.concat([full[: GAP.start], full[GAP.stop :]])
    await w.bars.write(key("binance:BTC/USDC:1m"), with_gap)
    await w.bars.write(
        key("coinbase:BTC/USDC:1m"), make_bars(1500, START, volatility=0.004, seed=9, price=100.4)
    )
    return w


SMA = {
    "strategy": "sma_cross",
    "params": {"fast": 5, "slow": 20},
    "series": ["binance:BTC/USDC:1m"],
    "start": "2024-01-01",
    "end": "2024-01-03",
    "fees": {"binance": {"taker_bps": 7.5}},
}
ARB = {
    "strategy": "threshold_arb",
    "params": {"threshold_bps": 5},
    "series": ["binance:BTC/USDC:1m", "coinbase:BTC/USDC:1m"],
    "start": "2024-01-01",
    "end": "2024-01-03",
    "fees": {"binance": {"taker_bps": 1}, "coinbase": {"taker_bps": 1}},
}


def block(report: Report, block_id: str) -> Any:
    found = [b for b in report.blocks() if b.id == block_id]
    assert found, f"no block {block_id}: {[b.id for b in report.blocks()]}"
    return found[0]


async def test_single_market_report_shows_what_the_run_stored(world: World) -> None:
    run = await world.run.execute(decode_request(SMA), actor=CLI_OPERATOR)
    report = await world.reports.build(run.id, actor=CLI_OPERATOR)
    titles = [s.title for s in report.sections]
    assert titles == [
        "Overview",
        "Equity and drawdown",
        "Price and trades",
        "Position and exposure",
        "Returns",
        "Trades",
        "Data",
        "Reproducibility",
    ]
    metrics: Table = block(report, "metrics")
    rows = {r[0]: r for r in metrics.rows}
    assert rows["total return"][1] == "% of capital"
    assert rows["total return"][2].rstrip("*") == cell(run.meta.metrics.total_return, "%")
    assert run.meta.benchmark is not None
    assert rows["total return"][3] == cell(run.meta.benchmark.total_return, "%")
    assert rows["fees paid"][1] == "USDC"

    equity: TimeChart = block(report, "equity")
    curve = run.tables["curve"]
    assert equity.points_total == curve.height
    assert len(equity.x) <= 400 * len(equity.traces) < curve.height  # downsampled for display
    values = [v for v in equity.traces[0].values if v is not None]
    assert max(values) == curve["equity"].max()
    assert min(values) == curve["equity"].min()
    assert equity.traces[0].values[-1] == curve["equity"][-1]

    price: TimeChart = block(report, "price")
    trades = run.tables["trades"]
    entries = [v for v in price.traces[1].values if v is not None]
    assert len(entries) == trades.height > 0  # every entry marked (under MARKERS)
    assert sorted(entries) == sorted(trades["entry_price"].to_list())
    gap_start = (START.timestamp() + GAP.start * 60) * 1.0
    assert [(b.start, b.end) for b in price.bands] == [(gap_start, gap_start + 20 * 60)]

    heat: Heatmap = block(report, "monthly")
    assert heat.row_labels == ["2024"]
    assert heat.values[0][0] == pytest.approx(run.meta.metrics.total_return)  # one month
    assert heat.values[0][12] == pytest.approx(run.meta.metrics.total_return)

    data: Table = block(report, "data")
    assert data.rows[0][0] == "binance:BTC/USDC:1m"
    assert data.rows[0][4] == "1"  # one gap
    assert data.rows[0][5] == "20"

    manifest: Preformatted = block(report, "manifest")
    doc = json.loads(manifest.text)
    assert doc["engine_version"] == run.meta.engine_version
    assert doc["effective_fees"]["binance"]["taker_bps"] == 7.5
    assert doc["data"][0]["sha256"] == run.meta.series[0].sha256
    assert doc["request"] == json.loads(msgspec.json.encode(run.meta.request))


async def test_arbitrage_report_has_spread_opportunities_balances_and_waterfall(
    world: World,
) -> None:
    run = await world.run.execute(decode_request(ARB), actor=CLI_OPERATOR)
    assert run.meta.attribution is not None
    assert run.meta.opportunities is not None
    report = await world.reports.build(run.id, actor=CLI_OPERATOR)
    titles = [s.title for s in report.sections]
    for title in ("P&L attribution", "Spread and opportunities", "Balances and transfers"):
        assert title in titles
    waterfall: Waterfall = block(report, "attribution")
    a = run.meta.attribution
    assert waterfall.total == a.total_pnl
    assert sum(s.value for s in waterfall.steps) + a.residual == pytest.approx(a.total_pnl)
    spread: TimeChart = block(report, "spread")
    assert [t.label for t in spread.traces] == ["gross gap", "net of fees", "threshold"]
    assert {v for v in spread.traces[2].values} == {5.0}
    gross = [v for v in spread.traces[0].values if v is not None]
    net = [v for v in spread.traces[1].values if v is not None]
    assert all(g - n == pytest.approx(2.0) for g, n in zip(gross, net, strict=True))  # 2 x 1 bps
    counts: Table = block(report, "opportunity_counts")
    assert dict(counts.rows)["seen (decision bars)"] == f"{run.meta.opportunities.seen:,}"
    assert dict(counts.rows)["taken"] == f"{run.meta.opportunities.taken:,}"
    base: TimeChart = block(report, "balances_base")
    assert [t.label for t in base.traces] == [
        "binance:BTC/USDC",
        "coinbase:BTC/USDC",
        "in transit",
    ]
    metrics: Table = block(report, "metrics")
    assert metrics.columns[3] == "hold inventory"


async def test_the_report_names_a_book_execution_and_flags_synthetic_books(
    world: World,
) -> None:
    bars_run = await world.run.execute(decode_request(SMA), actor=CLI_OPERATOR)
    summary = block(await world.reports.build(bars_run.id, actor=CLI_OPERATOR), "summary")
    assert not any("execution" in line for line in summary.lines)
    book = {**SMA, "execution": "synthetic_book", "latency_ms": 50}
    run = await world.run.execute(decode_request(book), actor=CLI_OPERATOR)
    summary = block(await world.reports.build(run.id, actor=CLI_OPERATOR), "summary")
    engine_line = next(line for line in summary.lines if line.startswith("engine"))
    assert "execution synthetic_book, latency 50 ms (SYNTHETIC books built from bars)" in (
        engine_line
    )
    assert summary.warn


async def test_a_series_deleted_since_the_run_is_reported_not_shown(world: World) -> None:
    run = await world.run.execute(decode_request(SMA), actor=CLI_OPERATOR)
    await world.bars.delete(
        key("binance:BTC/USDC:1m"), TimeSpan(START, datetime(2024, 2, 1, tzinfo=UTC))
    )
    report = await world.reports.build(run.id, actor=CLI_OPERATOR)
    price: Paragraphs = block(report, "price")
    assert "no bars stored now" in price.lines[0]
    data: Table = block(report, "data")
    assert data.rows[0][-1] == "deleted"


def _viewer(user_id: str) -> Principal:
    return Principal(
        kind=PrincipalKind.USER, user_id=user_id, username=user_id, roles=frozenset({Role.VIEWER})
    )


def _analyst(user_id: str) -> Principal:
    return Principal(
        kind=PrincipalKind.USER, user_id=user_id, username=user_id, roles=frozenset({Role.ANALYST})
    )


async def test_missing_foreign_and_running_runs_are_refused(world: World) -> None:
    with pytest.raises(NotFound):
        await world.reports.report("nope", actor=CLI_OPERATOR)
    theirs = await world.run.execute(decode_request(SMA), actor=_analyst("ann"))
    with pytest.raises(Forbidden):
        await world.reports.report(theirs.id, actor=_analyst("bob"))
    assert await world.reports.report(theirs.id, actor=_analyst("ann"))
    world.flying["busy"] = BackgroundRun(
        id="busy",
        created_at=START,
        strategy="sma_cross",
        bars=10,
        owner=None,
        shared=False,
        state=RUNNING,
    )
    with pytest.raises(Conflict, match="is running") as caught:
        await world.reports.report("busy", actor=CLI_OPERATOR)
    assert caught.value.details == [{"run_status": "running"}]


async def test_comparison_puts_runs_on_one_axis(world: World) -> None:
    a = await world.run.execute(decode_request(SMA), actor=CLI_OPERATOR)
    b = await world.run.execute(
        decode_request({**SMA, "params": {"fast": 10, "slow": 40}}), actor=CLI_OPERATOR
    )
    report = await world.reports.build_comparison([a.id, b.id], actor=CLI_OPERATOR)
    chart: TimeChart = block(report, "compare_equity")
    assert len(chart.traces) == 2
    for trace, run in zip(chart.traces, (a, b), strict=True):
        assert trace.values[-1] == pytest.approx(run.meta.metrics.final_equity / run.meta.capital)
    metrics: Table = block(report, "compare_metrics")
    total = next(r for r in metrics.rows if r[0] == "total return")
    assert total[2:] == [cell(r.meta.metrics.total_return, "%") for r in (a, b)]
    setup: Table = block(report, "compare_setup")
    assert next(r for r in setup.rows if r[0] == "param fast")[2:] == ["5", "10"]
    with pytest.raises(InvalidInput, match="2 to 10"):
        await world.reports.compare([a.id], actor=CLI_OPERATOR)
    with pytest.raises(InvalidInput, match="named twice"):
        await world.reports.compare([a.id, a.id], actor=CLI_OPERATOR)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith("#"):
                self.loads.append(value)
        self._in_script = tag == "script"

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


async def test_rendered_html_is_self_contained_and_escapes_run_text(world: World) -> None:
    hostile = '</script><script>alert("x")</script><img src=http://example.invalid/x>'
    body = {**SMA, "params": {"fast": 5, "slow": 20}}
    run = await world.run.execute(decode_request(body), actor=CLI_OPERATOR)
    meta = msgspec.structs.replace(run.meta, id="hostile", notes=[hostile])
    await world.runs.save(type(run)(meta, run.tables))
    html = await world.reports.report("hostile", actor=CLI_OPERATOR)
    parsed = _Collector()
    parsed.feed(html)
    assert parsed.loads == []  # nothing to fetch: no src or href leaving the page
    assert not re.search(r"url\(\s*['\"]?https?:|@import", html)
    assert "alert(" not in "".join(parsed.scripts)
    assert html.count("<script") == 3  # data, uPlot, the chart script
    assert "&lt;/script&gt;&lt;script&gt;alert" in html  # the note, escaped
    data = re.search(
        r'<script type="application/json" id="arbx-report-data">(.*?)</script>', html, re.S
    )
    assert data is not None
    charts = json.loads(data.group(1))["charts"]
    assert [c["id"] for c in charts] == ["equity", "drawdown", "price", "position", "exposure"]
