"""Tests of decisiontelecom_async._telemetry: what reaches an OpenTelemetry backend."""
