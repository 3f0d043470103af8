"""The Python API (``import arbx``): the README's example as written, and each promise it makes.

The README example is the ```python block of the "## From Python" section, executed here in a
fresh folder, so the README and this test cannot drift apart.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import arbx
from arbx.entrypoints.samples import samples_dir
from tests.e2e.conftest import venue_overrides
from tests.support.exchanges import FakeExchanges
from tests.support.postgres import PostgresTestDatabase

README = Path(__file__).resolve().parents[2] / "README.md"
SERIES = "kraken:BTC/USD:1m"


def readme_python_example() -> str:
    text = README.read_text()
    section = text.split("\n## From Python\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```python\n(.*?)^```", section, flags=re.S | re.M)
    assert len(blocks) == 1, "the From Python section holds one python example"
    return blocks[0]


@pytest.fixture
def workspace(tmp_path: Path) -> arbx.Workspace:
    ws = arbx.open(tmp_path / "var", create=True)
    ws.import_file(samples_dir() / "svb_2023-03" / "kraken_BTC-USD_1m.csv")
    yield ws
    ws.close()


def test_the_readme_example_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_python_example(), "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "quality score" in out
    with arbx.open(tmp_path / "var") as ws:
        runs = ws.runs()
        assert runs.height == 1
        assert runs["strategy"][0] == "sma_cross"
        run = ws.run(runs["id"][0])
        assert run.params["fast"] == 10
        assert run.meta.request.fees["kraken"].taker_bps == 26
        assert run.id in out


def test_a_backtest_gives_metrics_and_tables_as_polars(workspace: arbx.Workspace) -> None:
    run = workspace.backtest(
        "sma_cross", SERIES, "2023-03-10", "2023-03-12", params={"fast": 10, "slow": 50}
    )
    assert isinstance(run.metrics, pl.DataFrame)
    assert run.metrics.columns == ["metric", "strategy", "benchmark"]
    by_name = dict(zip(run.metrics["metric"], run.metrics["strategy"], strict=True))
    assert by_name["trade_count"] + by_name["open_trades"] == run.trades.height > 0
    assert run.metric("final_equity") == pytest.approx(run.equity["equity"][-1])
    assert run.equity.height == 2880
    assert {"ts", "equity", "drawdown"} <= set(run.equity.columns)
    assert isinstance(run.balances, pl.DataFrame)
    assert workspace.runs()["id"].to_list() == [run.id]
    again = workspace.rerun(run.id)
    assert again.id != run.id
    assert again.equity.equals(run.equity)
    workspace.delete_run(run.id)
    assert workspace.runs()["id"].to_list() == [again.id]


def test_the_execution_model_and_latency_are_request_fields(workspace: arbx.Workspace) -> None:
    run = workspace.backtest(
        "sma_cross",
        SERIES,
        "2023-03-10",
        "2023-03-12",
        params={"fast": 10, "slow": 50},
        execution="synthetic_book",
        latency_ms=50,
    )
    assert (run.meta.execution, run.meta.synthetic) == ("synthetic_book", True)
    assert run.meta.request.latency_ms == 50
    assert any(n.startswith("SYNTHETIC order books") for n in run.notes)
    with pytest.raises(arbx.InvalidInput) as caught:
        workspace.backtest("sma_cross", SERIES, "2023-03-10", "2023-03-12", latency_ms=50)
    assert caught.value.field == "latency_ms"
    with pytest.raises(arbx.InvalidInput) as caught:
        workspace.backtest(
            "sma_cross", SERIES, "2023-03-10", "2023-03-12", execution="recorded_book"
        )
    assert caught.value.field == "execution"
    assert workspace.runs().height == 1


def test_bars_and_series_are_polars_frames(workspace: arbx.Workspace) -> None:
    listed = workspace.series()
    assert listed.row(0, named=True)["series"] == SERIES
    assert listed["rows"][0] == 2880
    bars = workspace.bars(SERIES, start="2023-03-10T01:00:00Z", end=1678413600000)
    assert bars.columns == ["ts", "open", "high", "low", "close", "volume"]
    assert bars.height == 60


def test_a_bad_request_names_the_field_and_stores_nothing(workspace: arbx.Workspace) -> None:
    with pytest.raises(arbx.InvalidInput, match="did you mean fast") as caught:
        workspace.backtest("sma_cross", SERIES, "2023-03-10", "2023-03-12", params={"fats": 3})
    assert caught.value.field == "params.fats"
    with pytest.raises(arbx.InvalidInput, match="did you mean sma_cross"):
        workspace.backtest("sma_crss", SERIES, "2023-03-10", "2023-03-12")
    with pytest.raises(arbx.InvalidInput, match="epoch seconds"):
        workspace.backtest("sma_cross", SERIES, 1678406400, "2023-03-12")
    assert workspace.runs().height == 0


def test_an_unknown_series_says_what_exists(workspace: arbx.Workspace) -> None:
    with pytest.raises(arbx.NotFound, match=r"did you mean kraken:BTC/USD:1m\? known: kraken"):
        workspace.bars("kraken:BTC/USDD:1m")


def test_it_works_inside_a_running_event_loop(workspace: arbx.Workspace) -> None:
    async def notebook_cell() -> int:  # Jupyter runs cells inside its own loop
        return workspace.series().height

    assert asyncio.run(notebook_cell()) == 1


def test_a_missing_data_dir_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(arbx.NotFound, match="create=True"):
        arbx.open(tmp_path / "typo")
    assert not (tmp_path / "typo").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(arbx.InvalidInput, match="is a file"):
        arbx.open(tmp_path / "file")


def test_a_closed_workspace_refuses_calls(tmp_path: Path) -> None:
    ws = arbx.open(tmp_path, create=True)
    ws.close()
    ws.close()  # idempotent
    with pytest.raises(arbx.InvalidInput, match="closed"):
        ws.series()


def test_import_arbx_stays_cheap() -> None:
    code = (
        "import sys, arbx; heavy = [m for m in ('polars', 'dependency_injector', 'litestar')"
        " if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.postgres
def test_a_database_url_opens_the_server_profile(
    postgres_database: PostgresTestDatabase, tmp_path: Path
) -> None:
    schema = postgres_database.new_schema_name("arbx_pyapi")
    config = {"database": {"schema": schema, "migrate_on_start": True}}
    try:
        with arbx.open(postgres_database.url, config=config) as ws:
            assert ws.settings.profile == "server"
            ws.import_file(samples_dir() / "svb_2023-03" / "kraken_BTC-USD_1m.csv")
            run = ws.backtest("buy_and_hold", SERIES, "2023-03-10", "2023-03-11")
            assert ws.runs()["id"].to_list() == [run.id]
        assert not (tmp_path / "var").exists()
    finally:
        postgres_database.drop_schema(schema)


def test_fetch_backfills_from_the_exchange_then_bars_read_it(
    tmp_path: Path, threaded_venues: FakeExchanges
) -> None:
    config = {"exchanges": venue_overrides(threaded_venues)}
    with arbx.open(tmp_path / "var", create=True, config=config) as ws:
        report = ws.fetch("binance:BTC/USDC:1m", "2024-01-01", "2024-01-02")
        assert report.bars_written == 1440
        assert ws.fetch("binance:BTC/USDC:1m", "2024-01-01", "2024-01-02").up_to_date
        assert ws.bars("binance:BTC/USDC:1m").height == 1440
        assert ws.validate("binance:BTC/USDC:1m").bars == 1440


SPACE = {"fast": {"low": 5, "high": 15, "step": 5}, "slow": {"low": 40, "high": 60, "step": 20}}


def test_optimize_stores_a_study_whose_best_trial_promotes_to_the_same_metrics(
    workspace: arbx.Workspace,
) -> None:
    study = workspace.optimize(
        "sma_cross", SERIES, "2023-03-10", "2023-03-12", space=SPACE, objective="total_return"
    )
    assert study.status == "done"
    trials = study.trials
    assert trials.height == 6  # 3 fast x 2 slow
    assert set(trials["status"].to_list()) == {"done"}
    assert {"param_fast", "param_slow", "value"} <= set(trials.columns)
    best = study.best
    assert best is not None
    assert best["value"] == max(trials["value"].to_list())
    run = study.promote()
    assert run.params["fast"] == best["params"]["fast"]
    assert run.params["slow"] == best["params"]["slow"]
    assert run.metric("total_return") == pytest.approx(best["value"])
    again = workspace.study(study.id)
    assert again.trials.equals(trials)


def test_an_unknown_parameter_in_the_space_names_it(workspace: arbx.Workspace) -> None:
    with pytest.raises(arbx.InvalidInput) as caught:
        workspace.optimize("sma_cross", SERIES, "2023-03-10", "2023-03-12", space={"fats": [5, 10]})
    assert "fats" in str(caught.value)


def test_walk_forward_gives_folds_and_the_stitched_out_of_sample_curve(
    workspace: arbx.Workspace,
) -> None:
    result = workspace.walk_forward(
        "sma_cross",
        SERIES,
        "2023-03-10",
        "2023-03-12",
        space=SPACE,
        train=1200,
        test=400,
        jobs=1,
    )
    assert len(result.folds) >= 2
    assert all(fold.params is not None for fold in result.folds)
    assert len(result.oos_equity) == len(result.oos_ts) > 0
    assert re.fullmatch(r"[0-9a-f]{32}", result.id)  # stored: read back by its id
    assert workspace.walk_forward_result(result.id) == result


def test_reports_and_comparison_from_python(workspace: arbx.Workspace, tmp_path: Path) -> None:
    first = workspace.backtest(
        "sma_cross", SERIES, "2023-03-10", "2023-03-12", params={"fast": 10, "slow": 50}
    )
    second = workspace.backtest(
        "sma_cross", SERIES, "2023-03-10", "2023-03-12", params={"fast": 5, "slow": 40}
    )
    out = tmp_path / "run.html"
    html = first.report(out)
    assert html.lstrip().lower().startswith("<!doctype html")
    assert first.id in html
    assert out.read_text() == html
    compared = workspace.compare([first.id, second.id])
    assert len(compared.runs) == 2
    assert compared.same_span
    assert len(compared.tests) == 1  # the Sharpe difference of the one pair
    page = workspace.compare_report([first.id, second.id], tmp_path / "cmp.html")
    assert second.id in page
    with pytest.raises(arbx.NotFound):
        workspace.report("0" * 32)


def test_frames_convert_to_pandas(workspace: arbx.Workspace) -> None:
    """The README promises ``.to_pandas()`` on every frame the API returns."""
    run = workspace.backtest(
        "sma_cross", SERIES, "2023-03-10", "2023-03-12", params={"fast": 10, "slow": 50}
    )
    equity = run.equity.to_pandas()
    assert len(equity) == run.equity.height
    assert list(equity.columns) == run.equity.columns
    bars = workspace.bars(SERIES, start="2023-03-10", end="2023-03-11").to_pandas()
    assert str(bars["ts"].dtype).startswith("datetime64")
    assert bars["close"].iloc[0] == pytest.approx(
        workspace.bars(SERIES, start="2023-03-10", end="2023-03-11")["close"][0]
    )
