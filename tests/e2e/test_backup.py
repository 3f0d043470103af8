"""Backups of the real stores: create, verify, restore into an empty store of either profile;
a restored store reruns every stored backtest bit for bit; damaged backups and non-empty
stores are refused with nothing changed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import polars as pl
import pytest

from arbx.app.backup.format import SectionEntry
from arbx.domain.auth import AuditQuery
from arbx.domain.backtest.request import BacktestRequest
from arbx.domain.errors import Conflict, InvalidInput
from arbx.domain.jobs import JobSpec
from arbx.domain.market import TimeSpan
from arbx.entrypoints import runtime
from arbx.entrypoints.cli.main import main
from arbx.entrypoints.container import Container, build_container, resolve
from arbx.entrypoints.settings import Settings, load_settings
from arbx.ports.run_store import RunFailure
from tests.e2e.conftest import make_admin_key
from tests.support.postgres import PostgresTestDatabase

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
SPAN = {"start": datetime(2023, 3, 10, tzinfo=UTC), "end": datetime(2023, 3, 12, tzinfo=UTC)}
EVERYTHING = TimeSpan(datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def local_settings(folder: Path) -> Settings:
    return load_settings(
        profile="test", environ={}, overrides={"storage": {"data_dir": str(folder)}}
    )


async def opened(settings: Settings) -> Container:
    container = build_container(settings)
    await runtime.start(container)
    return container


async def populate(container: Container) -> list[str]:
    """Samples, an admin and a key (audit entries), a validated series, a job with a run, an
    SMA and an arbitrage backtest; returns the run ids."""
    from arbx.app.run_backtest import CLI_OPERATOR

    await (await resolve(container.load_samples)).execute(SAMPLES, only_if_empty=False)
    await make_admin_key(container)
    await (await resolve(container.validate_series)).execute(
        _key("kraken:BTC/USDC:1m"), None, cross_venue=True
    )
    create_job = await resolve(container.create_job)
    job = await create_job.execute(
        JobSpec(name="check-btc", kind="validate", series=["kraken:BTC/USD:1m"], interval_s=3600)
    )
    await (await resolve(container.run_job_now)).execute(job.id)
    run = await resolve(container.run_backtest)
    sma = await run.execute(
        BacktestRequest(strategy="sma_cross", series=["kraken:BTC/USD:1m"], **SPAN),
        actor=CLI_OPERATOR,
    )
    arb = await run.execute(
        BacktestRequest(
            strategy="threshold_arb",
            params={"threshold_bps": 20},
            series=["kraken:BTC/USDC:1m", "kraken:BTC/USD:1m"],
            conversions={"kraken:BTC/USDC:1m": "kraken:USDC/USD:1m"},
            **SPAN,
        ),
        actor=CLI_OPERATOR,
    )
    failure = RunFailure(
        id="failed-run-1",
        created_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        strategy="threshold_arb",
        bars=5000,
        error="the worker died while the run was computing",
        owner="someone",
    )
    await (await resolve(container.run_store)).record_failure(failure)
    await _study_and_alerts(container)
    await _catalog(container)
    await _market_data(container)
    return [sma.id, arb.id]


async def _market_data(container: Container) -> None:
    """Recorded trades (across a new year), quotes, L2 book updates of two venues, and a closed
    spread opportunity of the live monitor."""
    from arbx.domain.market import Symbol
    from arbx.domain.market.books import Quote, book_frame, quotes_frame
    from arbx.domain.market.trades import Trade, TradeKey, trades_frame
    from arbx.domain.orderbook.book import BookDiff, BookSnapshot
    from arbx.domain.streams.spreads import SpreadOpportunity

    stores = await resolve(container.stores)
    kraken = TradeKey("kraken", Symbol.parse("BTC/USD"))
    coinbase = TradeKey("coinbase", Symbol.parse("BTC/USD"))
    new_year_us = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)
    for key, offset in ((kraken, 0), (coinbase, 7)):
        trades = [
            Trade(key, f"t{i}", new_year_us + (i - 2) * 1_000_003 + offset, 0.1 + i / 3, 0.3, side)
            for i, side in enumerate(("buy", "sell", "buy", "sell"))
        ]
        assert await stores.trades.write(key, trades_frame(trades)) == 4
        quotes = [
            Quote(key, new_year_us + i * 250_001 + offset, 42000.1 + i / 7, 0.5, 42001.3, 1 / 3)
            for i in range(3)
        ]
        assert await stores.books.write_quotes(key, quotes_frame(quotes)) == 3
    updates = [
        BookSnapshot("kraken:BTC/USD", 10, [(42000.1, 1 / 3), (41999.9, 2.0)], [(42001.3, 0.7)]),
        BookDiff(
            "kraken:BTC/USD", 12, bids=[(41999.9, 0.0)], asks=[(42001.7, 0.1)], first_sequence=11
        ),
    ]
    frame = book_frame(updates, ts_us=[new_year_us - 1, new_year_us + 5])
    assert await stores.books.write_book(kraken, frame) == frame.height
    start_us = new_year_us + 123_457
    await stores.spreads.record(
        [
            SpreadOpportunity(
                id=f"BTC/USD:kraken:coinbase:{start_us}",
                pair="BTC/USD",
                buy="kraken:BTC/USD",
                sell="coinbase:BTC/USD",
                start_us=start_us,
                end_us=start_us + 2_500_001,
                peak_net_bps=12.345678901,
                mean_net_bps=1 / 3,
                peak_gross_bps=30.1,
                updates=4,
                reason="below_threshold",
            )
        ]
    )


async def _catalog(container: Container) -> None:
    """A strategy with three versions and a history: approved, superseded, rolled back,
    retired (every state field set on some version)."""
    from arbx.app.manage_catalog import StrategyInput
    from arbx.app.run_backtest import CLI_OPERATOR

    catalog = await resolve(container.strategy_catalog)
    name = "desk-sma"
    await catalog.create(
        name, StrategyInput(strategy="sma_cross", params={"fast": 5}), actor=CLI_OPERATOR
    )
    await catalog.edit(name, StrategyInput(params={"fast": 8}), actor=CLI_OPERATOR, why="slower")
    from arbx.app.walk_forward import decode_walk_forward

    walk_forward = await resolve(container.walk_forward)
    for number in (1, 2):
        await catalog.promote(name, number, "candidate", actor=CLI_OPERATOR)
        # approval takes a stored walk-forward of that very version
        body = {
            "optimization": {
                "backtest": {
                    "strategy": f"{name}@v{number}",
                    "series": ["kraken:BTC/USD:1m"],
                    **SPAN,
                },
                "space": {"slow": [40, 60]},
            },
            "train": 1200,
            "test": 600,
        }
        wf = await walk_forward.execute(decode_walk_forward(body), actor=CLI_OPERATOR, jobs=1)
        assert wf is not None
        await catalog.promote(
            name, number, "approved", actor=CLI_OPERATOR, walk_forward=wf.id
        )  # approving v2 sends v1 back to candidate
    await catalog.rollback(name, 1, actor=CLI_OPERATOR)
    await catalog.retire(name, 3, actor=CLI_OPERATOR, reason="not needed")
    await catalog.create("desk-hold", StrategyInput(strategy="buy_and_hold"), actor=CLI_OPERATOR)


async def _study_and_alerts(container: Container) -> None:
    """A finished grid study with its trials, an alert rule and one transition of it."""
    from arbx.app.optimize import decode_optimization
    from arbx.app.run_backtest import CLI_OPERATOR
    from arbx.domain.alerts.rules import (
        AlertRule,
        AlertTransition,
        RuleKind,
        RuleOrigin,
        Severity,
        TransitionState,
    )

    studies = await resolve(container.optimize_studies)
    request = decode_optimization(
        {
            "backtest": {"strategy": "sma_cross", "series": ["kraken:BTC/USD:1m"], **SPAN},
            "space": {"fast": [5, 10], "slow": [40, 60]},
        }
    )
    study = await studies.create(request, actor=CLI_OPERATOR)
    await studies.run(study.id, actor=CLI_OPERATOR, jobs=1)
    from arbx.app.walk_forward import decode_walk_forward

    walk_forward = await resolve(container.walk_forward)
    body = {"optimization": msgspec.to_builtins(request), "train": 1200, "test": 600}
    await walk_forward.execute(decode_walk_forward(body), actor=CLI_OPERATOR, jobs=1)
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    rule = AlertRule(
        id="rule-1",
        name="btc stale",
        kind=RuleKind.COLLECTOR_STALE,
        threshold=15.0,
        match=None,
        severity=Severity.WARNING,
        cooldown_s=300.0,
        channels=[],
        enabled=True,
        origin=RuleOrigin.API,
        created_at=at,
    )
    alerts = (await resolve(container.stores)).alerts
    await alerts.save_rule(rule)
    await alerts.record(
        AlertTransition(
            id="t-1",
            rule_id=rule.id,
            rule_name=rule.name,
            kind=rule.kind,
            severity=rule.severity,
            subject="kraken:BTC/USD:1m",
            state=TransitionState.FIRING,
            at=at,
            value=20.0,
            summary="no new bar for 20 minutes",
        )
    )


def _key(text: str) -> Any:
    from arbx.domain.market import SeriesKey

    return SeriesKey.parse(text)


def _frame(frame: pl.DataFrame) -> tuple[Any, ...]:
    """A frame as comparable values: schema and every value's exact bits."""
    return (dict(frame.schema), frame.hash_rows(seed=1).to_list(), frame.height)


