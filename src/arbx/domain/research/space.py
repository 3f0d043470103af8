"""Parameter spaces derived from a strategy's typed parameters.

A user names ranges for some parameters; every other parameter keeps its default. A
dimension is one of:

- a range ``{"low": 5, "high": 50, "step": 5}`` (int or float, inclusive bounds; ``step``
  gives a grid; without it a grid needs ``"count"`` points, evenly or, with
  ``"log": true``, geometrically spaced);
- choices ``{"choices": ["cross", "state"]}`` (or a JSON list);
- a fixed value (a scalar).

The parameter's type and bounds come from the params struct (``msgspec.inspect``: int,
float, bool, ``Literal`` choices, ``Meta(ge=..., le=...)``); a value the struct would refuse
is refused here, naming ``space.<param>``, before any work. Combinations the strategy's own
rules refuse (``fast >= slow``) are dropped from a grid and counted, never run.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

import msgspec
import msgspec.inspect as mi
import numpy as np

from arbx.domain.errors import InvalidInput
from arbx.domain.strategies import StrategyType, parse_params

Kind = Literal["int", "float", "bool", "choice"]
DEFAULT_MAX_TRIALS = 10_000


class Dimension(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One searched parameter (plain data: stored with the study, JSON as it is)."""

    name: str
    kind: Kind
    low: float | None = None
    high: float | None = None
    step: float | None = None
    count: int | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def size(self) -> int:
        """How many grid values (without making them): huge ranges give huge numbers."""
        if self.choices:
            return len(self.choices)
        assert self.low is not None
        assert self.high is not None
        if self.step is not None:
            n = (self.high - self.low) / self.step + 1e-9
            return math.floor(n) + 1 if math.isfinite(n) and n < 1e15 else 10**15
        if self.count is not None:
            return self.count
        raise InvalidInput(
            f"{self.name}: a grid needs a step or a count for the range"
            f" {self.low:g}..{self.high:g} (e.g. {self.name}={self.low:g}:{self.high:g}:STEP)",
            field=f"space.{self.name}",
        )

    def grid(self) -> list[Any]:
        """The grid values of this dimension, in order (check ``size`` first)."""
        if self.choices:
            return list(self.choices)
        assert self.low is not None
        assert self.high is not None
        low, high = self.low, self.high
        if self.step is not None:
            n = math.floor((high - low) / self.step + 1e-9) + 1
            values = [low + i * self.step for i in range(n)]
        elif self.count is not None:
            if self.count == 1:
                values = [low]
            elif self.log:
                values = list(np.geomspace(low, high, self.count))
            else:
                values = list(np.linspace(low, high, self.count))
        else:
            raise InvalidInput(
                f"{self.name}: a grid needs a step or a count for the range {low:g}..{high:g}",
                field=f"space.{self.name}",
            )
        return self._typed(values)

    def _typed(self, values: Sequence[float]) -> list[Any]:
        if self.kind == "int":
            return list(dict.fromkeys(round(v) for v in values))
        return [float(round(v, 12)) for v in values]

    def sample(self, rng: np.random.Generator) -> Any:
        """One value drawn uniformly (log-uniformly with ``log``; on the step grid with a
        step)."""
        if self.choices:
            return self.choices[int(rng.integers(len(self.choices)))]
        assert self.low is not None
        assert self.high is not None
        if self.step is not None:
            k = int(rng.integers(self.size()))
            value = self.low + k * self.step
            return round(value) if self.kind == "int" else float(round(value, 12))
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        if self.kind == "int":
            return int(min(max(round(value), self.low), self.high))
        return float(value)


