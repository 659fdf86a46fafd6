"""The journal interface and its records.

A journal keeps, for each input position of a campaign, a digest of the
input's wire body and the input's state. The bulk layer (:mod:`._run`) calls
:meth:`Journal.claim` before an input's first request leaves and waits for
it to be durable, and :meth:`Journal.settle` once its outcome is known (that
record may reach the disk a little later: a crash in between leaves the
input ``claimed``, which reads as unknown, which is safe).

A second backend implements the abstract methods; the rest is shared.
"""

from __future__ import annotations

import abc
import contextlib
import enum
from collections.abc import AsyncIterator
from typing import Self

import attrs

from decisiontelecom_async._errors import JournalError

__all__ = ["Journal", "JournalRecord", "JournalState"]

_READ_CHUNK = 4096


class JournalState(enum.StrEnum):
    """Where an input stands in the journal.

    ``claimed`` is written before the input's first request leaves; the
    other states replace it once its outcome is known. A ``claimed`` input
    found after its run ended was in flight when the run died: its outcome is
    unknown, and :meth:`Journal.records` reports it as :attr:`UNKNOWN`.
    """

    CLAIMED = "claimed"
    """About to be sent or in flight."""
    SENT = "sent"
    """The service accepted it; the record has its ``message_id``. Never sent again."""
    FAILED = "failed"
    """The service refused it, or no request could be made; sent again on resume."""
    NOT_SENT = "not_sent"
    """Claimed, then the run stopped before its request left; sent again on resume."""
    UNKNOWN = "unknown"
    """The request may have reached the service and no answer came back.
    Sent again only with ``resend_unknown=True``."""


@attrs.frozen
class JournalRecord:
    """What the journal holds for one input position."""

    index: int
    """The input's position in the campaign (from 0)."""
    state: JournalState
    """Where the input stands."""
    digest: bytes
    """A hash of the input's wire body (credentials left out)."""
    message_id: int | None = None
    """The id the service assigned, for :attr:`JournalState.SENT`."""
    attempts: int = 0
    """Requests made for it in the run that settled it."""
    error: str | None = None
    """A one-line summary of the error (``"InvalidParameterError: ..."``), if any."""


class Journal(abc.ABC):
    """Where a campaign keeps what it sent; the interface of every backend.

    Pass one to ``send_many(..., journal=...)``. The run opens it if it is not
    open and closes it at the end if it opened it; ``async with journal:``
    keeps it open across runs and for :meth:`records`. One run at a time may
    use a journal.
    """

    _in_run: bool = False

    # -- what a backend implements ---------------------------------------------------

    @property
    @abc.abstractmethod
    def is_open(self) -> bool:
        """Whether :meth:`open` has been called and :meth:`aclose` not yet."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Take the journal for this process; create it if missing.

        Raises :class:`JournalError` when it is in use elsewhere, damaged,
        or cannot be written.
        """

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Write what is pending, then let the journal go."""

    @abc.abstractmethod
    async def extent(self) -> int:
        """The number of positions the journal covers: the highest recorded index + 1."""

    @abc.abstractmethod
    async def read(self, start: int, stop: int) -> list[JournalRecord]:
        """The records of positions ``start <= index < stop``, in index order, raw states."""

    @abc.abstractmethod
    async def claim(self, index: int, digest: bytes) -> None:
        """Record ``index`` as claimed with ``digest``; return once that is durable."""

    @abc.abstractmethod
    def settle(
        self,
        index: int,
        state: JournalState,
        *,
        message_id: int | None = None,
        attempts: int = 0,
        error: str | None = None,
    ) -> None:
        """Record the outcome of a claimed ``index``; durable soon after (see :meth:`flush`)."""

    @abc.abstractmethod
    async def flush(self) -> None:
        """Return once everything handed to the journal so far is durable."""

    # -- shared ---------------------------------------------------------------------

    async def records(self) -> AsyncIterator[JournalRecord]:
        """Every record in index order, ``claimed`` reported as ``unknown``.

        For writing a results file: one record per position the journal has
        seen (positions never claimed have no record). Opens the journal for
        the duration if it is not open.
        """
        async with self._opened():
            stop = await self.extent()
            for start in range(0, stop, _READ_CHUNK):
                for record in await self.read(start, min(start + _READ_CHUNK, stop)):
                    if record.state is JournalState.CLAIMED and not self._in_run:
                        record = attrs.evolve(record, state=JournalState.UNKNOWN)  # noqa: PLW2901
                    yield record

    @contextlib.asynccontextmanager
    async def _opened(self) -> AsyncIterator[None]:
        opened_here = not self.is_open
        if opened_here:
            await self.open()
        try:
            yield
        finally:
            if opened_here:
                await self.aclose()

    @contextlib.asynccontextmanager
    async def using(self) -> AsyncIterator[Self]:
        """Hold the journal for one run: open it if needed, refuse a second run."""
        if self._in_run:
            msg = f"{self!r} is already used by a running send_many; one run at a time"
            raise JournalError(msg)
        self._in_run = True
        try:
            async with self._opened():
                try:
                    yield self
                finally:
                    await self.flush()
                    await self._run_ended()
        finally:
            self._in_run = False

    async def _run_ended(self) -> None:  # noqa: B027 - a hook, empty for most backends
        """What a backend does once a run's outcomes are written (a shared one gives rows back)."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
