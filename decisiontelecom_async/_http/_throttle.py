"""The gate every request of a client passes before it is sent.

Two things hold requests back, both shared by every call on one client: a
pause after the service answers 429 (so the whole client waits out the
``Retry-After`` once, instead of every in-flight request hammering the
service on its own), and the optional rate gate (``_rate_gate.py``): a fixed
requests-per-second ceiling, or a rate learned from the answers
(``rate_limit="auto"``, ``_adaptive_rate.py``).

A 429 also leaves a retry *owed*: the service gave the refused request a
turn, and a first attempt sent before that retry would spend it and earn the
retry another 429. So first attempts wait until every owed retry has gone
out (:meth:`Throttle.owe`, :meth:`Throttle.repay`); retries wait out the
pause only.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from decisiontelecom_async._http._adaptive_rate import AdaptiveRate
from decisiontelecom_async._http._rate_gate import FixedRate, RateGate, SharedGate

__all__ = ["OwedRetry", "RateLimit", "Throttle"]

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
        self._owed = 0
        self._settled = asyncio.Event()
        self._settled.set()

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

    def now(self) -> float:
        """The throttle's clock: what :meth:`acquire` returns when there is no gate."""
        return self._clock()

    @property
    def paused_for(self) -> float:
        """Seconds until requests may flow again (0 when they may now)."""
        return max(0.0, self._resume_at - self._now())

    def pause(self, seconds: float) -> None:
        """Hold every request of the client back for ``seconds`` from now.

        A shared gate holds every other client and process back too.
        """
        self._resume_at = max(self._resume_at, self._now() + seconds)
        if isinstance(self._gate, SharedGate):
            self._gate.share_pause(seconds)

    def bind(self, account: str) -> None:
        """Tell a shared gate which account it limits (see :class:`SharedGate`)."""
        if isinstance(self._gate, SharedGate):
            self._gate.bind(account, self._paused_elsewhere)

    def _paused_elsewhere(self, seconds: float) -> None:
        # Another client's 429, through the shared gate: held like our own
        # (one too long to wait is refused), and not shared back.
        self._resume_at = max(self._resume_at, self._now() + seconds)

    async def aclose(self) -> None:
        """The client closed: a shared gate may let its connections go."""
        if isinstance(self._gate, SharedGate):
            await self._gate.release(self._paused_elsewhere)

    @property
    def clear(self) -> bool:
        """Whether a first attempt may go out now: no pause, no retry owed."""
        return self._owed == 0 and self._now() >= self._resume_at

    @property
    def open_now(self) -> bool:
        """Whether a first attempt would pass :meth:`wait` and :meth:`acquire` at once."""
        return self._gate is None and self.clear

    def owe(self) -> None:
        """Note a request answered 429 whose retry has not gone out yet."""
        self._owed += 1
        self._settled.clear()

    def repay(self) -> None:
        """The owed retry went out (or will not be made)."""
        self._owed -= 1
        if self._owed == 0:
            self._settled.set()

    async def wait(
        self, *, retry: bool = False, sleep: Callable[[float], Awaitable[None]] | None = None
    ) -> None:
        """Wait until a request may be sent (the rate ceiling excepted: :meth:`acquire`).

        ``sleep`` replaces the throttle's own for this wait (a bulk run's,
        which the run's stop cuts short).

        A first attempt also waits for every owed retry. During a pause every
        first attempt takes a place in line; when the pause ends they leave
        one by one, so the service is not hit by every held request at once
        (a thundering herd that would earn the next 429). Retries leave when
        the pause ends: the service promised each of them a turn by then.
        """
        sleep = sleep or self._sleep
        while True:
            if not retry and self._owed:
                await self._settled.wait()
                continue
            now = self._now()
            # Only requests the pause holds take places in the line; one that
            # comes once it is over goes on (the slots bound how many may).
            if now >= self._resume_at:
                return
            if retry:
                await sleep(self._resume_at - now)
                continue
            place = max(self._resume_at, self._release_at)
            self._release_at = place + self._spacing
            await sleep(place - now)
            if self.clear:
                return

    async def acquire(self, *, sleep: Callable[[float], Awaitable[None]] | None = None) -> float:
        """Wait for the rate gate, when there is one; return the moment it let go.

        ``sleep`` replaces the throttle's own for the waits of the learned
        rate (a bulk run's, which its stop cuts short).
        """
        gate = self._gate
        if gate is None:
            return self._now()
        if sleep is not None and isinstance(gate, AdaptiveRate):
            return await gate.acquire(sleep=sleep)
        return await gate.acquire()


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
