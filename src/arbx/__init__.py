"""arbx: market data and backtesting for crypto strategies."""

__version__ = "0.1.0"
