"""``send_many`` with a journal: the bulk engine wrapped so that nothing is sent twice.

:func:`send_many_journaled` puts three things around :func:`run_bulk`,
without changing it:

1. **The input checked against the journal.** The journal covers positions
   ``0 .. extent-1``. Those inputs are read first and each one's digest is
   compared with the record at its position; until the last of them has
   been checked, nothing is sent. A difference, or an input shorter than
   the journal, raises :class:`JournalMismatchError` naming the position,
   so a run whose input is not the journal's sends nothing. The inputs of
   that part that must be sent again (not claimed, not sent, refused, or
   unknown with ``resend_unknown``) wait in memory until the check is done:
   after a crash they are at most about ``concurrency``; after a run with
   many refusals, as many as those.
2. **Settled inputs answered from the journal.** An input the service
   accepted comes back with its ``message_id``, ``resumed=True`` and
   ``attempts=0``; an unknown one (unless ``resend_unknown``) with a
   :class:`TransportError` whose ``outcome_unknown`` is true. No request.
3. **A claim before the request, an outcome after.** The worker awaits
   :meth:`Journal.claim` (durable) before the request leaves; the outcome is
   settled when the engine builds it (durable with the next batch).

States from outcomes: accepted is ``sent``; :class:`CampaignAborted` (no
request left) and a cancel before the request left are ``not_sent``; an
answer lost after the request left (``TransportError(outcome_unknown=True)``,
an answer that makes no sense, a cancel in flight) is ``unknown``; any other
error is a refusal, ``failed``, which the service did not accept, so a
resume sends it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
)
from typing import TYPE_CHECKING, Generic, TypeVar

from decisiontelecom_async._bulk import BulkRun, ItemCall, check_item_type, run_bulk
from decisiontelecom_async._errors import (
    CampaignAborted,
    DecisionTelecomError,
    JournalError,
    JournalMismatchError,
    TransportError,
    UnexpectedResponseError,
)
from decisiontelecom_async._journal._base import Journal, JournalRecord, JournalState
from decisiontelecom_async._journal._entry import _each, _Entry
from decisiontelecom_async._journal._shared import SharedJournal
from decisiontelecom_async._models import SendOutcome

if TYPE_CHECKING:
    from decisiontelecom_async._base_client import BaseClient
    from decisiontelecom_async._http._guard import RunGuard
    from decisiontelecom_async._progress import ProgressHook

__all__ = ["check_journal", "send_many_journaled"]

_I = TypeVar("_I")

_READ_CHUNK = 4096


def check_journal(journal: object, resend_unknown: object) -> None:
    """Refuse a ``journal`` that is not a :class:`Journal`, or a non-bool ``resend_unknown``."""
    if not isinstance(journal, Journal):
        msg = f"journal must be a Journal (e.g. SqliteJournal), got {type(journal).__name__}"
        raise TypeError(msg)
    if not isinstance(resend_unknown, bool):
        msg = f"resend_unknown must be a bool, got {type(resend_unknown).__name__}"
        raise TypeError(msg)


def _unknown_error(record: JournalRecord) -> TransportError:
    earlier = f" ({record.error})" if record.error else ""
    return TransportError(
        "outcome unknown: the request was in flight or its answer was lost in an earlier "
        f"run{earlier}; not sent again (resend_unknown=True sends it)",
        outcome_unknown=True,
        attempts=0,
    )


def _failed_error(record: JournalRecord) -> DecisionTelecomError:
    reason = f": {record.error}" if record.error else ""
    return DecisionTelecomError(
        f"refused when another worker of this run sent it{reason}; the next run of the "
        "campaign sends it again",
        attempts=0,
    )


def _resumed_error(record: JournalRecord) -> DecisionTelecomError:
    """The error of a resumed input that was not accepted (unknown, or failed elsewhere)."""
    if record.state is JournalState.FAILED:
        return _failed_error(record)
    return _unknown_error(record)


def _state_of(error: DecisionTelecomError | None) -> JournalState:
    if error is None:
        return JournalState.SENT
    if isinstance(error, CampaignAborted):
        return JournalState.NOT_SENT
    if isinstance(error, TransportError) and error.outcome_unknown:
        return JournalState.UNKNOWN
    if isinstance(error, UnexpectedResponseError):
        return JournalState.UNKNOWN  # an answer came, but it does not say "accepted" or not
    return JournalState.FAILED


def _summary(error: DecisionTelecomError | None) -> str | None:
    return None if error is None else f"{type(error).__name__}: {error}"


class _Plan(Generic[_I]):
    """Pairs the input with the journal: what is resumed, what is sent."""

    def __init__(
        self,
        journal: Journal,
        digest_of: Callable[[_I], bytes],
        item_type: type[_I],
        *,
        resend_unknown: bool,
    ) -> None:
        self._journal = journal
        self._digest_of = digest_of
        self._item_type = item_type
        self._resend_unknown = resend_unknown

    def digest(self, item: object) -> bytes | None:
        """The digest of ``item``'s wire body; ``None`` for an input that cannot be sent."""
        try:
            return self._digest_of(check_item_type(item, self._item_type))
        except (DecisionTelecomError, TypeError, ValueError):
            return None  # its own outcome will say why

    def _needs_no_request(self, record: JournalRecord) -> bool:
        if record.state is JournalState.SENT:
            return True
        unknown = record.state in {JournalState.UNKNOWN, JournalState.CLAIMED}
        return unknown and not self._resend_unknown

    async def entries(self, items: Iterable[_I] | AsyncIterable[_I]) -> AsyncIterator[_Entry[_I]]:
        """The inputs as entries: the journal's part checked before any is sent."""
        extent = await self._journal.extent()
        held: list[_Entry[_I]] = []
        records: dict[int, JournalRecord] = {}
        index = -1
        async for item in _each(items):
            index += 1
            if index >= extent:
                if held:
                    # The whole journal's part matched: what it holds back may go.
                    for entry in held:
                        yield entry
                    held.clear()
                yield _Entry(index, item, None)
                continue
            if index % _READ_CHUNK == 0:
                chunk = await self._journal.read(index, min(index + _READ_CHUNK, extent))
                records = {record.index: record for record in chunk}
            record = records.get(index)
            digest = self.digest(item)
            if record is not None and digest != record.digest:
                raise JournalMismatchError(
                    index, "differs from what the journal recorded at that position"
                )
            if record is not None and self._needs_no_request(record):
                yield _Entry(index, item, digest, record)
            else:
                held.append(_Entry(index, item, digest))
        if index + 1 < extent:
            raise JournalMismatchError(
                index + 1,
                f"is missing: the input ended there, and the journal has records up to "
                f"position {extent - 1}",
            )
        for entry in held:
            yield entry


