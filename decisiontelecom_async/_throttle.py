"""The gate every request of a client passes before it is sent.

Two things hold requests back, both shared by every call on one client: a
pause after the service answers 429 (so the whole client waits out the
``Retry-After`` once, instead of every in-flight request hammering the
service on its own), and the optional rate gate (``_rate_gate.py``): a fixed
requests-per-second ceiling, or a rate learned from the answers
(``rate_limit="auto"``, ``_adaptive_rate.py``).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from decisiontelecom_async._adaptive_rate import AdaptiveRate
from decisiontelecom_async._rate_gate import FixedRate, RateGate

__all__ = ["RateLimit", "Throttle"]

RateLimit = float | Literal["auto"] | RateGate | None
"""What ``rate_limit=`` takes: a ceiling, ``"auto"``, a shared gate, or None."""

_RAMP_SPACING = 0.005
"""Seconds between requests released after a 429 pause, without a rate ceiling."""


class Throttle:
    """Shared 429 pause plus an optional rate ceiling."""

    def __init__(
        self,
        rate_limit: RateLimit,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._gate = _gate_for(rate_limit, sleep, clock)
        self._sleep = sleep
        self._clock = clock
        self._resume_at = 0.0
        # After a pause, the requests held back leave one every ``_spacing``
        # seconds (a fixed ceiling's pace, else _RAMP_SPACING: a learned rate
        # paces them itself) instead of all at the same instant; ``_release_at``
        # is the next free place in that line.
        self._spacing = (
            1.0 / self._gate.rate if isinstance(self._gate, FixedRate) else _RAMP_SPACING
        )
        self._release_at = 0.0

    @property
    def rate_limit(self) -> float | None:
        """Requests per second in force now (None: no ceiling)."""
        return None if self._gate is None else self._gate.rate

    def on_success(self) -> None:
        """Tell the gate the service answered, and not with 429."""
        if self._gate is not None:
            self._gate.on_success()

    def on_429(self, retry_after: float | None, sent_at: float) -> None:
        """Tell the gate of a 429 to the request let go at ``sent_at``."""
        if self._gate is not None:
            self._gate.on_429(retry_after, sent_at)

    def _now(self) -> float:
        return self._clock()

    @property
    def paused_for(self) -> float:
        """Seconds until requests may flow again (0 when they may now)."""
        return max(0.0, self._resume_at - self._now())

    def pause(self, seconds: float) -> None:
        """Hold every request of the client back for ``seconds`` from now."""
        self._resume_at = max(self._resume_at, self._now() + seconds)

    async def wait(self) -> float:
        """Wait until a request may be sent; return the moment it may (for :meth:`on_429`).

        During a pause every request takes a place in line; when the pause
        ends they leave one by one, so the service is not hit by every held
        request at once (a thundering herd that would earn the next 429).
        """
        while True:
            now = self._now()
            # Only requests the pause held take places in the line; one that
            # comes once it is over goes on (the slots bound how many may).
            if now >= self._resume_at:
                break
            place = max(self._resume_at, self._release_at)
            self._release_at = place + self._spacing
            await self._sleep(place - now)
            if self._now() >= self._resume_at:
                break
        if self._gate is not None:
            return await self._gate.acquire()
        return self._now()


def _gate_for(
    rate_limit: RateLimit,
    sleep: Callable[[float], Awaitable[None]],
    clock: Callable[[], float],
) -> RateGate | None:
    if rate_limit is None:
        return None
    if rate_limit == "auto":
        return AdaptiveRate(sleep=sleep, clock=clock)
    if isinstance(rate_limit, RateGate):
        return rate_limit
    if (
        isinstance(rate_limit, bool)
        or not isinstance(rate_limit, int | float)
        or not (rate_limit > 0 and math.isfinite(rate_limit))
    ):
        msg = (
            'rate_limit must be a positive number of requests per second, "auto" or None, '
            f"got {rate_limit!r}"
        )
        raise ValueError(msg)
    return FixedRate(float(rate_limit), clock)
