"""Binance spot public REST (api.binance.com, or a mirror such as api.binance.us)."""
