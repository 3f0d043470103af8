"""Strategy plugins: Python files in folders and modules named by entry points.

Every module-level ``StrategyType`` (made with ``arbx.strategy``'s decorators) of a file in
a configured folder (``*.py``, not starting with ``_``) or of an ``arbx.strategies`` entry
point is registered as a plugin with its location, the SHA-256 of its source and its
version (the module's ``__version__``, or the installed distribution's). A plugin that
fails to import, defines no strategy, or takes a name already used is recorded with its
error (``plugin_failures``), and the others still load.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from arbx.domain.errors import ArbxError
from arbx.domain.strategies import (
    BUILTINS,
    StrategyType,
    clear_plugins,
    plugin_failures,
    record_plugin_failure,
    register_plugin,
)
from arbx.domain.strategies.plugin import as_plugin, set_time_limit

GROUP = "arbx.strategies"
_LAST_LOAD: tuple[tuple[str, ...], bool, str, float | None] | None = None


@dataclass
class PluginReport:
    """What one load found: the plugin types registered and the failures by location."""

    loaded: list[StrategyType] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)


def load_strategy_plugins(
    paths: Sequence[str | Path] = (),
    *,
    entry_points: bool = True,
    group: str = GROUP,
    time_limit_s: float | None = None,
) -> PluginReport:
    """Forget the plugins loaded before, then load those of ``paths`` and (with
    ``entry_points``) of the installed packages' ``group`` entry points. A missing folder
    holds no plugins (it is not an error)."""
    global _LAST_LOAD
    _LAST_LOAD = (tuple(str(p) for p in paths), entry_points, group, time_limit_s)
    clear_plugins()
    set_time_limit(time_limit_s)
    report = PluginReport()
    for folder in paths:
        base = Path(folder).expanduser()
        if not base.is_dir():
            continue
        for file in sorted(base.glob("*.py")):
            if not file.name.startswith("_"):
                _load_file(file.resolve(), report)
    if entry_points:
        for ep in importlib.metadata.entry_points(group=group):
            _load_entry_point(ep, report)
    report.failures = plugin_failures()
    return report


class PluginsOfThisProcess:
    """A worker initializer that loads the plugins this process has loaded when the worker
    starts (it is pickled then, so plugins loaded after the pool was made count too)."""

    def __call__(self) -> None:  # unpickled as the loader itself (see __reduce__)
        return None

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        if _LAST_LOAD is None:
            return (PluginsOfThisProcess, ())
        return (_LoadInWorker, _LAST_LOAD)


class _LoadInWorker:
    def __init__(
        self, paths: tuple[str, ...], entry_points: bool, group: str, limit: float | None
    ) -> None:
        self._args = (paths, entry_points, group, limit)

    def __call__(self) -> None:
        _load_quietly(*self._args)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (_LoadInWorker, self._args)


def _load_quietly(
    paths: tuple[str, ...], entry_points: bool, group: str, limit: float | None
) -> None:
    load_strategy_plugins(paths, entry_points=entry_points, group=group, time_limit_s=limit)


def _error(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()


def _load_file(file: Path, report: PluginReport) -> None:
    where = str(file)
    try:
        source = file.read_bytes()
    except OSError as exc:
        record_plugin_failure(where, f"cannot read: {exc}")
        return
    digest = hashlib.sha256(source).hexdigest()
    name = f"arbx_strategy_plugins.{file.stem}_{digest[:12]}"
    try:
        spec = importlib.util.spec_from_file_location(name, file)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pickling look modules up by name
        spec.loader.exec_module(module)
    except BaseException as exc:  # a plugin may raise anything at import, SystemExit too
        sys.modules.pop(name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        record_plugin_failure(where, f"failed to import: {_error(exc)}")
        return
    version = str(getattr(module, "__version__", ""))
    _register(where, _types_in(module), digest, version, report)


def _types_in(obj: Any) -> list[StrategyType]:
    if isinstance(obj, StrategyType):
        return [obj]
    if isinstance(obj, ModuleType):
        values: Iterable[Any] = vars(obj).values()
    elif isinstance(obj, list | tuple):
        values = obj
    else:
        return []
    found: dict[int, StrategyType] = {}
    for value in values:
        if isinstance(value, StrategyType) and BUILTINS.get(value.name) is not value:
            found[id(value)] = value
    return list(found.values())


def _register(
    where: str, types: list[StrategyType], digest: str, version: str, report: PluginReport
) -> None:
    if not types:
        record_plugin_failure(
            where,
            "defines no strategy: decorate a function or class with signal, event or"
            " arbitrage from arbx.strategy",
        )
        return
    for strategy in types:
        plugin = as_plugin(strategy, location=where, code_hash=digest, version=version)
        try:
            register_plugin(plugin)
        except ArbxError as exc:
            record_plugin_failure(f"{where}:{strategy.name}", exc.message)
            continue
        report.loaded.append(plugin)


def _load_entry_point(ep: importlib.metadata.EntryPoint, report: PluginReport) -> None:
    where = f"entry point {ep.name} = {ep.value}"
    try:
        obj = ep.load()
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        record_plugin_failure(where, f"failed to import: {_error(exc)}")
        return
    digest = ""
    module = inspect.getmodule(obj) if not isinstance(obj, ModuleType) else obj
    try:
        path = inspect.getsourcefile(module) if module is not None else None
        if path:
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except (OSError, TypeError):
        digest = ""
    version = ep.dist.version if ep.dist is not None else ""
    _register(where, _types_in(obj), digest, version, report)
