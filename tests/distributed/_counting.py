"""A loopback service that counts what it accepts, per receiver and per second.

Built on ``tests/_loopback.py``. Every send is accepted (``{"message_id": n}``)
except the request numbers in ``refuse``, answered 429 with ``Retry-After``.
The counts are on the server's own clock: the tests assert on them, never
on the clients' timing.
"""

from __future__ import annotations

import collections
import re
import time

import attrs
from _loopback import Loopback, Reply

_RECEIVER = re.compile(rb"3805\d{8}")
LIMITED = {"name": "Too Many Requests", "message": "Rate limit exceeded", "code": 0, "status": 429}


@attrs.define
class CountingService:
    """Counts accepted requests per receiver and per one-second window."""

    refuse: frozenset[int] = frozenset()
    retry_after: float = 1.0
    started: float = attrs.Factory(time.monotonic)
    receivers: collections.Counter[str] = attrs.Factory(collections.Counter)
    windows: collections.Counter[int] = attrs.Factory(collections.Counter)
    arrivals: list[float] = attrs.Factory(list)
    refused_at: list[float] = attrs.Factory(list)
    _next_id: int = 1

    def elapsed(self) -> float:
        """Seconds on the service's clock."""
        return time.monotonic() - self.started

    def plan(self, number: int, path: str) -> Reply:
        """The loopback's plan: accept, or 429 for the numbers in ``refuse``."""
        del path
        now = self.elapsed()
        if number in self.refuse:
            self.refused_at.append(now)
            return Reply(429, LIMITED, headers={"Retry-After": f"{self.retry_after:g}"})
        return Reply(body=lambda body: self._accept(body, now))

    def _accept(self, body: bytes, now: float) -> dict[str, int]:
        found = _RECEIVER.search(body)
        assert found is not None, body
        self.receivers[found.group().decode()] += 1
        self.windows[int(now)] += 1
        self.arrivals.append(now)
        message_id = self._next_id
        self._next_id += 1
        return {"message_id": message_id}

    def full_windows(self) -> list[int]:
        """Accepted counts of the whole seconds between the first and last arrival."""
        first, last = min(self.windows), max(self.windows)
        return [self.windows[w] for w in range(first + 1, last)]

    def between(self, start: float, end: float) -> int:
        """Requests accepted with an arrival in ``[start, end]`` (service clock)."""
        return sum(start <= t <= end for t in self.arrivals)

    def serve(self) -> Loopback:
        """The loopback server answering by this plan."""
        return Loopback(self.plan)
