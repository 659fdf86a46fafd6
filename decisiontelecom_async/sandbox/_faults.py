"""The sandbox's fault knobs: each decided on its own seeded random stream.

One stream a knob means a run is repeatable for a given seed, and turning a
knob on never changes what another knob decides: with the same seed, the
same requests get a 500 whether or not latency or drops are also enabled.
Rate limiting is a token bucket on real (monotonic) time, because clients
pace themselves in real seconds.
"""

from __future__ import annotations

import collections
import enum
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from decisiontelecom_async.sandbox._state import draw, seeded_random

if TYPE_CHECKING:
    from decisiontelecom_async.sandbox._config import SandboxConfig

__all__ = ["DropPhase", "Faults", "TokenBucket"]


class DropPhase(enum.Enum):
    """When a dropped connection is dropped."""

    BEFORE = "before"
    """Before the request is processed: nothing happened on the service."""
    AFTER = "after"
    """After it is processed: a send exists, but its answer never arrives."""
    EITHER = "either"
    """Each drop picks one of the two, half and half."""


class TokenBucket:
    """``rate`` requests a second, with bursts of up to ``burst`` seconds' worth.

    A refused request is told when to come back (``Retry-After``), and each
    refusal still waiting for its turn pushes the next one's turn back by
    one token: ten requests refused at once are sent back at ten different
    moments, so a client that honours ``Retry-After`` gets through instead
    of the whole crowd returning together and colliding again.
    """

    def __init__(
        self,
        rate: float,
        monotonic: Callable[[], float] = time.monotonic,
        *,
        burst: float = 1.0,
    ) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate * burst)
        self._monotonic = monotonic
        self._tokens = self.capacity
        self._updated = monotonic()
        self._promised: collections.deque[float] = collections.deque()

    def take(self) -> float:
        """Take a token; return 0, or the seconds until this request's turn (none taken)."""
        now = self._monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        while self._promised and self._promised[0] <= now:
            self._promised.popleft()
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        wait = (1 - self._tokens + len(self._promised)) / self.rate
        self._promised.append(now + wait)
        return wait


class Faults:
    """Seeded decisions for every fault knob."""

    def __init__(
        self, config: SandboxConfig, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        seed, rate_limit = config.seed, config.rate_limit
        self.bucket = (
            None
            if rate_limit is None
            else TokenBucket(rate_limit, monotonic, burst=config.rate_burst)
        )
        self.config = config
        self._server_errors = seeded_random(seed, "server_error")
        self._errors_in_200 = seeded_random(seed, "error_in_200")
        self._latency = seeded_random(seed, "latency")
        self._drops = seeded_random(seed, "drop")

    def latency_now(self) -> float:
        """How long this request takes before it is handled."""
        return draw(self._latency, self.config.latency)

    def drop(self) -> DropPhase | None:
        """Whether (and when) to drop this request's connection."""
        roll = self._drops.random()
        phase_roll = self._drops.random()
        if roll >= self.config.drop_connection_share:
            return None
        if self.config.drop_connection_phase is DropPhase.EITHER:
            return DropPhase.BEFORE if phase_roll < 0.5 else DropPhase.AFTER  # noqa: PLR2004
        return self.config.drop_connection_phase

    def retry_after(self) -> float | None:
        """None when the request is within the rate limit, else the seconds to wait."""
        if self.bucket is None:
            return None
        wait = self.bucket.take()
        # Whole milliseconds, rounded up: a client that waits this long gets in.
        return math.ceil(wait * 1000) / 1000 if wait > 0 else None

    def server_error(self) -> bool:
        """Whether to answer this request with a 500."""
        return self._server_errors.random() < self.config.server_error_share

    def error_in_200(self) -> bool | None:
        """None, or which error object to answer inside an HTTP 200 (True: rate limit)."""
        roll = self._errors_in_200.random()
        kind = self._errors_in_200.random() < 0.5  # noqa: PLR2004
        return kind if roll < self.config.error_in_200_share else None