async def everything(container: Container) -> dict[str, Any]:
    """What the stores hold, through their ports (what a backup must carry over)."""
    bars = await resolve(container.bar_store)
    quality = await resolve(container.quality_store)
    runs = await resolve(container.run_store)
    jobs = await resolve(container.job_store)
    users = await resolve(container.user_store)
    keys = await resolve(container.api_key_store)
    audit = await resolve(container.audit_log)
    stores = await resolve(container.stores)
    study_store, alert_store = stores.studies, stores.alerts
    series = await bars.list_series()
    stored_runs = [await runs.get(s.id) for s in await runs.list(limit=1000)]
    return {
        "series": series,
        "bars": {i.key: _frame(await bars.read(i.key, EVERYTHING)) for i in series},
        "issues": {k: await quality.issues(k, EVERYTHING) for k in await quality.series()},
        "gaps": {k: await quality.gaps(k, EVERYTHING) for k in await quality.series()},
        "runs": [(r.meta, {n: _frame(t) for n, t in r.tables.items()}) for r in stored_runs],
        "jobs": await jobs.list(),
        "job_runs": await jobs.list_runs(None, limit=1000),
        "users": [await users.credentials(u.username) for u in await users.list()],
        "keys": await keys.list(),
        "run_failures": await runs.failures(),
        "audit": await audit.query(AuditQuery(limit=1000)),
        "studies": [
            (st, await study_store.trials(st.id)) for st in await study_store.list(limit=1000)
        ],
        "walk_forwards": [
            (w, await stores.walk_forwards.folds(w.id))
            for w in await stores.walk_forwards.list(limit=1000)
        ],
        "alert_rules": await alert_store.list_rules(),
        "alert_history": await alert_store.history(limit=1000),
        "strategies": [
            (d, await stores.catalog.versions(d.id), await stores.catalog.history(d.id))
            for d in await stores.catalog.list()
        ],
        "trades": {
            k: _frame(await stores.trades.read(k, TimeSpan.everything()))
            for k in await stores.trades.keys()
        },
        "quotes": {
            k: _frame(await stores.books.read_quotes(k, TimeSpan.everything()))
            for k in await stores.books.quote_keys()
        },
        "books": {
            k: _frame(await stores.books.read_book(k, TimeSpan.everything()))
            for k in await stores.books.book_keys()
        },
        "spreads": await stores.spreads.history(limit=1000),
    }


