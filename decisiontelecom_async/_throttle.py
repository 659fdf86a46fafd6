"""The gate every request of a client passes before it is sent.

Two things hold requests back, both shared by every call on one client: a
pause after the service answers 429 (so the whole client waits out the
``Retry-After`` once, instead of every in-flight request hammering the
service on its own), and the optional requests-per-second ceiling, a leaky
bucket from aiolimiter.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiolimiter import AsyncLimiter

__all__ = ["Throttle"]


class Throttle:
    """Shared 429 pause plus an optional rate ceiling."""

    def __init__(
        self,
        rate_limit: float | None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_limit is not None and not rate_limit > 0:
            msg = f"rate_limit must be a positive number of requests per second, got {rate_limit!r}"
            raise ValueError(msg)
        self.rate_limit = rate_limit
        # A bucket of about a tenth of a second's worth keeps the flow smooth
        # instead of letting a whole second's quota out in one burst.
        burst = max(1.0, rate_limit / 10) if rate_limit else 1.0
        self._limiter = AsyncLimiter(burst, burst / rate_limit) if rate_limit else None
        self._sleep = sleep
        self._clock = clock
        self._resume_at = 0.0

    def _now(self) -> float:
        return self._clock()

    @property
    def paused_for(self) -> float:
        """Seconds until requests may flow again (0 when they may now)."""
        return max(0.0, self._resume_at - self._now())

    def pause(self, seconds: float) -> None:
        """Hold every request of the client back for ``seconds`` from now."""
        self._resume_at = max(self._resume_at, self._now() + seconds)

    async def wait(self) -> None:
        """Wait until a request may be sent."""
        while (delay := self._resume_at - self._now()) > 0:
            await self._sleep(delay)
        if self._limiter is not None:
            await self._limiter.acquire()
