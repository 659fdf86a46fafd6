"""``rate_limit="auto"``: find the service's unpublished rate limit from its answers.

The algorithm (:class:`RateLearner`, pure and clock-injected):

* **Start.** Send at :data:`_START` requests a second and multiply the rate
  by :data:`_GROWTH` every :data:`_STEP` seconds while no 429 comes back and
  the rate is actually used (a client sending less than its rate, for want
  of messages or of CPU, learns nothing about the limit by raising it).
* **On a 429.** The requests answered in the last moments were sent above
  the limit, so the rate the service *accepted* over them (answers that
  were not 429 per second, over at most :data:`_WINDOW` seconds since the
  last cut) is the best estimate of the limit: it becomes the ceiling, and
  the rate is cut to :data:`_CUT` of it, which drains whatever the service
  had queued. 429s for requests sent before the cut are echoes of the old
  rate and change nothing; nor do 429s in the first :data:`_MIN_WINDOW`
  seconds after a cut, which is the least time over which the accepted
  rate is measured. The ``Retry-After`` itself is honoured by the throttle's
  shared pause.
* **Hold.** The rate climbs back, closing half the gap every step, to
  :data:`_TARGET` of the ceiling, and stays there.
* **Probe.** After :data:`_PROBE_AFTER` seconds without a 429 the ceiling is
  raised by 1%, then 2%, 4%... per step (at most :data:`_PROBE_MAX`), so a
  limit the service raised is found; the first 429 ends the probe with a
  new measured ceiling.

Why not plain AIMD: a sawtooth between 0.5x and 1x (TCP's) or even 0.9x and
1x of the limit wastes 5-25% of it and earns a 429 burst on every tooth;
measuring the accepted rate reads the limit off the service directly, so one
or two cuts find it and the client can sit at 97% with no 429s until it
probes.

:class:`AdaptiveRate` is the async gate around it (see ``_rate_gate.py``).
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable

__all__ = ["AdaptiveRate", "RateLearner"]

_START = 20.0
"""Requests per second before anything is known."""
_STEP = 0.2
"""Seconds between two adjustments of the rate."""
_GROWTH = 2.0
"""Factor per step while no limit is known."""
_WINDOW = 0.5
"""Seconds of answers the accepted rate is measured over."""
_MIN_WINDOW = 0.25
"""Least seconds after a cut before a 429 may cut again (and the measure is fair)."""
_MIN_ANSWERS = 5
"""Answers the accepted rate is measured over, at the least (low rates)."""
_CUT = 0.85
"""Rate after a 429, as a share of the measured limit."""
_TARGET = 0.97
"""Rate held, as a share of the measured limit."""
_PROBE_AFTER = 3.0
"""Seconds without a 429 before the ceiling is probed upwards."""
_PROBE_AFTER_START = 1.0
"""The same after the first cut: measured while the rate was still doubling,
that first ceiling is low (the window reaches back to when the client sent
below the limit), so it is put right soon rather than held for long."""
_PROBE_FIRST = 0.01
_PROBE_MAX = 0.04
"""First and largest raise of the ceiling per step while probing."""
_MIN_RATE = 0.2
"""The rate never goes below this (requests per second)."""
_SLACK = 0.025
"""Seconds of lateness the pacing catches up (timers wake late on a busy loop)."""
_HORIZON = 0.05
"""Seconds ahead a place in line may be handed out. Places are handed out
ahead so that many requests leave in one turn of a busy event loop (one at a
time, a loaded loop held a client to a few hundred a second); not far ahead,
so that a new rate applies at once."""
_USED = 0.75
"""Share of the rate that must have been used for it to be raised at the start."""
_USED_TO_PROBE = 0.85
"""The same before probing above a measured limit: a client that cannot reach
its rate (too little to send, or its CPU the bottleneck) learns nothing by
raising it, and would report a rate it never sends at."""


class RateLearner:
    """The rate a client may send at, learned from the service's answers (no I/O)."""

    def __init__(self, clock: Callable[[], float], *, start: float = _START) -> None:
        self._clock = clock
        self._rate = start
        self._ceiling: float | None = None
        now = clock()
        self._next_free = now
        self._step_at = now
        self._released = 0
        # The start counts as a cut: nothing is measured from before it.
        self._cut_at = now
        self._quiet_since = now
        self._probe = _PROBE_FIRST
        self._probe_after = _PROBE_AFTER
        self._answers: collections.deque[float] = collections.deque()

    @property
    def rate(self) -> float:
        """Requests per second in force now."""
        self._adjust(self._clock())
        return self._rate

    @property
    def ceiling(self) -> float | None:
        """The limit measured at the last 429 (raised while probing), or None."""
        return self._ceiling

    def place(self) -> float | None:
        """Reserve the next place in line: the moment it may be sent, or None.

        None when that moment is more than :data:`_HORIZON` away: the caller
        waits :meth:`retry_in` and asks again, so a rate that changes applies
        to all but the few places already handed out.
        """
        now = self._clock()
        self._adjust(now)
        # Late timers are caught up a little, never a long idle time's worth.
        at = max(self._next_free, now - _SLACK)
        if at - now > max(_HORIZON, 1 / self._rate):
            return None
        self._next_free = at + 1 / self._rate
        self._released += 1
        return max(at, now)

    def retry_in(self) -> float:
        """Seconds until :meth:`place` may succeed."""
        ahead = self._next_free - self._clock() - max(_HORIZON, 1 / self._rate)
        return max(ahead, 0.001)

    def on_success(self) -> None:
        """Count one answer that was not a 429."""
        now = self._clock()
        self._answers.append(now)
        horizon = max(_WINDOW, 2 * _MIN_ANSWERS / self._rate)
        while self._answers and self._answers[0] < now - horizon:
            self._answers.popleft()

    def on_429(self, retry_after: float | None, sent_at: float) -> None:
        """A 429 for the request released at ``sent_at``: measure the limit and cut."""
        del retry_after  # the throttle's shared pause honours it
        now = self._clock()
        # At a low rate a fair measure needs longer: a few answers at least.
        least = max(_MIN_WINDOW, _MIN_ANSWERS / self._rate)
        if sent_at < self._cut_at or now - self._cut_at < least:
            return
        since = max(now - max(_WINDOW, 2 * _MIN_ANSWERS / self._rate), self._cut_at)
        accepted = sum(1 for t in self._answers if t >= since) / max(now - since, 1 / self._rate)
        # Nothing accepted at all says little about the limit: halve instead.
        ceiling = min(accepted, self._rate) if accepted > 0 else self._rate / 2
        self._probe_after = _PROBE_AFTER_START if self._ceiling is None else _PROBE_AFTER
        self._ceiling = max(_MIN_RATE, ceiling)
        self._rate = max(_MIN_RATE, _CUT * self._ceiling)
        self._cut_at = self._quiet_since = self._step_at = now
        self._released = 0
        self._probe = _PROBE_FIRST

    def _adjust(self, now: float) -> None:
        elapsed = now - self._step_at
        if elapsed < _STEP:
            return
        used = self._released / (self._rate * elapsed)
        self._step_at = now
        self._released = 0
        if self._ceiling is None:
            if used >= _USED:
                self._rate *= _GROWTH
            return
        target = _TARGET * self._ceiling
        if self._rate < target:
            self._rate = min(target, self._rate + max((target - self._rate) / 2, _MIN_RATE))
        elif used >= _USED_TO_PROBE and now - self._quiet_since >= self._probe_after:
            self._ceiling *= 1 + self._probe
            self._probe = min(_PROBE_MAX, self._probe * 2)
            self._rate = _TARGET * self._ceiling
        else:
            self._rate = target


class AdaptiveRate:
    """A :class:`~._rate_gate.RateGate` whose rate is learned (``rate_limit="auto"``)."""

    def __init__(
        self,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._learner = RateLearner(clock)
        self._sleep = sleep
        self._clock = clock

    @property
    def rate(self) -> float:
        """Requests per second in force now."""
        return self._learner.rate

    async def acquire(self, *, sleep: Callable[[float], Awaitable[None]] | None = None) -> float:
        """Wait for the next place at the learned rate (sleeping with ``sleep`` if given)."""
        sleep = sleep or self._sleep
        while (at := self._learner.place()) is None:
            await sleep(self._learner.retry_in())
        wait = at - self._clock()
        if wait > 0:
            await sleep(wait)
        return at

    def on_success(self) -> None:
        """Count an answer that was not a 429."""
        self._learner.on_success()

    def on_429(self, retry_after: float | None, sent_at: float) -> None:
        """Learn from a 429."""
        self._learner.on_429(retry_after, sent_at)
