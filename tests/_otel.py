"""OpenTelemetry's global providers for a test, and back to unset after it.

The API lets a process set each global provider once; tests (and the docs
page's example) set their own, so the "set once" guard is reset between
them, as OpenTelemetry's own test utilities do.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

import attrs


def reset_globals() -> None:
    """Forget any global tracer and meter provider (no-op without opentelemetry)."""
    if "opentelemetry.trace" not in sys.modules:
        return  # never imported: nothing was set (and nothing is imported for it)
    try:
        import opentelemetry.metrics._internal as metrics_internal  # noqa: PLC0415
        from opentelemetry import trace  # noqa: PLC0415
        from opentelemetry.util._once import Once  # noqa: PLC0415
    except ImportError:
        return
    if trace._TRACER_PROVIDER is not None:
        shutdown = getattr(trace._TRACER_PROVIDER, "shutdown", None)
        if shutdown is not None:
            shutdown()
    if metrics_internal._METER_PROVIDER is not None:
        shutdown = getattr(metrics_internal._METER_PROVIDER, "shutdown", None)
        if shutdown is not None:
            shutdown()
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    metrics_internal._METER_PROVIDER_SET_ONCE = Once()
    metrics_internal._METER_PROVIDER = None


Key = frozenset[tuple[str, Any]]


@attrs.define
class Exported:
    """The in-memory span exporter and metric reader set as the global providers."""

    exporter: Any
    reader: Any

    def spans(self) -> list[Any]:
        return list(self.exporter.get_finished_spans())

    def metrics(self) -> dict[str, dict[Key, Any]]:
        """Each metric's points: counters' sums, histograms' counts, gauges' values."""
        found: dict[str, dict[Key, Any]] = {}
        data = self.reader.get_metrics_data()
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                assert scope.scope.name == "decisiontelecom_async"
                for metric in scope.metrics:
                    points = found.setdefault(metric.name, {})
                    for point in metric.data.data_points:
                        key = frozenset(dict(point.attributes).items())
                        points[key] = getattr(point, "count", None) or point.value
        return found

    def everything(self) -> str:
        """Every span and metric exported, as JSON: what a backend would receive."""
        texts = [span.to_json() for span in self.spans()]
        data = self.reader.get_metrics_data()
        if data is not None:
            texts.append(data.to_json())
        return "\n".join(texts)


@contextlib.contextmanager
def exported() -> Iterator[Exported]:
    """Set in-memory global providers for the block; unset them after."""
    from opentelemetry import metrics, trace  # noqa: PLC0415
    from opentelemetry.sdk.metrics import MeterProvider  # noqa: PLC0415
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: PLC0415
        InMemorySpanExporter,
    )

    reset_globals()
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    try:
        yield Exported(exporter, reader)
    finally:
        reset_globals()
