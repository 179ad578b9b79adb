"""Telemetry: structured logs, Prometheus metrics and optional OpenTelemetry traces."""
