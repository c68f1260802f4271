"""Metrics, structured logs, alerts and readiness."""