class _Journaled(Generic[_I]):
    """The engine's ``call`` and ``outcome`` for a run that keeps a journal."""

    def __init__(
        self,
        journal: Journal,
        send_one: ItemCall[_I, int],
        item_type: type[_I],
        digest_of: Callable[[_I], bytes],
    ) -> None:
        self._journal = journal
        self._send_one = send_one
        self._item_type = item_type
        self._digest_of = digest_of

    async def call(self, entry: _Entry[_I], guard: RunGuard) -> tuple[int, int]:
        """Answer from the journal, or claim durably and then send."""
        if entry.failure is not None:
            raise entry.failure  # stops the run: no input is sent past a journal that failed
        record = entry.resume
        if record is not None:
            if record.state is JournalState.SENT and record.message_id is not None:
                return record.message_id, 0
            raise _resumed_error(record)
        item = check_item_type(entry.item, self._item_type)
        digest = entry.digest if entry.digest is not None else self._digest_of(item)
        journal = self._journal
        entry.claimed = True
        try:
            await journal.claim(entry.index, digest)
        except JournalError:
            entry.claimed = False  # not durable, and not sent
            raise
        except asyncio.CancelledError:
            journal.settle(entry.index, JournalState.NOT_SENT)
            entry.claimed = False
            raise
        try:
            return await self._send_one(item, guard)
        except asyncio.CancelledError:
            # Stopped from outside (aclose, cancel): no outcome will be built.
            # The guard counts the requests of this input that left.
            left = guard.sent > 0
            journal.settle(entry.index, JournalState.UNKNOWN if left else JournalState.NOT_SENT)
            entry.claimed = False
            raise

    def outcome(
        self,
        _position: int,
        entry: _Entry[_I],
        message_id: int | None,
        error: DecisionTelecomError | None,
        attempts: int,
    ) -> SendOutcome[_I]:
        """The input's outcome; a claimed input's is settled in the journal."""
        record = entry.resume
        if record is not None:
            if record.state is JournalState.SENT:
                return SendOutcome(entry.index, entry.item, record.message_id, resumed=True)
            if record.state is JournalState.FAILED:
                return SendOutcome(
                    entry.index, entry.item, error=_failed_error(record), resumed=True
                )
            unknown = error if isinstance(error, TransportError) else _unknown_error(record)
            return SendOutcome(entry.index, entry.item, error=unknown, resumed=True)
        if entry.claimed:
            entry.claimed = False
            self._journal.settle(
                entry.index,
                _state_of(error),
                message_id=message_id,
                attempts=attempts,
                error=_summary(error),
            )
        return SendOutcome(entry.index, entry.item, message_id, error, attempts)


def send_many_journaled(
    client: BaseClient,
    items: Iterable[_I] | AsyncIterable[_I],
    send_one: ItemCall[_I, int],
    item_type: type[_I],
    digest_of: Callable[[_I], bytes],
    *,
    journal: Journal,
    resend_unknown: bool,
    workers: int,
    stops: Callable[[DecisionTelecomError], bool],
    stop_when: Callable[[SendOutcome[_I]], bool] | None = None,
    progress: ProgressHook | None,
    progress_interval: float,
    name: str,
) -> BulkRun[SendOutcome[_I]]:
    """``send_many`` keeping ``journal``; see the module docstring for the rules.

    ``stop_when`` is the caller's stop rule, asked about every outcome,
    resumed ones included (see :func:`run_bulk`).
    """
    plan = _Plan(journal, digest_of, item_type, resend_unknown=resend_unknown)
    journaled = _Journaled(journal, send_one, item_type, digest_of)
    runs: list[BulkRun[SendOutcome[_I]]] = []
    if not isinstance(journal, SharedJournal):
        entries = plan.entries(items)
    else:
        # Many workers: rows loaded, then taken in batches (see _shared_run).
        from decisiontelecom_async._journal._shared_run import SharedPlan  # noqa: PLC0415

        shared = SharedPlan(
            journal,
            plan,
            resend_unknown=resend_unknown,
            batch=workers,
            halted=lambda: bool(runs) and runs[0]._run.halted,  # noqa: SLF001 - the run's own engine
        )
        entries = shared.entries(items)

    def stops_or_journal(error: DecisionTelecomError) -> bool:
        # A journal that cannot record a claim would let requests leave unrecorded.
        return isinstance(error, JournalError) or stops(error)

    run = run_bulk(
        client,
        entries,
        journaled.call,
        journaled.outcome,
        workers=workers,
        stops=stops_or_journal,
        stop_when=stop_when,
        progress=progress,
        progress_interval=progress_interval,
        name=name,
        writes=True,
        holding=journal.using(),
    )
    runs.append(run)
    return run
