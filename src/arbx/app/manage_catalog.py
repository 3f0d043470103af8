"""The strategy catalog: create, version, compare, roll back and deploy stored strategies.

Authorization: reading needs ``strategies:read`` on the definition (own or shared; every
definition with ``strategies:write_any``); changing needs ``strategies:write`` and ownership
(analysts manage their own, admins everybody's). Every change, and every refusal, is
written to the audit trail (``strategies.*`` actions, target ``strategy:<name>``).

Versions are immutable: ``edit`` and ``rollback`` add a version (a rollback says which
version it restores). Deployment states follow ``domain.catalog.transition``; approving a
version moves the definition's previously approved version back to candidate ("superseded
by vN"), so one version is approved at a time. ``evaluate_rule`` applies an approved
version's automatic rollback rule to its latest re-evaluation run: when it fires, the
version goes back to candidate and the version it superseded is approved again, recorded in
the state history and the audit trail (``strategies.auto_rollback``).

Bad input (unknown strategy type, parameters outside their ranges, a plugin that failed to
load, a version that does not exist, a move the workflow does not allow) raises before
anything is stored.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from arbx.app.authorize import AuditTrail
from arbx.domain.auth import AuditOutcome, Permission, Principal, Resource
from arbx.domain.auth.policy import decide
from arbx.domain.backtest.costs import FeeSchedule
from arbx.domain.catalog import (
    DeployState,
    RollbackRule,
    SpecChange,
    StateChange,
    StrategyDefinition,
    StrategySpec,
    StrategyVersion,
    check_name,
    diff_specs,
    transition,
)
from arbx.domain.errors import ArbxError, Forbidden, InvalidInput, NotFound
from arbx.domain.market import SeriesKey
from arbx.domain.strategies import StrategyType, get_strategy, parse_params
from arbx.ports.catalog_store import CatalogStore
from arbx.ports.clock import Clock
from arbx.ports.walk_forward_store import WalkForwardStore


class StrategyInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A strategy definition as a user writes it (``create``) or the fields an ``edit``
    changes (None: keep the current version's)."""

    strategy: str | None = None
    params: dict[str, Any] | None = None
    series: list[str] | None = None
    fees: dict[str, FeeSchedule] | None = None
    notes: str | None = None
    rollback: RollbackRule | None = None


@dataclass(frozen=True)
class StrategyDetail:
    """A definition with its versions (oldest first) and its state history."""

    definition: StrategyDefinition
    versions: list[StrategyVersion]
    history: list[StateChange]

    @property
    def current(self) -> StrategyVersion:
        return self.versions[-1]

    @property
    def approved(self) -> StrategyVersion | None:
        found = [v for v in self.versions if v.state == DeployState.APPROVED]
        return found[-1] if found else None


def effective_spec(given: StrategyInput) -> tuple[StrategySpec, StrategyType]:
    """Validate ``given`` into a spec with every parameter written in (defaults too)."""
    if not given.strategy:
        raise InvalidInput("give the strategy type, e.g. sma_cross", field="strategy")
    strategy = get_strategy(given.strategy)
    params = parse_params(strategy, given.params or {})
    series = given.series or []
    keys = [SeriesKey.parse(text) for text in series]
    if len(set(keys)) != len(keys):
        raise InvalidInput("a series is listed twice", field="series")
    if keys and not (strategy.min_series <= len(keys) <= strategy.max_series):
        raise InvalidInput(
            f"strategy {strategy.name} takes {strategy.min_series}..{strategy.max_series}"
            f" series, got {len(keys)}",
            field="series",
        )
    try:
        fees = msgspec.convert(
            msgspec.to_builtins(given.fees or {}), dict[str, FeeSchedule], strict=False
        )
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"invalid fees: {exc}", field="fees") from None
    notes = given.notes or ""
    if len(notes) > 4000:
        raise InvalidInput("notes are at most 4000 characters", field="notes")
    spec = StrategySpec(
        strategy=strategy.name,
        params=msgspec.to_builtins(params),
        series=[str(k) for k in keys],
        fees=fees,
        notes=notes,
        rollback=given.rollback,
    )
    return spec, strategy


def _author(actor: Principal) -> str:
    return actor.user_id or actor.username


