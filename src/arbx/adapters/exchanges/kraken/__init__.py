"""Kraken spot public REST (api.kraken.com/0/public)."""