async def assert_reruns_identical(container: Container, run_ids: list[str]) -> None:
    from arbx.app.run_backtest import CLI_OPERATOR

    runs = await resolve(container.run_store)
    run_backtest = await resolve(container.run_backtest)
    for run_id in run_ids:
        stored = await runs.get(run_id)
        again = await run_backtest.rerun(run_id, actor=CLI_OPERATOR)
        assert again.meta.rerun_of == run_id
        assert not again.meta.data_changed, again.meta.notes
        assert again.meta.metrics == stored.meta.metrics
        for name, table in stored.tables.items():
            assert _frame(again.tables[name]) == _frame(table), name


async def test_local_backup_restores_everything_and_reruns_bit_for_bit(tmp_path: Path) -> None:
    source = await opened(local_settings(tmp_path / "source"))
    try:
        run_ids = await populate(source)
        before = await everything(source)
        report = await (await resolve(source.create_backup)).execute(str(tmp_path / "backup"))
    finally:
        await runtime.stop(source)
    assert report.manifest.sections["runs"].files == 2 * 7  # meta + six tables per run
    assert report.manifest.sections["users"].records == 1
    assert report.manifest.sections["job_runs"].records == 1
    assert report.manifest.sections["run_failures"].records == 1
    assert report.manifest.sections["walk_forwards"].records == 3  # the study's, v1's, v2's
    assert report.manifest.sections["trades"] == SectionEntry(records=8, files=4)  # 2 years
    assert report.manifest.sections["quotes"] == SectionEntry(records=6, files=2)
    assert report.manifest.sections["books"] == SectionEntry(records=5, files=2)
    assert report.manifest.sections["spreads"].records == 1
    assert all(before[name] for name in ("trades", "quotes", "books", "spreads"))
    assert {n.split("/")[0] for n in report.manifest.files} == set(report.manifest.sections)
    target = await opened(local_settings(tmp_path / "target"))
    try:
        verified = await (await resolve(target.verify_backup)).execute(str(tmp_path / "backup"))
        assert verified == report.manifest
        restored = await (await resolve(target.restore_backup)).execute(str(tmp_path / "backup"))
        assert restored.restored == {k: v.records for k, v in report.manifest.sections.items()}
        assert await everything(target) == before
        await assert_reruns_identical(target, run_ids)
        # a store holding anything is refused, and keeps what it holds
        with pytest.raises(Conflict, match="not empty"):
            await (await resolve(target.restore_backup)).execute(str(tmp_path / "backup"))
    finally:
        await runtime.stop(target)


