"""In-memory adapters for tests and for use-case code that needs no persistence."""
