"""Re-evaluating an approved catalog version on the newest data (the ``evaluate`` job).

``EvaluateStrategy.execute`` runs the definition's approved version (or a given one) over
the last ``days`` days up to the newest bar stored for its first series (a collect job keeps
it current), with its series, parameters and fees, stores the run
(which names the version, ``name@vN``), and applies the version's automatic rollback rule
to the run's metrics (``StrategyCatalog.evaluate_rule``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from arbx.app.manage_catalog import StrategyCatalog
from arbx.app.run_backtest import RunBacktest
from arbx.domain.auth import Permission, Principal, PrincipalKind, Resource, Role
from arbx.domain.auth.policy import require
from arbx.domain.backtest.request import BacktestRequest, decode_request
from arbx.domain.backtest.run import BacktestRun
from arbx.domain.catalog import DeployState, StrategyVersion
from arbx.domain.errors import Conflict, InvalidInput
from arbx.domain.jobs import JobDefinition
from arbx.domain.market import SeriesKey
from arbx.ports.bar_store import BarStore

log = logging.getLogger("arbx.catalog")


@dataclass(frozen=True)
class Evaluation:
    """A stored re-evaluation run and, when the rollback rule fired, why."""

    run: BacktestRun
    version: int
    rolled_back: str | None


class EvaluateStrategy:
    def __init__(self, catalog: StrategyCatalog, backtests: RunBacktest, bars: BarStore) -> None:
        self._catalog = catalog
        self._backtests = backtests
        self._bars = bars

    async def execute(
        self,
        name: str,
        *,
        actor: Principal,
        number: int | None = None,
        days: float = 30.0,
        bars: int | None = None,
    ) -> Evaluation:
        """Run version ``number`` (default: the approved one) over the last ``days`` days, or
        the last ``bars`` bars, up to the newest stored bar of its first series."""
        if not (0 < days <= 3660):
            raise InvalidInput("days must be in (0, 3660]", field="days")
        if bars is not None and bars < 1:
            raise InvalidInput("bars must be >= 1", field="bars")
        detail = await self._catalog.show(name, actor=actor)
        # a re-evaluation may roll the version back: it needs the right to change it
        definition = detail.definition
        require(
            actor,
            Permission.STRATEGIES_WRITE,
            Resource(owner_id=definition.owner, shared=definition.shared),
        )
        if number is None:
            version = detail.approved
            if version is None:
                raise Conflict(
                    f"{name} has no approved version to re-evaluate; give a version number"
                )
        else:
            _, version = await self._catalog.version(name, number, actor=actor)
        spec = version.spec
        if not spec.series:
            raise InvalidInput(
                f"{name} v{version.number} names no series to run on; add them in a new"
                " version (arbx strategies create/edit --series)",
                field="series",
            )
        first = SeriesKey.parse(spec.series[0])
        spans = await self._bars.coverage(first)
        if not spans:
            raise InvalidInput(
                f"no bars are stored for {first}; collect some first", field="series"
            )
        end = max(span.end for span in spans)
        window = first.timeframe.duration * bars if bars is not None else timedelta(days=days)
        run = await self._backtests.execute(
            _request(version, end - window, end),
            actor=actor,
            strategy_version=f"{name}@v{version.number}",
        )
        fired = None
        if version.state == DeployState.APPROVED:
            fired = await self._catalog.evaluate_rule(
                name,
                version.number,
                run_id=run.id,
                sharpe=run.meta.metrics.sharpe,
                max_drawdown=run.meta.metrics.max_drawdown,
                actor=actor,
            )
        return Evaluation(run, version.number, fired)

    async def run_version(
        self,
        name: str,
        *,
        actor: Principal,
        start: datetime,
        end: datetime,
        number: int | None = None,
    ) -> BacktestRun:
        """Backtest version ``number`` (default: the current one) of ``name`` over
        [start, end) with its series, parameters and fees; the stored run names it
        (``name@vN``). Reading the definition is enough (no state changes)."""
        _, version = await self._catalog.version(name, number, actor=actor)
        if not version.spec.series:
            raise InvalidInput(
                f"{name} v{version.number} names no series to run on", field="series"
            )
        return await self._backtests.execute(
            _request(version, start, end),
            actor=actor,
            strategy_version=f"{name}@v{version.number}",
        )


def _request(version: StrategyVersion, start: datetime, end: datetime) -> BacktestRequest:
    spec = version.spec
    request: BacktestRequest = decode_request(
        {
            "strategy": spec.strategy,
            "series": list(spec.series),
            "start": start,
            "end": end,
            "params": dict(spec.params),
            "fees": msgspec.to_builtins(spec.fees),
        }
    )
    return request


SCHEDULER = Principal(
    kind=PrincipalKind.USER, user_id="", username="scheduler", roles=frozenset({Role.ADMIN})
)
"""Who scheduled re-evaluations act as: the operator's own job (its runs have no owner)."""


class EvaluateWork:
    """The ``evaluate`` job kind: re-run the job's catalog strategy (its approved version)
    on the last ``lookback_bars`` bars stored; the run is stored, the rollback rule applied."""

    def __init__(self, evaluate: EvaluateStrategy) -> None:
        self._evaluate = evaluate

    async def __call__(self, job: JobDefinition) -> int:
        if job.strategy is None:
            raise InvalidInput(f"job {job.name} names no strategy", field="strategy")
        result = await self._evaluate.execute(job.strategy, actor=SCHEDULER, bars=job.lookback_bars)
        if result.rolled_back:
            log.warning("job %s: %s", job.name, result.rolled_back)
        else:
            log.info(
                "job %s: %s@v%d re-evaluated in run %s",
                job.name,
                job.strategy,
                result.version,
                result.run.id,
            )
        return 0
