"""The SDK's metric instruments, made on one meter, and the gauges' callbacks.

Counters and the duration histogram are recorded where a request or an
outcome ends (:mod:`._hooks`). The two observed values, the rate limit in
force and the requests in flight, are read from the open clients when the
reader collects (from its own thread: the registry is a dict whose
``values()`` copy is atomic under the GIL, not a set iterated while the
event loop adds to it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from decisiontelecom_async._telemetry import _names as n

if TYPE_CHECKING:
    from decisiontelecom_async._telemetry._hooks import Watched

__all__ = ["Instruments"]

Attributes = Mapping[str, str | int | float | bool]


class Instruments:
    """Every instrument of the SDK on ``meter``; ``watched()`` lists the clients to observe."""

    def __init__(self, meter: Meter, watched: Callable[[], Iterable[Watched]]) -> None:
        self._watched = watched
        self.duration = meter.create_histogram(
            n.REQUEST_DURATION,
            unit="s",
            description="Duration of HTTP client requests.",
            explicit_bucket_boundaries_advisory=list(n.DURATION_BUCKETS),
        )
        self.messages = meter.create_counter(
            n.MESSAGES,
            unit="{message}",
            description="Messages by the outcome the caller got.",
        )
        self.retries = meter.create_counter(
            n.RETRIES, unit="{retry}", description="Requests repeated, by the cause."
        )
        self.rate_limited = meter.create_counter(
            n.RATE_LIMITED,
            unit="{response}",
            description="Answers of status 429 (Too Many Requests).",
        )
        meter.create_observable_up_down_counter(
            n.ACTIVE_REQUESTS,
            callbacks=[self._observe_in_flight],
            unit="{request}",
            description="Number of active HTTP requests.",
        )
        meter.create_observable_gauge(
            n.RATE_LIMIT,
            callbacks=[self._observe_rate_limit],
            unit="{request}/s",
            description="The requests-per-second ceiling in force.",
        )

    def _open(self) -> Iterable[tuple[Watched, int, float | None]]:
        for watched in list(self._watched()):
            client = watched.client()
            if client is not None and not client.is_closed:
                yield watched, client.in_flight, client.rate_limit

    def _observe_in_flight(self, _options: CallbackOptions) -> Iterable[Observation]:
        # Clients alike (same class and server) are one series: their sum.
        totals: dict[tuple[str, str, int], int] = {}
        for watched, in_flight, _ in self._open():
            key = (watched.name, watched.address, watched.port)
            totals[key] = totals.get(key, 0) + in_flight
        return [
            Observation(value, {n.CLIENT: name, n.SERVER_ADDRESS: address, n.SERVER_PORT: port})
            for (name, address, port), value in totals.items()
        ]

    def _observe_rate_limit(self, _options: CallbackOptions) -> Iterable[Observation]:
        # Clients alike report the highest ceiling among them (a shared limit
        # reports the same one from each: a sum would count it many times).
        highest: dict[tuple[str, str], float] = {}
        for watched, _, rate in self._open():
            if rate is not None:
                key = (watched.name, watched.address)
                highest[key] = max(highest.get(key, 0.0), rate)
        return [
            Observation(rate, {n.CLIENT: name, n.SERVER_ADDRESS: address})
            for (name, address), rate in highest.items()
        ]
