"""Observability: OpenTelemetry GenAI spans (tracing), Prometheus metrics, span export, the
pipeline's telemetry hooks, structured logs and the secret scrubbing every output goes through."""