class SearchSpace(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The searched dimensions and the fixed parameters of one strategy."""

    strategy: str
    dimensions: tuple[Dimension, ...]
    fixed: dict[str, Any] = msgspec.field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    def grid_size(self) -> int:
        return math.prod(d.size() for d in self.dimensions)

    def params_of(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {**self.fixed, **values}


class Grid(msgspec.Struct, frozen=True):
    """The valid points of a grid, in order, and how many the strategy's rules refused."""

    points: list[dict[str, Any]]
    refused: int
    first_refusal: str | None = None


def _field_info(strategy: StrategyType) -> dict[str, mi.Field]:
    info = mi.type_info(strategy.params)
    assert isinstance(info, mi.StructType)
    return {f.name: f for f in info.fields}


def _unwrap(t: mi.Type) -> mi.Type:
    if isinstance(t, mi.UnionType):  # Optional[int]: search the non-None member
        members = [m for m in t.types if not isinstance(m, mi.NoneType)]
        if len(members) == 1:
            return members[0]
    return t


def _bounds(t: mi.IntType | mi.FloatType) -> tuple[float, float]:
    low = -math.inf
    high = math.inf
    if t.ge is not None:
        low = float(t.ge)
    if t.gt is not None:
        low = math.nextafter(float(t.gt), math.inf) if isinstance(t, mi.FloatType) else t.gt + 1
    if t.le is not None:
        high = float(t.le)
    if t.lt is not None:
        high = math.nextafter(float(t.lt), -math.inf) if isinstance(t, mi.FloatType) else t.lt - 1
    return low, high


def _number(value: Any, name: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInput(f"{name}: {what} must be a number, got {value!r}", field=f"space.{name}")
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput(
            f"{name}: {what} must be a number, got {value!r}", field=f"space.{name}"
        ) from None
    if not math.isfinite(number):
        raise InvalidInput(f"{name}: {what} must be finite", field=f"space.{name}")
    return number


def _dimension(name: str, spec: Any, t: mi.Type) -> Dimension | Any:
    """A ``Dimension`` for ``spec`` or, for a scalar, the fixed value itself."""
    field = f"space.{name}"
    if isinstance(spec, list | tuple):
        spec = {"choices": list(spec)}
    if not isinstance(spec, dict):
        return spec  # a fixed value: the params struct checks it
    known = {"low", "high", "step", "count", "log", "choices"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise InvalidInput(
            f"{name}: unknown key {unknown[0]!r} in the range; use low, high, step, count, log"
            " or choices",
            field=field,
        )
    if "choices" in spec:
        choices = spec["choices"]
        if set(spec) != {"choices"}:
            raise InvalidInput(f"{name}: give choices alone, without a range", field=field)
        if not isinstance(choices, list | tuple) or not choices:
            raise InvalidInput(f"{name}: choices must be a non-empty list", field=field)
        if not all(c is None or isinstance(c, str | int | float | bool) for c in choices):
            raise InvalidInput(f"{name}: choices are plain values (text, numbers)", field=field)
        if isinstance(t, mi.LiteralType):
            allowed = set(t.values)
            for c in choices:
                if c not in allowed:
                    raise InvalidInput(
                        f"{name}: {c!r} is not one of {', '.join(map(repr, t.values))}",
                        field=field,
                    )
        kind: Kind = "bool" if isinstance(t, mi.BoolType) else "choice"
        return Dimension(name=name, kind=kind, choices=tuple(dict.fromkeys(choices)))
    if isinstance(t, mi.LiteralType):
        raise InvalidInput(
            f"{name} takes one of {', '.join(map(repr, t.values))}: give choices, not a range",
            field=field,
        )
    if not isinstance(t, mi.IntType | mi.FloatType):
        raise InvalidInput(f"{name} is not numeric: give choices or a fixed value", field=field)
    if "low" not in spec or "high" not in spec:
        raise InvalidInput(f"{name}: a range needs low and high", field=field)
    low = _number(spec["low"], name, "low")
    high = _number(spec["high"], name, "high")
    if low > high:
        raise InvalidInput(
            f"{name}: the range is inverted (low {low:g} > high {high:g})", field=field
        )
    kind = "int" if isinstance(t, mi.IntType) else "float"
    if kind == "int" and (low != int(low) or high != int(high)):
        raise InvalidInput(f"{name} is an integer: low and high must be whole", field=field)
    lo_ok, hi_ok = _bounds(t)
    if low < lo_ok or high > hi_ok:
        raise InvalidInput(
            f"{name}: the range {low:g}..{high:g} leaves the parameter's bounds"
            f" {lo_ok:g}..{hi_ok:g}",
            field=field,
        )
    step = None if spec.get("step") is None else _number(spec["step"], name, "step")
    if step is not None and step <= 0:
        raise InvalidInput(f"{name}: step must be > 0, got {step:g}", field=field)
    if step is not None and kind == "int" and step != int(step):
        raise InvalidInput(f"{name} is an integer: step must be whole", field=field)
    count = spec.get("count")
    if count is not None and (
        isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10**9
    ):
        raise InvalidInput(f"{name}: count must be a whole number, 1..1e9", field=field)
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise InvalidInput(f"{name}: log must be true or false", field=field)
    if log and low <= 0:
        raise InvalidInput(f"{name}: a log scale needs low > 0, got {low:g}", field=field)
    if log and step is not None:
        raise InvalidInput(f"{name}: a log scale takes a count, not a step", field=field)
    return Dimension(name=name, kind=kind, low=low, high=high, step=step, count=count, log=log)


def parse_space(strategy: StrategyType, raw: Mapping[str, Any]) -> SearchSpace:
    """Validate a user's space against ``strategy``'s params; ``InvalidInput`` names
    ``space.<param>`` (unknown parameter, empty or inverted range, values out of bounds)."""
    if not isinstance(raw, Mapping):
        raise InvalidInput("the search space is an object of parameter -> range", field="space")
    fields = _field_info(strategy)
    dims: list[Dimension] = []
    fixed: dict[str, Any] = {}
    for name, spec in raw.items():
        if name not in fields:
            raise InvalidInput(
                f"unknown parameter {name!r} for strategy {strategy.name};"
                f" known: {', '.join(sorted(fields)) or 'none'}",
                field=f"space.{name}",
            )
        found = _dimension(name, spec, _unwrap(fields[name].type))
        if isinstance(found, Dimension):
            dims.append(found)
        else:
            fixed[name] = found
    if not dims:
        raise InvalidInput(
            f"the search space is empty: give a range or choices for at least one of"
            f" {', '.join(sorted(fields)) or '(no parameters)'}",
            field="space",
        )
    space = SearchSpace(strategy.name, tuple(dims), fixed)
    for dim in dims:
        for value in _edge_values(dim):
            _check_value(strategy, space, dim, value)
    for name, value in fixed.items():  # a fixed value is a dimension of one choice
        _check_value(strategy, space, Dimension(name=name, kind="choice", choices=(value,)), value)
    return space


def _edge_values(dim: Dimension) -> list[Any]:
    if dim.choices:
        return list(dim.choices)
    assert dim.low is not None
    assert dim.high is not None
    cast = int if dim.kind == "int" else float
    return [cast(dim.low), cast(dim.high)]


def _check_value(strategy: StrategyType, space: SearchSpace, dim: Dimension, value: Any) -> None:
    """Refuse a bound or choice of ``dim`` that the strategy rejects whatever the other
    dimensions are (tried at their bounds): a type error, a ``Meta`` bound, a rule on the
    parameter alone (``window >= 2``)."""
    others = [_edge_values(d) for d in space.dimensions if d.name != dim.name]
    names = [d.name for d in space.dimensions if d.name != dim.name]
    error: InvalidInput | None = None
    for combo in itertools.product(*others):
        params = space.params_of({**dict(zip(names, combo, strict=True)), dim.name: value})
        try:
            parse_params(strategy, params)
            return
        except InvalidInput as exc:
            if exc.field not in (f"params.{dim.name}", "params"):
                return  # another parameter's rule: a grid drops such points
            error = error or exc
    if error is not None:
        raise InvalidInput(
            f"{dim.name}: {value!r} is refused by {strategy.name}: {error.message}",
            field=f"space.{dim.name}",
        )


def iter_grid(space: SearchSpace) -> Iterator[dict[str, Any]]:
    values = [d.grid() for d in space.dimensions]
    for combo in itertools.product(*values):
        yield dict(zip(space.names, combo, strict=True))


def grid_points(
    strategy: StrategyType, space: SearchSpace, max_trials: int = DEFAULT_MAX_TRIALS
) -> Grid:
    """Every valid combination of the space (grid order); ``InvalidInput`` with the count
    when the grid has more than ``max_trials`` points or none the strategy accepts."""
    size = space.grid_size()
    if size > max_trials:
        sizes = " x ".join(f"{d.size():,} {d.name}" for d in space.dimensions)
        raise InvalidInput(
            f"the grid has {size:,} points ({sizes}), more than optimize.max_trials"
            f" ({max_trials:,}); use larger steps, fewer choices, or random/bayes search",
            field="space",
        )
    points: list[dict[str, Any]] = []
    refused = 0
    first: str | None = None
    for values in iter_grid(space):
        try:
            parse_params(strategy, space.params_of(values))
        except InvalidInput as exc:
            refused += 1
            first = first or exc.message
            continue
        points.append(values)
    if not points:
        raise InvalidInput(
            f"no point of the grid is valid for {strategy.name} ({refused:,} refused; first:"
            f" {first})",
            field="space",
        )
    return Grid(points, refused, first)


def sample_point(
    strategy: StrategyType, space: SearchSpace, rng: np.random.Generator, attempts: int = 1000
) -> dict[str, Any]:
    """A random valid point (redrawn while the strategy's rules refuse it)."""
    last = ""
    for _ in range(attempts):
        values = {d.name: d.sample(rng) for d in space.dimensions}
        try:
            parse_params(strategy, space.params_of(values))
        except InvalidInput as exc:
            last = exc.message
            continue
        return values
    raise InvalidInput(
        f"{attempts} random draws of the space were all refused by {strategy.name}: {last}",
        field="space",
    )
