"""The client's concurrency bound: a fixed number of slots, retries served first.

A request that was answered 429 waits the ``Retry-After`` the service gave
it, then needs a slot again. Behind an ordinary FIFO semaphore it would queue
after every request that arrived meanwhile; those would spend the capacity
the service promised it, earn it another 429, and a busy campaign could run
a message out of retries while the client stayed within the limit. Here a
retry takes the next free slot ahead of first attempts; among retries, and
among first attempts, the order stays first come, first served. A first
attempt that gives its slot back to wait again (the client paused meanwhile)
keeps its place: it queues again by the ticket it first came with.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools

__all__ = ["Slots"]


class Slots:
    """At most ``size`` holders at once; :meth:`acquire` with ``retry=True`` goes first."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._retries: collections.deque[asyncio.Future[None]] = collections.deque()
        # (ticket, waiter): first attempts leave by arrival, a returning one included.
        self._first_attempts: list[tuple[int, asyncio.Future[None]]] = []
        # Tickets of first attempts that stepped aside and will queue again:
        # no first attempt behind one of them is served meanwhile.
        self._away: set[int] = set()
        self._tickets = itertools.count()

    def ticket(self) -> int:
        """A place in line for a first attempt that may need to queue more than once."""
        return next(self._tickets)

    @property
    def free_now(self) -> bool:
        """Whether :meth:`acquire` would take a slot at once, without waiting."""
        return self._free > 0 and not self._retries and not self._first_attempts and not self._away

    def take_now(self) -> bool:
        """Take a slot if :meth:`acquire` would take one at once; whether it did."""
        if self.free_now:
            self._free -= 1
            return True
        return False

    async def acquire(self, *, retry: bool = False, ticket: int | None = None) -> None:
        """Wait for a slot; give it back with :meth:`release` (or :meth:`step_aside`).

        A first attempt queues by ``ticket`` (from :meth:`ticket`; a new one
        when None), so one that comes back keeps its place.
        """
        if ticket is not None:
            self._away.discard(ticket)
        if self._free > 0 and not self._retries and not self._first_attempts and not self._away:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if retry:
            self._retries.append(waiter)
        else:
            entry = (self.ticket() if ticket is None else ticket, waiter)
            heapq.heappush(self._first_attempts, entry)
        self._dispatch()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # The slot was handed over just as the wait was cancelled.
                self.release()
            else:  # release() drops a cancelled waiter it meets
                self._forget(waiter)
            raise

    def step_aside(self, ticket: int) -> None:
        """Give the slot back, keeping ``ticket``'s place for its next :meth:`acquire`."""
        self._away.add(ticket)
        self.release()

    def leave(self, ticket: int) -> None:
        """Give up ``ticket``'s place: the first attempt will not queue again."""
        if ticket in self._away:
            self._away.discard(ticket)
            self._dispatch()

    def _forget(self, waiter: asyncio.Future[None]) -> None:
        if waiter in self._retries:
            self._retries.remove(waiter)
        for index, (_, queued) in enumerate(self._first_attempts):
            if queued is waiter:
                self._first_attempts.pop(index)
                heapq.heapify(self._first_attempts)
                break
        self._dispatch()

    def release(self) -> None:
        """Hand the slot to the longest-waiting retry, else first attempt, else free it."""
        self._free += 1
        self._dispatch()

    def _dispatch(self) -> None:
        while self._free > 0:
            if self._retries:
                waiter = self._retries.popleft()
            elif self._first_attempts and (
                not self._away or self._first_attempts[0][0] < min(self._away)
            ):
                _, waiter = heapq.heappop(self._first_attempts)
            else:
                return
            if not waiter.done():
                self._free -= 1
                waiter.set_result(None)
