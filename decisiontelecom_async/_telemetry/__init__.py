"""OpenTelemetry traces and metrics of every request, message and run (the ``otel`` extra).

The SDK depends on the ``opentelemetry-api`` package only, and only when it
is installed: this module tries to import it once, and :data:`HOOKS` is
``None`` when it cannot. Every hook in the SDK is behind one check of a
client attribute set from it (``client._telemetry is None``), so without the
extra nothing under ``opentelemetry`` is imported and a request pays one
comparison. With the API installed but no provider set, each hook returns
after looking the two global providers up (:mod:`._hooks`). The SDK never
sets a provider or an exporter: that is the application's choice.

One concern a module:

* :mod:`._names`: every attribute and metric name (the semantic conventions'
  as string constants), outcomes and retry causes;
* :mod:`._spans`: the spans of a run, a message and an attempt, and the
  metrics recorded where they end;
* :mod:`._metrics`: the instruments on one meter, the gauges' callbacks;
* :mod:`._hooks`: the providers in force, and each client's view.

What is emitted, with every name, is in ``docs/observability.md``. Nothing
secret is: attributes are built from a request's method, host, port and
path (never its query, where the SMS API puts the password, nor headers);
exceptions are reduced to their class; the receiver (personal data) only
with ``DECISIONTELECOM_OTEL_RECORD_RECEIVER=1``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from decisiontelecom_async._telemetry._hooks import Hooks

__all__ = ["HOOKS"]

HOOKS: Hooks | None
"""The process's hooks, or None without ``opentelemetry-api``."""

try:
    import opentelemetry.metrics
    import opentelemetry.trace  # noqa: F401 - only whether it imports
except ImportError:
    HOOKS = None
else:
    from decisiontelecom_async._telemetry._hooks import Hooks

    HOOKS = Hooks()
