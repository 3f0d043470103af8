"""Loading the strategy plugins of the settings, once per process (CLI and server)."""

from __future__ import annotations

import logging

from arbx.adapters.plugins.strategy_loader import PluginReport, load_strategy_plugins
from arbx.entrypoints.settings import Settings

log = logging.getLogger("arbx.plugins")


def load_plugins(settings: Settings, *, server: bool = False) -> PluginReport | None:
    """Load ``[strategies]`` plugins; in the server only with ``load_in_server`` (None when
    not loaded). Failures are logged and remembered with their error (a request for such a
    strategy says why it is missing)."""
    config = settings.strategies
    if server and not config.load_in_server:
        return None
    report = load_strategy_plugins(
        config.folders,
        entry_points=config.entry_points,
        time_limit_s=config.time_limit_s or None,
    )
    for where, error in report.failures.items():
        log.warning("strategy plugin %s: %s", where, error.splitlines()[0] if error else "")
    return report
