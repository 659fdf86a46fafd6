"""A bulk run's stop signal, as the request path is handed it.

The bulk engine makes one :class:`StopSignal` for a run and one
:class:`RunGuard` for each of its workers, and passes the guard down with
every call it makes (``_request(..., guard=guard)``). The request path
knows nothing of runs: it only asks the guard whether a request may leave
(:meth:`RunGuard.request_leaves`), sleeps through it so a stop cuts the
sleep short (:meth:`RunGuard.sleep`), and tells it the error of an attempt
about to be retried (:meth:`RunGuard.note_failure`). What the guard counts
tells the engine, and the journal above it, whether a request of the input
left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from decisiontelecom_async._errors import DecisionTelecomError, RunStopped

__all__ = ["RunGuard", "StopSignal"]


class StopSignal:
    """Whether a run may still send: stopped by an error of the run, or by the caller."""

    __slots__ = ("_event", "cause", "requested")

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.cause: DecisionTelecomError | None = None
        """The error that stopped the run, once one did."""
        self.requested = False
        """Whether the caller stopped the run (``BulkRun.stop()``)."""

    @property
    def halted(self) -> bool:
        """Whether nothing new may be sent."""
        return self.cause is not None or self.requested

    @property
    def reason(self) -> str | None:
        """The text of the :class:`CampaignAborted` of inputs the caller's stop kept back."""
        if self.cause is None and self.requested:
            return "not sent: the run was stopped by the caller"
        return None

    def request_stop(self) -> bool:
        """Stop at the caller's word; whether this call stopped it."""
        if self.halted:
            return False
        self.requested = True
        self._event.set()
        return True

    def stop_with(self, cause: DecisionTelecomError) -> bool:
        """Stop because of ``cause``; whether this call set the cause."""
        if self.cause is not None:
            return False
        self.cause = cause
        self._event.set()
        return True

    def stopped(self) -> RunStopped:
        """The error an attempt refused, or a wait cut short, raises."""
        return RunStopped(self.cause, reason=self.reason)

    async def sleep(self, sleep: Callable[[float], Awaitable[None]], seconds: float) -> None:
        """Sleep ``seconds`` with ``sleep``; raise :class:`RunStopped` as soon as the run stops."""
        if not self.halted:
            sleeper = asyncio.ensure_future(sleep(seconds))
            stopper = asyncio.ensure_future(self._event.wait())
            try:
                await asyncio.wait((sleeper, stopper), return_when=asyncio.FIRST_COMPLETED)
            finally:
                for future in (sleeper, stopper):
                    future.cancel()
                await asyncio.wait((sleeper, stopper))
        if self.halted:
            raise self.stopped()


class RunGuard:
    """What one worker of a run hands down to the requests of its current input."""

    __slots__ = ("last_error", "sent", "signal")

    def __init__(self, signal: StopSignal) -> None:
        self.signal = signal
        self.sent = 0
        """Requests let out for the current input."""
        self.last_error: DecisionTelecomError | None = None
        """The error of the current input's last failed attempt, when the client told."""

    def begin(self) -> None:
        """A new input: nothing sent for it yet."""
        self.sent = 0
        self.last_error = None

    def request_leaves(self) -> None:
        """Called right before a request goes out: refuse it if the run stopped, else count it."""
        if self.signal.halted:
            raise self.signal.stopped()
        self.sent += 1

    def note_failure(self, error: DecisionTelecomError, _wait: float = 0.0) -> None:
        """Remember the error of an attempt about to be retried (an ``on_retry`` hook).

        If the run stops while the input waits for that retry, its outcome is
        this error (the request went out; it may have been delivered) rather
        than :class:`CampaignAborted`.
        """
        self.last_error = error

    def sleeper(
        self, sleep: Callable[[float], Awaitable[None]]
    ) -> Callable[[float], Awaitable[None]]:
        """``sleep``, cut short by :class:`RunStopped` when the run stops."""

        async def cut_short(seconds: float) -> None:
            await self.signal.sleep(sleep, seconds)

        return cut_short
