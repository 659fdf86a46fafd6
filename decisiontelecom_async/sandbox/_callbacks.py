"""POSTing status changes and 2-Way replies to ``callback_url``\\ s, with retries.

Deliveries wait in a heap ordered by when they are due, in simulated time. A
failed delivery (no connection, a timeout, any non-2xx answer) is tried again
after a doubling backoff, up to ``callback_attempts`` tries, then dropped and
counted. Nothing a receiver does can raise out of here: the sandbox keeps
serving whatever the receivers do.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
import httpx

from decisiontelecom_async.sandbox._app import SandboxStats
from decisiontelecom_async.sandbox._state import Event, EventKind

if TYPE_CHECKING:
    from decisiontelecom_async.sandbox._config import SandboxConfig

__all__ = ["CallbackOutbox", "DeliveredCallback"]

logger = logging.getLogger("decisiontelecom_async.sandbox")

_CONCURRENCY = 32


@attrs.frozen
class DeliveredCallback:
    """One callback the sandbox POSTed (or gave up on), for inspection in tests."""

    url: str
    """The ``callback_url`` it went to."""
    body: dict[str, Any]
    """The JSON body: a status (receipt fields) or a 2-Way reply."""
    kind: str
    """``"status"`` or ``"reply"``."""
    message_id: int
    """The Viber message it is about."""
    attempts: int
    """How many POSTs were made."""
    delivered: bool
    """Whether a POST got a 2xx answer."""


@attrs.define
class _Delivery:
    event: Event
    attempts: int = 0


class CallbackOutbox:
    """Due-ordered callback deliveries with bounded, backed-off retries."""

    def __init__(
        self,
        config: SandboxConfig,
        *,
        client_factory: Callable[[], httpx.AsyncClient],
        stats: SandboxStats,
    ) -> None:
        self._client_factory = client_factory
        self._client: httpx.AsyncClient | None = None
        self._config = config
        self._heap: list[tuple[float, int, _Delivery]] = []
        self._seq = itertools.count()
        self._stats = stats
        self.history: collections.deque[DeliveredCallback] = collections.deque(
            maxlen=config.callback_history
        )

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, event: Event) -> None:
        """Queue ``event`` for delivery at its own time."""
        heapq.heappush(self._heap, (event.when, next(self._seq), _Delivery(event)))

    def next_due(self) -> float | None:
        """When the next delivery is due (None: nothing queued)."""
        return self._heap[0][0] if self._heap else None

    async def deliver_due(self, now: float) -> int:
        """Try every delivery due by ``now`` once; return how many got through.

        Deliveries about the same message go one after another, in order, so a
        receiver sees ``sent`` before ``delivered``; different messages go
        concurrently.
        """
        groups: dict[int, list[_Delivery]] = {}
        while self._heap and self._heap[0][0] <= now:
            _, _, delivery = heapq.heappop(self._heap)
            groups.setdefault(delivery.event.message_id, []).append(delivery)
        if not groups:
            return 0
        limit = asyncio.Semaphore(_CONCURRENCY)
        delivered = 0

        async def run(deliveries: list[_Delivery]) -> None:
            nonlocal delivered
            async with limit:
                for delivery in deliveries:
                    delivered += await self._attempt(delivery, now)

        async with asyncio.TaskGroup() as group:
            for deliveries in groups.values():
                group.create_task(run(deliveries))
        return delivered

    async def _attempt(self, delivery: _Delivery, now: float) -> bool:
        event = delivery.event
        delivery.attempts += 1
        try:
            if self._client is None:
                self._client = self._client_factory()
            response = await self._client.post(event.url, json=event.body)
            ok = response.is_success
            problem = f"HTTP {response.status_code}"
        except Exception as exc:  # noqa: BLE001 - a receiver must never crash the sandbox
            ok = False
            problem = type(exc).__name__
        if ok:
            self._stats.callbacks_delivered += 1
            if event.kind is EventKind.REPLY:
                self._stats.replies_delivered += 1
            self._record(delivery, delivered=True)
            return True
        self._stats.callback_failures += 1
        if delivery.attempts >= self._config.callback_attempts:
            self._stats.callbacks_abandoned += 1
            logger.warning(
                "sandbox: gave up on a %s callback for message %d to %s after %d attempts (%s)",
                event.kind.value,
                event.message_id,
                event.url,
                delivery.attempts,
                problem,
            )
            self._record(delivery, delivered=False)
            return False
        wait = self._config.callback_backoff * 2 ** (delivery.attempts - 1)
        logger.debug(
            "sandbox: %s callback to %s failed (%s); retrying in %.2fs",
            event.kind.value,
            event.url,
            problem,
            wait,
        )
        heapq.heappush(self._heap, (now + wait, next(self._seq), delivery))
        return False

    def _record(self, delivery: _Delivery, *, delivered: bool) -> None:
        event = delivery.event
        self.history.append(
            DeliveredCallback(
                url=event.url,
                body=event.body,
                kind=event.kind.value,
                message_id=event.message_id,
                attempts=delivery.attempts,
                delivered=delivered,
            )
        )

    async def aclose(self) -> None:
        """Close the HTTP client (deliveries still queued stay queued)."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
