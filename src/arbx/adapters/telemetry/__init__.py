"""Telemetry adapters: OpenTelemetry (spans, metrics, Prometheus text, OTLP) and none."""
