"""Live market data rules: the live spread monitor (``spreads``)."""
