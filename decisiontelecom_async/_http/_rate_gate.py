"""The seam between the throttle and whatever decides the request rate.

:class:`Throttle` asks a :class:`RateGate` for leave before each request and
tells it how the service answered. Three gates: a fixed ceiling
(:class:`FixedRate`, aiolimiter's leaky bucket), a rate learned from the
service's answers (:class:`~._adaptive_rate.AdaptiveRate`), and a gate
shared through Redis by many processes (``RedisRateLimit``, which keeps its
rate, fixed or learned, in Redis and implements this same protocol).

A gate shared beyond the client also implements :class:`SharedGate`: it
learns which account it limits (its default key comes from it), takes the
client's 429 pause to share it with every other process, and is released
when the client closes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from aiolimiter import AsyncLimiter

__all__ = ["FixedRate", "RateGate", "SharedGate"]


@runtime_checkable
class RateGate(Protocol):
    """What the throttle needs from a rate: leave to send, and the answers' news."""

    @property
    def rate(self) -> float | None:
        """Requests per second in force now (None: no ceiling)."""
        ...

    async def acquire(self) -> float:
        """Wait for leave to send one request; return when it was given (gate's clock)."""
        ...

    def on_success(self) -> None:
        """The service answered a request, and not with 429."""
        ...

    def on_429(self, retry_after: float | None, sent_at: float) -> None:
        """The service answered 429 to the request let go at ``sent_at``."""
        ...


@runtime_checkable
class SharedGate(Protocol):
    """What a gate shared by many clients and processes needs besides :class:`RateGate`."""

    def bind(self, account: str, on_pause: Callable[[float], None]) -> None:
        """A client of ``account`` (base URL and account id; secret) uses the gate.

        ``on_pause(seconds)`` tells the client of a pause another client
        shared; the gate's :meth:`acquire` then returns without leave, and
        the client waits the pause out (or refuses one too long) itself.
        """
        ...

    def share_pause(self, seconds: float) -> None:
        """The service asked for a pause of ``seconds`` from now: hold every user back."""
        ...

    async def release(self, on_pause: Callable[[float], None]) -> None:
        """The client that :meth:`bind` announced with ``on_pause`` has closed."""
        ...


class FixedRate:
    """A fixed ceiling of ``rate`` requests per second: a smooth leaky bucket."""

    def __init__(self, rate: float, clock: Callable[[], float]) -> None:
        self._rate = rate
        self._clock = clock
        # A bucket of about a tenth of a second's worth keeps the flow smooth
        # instead of letting a whole second's quota out in one burst.
        burst = max(1.0, rate / 10)
        self._limiter = AsyncLimiter(burst, burst / rate)

    @property
    def rate(self) -> float:
        """The ceiling, requests per second."""
        return self._rate

    async def acquire(self) -> float:
        """Wait for room in the bucket."""
        await self._limiter.acquire()
        return self._clock()

    def on_success(self) -> None:
        """A fixed ceiling learns nothing from answers."""

    def on_429(self, retry_after: float | None, sent_at: float) -> None:
        """A fixed ceiling learns nothing from answers (the throttle pauses)."""
