"""Where the SDK meets OpenTelemetry: the providers in force, and each client's view.

:class:`Hooks` (one for the process, made only when ``opentelemetry`` can be
imported) looks the global tracer and meter providers up at every hook, so
a provider set after the client was made is used, and keeps the tracer and
instruments of the providers last seen. While neither provider has been set
(the API's stand-ins are in force) every hook returns at once: the cost is
two look-ups of a module global per request.

:class:`Watched` is one client's side: its name and server, the attributes
of each path it sends to (computed once), and the receiver opt-in.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Protocol

import attrs
import httpx
from opentelemetry import metrics, trace

from decisiontelecom_async._telemetry import _names as n
from decisiontelecom_async._telemetry._metrics import Instruments
from decisiontelecom_async._telemetry._spans import Attempt, RunSpan, traced_message
from decisiontelecom_async._version import __version__

try:
    # The API's stand-in before a meter provider is set (no public name says
    # "unset" for metrics, as ProxyTracerProvider does for traces), and the
    # module holding the global, read directly (see Hooks.signals).
    import opentelemetry.metrics._internal as _metrics_globals
    from opentelemetry.metrics._internal import _ProxyMeterProvider as _UnsetMeters
except ImportError:  # pragma: no cover - a later API moved them: the public getters only
    _metrics_globals = None  # type: ignore[assignment]
    _UnsetMeters = type(None)  # type: ignore[assignment, misc]

# Whether the API's globals can be read as they are (1.27 to 1.45 at least).
_GLOBALS_READABLE = hasattr(trace, "_TRACER_PROVIDER") and hasattr(
    _metrics_globals, "_METER_PROVIDER"
)

if TYPE_CHECKING:
    from decisiontelecom_async._errors import DecisionTelecomError

__all__ = ["Hooks", "Observed", "Signals", "Target", "Watched"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


class Observed(Protocol):
    """What the gauges read from a client."""

    @property
    def is_closed(self) -> bool: ...
    @property
    def in_flight(self) -> int: ...
    @property
    def rate_limit(self) -> float | None: ...


@attrs.frozen
class Signals:
    """The tracer and instruments in force (either may be None: not configured)."""

    tracer: trace.Tracer | None
    instruments: Instruments | None


@attrs.frozen
class Target:
    """What the telemetry says of one path a client sends to."""

    url: str
    """The URL without query string, fragment or user info."""
    template: str
    """The path (the SDK's paths hold no identifiers)."""
    endpoint: str
    """The path below the base URL: ``send-viber``, ``send``."""


class Hooks:
    """The process's link to the global providers; see the module docstring."""

    def __init__(self) -> None:
        self._watched: dict[int, Watched] = {}
        self._tracer_provider: object = None
        self._meter_provider: object = None
        self._tracer: trace.Tracer | None = None
        self._instruments: Instruments | None = None
        self._signals: Signals | None = None
        # What the API's globals held when last resolved (not None: resolve at first).
        self._set_tracer_provider: object = self
        self._set_meter_provider: object = self

    def signals(self) -> Signals | None:
        """The tracer and instruments of the providers set now; None when neither is."""
        # The API's own globals, read as they are: its getters look the
        # environment up at every call, several times the cost of this check.
        if (
            _GLOBALS_READABLE
            and trace._TRACER_PROVIDER is self._set_tracer_provider  # noqa: SLF001
            and _metrics_globals._METER_PROVIDER is self._set_meter_provider  # noqa: SLF001
        ):
            return self._signals
        return self._resolve()

    def _resolve(self) -> Signals | None:
        if _GLOBALS_READABLE:
            self._set_tracer_provider = trace._TRACER_PROVIDER  # noqa: SLF001
            self._set_meter_provider = _metrics_globals._METER_PROVIDER  # noqa: SLF001
        # The getters: a provider named in the environment is loaded by them.
        tracer_provider = trace.get_tracer_provider()
        meter_provider = metrics.get_meter_provider()
        if tracer_provider is not self._tracer_provider:
            self._tracer_provider = tracer_provider
            self._tracer = (
                None
                if isinstance(tracer_provider, trace.ProxyTracerProvider)
                else tracer_provider.get_tracer(n.SCOPE, __version__)
            )
        if meter_provider is not self._meter_provider:
            self._meter_provider = meter_provider
            self._instruments = (
                None
                if isinstance(meter_provider, _UnsetMeters)
                else Instruments(meter_provider.get_meter(n.SCOPE, __version__), self.watched)
            )
        configured = self._tracer is not None or self._instruments is not None
        self._signals = Signals(self._tracer, self._instruments) if configured else None
        return self._signals

    def watched(self) -> Iterable[Watched]:
        """The clients alive now (a copy: the metric reader calls this from its thread)."""
        return list(self._watched.values())

    def watch(self, client: Observed, base_url: httpx.URL) -> Watched:
        """Start watching ``client`` (of ``base_url``) for the gauges; its view for the hooks."""
        key = id(client)
        watched = Watched(
            self,
            weakref.ref(client, lambda _: self._watched.pop(key, None)),
            type(client).__name__,
            base_url,
        )
        self._watched[key] = watched
        return watched


class Watched:
    """One client as its telemetry sees it; the hooks the client calls."""

    __slots__ = (
        "_base_path",
        "_hooks",
        "_targets",
        "address",
        "client",
        "name",
        "port",
        "receiver",
    )

    def __init__(
        self,
        hooks: Hooks,
        client: weakref.ref[Observed],
        name: str,
        base_url: httpx.URL,
    ) -> None:
        self._hooks = hooks
        self.client = client
        self.name = name
        self.address = base_url.host
        self.port = base_url.port or _DEFAULT_PORTS.get(base_url.scheme, 0)
        self._base_path = base_url.path.rstrip("/") + "/"
        self._targets: dict[str, Target] = {}
        # Read once, when the client is made: personal data goes out only if asked.
        self.receiver = os.environ.get(n.RECEIVER_ENV, "").strip().lower() in ("1", "true", "yes")

    def _target(self, url: httpx.URL) -> Target:
        path = url.path
        target = self._targets.get(path)
        if target is None:
            # Built from its parts: never the query (SMS credentials) nor user info.
            netloc = url.netloc.decode("ascii")
            endpoint = path.removeprefix(self._base_path)
            target = Target(f"{url.scheme}://{netloc}{path}", path, endpoint)
            if len(self._targets) < 16:  # noqa: PLR2004 - the SDK's few fixed paths
                self._targets[path] = target
        return target

    def attempt(
        self, request: httpx.Request, number: int, after: DecisionTelecomError | None
    ) -> Attempt | None:
        """An attempt leaves (retrying after ``after``); None when nothing is configured."""
        signals = self._hooks.signals()
        if signals is None:
            return None
        target = self._target(request.url)
        return Attempt(self, signals, target, request.method, number=number, after=after)

    def message(
        self,
        call: Awaitable[tuple[int, int]],
        request: httpx.Request,
        receiver: str | None,
        *,
        counted: bool,
    ) -> Awaitable[tuple[int, int]]:
        """``call`` (one message's send) under its span, counted if ``counted``."""
        signals = self._hooks.signals()
        if signals is None:
            return call
        target = self._target(request.url)
        return traced_message(call, self, signals, target, receiver, counted=counted)

    def run(self, name: str, *, writes: bool) -> RunSpan | None:
        """A bulk run begins (``writes``: it sends messages); None when nothing is configured."""
        signals = self._hooks.signals()
        if signals is None:
            return None
        return RunSpan(self, signals, name, writes=writes)