@pytest.fixture
def small_backup(tmp_path: Path) -> Path:
    """A backup of the samples alone, made through the CLI."""
    data = tmp_path / "small"
    assert cli(data, "data", "load-samples", "--dir", str(SAMPLES)) == 0
    assert cli(data, "backup", "create", "--to", str(tmp_path / "small-backup")) == 0
    return tmp_path / "small-backup"


def cli(data: Path, *args: str) -> int:
    return main(["--profile", "test", "--data-dir", str(data), *args])


def _stored_series(data: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert cli(data, "data", "list") == 0
    return capsys.readouterr().out


def test_cli_verify_and_restore(
    tmp_path: Path, small_backup: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert cli(tmp_path / "x", "backup", "verify", str(small_backup)) == 0
    assert "is intact: format 1" in capsys.readouterr().out
    assert cli(tmp_path / "restored", "backup", "restore", str(small_backup)) == 0
    assert "bars             13,256 records in 5 files, restored 13,256" in capsys.readouterr().out
    assert _stored_series(tmp_path / "restored", capsys) == _stored_series(
        tmp_path / "small", capsys
    )


def test_a_damaged_backup_restores_nothing(
    tmp_path: Path, small_backup: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = next((small_backup / "bars").rglob("*.parquet"))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    capsys.readouterr()
    assert cli(tmp_path / "target", "backup", "verify", str(small_backup)) == 2
    assert "checksum mismatch in bars/" in capsys.readouterr().err
    assert cli(tmp_path / "target", "backup", "restore", str(small_backup)) == 2
    assert "checksum mismatch" in capsys.readouterr().err
    assert "no series stored" in _stored_series(tmp_path / "target", capsys)


def test_bad_backups_and_targets_are_refused(
    tmp_path: Path, small_backup: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "small"
    # a restore into a store that holds something: refused, the store unchanged
    before = _stored_series(data, capsys)
    assert cli(data, "backup", "restore", str(small_backup)) == 1
    assert "the store is not empty (it holds bars, quality)" in capsys.readouterr().err
    assert _stored_series(data, capsys) == before
    # into a folder that holds something: refused, the folder untouched
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    capsys.readouterr()
    assert cli(data, "backup", "create", "--to", str(busy)) == 2
    assert "is not an empty directory" in capsys.readouterr().err
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]
    assert cli(data, "backup", "create", "--to", "gs://bucket/backup") == 2
    assert "not supported" in capsys.readouterr().err
    # not a backup; a file the manifest does not list; another format version; a lost file
    assert cli(data, "backup", "verify", str(tmp_path)) == 2
    assert "is not an arbx backup" in capsys.readouterr().err
    (small_backup / "users" / "extra.jsonl").write_text("")
    assert cli(data, "backup", "verify", str(small_backup)) == 2
    assert "does not list" in capsys.readouterr().err
    (small_backup / "users" / "extra.jsonl").unlink()
    manifest = small_backup / "manifest.json"
    original = manifest.read_bytes()
    head = json.loads(original)
    manifest.write_text(json.dumps({**head, "format_version": 99}))
    assert cli(data, "backup", "verify", str(small_backup)) == 2
    assert "format version 99 is not supported" in capsys.readouterr().err
    manifest.write_bytes(original)
    next((small_backup / "quality").rglob("gaps.jsonl")).unlink()
    assert cli(tmp_path / "target", "backup", "restore", str(small_backup)) == 2
    assert "lacks 1 file(s)" in capsys.readouterr().err
    assert "no series stored" in _stored_series(tmp_path / "target", capsys)
    assert cli(data, "backup", "restore", str(tmp_path / "small-backup-2")) == 2
    assert "is not an arbx backup" in capsys.readouterr().err


@pytest.mark.postgres
async def test_local_backup_restores_into_postgresql_and_back(
    tmp_path: Path, postgres_database: PostgresTestDatabase
) -> None:
    from tests.e2e.test_server_profile import server_settings

    source = await opened(local_settings(tmp_path / "source"))
    try:
        run_ids = await populate(source)
        before = await everything(source)
        await (await resolve(source.create_backup)).execute(str(tmp_path / "local-backup"))
    finally:
        await runtime.stop(source)

    schema = postgres_database.new_schema_name("arbx_backup")
    try:
        server = await opened(server_settings(tmp_path, postgres_database.url, schema))
        try:
            restore = await resolve(server.restore_backup)
            await restore.execute(str(tmp_path / "local-backup"))
            assert await everything(server) == before
            with pytest.raises(Conflict, match="not empty"):
                await restore.execute(str(tmp_path / "local-backup"))
            report = await (await resolve(server.create_backup)).execute(
                str(tmp_path / "server-backup")
            )
            assert report.manifest.profile == "server"
        finally:
            await runtime.stop(server)
    finally:
        postgres_database.drop_schema(schema)

    back = await opened(local_settings(tmp_path / "back"))
    try:
        await (await resolve(back.restore_backup)).execute(str(tmp_path / "server-backup"))
        assert await everything(back) == before
        await assert_reruns_identical(back, run_ids)
        with pytest.raises(InvalidInput, match="is not an arbx backup"):
            await (await resolve(back.verify_backup)).execute(str(tmp_path))
    finally:
        await runtime.stop(back)
