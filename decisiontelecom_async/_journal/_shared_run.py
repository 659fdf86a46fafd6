"""``send_many`` on a shared journal: what a worker sends, and what it answers from the journal.

:class:`SharedPlan` produces the entries of one worker's run, in place of
the one-process plan of :mod:`._run` (which claims positions in input
order):

1. **The run joined.** :meth:`SharedJournal.begin_run` starts a new run of
   the campaign if the last one is over (its failures and not-sent rows
   become sendable again) or joins the one in progress.
2. **The input loaded.** Each input's digest and the input itself go to the
   journal in batches; a row loaded before is left as it is, and a
   different input at a loaded position is a :class:`JournalMismatchError`
   naming it, before anything is sent. ``journal.inputs()`` skips this: the
   worker sends what the journal holds.
3. **Rows taken in batches.** The worker takes up to ``concurrency`` rows
   at a time (``FOR UPDATE SKIP LOCKED`` in PostgreSQL: no row goes to two
   workers) and hands them to the engine. Each is then claimed (marked
   "about to send", durable) before its request leaves.
4. **The others' rows answered.** When nothing is left to take, the worker
   answers every other input from the journal (``resumed=True``) as other
   workers settle it, waiting for them; a row whose owner's lease ran out
   is taken over (never marked: sent here) or settled unknown (marked: its
   request may have left). It ends when no row of the campaign is open.

A stop (an empty balance, a journal that fails, the caller's ``stop()``)
ends the taking: the rows this worker took and never claimed go back to the
others, and its inputs not settled get :class:`CampaignAborted` as usual.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Generic, TypeVar, cast

from decisiontelecom_async._errors import JournalError, JournalMismatchError
from decisiontelecom_async._journal._base import JournalRecord, JournalState
from decisiontelecom_async._journal._codec import decode_input, encode_input
from decisiontelecom_async._journal._entry import _each, _Entry
from decisiontelecom_async._journal._shared import SharedJournal, StoredInputs

if TYPE_CHECKING:
    from decisiontelecom_async._journal._run import _Plan

__all__ = ["SharedPlan"]

_I = TypeVar("_I")

_LOAD_BATCH = 1000
_READ_BATCH = 1000
_POLL = 0.2
"""Seconds between looks at the rows other workers hold, once nothing is left to take."""

_FINAL = frozenset({JournalState.SENT, JournalState.FAILED, JournalState.UNKNOWN})


class SharedPlan(Generic[_I]):
    """The entries of one worker's run on a :class:`SharedJournal`; see the module docstring."""

    def __init__(
        self,
        journal: SharedJournal,
        plan: _Plan[_I],
        *,
        resend_unknown: bool,
        batch: int,
        halted: Callable[[], bool],
    ) -> None:
        self._journal = journal
        self._plan = plan
        self._resend_unknown = resend_unknown
        self._batch = max(1, batch)
        self._halted = halted

    async def entries(self, items: Iterable[_I] | AsyncIterable[_I]) -> AsyncIterator[_Entry[_I]]:
        """This worker's entries: those it takes, then the others' answered from the journal."""
        journal = self._journal
        await journal.begin_run(resend_unknown=self._resend_unknown)
        handed: list[_I] | None = None
        invalid: list[int] = []
        if isinstance(items, StoredInputs) and items.journal is journal:
            size = await journal.extent()
        else:
            handed, invalid = await self._load(items)
            size = len(handed)
        for index in invalid:
            assert handed is not None  # noqa: S101 - only a handed input has invalid ones
            yield _Entry(index, handed[index], None)  # its own outcome says why
        done = bytearray(size)
        for index in invalid:
            done[index] = 1
        # Rows taken and never claimed go back when the run ends (Journal._run_ended).
        try:
            async for entry in self._taken(handed, done):
                yield entry
            async for entry in self._others(handed, done):
                yield entry
        except JournalError as exc:
            if handed is None:
                raise  # a worker without the input has no more inputs to answer for
            # The journal went away: the next input stops the run with its error,
            # and every input not answered yet gets CampaignAborted naming it.
            rest = (index for index in range(size) if not done[index])
            first = next(rest, None)
            if first is None:
                raise
            failed = _Entry(first, handed[first], None)
            failed.failure = exc
            yield failed
            for index in rest:
                yield _Entry(index, handed[index], None)

    async def _load(self, items: Iterable[_I] | AsyncIterable[_I]) -> tuple[list[_I], list[int]]:
        handed: list[_I] = []
        invalid: list[int] = []
        rows: list[tuple[int, bytes, str | None]] = []
        async for item in _each(items):
            index = len(handed)
            handed.append(item)
            digest = self._plan.digest(item)
            if digest is None:
                invalid.append(index)
                continue
            rows.append((index, digest, encode_input(item)))
            if len(rows) >= _LOAD_BATCH:
                await self._load_rows(rows)
                rows = []
        if rows:
            await self._load_rows(rows)
        extent = await self._journal.extent()
        if extent > len(handed):
            raise JournalMismatchError(
                len(handed),
                f"is missing: the input ended there, and the campaign has rows up to "
                f"position {extent - 1}",
            )
        return handed, invalid

    async def _load_rows(self, rows: list[tuple[int, bytes, str | None]]) -> None:
        stored = await self._journal.load(rows)
        for index, digest, _payload in rows:
            if stored.get(index, digest) != digest:
                raise JournalMismatchError(
                    index, "differs from what the campaign's journal recorded at that position"
                )

    def _item(self, handed: list[_I] | None, index: int, payload: str | None) -> _I:
        if handed is not None:
            return handed[index]
        if payload is None:  # pragma: no cover - only loaded rows are read
            msg = f"position {index} has no stored input"
            raise JournalMismatchError(index, msg)
        return cast("_I", decode_input(payload))

    async def _taken(self, handed: list[_I] | None, done: bytearray) -> AsyncIterator[_Entry[_I]]:
        """Take batches until none is left (or the run stops); hand them out to be sent."""
        while not self._halted():
            await self._journal.expire()
            taken = await self._journal.take(self._batch)
            if not taken:
                return
            for row in taken:
                if self._halted():
                    return  # the rest goes back with release()
                done[row.index] = 1
                yield _Entry(row.index, self._item(handed, row.index, row.payload), row.digest)

    async def _others(self, handed: list[_I] | None, done: bytearray) -> AsyncIterator[_Entry[_I]]:
        """Answer every input not handled here from the journal, waiting for the open ones."""
        waiting = [index for index in range(len(done)) if not done[index]]
        while waiting:
            still: list[int] = []
            for start in range(0, len(waiting), _READ_BATCH):
                chunk = waiting[start : start + _READ_BATCH]
                for record, payload in await self._journal.read_some(chunk):
                    if record.state in _FINAL:
                        done[record.index] = 1
                        yield self._resumed(handed, record, payload)
                    elif self._halted():
                        # Stopped: not waiting; the engine aborts it without a request.
                        done[record.index] = 1
                        item = self._item(handed, record.index, payload)
                        yield _Entry(record.index, item, record.digest)
                    else:
                        still.append(record.index)
            waiting = still
            if not waiting or self._halted():
                return
            await asyncio.sleep(_POLL)
            # A lease that ran out: unmarked rows are taken here, marked ones become unknown.
            async for entry in self._taken(handed, done):
                yield entry
            waiting = [index for index in waiting if not done[index]]

    def _resumed(
        self, handed: list[_I] | None, record: JournalRecord, payload: str | None
    ) -> _Entry[_I]:
        return _Entry(
            record.index, self._item(handed, record.index, payload), record.digest, record
        )
