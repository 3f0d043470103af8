"""The strategy catalog: stored strategy definitions, their immutable versions, and the
deployment workflow of each version.

A ``StrategyDefinition`` (a name, an owner) has versions 1, 2, 3...; each ``StrategyVersion``
is immutable: the strategy type with its source (built in, or a plugin with its code hash
and version), the typed parameters, the series and fees it is meant for, notes, who made it
and why (created, edited, rolled back to version N). The definition's ``current`` version is
the newest one. A version's deployment state moves through a guarded workflow, each change
recorded as a ``StateChange``:

    draft -> candidate -> approved -> retired       (and candidate -> draft,
                                                     approved -> candidate, any -> retired)

Approving needs a walk-forward result reference and, with four eyes, an approver other
than the version's author. Retired is final.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec

from arbx.domain.backtest.costs import FeeSchedule
from arbx.domain.errors import Conflict, Forbidden, InvalidInput

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


class DeployState(StrEnum):
    DRAFT = "draft"
    CANDIDATE = "candidate"
    APPROVED = "approved"
    RETIRED = "retired"


ALLOWED: dict[DeployState, frozenset[DeployState]] = {
    DeployState.DRAFT: frozenset({DeployState.CANDIDATE, DeployState.RETIRED}),
    DeployState.CANDIDATE: frozenset(
        {DeployState.DRAFT, DeployState.APPROVED, DeployState.RETIRED}
    ),
    DeployState.APPROVED: frozenset({DeployState.CANDIDATE, DeployState.RETIRED}),
    DeployState.RETIRED: frozenset(),
}


class RollbackRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """When an approved version's latest scheduled re-evaluation is bad enough to take it
    back: its Sharpe ratio below ``min_sharpe``, or its maximum drawdown (a fraction, 0.2 =
    20%) beyond ``max_drawdown``. None: that check is off."""

    min_sharpe: float | None = None
    max_drawdown: float | None = None

    def __post_init__(self) -> None:
        if self.max_drawdown is not None and not (0.0 < self.max_drawdown <= 1.0):
            raise InvalidInput(
                f"rollback.max_drawdown is a fraction in (0, 1], got {self.max_drawdown!r}",
                field="rollback.max_drawdown",
            )

    def breached(self, sharpe: float | None, max_drawdown: float | None) -> str | None:
        """Why the rule fires for a run with these metrics, or None."""
        if self.min_sharpe is not None and (sharpe is None or sharpe < self.min_sharpe):
            shown = "undefined" if sharpe is None else f"{sharpe:.3f}"
            return f"Sharpe {shown} below {self.min_sharpe}"
        if (
            self.max_drawdown is not None
            and max_drawdown is not None
            and abs(max_drawdown) > self.max_drawdown
        ):
            return f"max drawdown {abs(max_drawdown):.1%} beyond {self.max_drawdown:.1%}"
        return None


class StrategySpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What a version says: the strategy type and its parameters (effective, with
    defaults written in), the series and fee assumptions it is meant for, notes, and the
    automatic rollback rule that applies while it is approved."""

    strategy: str
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    series: list[str] = msgspec.field(default_factory=list)
    fees: dict[str, FeeSchedule] = msgspec.field(default_factory=dict)
    notes: str = ""
    rollback: RollbackRule | None = None


class StrategyVersion(msgspec.Struct, frozen=True, kw_only=True):
    """One immutable version. ``source``/``code_hash``/``code_version`` name the code that
    made it (a plugin's SHA-256 and declared version); ``change`` says why it exists;
    ``state`` is its deployment state (changed only through ``StateChange``s)."""

    definition_id: str
    number: int
    created_at: datetime
    author: str
    spec: StrategySpec
    kind: str
    source: str = "builtin"
    code_hash: str = ""
    code_version: str = ""
    change: str = "created"
    rollback_of: int | None = None
    state: DeployState = DeployState.DRAFT
    walk_forward: str | None = None
    approved_by: str | None = None

    @property
    def label(self) -> str:
        return f"v{self.number}"


class StrategyDefinition(msgspec.Struct, frozen=True, kw_only=True):
    """A named strategy in the catalog. ``current`` is its newest version's number."""

    id: str
    name: str
    owner: str
    created_at: datetime
    current: int = 1
    shared: bool = False


class StateChange(msgspec.Struct, frozen=True, kw_only=True):
    """One deployment-state change of a version (``actor`` made it; ``reason`` why, e.g.
    an automatic rollback rule that fired)."""

    definition_id: str
    number: int
    at: datetime
    actor: str
    before: DeployState
    after: DeployState
    reason: str = ""
    walk_forward: str | None = None


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise InvalidInput(
            f"strategy name {name!r} must be 1-80 letters, digits, '_', '.' or '-',"
            " starting with a letter or digit",
            field="name",
        )
    return name


def transition(
    version: StrategyVersion,
    after: DeployState,
    *,
    actor: str,
    walk_forward: str | None = None,
    four_eyes: bool = False,
) -> StrategyVersion:
    """``version`` in state ``after``, or the reason the workflow refuses it: ``Conflict``
    for a move it does not allow, ``InvalidInput`` for an approval without a walk-forward
    reference, ``Forbidden`` for an author approving their own version under four eyes."""
    before = version.state
    if after not in ALLOWED[before]:
        allowed = ", ".join(sorted(ALLOWED[before])) or "none (retired is final)"
        raise Conflict(
            f"{version.label} is {before}; it cannot become {after} (allowed: {allowed})"
        )
    ref = walk_forward if walk_forward is not None else version.walk_forward
    approved_by = version.approved_by
    if after == DeployState.APPROVED:
        if not ref or not ref.strip():
            raise InvalidInput(
                f"approving {version.label} needs a walk-forward result: give its reference"
                " (--walk-forward ID)",
                field="walk_forward",
            )
        if four_eyes and actor == version.author:
            raise Forbidden(
                f"four eyes: {version.label} was written by {actor}; another person approves it"
            )
        approved_by = actor
    return msgspec.structs.replace(version, state=after, walk_forward=ref, approved_by=approved_by)


class SpecChange(msgspec.Struct, frozen=True):
    """One difference between two versions: a dotted path and both values (None: absent)."""

    path: str
    before: Any
    after: Any


def diff_specs(a: StrategySpec, b: StrategySpec) -> list[SpecChange]:
    """Every field that differs between ``a`` and ``b``, by dotted path, sorted."""
    left = _flatten(msgspec.to_builtins(a))
    right = _flatten(msgspec.to_builtins(b))
    return [
        SpecChange(path, left.get(path), right.get(path))
        for path in sorted(set(left) | set(right))
        if left.get(path, _MISSING) != right.get(path, _MISSING)
    ]


_MISSING = object()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}
