"""Writing strategy plugins for tests: a folder of plugin files, loaded and forgotten."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from arbx.adapters.plugins.strategy_loader import PluginReport, load_strategy_plugins
from arbx.domain.strategies import clear_plugins

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "strategies"


def write_plugin(folder: Path, name: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


@contextmanager
def plugins(*folders: Path) -> Iterator[PluginReport]:
    """Load the plugins of ``folders`` (no entry points); forget them afterwards."""
    try:
        yield load_strategy_plugins(list(folders), entry_points=False)
    finally:
        clear_plugins()
