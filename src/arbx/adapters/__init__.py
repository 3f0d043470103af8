"""Implementations of the ports: storage, exchanges, security, scheduling, telemetry."""