class StrategyCatalog:
    def __init__(
        self,
        store: CatalogStore,
        audit: AuditTrail,
        clock: Clock,
        *,
        four_eyes: bool = False,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        walk_forwards: WalkForwardStore | None = None,
    ) -> None:
        self._walk_forwards = walk_forwards
        self._store = store
        self._audit = audit
        self._clock = clock
        self._four_eyes = four_eyes
        self._new_id = new_id

    # -- authorization and audit -------------------------------------------------------

    async def _allow(
        self,
        actor: Principal,
        permission: Permission,
        action: str,
        name: str,
        definition: StrategyDefinition | None = None,
    ) -> None:
        resource = (
            None
            if definition is None
            else Resource(owner_id=definition.owner, shared=definition.shared)
        )
        decision = decide(actor, permission, resource)
        if not decision.allowed:
            await self._audit.record(
                actor.actor,
                action,
                AuditOutcome.DENIED,
                target=f"strategy:{name}",
                detail=decision.reason,
            )
            raise Forbidden(f"not allowed: {decision.reason}")

    async def _done(self, actor: Principal, action: str, name: str, detail: str) -> None:
        await self._audit.record(
            actor.actor, action, AuditOutcome.SUCCESS, target=f"strategy:{name}", detail=detail
        )

    async def _writable(self, name: str, actor: Principal, action: str) -> StrategyDefinition:
        await self._allow(actor, Permission.STRATEGIES_WRITE, action, name)
        found = await self._store.find(name)
        await self._allow(actor, Permission.STRATEGIES_WRITE, action, name, found)
        return found

    # -- the records -------------------------------------------------------------------

    async def create(
        self, name: str, given: StrategyInput, *, actor: Principal, shared: bool = True
    ) -> StrategyDetail:
        """A new definition with version 1 (draft). ``shared``: readable by every holder of
        ``strategies:read`` (viewers, reviewers); else by its owner and admins only."""
        check_name(name)
        await self._allow(actor, Permission.STRATEGIES_WRITE, "strategies.create", name)
        spec, strategy = effective_spec(given)
        definition = StrategyDefinition(
            id=self._new_id(),
            name=name,
            owner=actor.user_id,
            created_at=self._clock.now(),
            shared=shared,
        )
        first = self._version(definition.id, 1, actor, spec, strategy, "created")
        await self._store.create(definition, first)
        await self._done(actor, "strategies.create", name, f"v1 {spec.strategy}")
        return StrategyDetail(definition, [first], [])

    def _version(
        self,
        definition_id: str,
        number: int,
        actor: Principal,
        spec: StrategySpec,
        strategy: StrategyType,
        change: str,
        rollback_of: int | None = None,
    ) -> StrategyVersion:
        origin = strategy.origin
        return StrategyVersion(
            definition_id=definition_id,
            number=number,
            created_at=self._clock.now(),
            author=_author(actor),
            spec=spec,
            kind=strategy.kind,
            source=origin.source,
            code_hash=origin.code_hash,
            code_version=origin.version,
            change=change,
            rollback_of=rollback_of,
        )

    async def edit(
        self, name: str, changes: StrategyInput, *, actor: Principal, why: str = ""
    ) -> StrategyVersion:
        """A new version: the current one with ``changes`` (params given are merged over
        the current ones; another strategy type starts from its defaults). Nothing changed
        is refused."""
        found = await self._writable(name, actor, "strategies.version")
        current = await self._store.version(found.id, found.current)
        old = current.spec
        same_type = changes.strategy in (None, old.strategy)
        params = dict(old.params) if same_type else {}
        params.update(changes.params or {})
        merged = StrategyInput(
            strategy=changes.strategy or old.strategy,
            params=params,
            series=changes.series if changes.series is not None else old.series,
            fees=changes.fees if changes.fees is not None else old.fees,
            notes=changes.notes if changes.notes is not None else old.notes,
            rollback=changes.rollback if changes.rollback is not None else old.rollback,
        )
        spec, strategy = effective_spec(merged)
        if spec == old and strategy.origin.code_hash == current.code_hash:
            raise InvalidInput(
                f"nothing changed: {name} v{current.number} already says that", field="changes"
            )
        change = why.strip() or "edited"
        version = self._version(found.id, found.current + 1, actor, spec, strategy, change)
        await self._store.add_version(version)
        await self._done(actor, "strategies.version", name, f"v{version.number}: {change}")
        return version

    async def rollback(self, name: str, to: int, *, actor: Principal) -> StrategyVersion:
        """A new version with the spec of version ``to`` (it says so); the code must still
        load (its type is checked as for a new version)."""
        found = await self._writable(name, actor, "strategies.rollback")
        try:
            target = await self._store.version(found.id, to)
        except NotFound:
            raise InvalidInput(
                f"{name} has no version {to} to roll back to; it has versions 1..{found.current}",
                field="to",
            ) from None
        if to == found.current:
            raise InvalidInput(f"v{to} is the current version of {name} already", field="to")
        spec, strategy = effective_spec(
            StrategyInput(
                strategy=target.spec.strategy,
                params=target.spec.params,
                series=target.spec.series,
                fees=target.spec.fees,
                notes=target.spec.notes,
                rollback=target.spec.rollback,
            )
        )
        version = self._version(
            found.id, found.current + 1, actor, spec, strategy, f"rollback to v{to}", rollback_of=to
        )
        await self._store.add_version(version)
        await self._done(actor, "strategies.rollback", name, f"v{version.number} = v{to}")
        return version

    async def list(self, *, actor: Principal) -> builtins.list[StrategyDefinition]:
        await self._allow(actor, Permission.STRATEGIES_READ, "strategies.list", "*")
        every = actor.has(Permission.STRATEGIES_WRITE_ANY)
        return await self._store.list(readable_by=None if every else actor.user_id)

    async def show(self, name: str, *, actor: Principal) -> StrategyDetail:
        await self._allow(actor, Permission.STRATEGIES_READ, "strategies.read", name)
        found = await self._store.find(name)
        await self._allow(actor, Permission.STRATEGIES_READ, "strategies.read", name, found)
        return StrategyDetail(
            found, await self._store.versions(found.id), await self._store.history(found.id)
        )

    async def version(
        self, name: str, number: int | None, *, actor: Principal
    ) -> tuple[StrategyDefinition, StrategyVersion]:
        detail = await self.show(name, actor=actor)
        return detail.definition, _pick(detail, number)

    async def diff(
        self, name: str, a: int, b: int, *, actor: Principal
    ) -> builtins.list[SpecChange]:
        detail = await self.show(name, actor=actor)
        return diff_specs(_pick(detail, a).spec, _pick(detail, b).spec)

    # -- deployment ---------------------------------------------------------------------

    async def promote(
        self,
        name: str,
        number: int,
        to: DeployState | str,
        *,
        actor: Principal,
        walk_forward: str | None = None,
        reason: str = "",
    ) -> StrategyVersion:
        """Move version ``number`` to state ``to`` (the workflow's rules apply)."""
        try:
            after = DeployState(to)
        except ValueError:
            raise InvalidInput(
                f"state {to!r} does not exist; use one of "
                + ", ".join(s.value for s in DeployState),
                field="state",
            ) from None
        found = await self._writable(name, actor, "strategies.state")
        detail = StrategyDetail(found, await self._store.versions(found.id), [])
        version = _pick(detail, number)
        try:
            if walk_forward is not None or after == DeployState.APPROVED:
                await self._check_walk_forward(name, version, walk_forward or version.walk_forward)
            moved = transition(
                version,
                after,
                actor=_author(actor),
                walk_forward=walk_forward,
                four_eyes=self._four_eyes,
            )
        except ArbxError as exc:
            await self._audit.record(
                actor.actor,
                "strategies.state",
                AuditOutcome.DENIED if isinstance(exc, Forbidden) else AuditOutcome.FAILURE,
                target=f"strategy:{name}",
                detail=exc.message[:200],
            )
            raise
        if after == DeployState.APPROVED:
            for other in detail.versions:
                if other.state == DeployState.APPROVED and other.number != number:
                    await self._move(
                        other, DeployState.CANDIDATE, actor, f"superseded by v{number}"
                    )
        await self._apply(version, moved, actor, reason, walk_forward)
        await self._done(actor, "strategies.state", name, f"v{number} {version.state} -> {after}")
        return moved

    async def _check_walk_forward(
        self, name: str, version: StrategyVersion, ref: str | None
    ) -> None:
        """A walk-forward reference names a stored, finished walk-forward of this very
        version (``InvalidInput`` says which part is wrong)."""
        if ref is None or self._walk_forwards is None:
            return  # none given: the workflow's own rule asks for one
        label = f"{name}@v{version.number}"
        try:
            wf = await self._walk_forwards.get(ref)
        except NotFound:
            raise InvalidInput(
                f"walk-forward {ref!r} does not exist; run one on {label}"
                f" (arbx optimize walk-forward --strategy {label} ...) and give its id",
                field="walk_forward",
            ) from None
        if wf.strategy_version != label:
            ran = wf.strategy_version or f"the strategy type {wf.strategy} (not a catalog version)"
            raise InvalidInput(
                f"walk-forward {ref} was run on {ran}, not on {label}", field="walk_forward"
            )
        if wf.status != "done":
            raise InvalidInput(
                f"walk-forward {ref} is {wf.status}; give a finished one", field="walk_forward"
            )

    async def retire(
        self, name: str, number: int, *, actor: Principal, reason: str = ""
    ) -> StrategyVersion:
        return await self.promote(name, number, DeployState.RETIRED, actor=actor, reason=reason)

    async def _move(
        self, version: StrategyVersion, after: DeployState, actor: Principal, reason: str
    ) -> StrategyVersion:
        moved = msgspec.structs.replace(version, state=after)
        await self._apply(version, moved, actor, reason, None)
        return moved

    async def _apply(
        self,
        before: StrategyVersion,
        after: StrategyVersion,
        actor: Principal,
        reason: str,
        walk_forward: str | None,
    ) -> None:
        change = StateChange(
            definition_id=before.definition_id,
            number=before.number,
            at=self._clock.now(),
            actor=_author(actor),
            before=before.state,
            after=after.state,
            reason=reason,
            walk_forward=walk_forward,
        )
        await self._store.set_state(after, change)

    async def evaluate_rule(
        self,
        name: str,
        number: int,
        *,
        run_id: str,
        sharpe: float | None,
        max_drawdown: float | None,
        actor: Principal,
    ) -> str | None:
        """Apply version ``number``'s rollback rule to a re-evaluation run's metrics. When
        it fires (and the version is still approved): the version goes back to candidate,
        the version it superseded is approved again, and the reason is returned (recorded
        in the state history and the audit trail as ``strategies.auto_rollback``)."""
        found = await self._store.find(name)
        versions = await self._store.versions(found.id)
        detail = StrategyDetail(found, versions, await self._store.history(found.id))
        version = _pick(detail, number)
        rule = version.spec.rollback
        if rule is None or version.state != DeployState.APPROVED:
            return None
        why = rule.breached(sharpe, max_drawdown)
        if why is None:
            return None
        reason = f"automatic rollback: {why} in re-evaluation run {run_id}"
        await self._move(version, DeployState.CANDIDATE, actor, reason)
        restored = _superseded_by(detail, number)
        if restored is not None:
            await self._move(
                restored, DeployState.APPROVED, actor, f"restored by the rollback of v{number}"
            )
            reason += f"; v{restored.number} approved again"
        await self._audit.record(
            actor.actor,
            "strategies.auto_rollback",
            AuditOutcome.SUCCESS,
            target=f"strategy:{name}",
            detail=reason[:500],
        )
        return reason


def _pick(detail: StrategyDetail, number: int | None) -> StrategyVersion:
    if number is None:
        return detail.current
    for version in detail.versions:
        if version.number == number:
            return version
    raise NotFound(
        f"{detail.definition.name} has no version {number};"
        f" it has versions 1..{detail.definition.current}"
    )


def _superseded_by(detail: StrategyDetail, number: int) -> StrategyVersion | None:
    """The version that ``number``'s approval moved back to candidate (the newest such one
    still a candidate), if any."""
    mark = f"superseded by v{number}"
    for change in reversed(detail.history):
        if change.reason == mark:
            version = next(v for v in detail.versions if v.number == change.number)
            if version.state == DeployState.CANDIDATE and version.walk_forward:
                return version
    return None
