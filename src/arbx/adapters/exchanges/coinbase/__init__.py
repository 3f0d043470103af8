"""Coinbase Exchange public REST (api.exchange.coinbase.com)."""
