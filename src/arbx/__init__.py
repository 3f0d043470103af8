"""arbx: market data and backtesting for crypto strategies.

The Python API (``arbx.open``, ``Workspace``, ``Backtest``, the ``ArbxError`` tree) is loaded
on first use, so ``import arbx`` stays cheap for the CLI::

    import arbx

    with arbx.open("./var") as ws:
        run = ws.backtest("sma_cross", "kraken:BTC/USD:1m", "2023-03-10", "2023-03-12")
        run.metrics
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from arbx.domain.errors import (
        ArbxError,
        Conflict,
        ExternalError,
        Forbidden,
        InvalidInput,
        NotFound,
    )
    from arbx.domain.market import SeriesKey
    from arbx.entrypoints.python_api import Backtest, Workspace
    from arbx.entrypoints.python_api import open_workspace as open

# name -> (module, attribute) of what ``import arbx`` offers, imported on first access
_LAZY: dict[str, tuple[str, str]] = {
    "open": ("arbx.entrypoints.python_api", "open_workspace"),
    "Workspace": ("arbx.entrypoints.python_api", "Workspace"),
    "Backtest": ("arbx.entrypoints.python_api", "Backtest"),
    "SeriesKey": ("arbx.domain.market", "SeriesKey"),
    "ArbxError": ("arbx.domain.errors", "ArbxError"),
    "InvalidInput": ("arbx.domain.errors", "InvalidInput"),
    "NotFound": ("arbx.domain.errors", "NotFound"),
    "Conflict": ("arbx.domain.errors", "Conflict"),
    "Forbidden": ("arbx.domain.errors", "Forbidden"),
    "ExternalError": ("arbx.domain.errors", "ExternalError"),
}

__all__ = [
    "ArbxError",
    "Backtest",
    "Conflict",
    "ExternalError",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "SeriesKey",
    "Workspace",
    "__version__",
    "open",
]


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'arbx' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
