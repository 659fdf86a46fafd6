"""Suppress repeated deliveries of one callback, in bounded memory.

A delivery counts as seen only once its handler has succeeded. A repeat that
arrives while the first is still being handled waits for it: if the first
succeeds the repeat is suppressed, if it fails the repeat runs the handler
itself, so a callback whose first handling failed is never lost to
de-duplication.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable

__all__ = ["Deduplicator", "SeenCache"]


class SeenCache:
    """Keys seen recently: at most ``max_size`` of them, each for ``ttl`` seconds.

    Entries are kept in the order they were added, which is also the order
    they expire in, so expiry and eviction both drop from the front.
    """

    def __init__(
        self, max_size: int, ttl: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_size = max_size
        self.ttl = ttl
        self._clock = clock
        self._expiry: OrderedDict[Hashable, float] = OrderedDict()

    def __len__(self) -> int:
        self._expire()
        return len(self._expiry)

    def __contains__(self, key: Hashable) -> bool:
        self._expire()
        return key in self._expiry

    def add(self, key: Hashable) -> None:
        """Remember ``key`` for ``ttl`` seconds from now, evicting the oldest when full."""
        if self.max_size <= 0:
            return
        self._expiry.pop(key, None)
        self._expiry[key] = self._clock() + self.ttl
        while len(self._expiry) > self.max_size:
            self._expiry.popitem(last=False)

    def _expire(self) -> None:
        now = self._clock()
        while self._expiry:
            key, expiry = next(iter(self._expiry.items()))
            if expiry > now:
                break
            del self._expiry[key]


class Deduplicator:
    """Run an action once per key, counting a key as seen only after success."""

    def __init__(
        self, max_size: int, ttl: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seen = SeenCache(max_size, ttl, clock=clock)
        self._in_flight: dict[Hashable, asyncio.Future[bool]] = {}

    async def run_once(self, key: Hashable, action: Callable[[], Awaitable[object]]) -> bool:
        """Run ``action`` unless ``key`` was handled successfully; whether it ran.

        An exception from ``action`` propagates, and the key stays unseen.
        """
        if self.seen.max_size <= 0:
            await action()
            return True
        while True:
            if key in self.seen:
                return False
            pending = self._in_flight.get(key)
            if pending is None:
                break
            # Another delivery of the same callback is being handled: its result decides.
            await asyncio.shield(pending)
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = done
        succeeded = False
        try:
            await action()
            succeeded = True
        finally:
            if succeeded:
                self.seen.add(key)
            del self._in_flight[key]
            done.set_result(succeeded)
        return True
