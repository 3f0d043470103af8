"""The strategy catalog over HTTP, under ``/api/v1/strategies/catalog``.

Stored strategy definitions with immutable versions: create, list, show, add a version
(``/versions``), compare two versions (``/diff``), roll back (``/rollback``: a new version
restoring an old one), change a version's deployment state (``/versions/{n}/state``:
draft, candidate, approved with a walk-forward reference, retired) and re-evaluate one on the
newest data (``/evaluate``; the run is stored and names ``name@vN``). ``GET
/api/v1/strategies`` (the strategy types, plugins included) stays where it is.

Reading needs ``strategies:read`` (own or shared definitions; viewers read shared ones),
changing ``strategies:write`` and ownership (``strategies:write_any``: anybody's),
re-evaluating ``backtests:run`` too. Bad input is a 4xx naming what is wrong, with nothing
stored; every change is in the audit log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from arbx.app.evaluate_strategy import EvaluateStrategy
from arbx.app.manage_catalog import StrategyCatalog, StrategyDetail, StrategyInput
from arbx.domain.auth import Permission, Principal
from arbx.domain.backtest.costs import FeeSchedule
from arbx.domain.catalog import (
    RollbackRule,
    SpecChange,
    StateChange,
    StrategyDefinition,
    StrategyVersion,
)
from arbx.domain.errors import InvalidInput
from arbx.domain.market.timespan import parse_instant
from arbx.entrypoints.http.security import requires

READ = requires(Permission.STRATEGIES_READ)
WRITE = requires(Permission.STRATEGIES_WRITE)
Name = FromPath[str]


class CreateIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: str
    strategy: str
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    series: list[str] = msgspec.field(default_factory=list)
    fees: dict[str, FeeSchedule] = msgspec.field(default_factory=dict)
    notes: str = ""
    rollback: RollbackRule | None = None
    shared: bool = True


class VersionIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Fields left out keep the current version's; ``params`` are merged over its params."""

    strategy: str | None = None
    params: dict[str, Any] | None = None
    series: list[str] | None = None
    fees: dict[str, FeeSchedule] | None = None
    notes: str | None = None
    rollback: RollbackRule | None = None
    why: str = ""


class RollbackIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    to: int


class StateIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    state: str
    walk_forward: str | None = None
    reason: str = ""


class RunIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``start``/``end``: ISO-8601 (a date alone too) or epoch milliseconds, UTC."""

    start: str
    end: str
    version: int | None = None


class RunOut(msgspec.Struct):
    run_id: str
    strategy_version: str
    run_url: str


class EvaluateIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    version: int | None = None
    days: float = 30.0


class DetailOut(msgspec.Struct):
    definition: StrategyDefinition
    versions: list[StrategyVersion]
    history: list[StateChange]


class ListOut(msgspec.Struct):
    count: int
    strategies: list[StrategyDefinition]


class DiffOut(msgspec.Struct):
    name: str
    a: int
    b: int
    changes: list[SpecChange]


class EvaluationOut(msgspec.Struct):
    run_id: str
    strategy_version: str
    created_at: datetime
    sharpe: float | None
    max_drawdown: float | None
    rolled_back: str | None


def _version_number(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise InvalidInput(f"version {text!r} is not a version number (1, 2, ...)", field="number")
    return int(text)


def _detail(detail: StrategyDetail) -> DetailOut:
    return DetailOut(detail.definition, detail.versions, detail.history)


@get("/", summary="Stored strategy definitions the caller may read", guards=[READ])
async def list_catalog(
    strategy_catalog: NamedDependency[StrategyCatalog], principal: NamedDependency[Principal]
) -> ListOut:
    found = await strategy_catalog.list(actor=principal)
    return ListOut(len(found), found)


@post(
    "/",
    summary="Store a new strategy definition (version 1, draft)",
    status_code=201,
    guards=[WRITE],
)
async def create_definition(
    data: JSONBody[CreateIn],
    strategy_catalog: NamedDependency[StrategyCatalog],
    principal: NamedDependency[Principal],
) -> DetailOut:
    given = StrategyInput(
        strategy=data.strategy,
        params=data.params,
        series=data.series,
        fees=data.fees,
        notes=data.notes,
        rollback=data.rollback,
    )
    detail = await strategy_catalog.create(data.name, given, actor=principal, shared=data.shared)
    return _detail(detail)


@get("/{name:str}", summary="A definition, its versions and state history", guards=[READ])
async def show_definition(
    name: Name,
    strategy_catalog: NamedDependency[StrategyCatalog],
    principal: NamedDependency[Principal],
) -> DetailOut:
    return _detail(await strategy_catalog.show(name, actor=principal))


@post(
    "/{name:str}/versions",
    summary="Add a version: the current one with the fields given changed",
    status_code=201,
    guards=[WRITE],
)
async def add_version(
    name: Name,
    data: JSONBody[VersionIn],
    strategy_catalog: NamedDependency[StrategyCatalog],
    principal: NamedDependency[Principal],
) -> StrategyVersion:
    changes = StrategyInput(
        strategy=data.strategy,
        params=data.params,
        series=data.series,
        fees=data.fees,
        notes=data.notes,
        rollback=data.rollback,
    )
    return await strategy_catalog.edit(name, changes, actor=principal, why=data.why)


@get("/{name:str}/diff", summary="What differs between two versions", guards=[READ])
async def diff_versions(
    name: Name,
    a: Annotated[int, QueryParameter(ge=1)],
    b: Annotated[int, QueryParameter(ge=1)],
    strategy_catalog: NamedDependency[StrategyCatalog],
    principal: NamedDependency[Principal],
) -> DiffOut:
    return DiffOut(name, a, b, await strategy_catalog.diff(name, a, b, actor=principal))


@post(
    "/{name:str}/rollback",
    summary="Make an old version current again (as a new version that says so)",
    status_code=201,
    guards=[WRITE],
)
async def rollback_definition(
    name: Name,
    data: JSONBody[RollbackIn],
    strategy_catalog: NamedDependency[StrategyCatalog],
    principal: NamedDependency[Principal],
) -> StrategyVersion:
    return await strategy_catalog.rollback(name, data.to, actor=principal)


@post(
    "/{name:str}/versions/{number:str}/state",
    summary="Change a version's deployment state (draft, candidate, approved, retired)",
    description=(
        "draft -> candidate -> approved -> retired; candidate -> draft, approved -> candidate,"
        " any -> retired. Approving needs `walk_forward` (the walk-forward result's reference)"
        " and, with `catalog.four_eyes`, an approver other than the author; it moves the"
        " previously approved version back to candidate. 409 for a move the workflow does"
        " not allow."
    ),
    status_code=200,
    guards=[WRITE],
)
async def change_state(
    name: Name,
    number: FromPath[str],
    data: JSONBody[StateIn],
    strategy_catalog: NamedDependency[StrategyCatalog],
    principal: NamedDependency[Principal],
) -> StrategyVersion:
    return await strategy_catalog.promote(
        name,
        _version_number(number),
        data.state,
        actor=principal,
        walk_forward=data.walk_forward,
        reason=data.reason,
    )


@post(
    "/{name:str}/evaluate",
    summary="Re-run the approved version (or another) on the newest data; apply its rule",
    status_code=201,
    guards=[requires(Permission.BACKTESTS_RUN)],
)
async def evaluate_definition(
    name: Name,
    data: JSONBody[EvaluateIn],
    evaluate_strategy: NamedDependency[EvaluateStrategy],
    principal: NamedDependency[Principal],
) -> EvaluationOut:
    result = await evaluate_strategy.execute(
        name, actor=principal, number=data.version, days=data.days
    )
    meta = result.run.meta
    return EvaluationOut(
        run_id=result.run.id,
        strategy_version=meta.strategy_version or f"{name}@v{result.version}",
        created_at=meta.created_at,
        sharpe=meta.metrics.sharpe,
        max_drawdown=meta.metrics.max_drawdown,
        rolled_back=result.rolled_back,
    )


@post(
    "/{name:str}/runs",
    summary="Backtest a stored version over a span; the stored run names it (name@vN)",
    status_code=201,
    guards=[requires(Permission.BACKTESTS_RUN)],
)
async def run_definition(
    name: Name,
    data: JSONBody[RunIn],
    evaluate_strategy: NamedDependency[EvaluateStrategy],
    principal: NamedDependency[Principal],
) -> RunOut:
    run = await evaluate_strategy.run_version(
        name,
        actor=principal,
        number=data.version,
        start=parse_instant(data.start, field="start"),
        end=parse_instant(data.end, field="end"),
    )
    return RunOut(run.id, run.meta.strategy_version or name, f"/api/v1/backtests/{run.id}")


ROUTES = [
    run_definition,
    list_catalog,
    create_definition,
    show_definition,
    add_version,
    diff_versions,
    rollback_definition,
    change_state,
    evaluate_definition,
]
