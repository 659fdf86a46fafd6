"""The client's concurrency bound: a fixed number of slots, retries served first.

A request that was answered 429 waits the ``Retry-After`` the service gave
it, then needs a slot again. Behind an ordinary FIFO semaphore it would queue
after every request that arrived meanwhile; those would spend the capacity
the service promised it, earn it another 429, and a busy campaign could run
a message out of retries while the client stayed within the limit. Here a
retry takes the next free slot ahead of first attempts; among retries, and
among first attempts, the order stays first come, first served.
"""

from __future__ import annotations

import asyncio
import collections

__all__ = ["Slots"]


class Slots:
    """At most ``size`` holders at once; :meth:`acquire` with ``retry=True`` goes first."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._retries: collections.deque[asyncio.Future[None]] = collections.deque()
        self._first_attempts: collections.deque[asyncio.Future[None]] = collections.deque()

    async def acquire(self, *, retry: bool = False) -> None:
        """Wait for a slot; give it back with :meth:`release`."""
        if self._free > 0 and not self._retries and not self._first_attempts:
            self._free -= 1
            return
        queue = self._retries if retry else self._first_attempts
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # The slot was handed over just as the wait was cancelled.
                self.release()
            elif waiter in queue:  # release() drops a cancelled waiter it meets
                queue.remove(waiter)
            raise

    def release(self) -> None:
        """Hand the slot to the longest-waiting retry, else first attempt, else free it."""
        for queue in (self._retries, self._first_attempts):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._free += 1
