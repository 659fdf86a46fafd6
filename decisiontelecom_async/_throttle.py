"""The gate every request of a client passes before it is sent.

Two things hold requests back, both shared by every call on one client: a
pause after the service answers 429 (so the whole client waits out the
``Retry-After`` once, instead of every in-flight request hammering the
service on its own), and the optional requests-per-second ceiling, a leaky
bucket from aiolimiter.

A 429 also leaves a retry *owed*: the service gave the refused request a
turn, and a first attempt sent before that retry would spend it and earn the
retry another 429. So first attempts wait until every owed retry has gone
out (:meth:`Throttle.owe`, :meth:`Throttle.repay`); retries wait out the
pause only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiolimiter import AsyncLimiter

__all__ = ["OwedRetry", "Throttle"]

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
        self._owed = 0
        self._settled = asyncio.Event()
        self._settled.set()

    def _now(self) -> float:
        return self._clock()

    @property
    def paused_for(self) -> float:
        """Seconds until requests may flow again (0 when they may now)."""
        return max(0.0, self._resume_at - self._now())

    def pause(self, seconds: float) -> None:
        """Hold every request of the client back for ``seconds`` from now."""
        self._resume_at = max(self._resume_at, self._now() + seconds)

    @property
    def clear(self) -> bool:
        """Whether a first attempt may go out now: no pause, no retry owed."""
        return self._owed == 0 and self._now() >= self._resume_at

    def owe(self) -> None:
        """Note a request answered 429 whose retry has not gone out yet."""
        self._owed += 1
        self._settled.clear()

    def repay(self) -> None:
        """The owed retry went out (or will not be made)."""
        self._owed -= 1
        if self._owed == 0:
            self._settled.set()

    async def wait(self, *, retry: bool = False) -> None:
        """Wait until a request may be sent (the rate ceiling excepted: :meth:`acquire`).

        A first attempt also waits for every owed retry. During a pause every
        first attempt takes a place in line; when the pause ends they leave
        one by one, so the service is not hit by every held request at once
        (a thundering herd that would earn the next 429). Retries leave when
        the pause ends: the service promised each of them a turn by then.
        """
        while True:
            if not retry and self._owed:
                await self._settled.wait()
                continue
            now = self._now()
            if retry:
                if now >= self._resume_at:
                    return
                await self._sleep(self._resume_at - now)
                continue
            if now >= self._resume_at and now >= self._release_at:
                return
            place = max(self._resume_at, self._release_at)
            self._release_at = place + self._spacing
            await self._sleep(place - now)
            if self.clear:
                return

    async def acquire(self) -> None:
        """Wait for the rate ceiling, when there is one."""
        if self._limiter is not None:
            await self._limiter.acquire()


class OwedRetry:
    """One call's retry owed after a 429: owed once, repaid once."""

    def __init__(self, throttle: Throttle) -> None:
        self._throttle = throttle
        self._owed = False

    def owe(self) -> None:
        """Answered 429: owe the retry (a refusal before sending still owes the last)."""
        if not self._owed:
            self._owed = True
            self._throttle.owe()

    def repay(self) -> None:
        """The retry is on its way, or the call ends without it."""
        if self._owed:
            self._owed = False
            self._throttle.repay()
