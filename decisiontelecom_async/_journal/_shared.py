"""The interface of a journal that many processes work on at once.

A shared journal holds the whole campaign, not only what was claimed: every
input is *loaded* first (its digest and the input itself, so a worker without
the file can send it), and workers *take* rows in batches, each taken row
owned by one worker under a lease. :meth:`Journal.claim` then records that
the row is about to be sent (durable before its request leaves), and
:meth:`Journal.settle` its outcome, as for any journal.

A taken row whose owner stopped renewing its lease goes to another worker
if it was never marked "about to send", and is ``unknown`` if it was: its
request may have left. How ``send_many`` drives this is in
:mod:`._shared_run`.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Sequence

import attrs

from decisiontelecom_async._journal._base import Journal, JournalRecord

__all__ = ["SharedJournal", "StoredInputs", "Taken"]


@attrs.frozen
class Taken:
    """One row a worker took: its position, digest and the input as stored."""

    index: int
    digest: bytes
    payload: str | None


class SharedJournal(Journal):
    """A journal for any number of workers; see the module docstring."""

    @abc.abstractmethod
    async def begin_run(self, *, resend_unknown: bool) -> None:
        """Join the campaign's current run, or start a new one if the last one is over.

        A new run makes the rows that failed or were not sent (and unknown
        ones with ``resend_unknown``) sendable again; a worker joining a run
        in progress leaves that run's failures alone.
        """

    @abc.abstractmethod
    async def load(self, rows: Sequence[tuple[int, bytes, str | None]]) -> dict[int, bytes]:
        """Add ``(index, digest, payload)`` rows not loaded yet; the stored digest of each index."""

    @abc.abstractmethod
    async def take(self, limit: int) -> list[Taken]:
        """Take up to ``limit`` sendable rows for this worker (in index order, none twice)."""

    @abc.abstractmethod
    async def expire(self) -> None:
        """Settle as unknown the rows whose owner's lease ran out after marking them."""

    @abc.abstractmethod
    async def read_some(self, indices: Sequence[int]) -> list[tuple[JournalRecord, str | None]]:
        """The records of ``indices`` with their stored inputs, in index order."""

    @abc.abstractmethod
    async def release(self) -> None:
        """Give back the rows this worker took and never marked, for other workers."""

    @abc.abstractmethod
    async def counts(self) -> dict[str, int]:
        """How many rows of the campaign are in each state (``pending`` included)."""

    async def _run_ended(self) -> None:
        # Rows taken and never claimed (the run stopped first) are the others' again.
        await self.release()

    def inputs(self) -> StoredInputs:
        """The campaign's inputs as stored, for a worker that does not have them.

        ``send_many(journal.inputs(), journal=journal)`` works on a loaded
        campaign without loading anything.
        """
        return StoredInputs(self)


class StoredInputs:
    """The inputs a :class:`SharedJournal` holds (see :meth:`SharedJournal.inputs`).

    Iterating it yields them in index order; ``send_many`` recognises it and
    takes the rows from the journal instead.
    """

    def __init__(self, journal: SharedJournal) -> None:
        self.journal = journal

    def __repr__(self) -> str:
        return f"StoredInputs({self.journal!r})"

    async def __aiter__(self) -> AsyncIterator[object]:
        from decisiontelecom_async._journal._codec import decode_input  # noqa: PLC0415

        async with self.journal._opened():  # noqa: SLF001 - the journal's own helper
            stop = await self.journal.extent()
            for start in range(0, stop, 1024):
                rows = await self.journal.read_some(range(start, min(start + 1024, stop)))
                for _record, payload in rows:
                    if payload is not None:
                        yield decode_input(payload)
