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

_RAMP_SPACING = 0.005
"""Seconds between requests released after a 429 pause, without a rate ceiling."""


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
        # After a pause, the requests held back leave one every ``_spacing``
        # seconds (the ceiling's pace, else _RAMP_SPACING) instead of all at
        # the same instant; ``_release_at`` is the next free place in that line.
        self._spacing = 1.0 / rate_limit if rate_limit else _RAMP_SPACING
        self._release_at = 0.0

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
        """Wait until a request may be sent.

        During a pause every request takes a place in line; when the pause
        ends they leave one by one, so the service is not hit by every held
        request at once (a thundering herd that would earn the next 429).
        """
        while True:
            now = self._now()
            if now >= self._resume_at and now >= self._release_at:
                break
            place = max(self._resume_at, self._release_at)
            self._release_at = place + self._spacing
            await self._sleep(place - now)
            if self._now() >= self._resume_at:
                break
        if self._limiter is not None:
            await self._limiter.acquire()
