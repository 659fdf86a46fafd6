"""The shared journal: one PostgreSQL database, any number of workers on any number of machines.

:class:`PostgresJournal` implements :class:`SharedJournal` with asyncpg (a
pool per journal; no libpq). Every campaign lives in the same two tables,
keyed by its name, created if missing:

``decisiontelecom_campaigns``
    One row per campaign: the number of its current run.
``decisiontelecom_journal``
    One row per input: position, digest, the input itself (JSON), state,
    owner and lease, the "about to send" mark, and the outcome.

How a row goes through a campaign:

- **loaded** (``pending``) by ``campaign`` / ``send_many`` with the input:
  ``INSERT ... ON CONFLICT DO NOTHING``, so loading twice adds nothing;
- **taken** (``claimed``, ``owner`` = this worker, ``lease_until`` = now +
  lease) in batches of up to ``concurrency`` rows with ``SELECT ... FOR
  UPDATE SKIP LOCKED``: no row goes to two workers, and no worker waits for
  another's lock. A live worker renews the lease of the rows it holds every
  third of the lease;
- **marked** (``marked`` true) before its request leaves: the marks of one
  turn of the event loop are committed in one ``UPDATE`` (group commit),
  and the requests leave only after that commit;
- **settled** (``sent`` with its ``message_id``, ``failed``, ``not_sent``,
  ``unknown``), the outcomes batched the same way.

A worker that dies (``kill -9``, a lost machine) stops renewing. Once its
lease runs out, its rows that were never marked are taken by the others and
sent; its marked rows were perhaps in flight and are settled ``unknown``
(never sent again, unless a new run is started with ``resend_unknown``). The
lease (30 s by default) is the time a dead worker's never-sent rows wait.

A new *run* begins when a worker starts and no row of the campaign is open
(pending, taken, in flight): that worker makes the rows that ``failed`` or
were ``not_sent`` (and ``unknown`` ones with ``resend_unknown``) pending
again. A worker that joins a run in progress leaves that run's failures
alone, so no worker of one run loops on another's refusals.

When PostgreSQL cannot be reached, nothing more is sent: a mark that cannot
be committed fails its input with a :class:`JournalError` naming PostgreSQL
and stops the run; rows marked and not settled are ``unknown`` to the next
run, rows taken and not marked are taken again once their lease runs out.
The password of the DSN never appears in an exception, a ``repr`` or a log
line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias, TypeVar

import attrs

from decisiontelecom_async._errors import JournalError
from decisiontelecom_async._journal._base import JournalRecord, JournalState
from decisiontelecom_async._journal._codec import decode_input, encode_input, stored_line
from decisiontelecom_async._journal._shared import SharedJournal, Taken
from decisiontelecom_async._models import ViberMessage
from decisiontelecom_async._sms_client import sms_digest
from decisiontelecom_async._sms_models import SmsMessage
from decisiontelecom_async._viber_client import viber_digest
from decisiontelecom_async.distributed import _postgres_sql as sql
from decisiontelecom_async.distributed._postgres_sql import shown_dsn

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - only without the extra
    msg = 'PostgresJournal needs asyncpg: pip install "decisiontelecom-async[distributed]"'
    raise ImportError(msg) from exc

__all__ = ["PostgresJournal", "StoredRow"]

logger = logging.getLogger("decisiontelecom_async")

_T = TypeVar("_T")

_MAX_NAME = 200
_MIN_POOL = 2
_NEW_RUN_STATES = ("failed", "not_sent")

_Waiter = asyncio.Future[None]
_Conn: TypeAlias = "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"
_Settle = tuple[int, str, int | None, int, str | None]
_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


@attrs.frozen
class StoredRow:
    """One row of a campaign as :meth:`PostgresJournal.stored` reads it."""

    record: JournalRecord
    """Its state and outcome (a row never sent reads ``not_sent``, one in flight ``claimed``)."""
    message: ViberMessage | SmsMessage
    """The input as loaded."""
    line: int | None
    """Its line in the campaign file, when the command line loaded it."""


def _state(raw: str, *, marked: bool) -> JournalState:
    if raw == "pending" or (raw == "claimed" and not marked):
        return JournalState.NOT_SENT  # never left: the journal says so
    return JournalState(raw)


class PostgresJournal(SharedJournal):
    """A campaign journal in PostgreSQL, shared by any number of workers.

    ::

        journal = PostgresJournal("postgresql://127.0.0.1/campaigns", campaign="spring-sale")
        async for outcome in client.send_many(messages, journal=journal):
            ...

    Every worker runs the same ``send_many`` with the same messages (or
    ``journal.inputs()``, which sends what was loaded, without the file):
    each input is sent by exactly one of them, and each worker yields one
    outcome per input, ``resumed=True`` for those the others settled. The
    tables are created if missing; ``campaign`` names this campaign's rows.

    ``lease`` (seconds) is how long the rows of a worker that stopped
    answering stay its own: after it, the ones it never began to send go to
    the others, the ones it did are ``unknown``. ``pool_size`` bounds the
    connections of this journal. See the module docstring for the states.
    """

    def __init__(
        self,
        dsn: str,
        *,
        campaign: str,
        lease: float = 30.0,
        pool_size: int = 4,
        timeout: float = 10.0,
    ) -> None:
        if not isinstance(dsn, str) or not dsn:
            msg = "dsn must be a non-empty PostgreSQL connection string"
            raise ValueError(msg)
        if not isinstance(campaign, str) or not campaign.strip() or len(campaign) > _MAX_NAME:
            msg = "campaign must be a non-empty name of at most 200 characters"
            raise ValueError(msg)
        for name, value, low in (("lease", lease, 0.5), ("timeout", timeout, 0.1)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
                msg = f"{name} must be a number of seconds >= {low}, got {value!r}"
                raise ValueError(msg)
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < _MIN_POOL:
            msg = f"pool_size must be an int >= 2, got {pool_size!r}"
            raise ValueError(msg)
        self._dsn = dsn
        self.campaign = campaign
        """The campaign's name: its rows in the shared tables."""
        self.lease = float(lease)
        """Seconds a worker's rows stay its own without a renewal."""
        self._pool_size = pool_size
        self._timeout = float(timeout)
        self._where = shown_dsn(dsn)
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        """This journal's worker id, the owner of the rows it takes."""
        self._pool: asyncpg.Pool | None = None
        self._marks: list[int] = []
        self._mark_waiters: list[tuple[int, _Waiter]] = []
        self._settles: list[_Settle] = []
        self._waiters: list[_Waiter] = []
        self._kick = asyncio.Event()
        self._closing = False
        self._tasks: list[asyncio.Task[None]] = []
        self._failure: JournalError | None = None

    def __repr__(self) -> str:
        return f"PostgresJournal({self._where!r}, campaign={self.campaign!r})"

    # -- errors ---------------------------------------------------------------------

    def _error(self, what: str, exc: BaseException) -> JournalError:
        reason = str(exc) or type(exc).__name__
        password = sql.password_of(self._dsn)
        if password:
            reason = reason.replace(password, "***")
        return JournalError(
            f"the journal in {self._where} (campaign {self.campaign!r}) {what}: {reason}"
        )

    async def _db(self, what: str, job: Callable[[_Conn], Awaitable[_T]]) -> _T:
        pool = self._pool
        if pool is None:
            msg = f"{self!r} is not open"
            raise JournalError(msg)
        try:
            async with pool.acquire(timeout=self._timeout) as conn:
                return await job(conn)
        except _DB_ERRORS as exc:
            raise self._error(what, exc) from None

    # -- open and close -------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """Whether the pool is open."""
        return self._pool is not None

    async def open(self) -> None:
        """Connect, create the tables if missing, start the writer and the lease renewal."""
        if self._pool is not None:
            return
        try:
            pool = await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=self._pool_size,
                timeout=self._timeout,
                command_timeout=self._timeout,
            )
        except _DB_ERRORS as exc:
            raise self._error("cannot be opened", exc) from None
        except ValueError as exc:  # a DSN asyncpg cannot read
            raise self._error("cannot be opened", exc) from None
        self._pool = pool
        try:
            await self._db("cannot be created", _create_schema)
            await self._db("cannot be opened", self._add_campaign)
        except JournalError:
            self._pool = None
            await _close_pool(pool)
            raise
        self._failure = None
        self._closing = False
        self._marks, self._mark_waiters, self._settles, self._waiters = [], [], [], []
        self._kick = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._write_loop(), name=f"journal-writer:{self.campaign}"),
            asyncio.create_task(self._renew_loop(), name=f"journal-lease:{self.campaign}"),
        ]

    async def _add_campaign(self, conn: _Conn) -> None:
        await conn.execute(
            "INSERT INTO decisiontelecom_campaigns (campaign) VALUES ($1) ON CONFLICT DO NOTHING",
            self.campaign,
        )

    async def aclose(self) -> None:
        """Write what is pending, give back the rows never marked, close the pool."""
        pool = self._pool
        if pool is None:
            return
        tasks, self._tasks = self._tasks, []
        writer, others = (tasks[0], tasks[1:]) if tasks else (None, [])
        for task in others:
            task.cancel()
        if writer is not None:
            self._closing = True
            self._kick.set()
            await asyncio.shield(writer)
        for task in others:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._failure is None:
            with contextlib.suppress(JournalError):
                await self.release()
        self._pool = None
        await _close_pool(pool)

    # -- runs and loading -------------------------------------------------------------

    async def begin_run(self, *, resend_unknown: bool) -> None:
        """Join the run in progress, or start the next one; see the module docstring."""
        states = [*_NEW_RUN_STATES, *(["unknown"] if resend_unknown else [])]

        async def begin(conn: _Conn) -> None:
            async with conn.transaction():
                await conn.execute(
                    "SELECT run FROM decisiontelecom_campaigns WHERE campaign = $1 FOR UPDATE",
                    self.campaign,
                )
                busy = await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM decisiontelecom_journal WHERE campaign = $1 AND "
                    "(state = 'pending' OR state = 'claimed'))",
                    self.campaign,
                )
                if busy:
                    return
                await conn.execute(
                    "UPDATE decisiontelecom_campaigns SET run = run + 1 WHERE campaign = $1",
                    self.campaign,
                )
                await conn.execute(
                    "UPDATE decisiontelecom_journal "
                    "SET state = 'pending', owner = NULL, marked = false "
                    "WHERE campaign = $1 AND state = ANY($2::text[])",
                    self.campaign,
                    states,
                )

        await self._db("cannot be written", begin)

    async def load(self, rows: Sequence[tuple[int, bytes, str | None]]) -> dict[int, bytes]:
        """Add the rows not loaded yet; the stored digest of each of their positions."""
        indices = [row[0] for row in rows]

        async def load(conn: _Conn) -> dict[int, bytes]:
            async with conn.transaction():
                await conn.execute(
                    sql.LOAD,
                    self.campaign,
                    indices,
                    [row[1] for row in rows],
                    [row[2] for row in rows],
                )
                found = await conn.fetch(sql.DIGESTS, self.campaign, indices)
            return {int(r["idx"]): bytes(r["digest"]) for r in found}

        return await self._db("cannot be loaded", load)

    async def load_messages(
        self, rows: Sequence[tuple[int, ViberMessage | SmsMessage, int | None]]
    ) -> list[int]:
        """Load ``(position, message, line)`` rows not loaded yet (``line``: where in a file).

        Returns the positions whose loaded message differs from the one
        given (none are changed): what ``send_many`` would refuse with a
        :class:`JournalMismatchError`. Loading the same rows twice adds nothing.
        """
        loaded = [
            (index, _digest(message), encode_input(message, line=line))
            for index, message, line in rows
        ]
        stored = await self.load(loaded)
        return [index for index, digest, _ in loaded if stored.get(index, digest) != digest]

    async def stored(self, start: int, stop: int) -> list[StoredRow]:
        """The loaded rows of positions ``start <= index < stop``, in index order."""
        found = await self.read_some(range(start, stop))
        return [
            StoredRow(record, decode_input(payload), stored_line(payload))
            for record, payload in found
            if payload is not None
        ]

    # -- reading ------------------------------------------------------------------------

    async def extent(self) -> int:
        """The highest loaded position + 1 (0 for a campaign with no rows)."""
        value = await self._db(
            "cannot be read",
            lambda conn: conn.fetchval(
                "SELECT MAX(idx) FROM decisiontelecom_journal WHERE campaign = $1",
                self.campaign,
            ),
        )
        return 0 if value is None else int(value) + 1

    async def read(self, start: int, stop: int) -> list[JournalRecord]:
        """The records of ``start <= index < stop``; a row never sent reads ``not_sent``."""
        rows = await self._db(
            "cannot be read",
            lambda conn: conn.fetch(
                "SELECT idx, state, marked, digest, message_id, attempts, error "
                "FROM decisiontelecom_journal "
                "WHERE campaign = $1 AND idx >= $2 AND idx < $3 ORDER BY idx",
                self.campaign,
                start,
                stop,
            ),
        )
        return [_record(row) for row in rows]

    async def read_some(self, indices: Sequence[int]) -> list[tuple[JournalRecord, str | None]]:
        """The records of ``indices`` and their stored inputs, in index order."""
        rows = await self._db(
            "cannot be read",
            lambda conn: conn.fetch(
                "SELECT idx, state, marked, digest, message_id, attempts, error, payload "
                "FROM decisiontelecom_journal "
                "WHERE campaign = $1 AND idx = ANY($2::bigint[]) ORDER BY idx",
                self.campaign,
                list(indices),
            ),
        )
        return [(_record(row), row["payload"]) for row in rows]

    async def counts(self) -> dict[str, int]:
        """Rows per state: ``pending``, ``claimed`` (taken or in flight), ``sent``, ..."""
        rows = await self._db(
            "cannot be read",
            lambda conn: conn.fetch(
                "SELECT state, COUNT(*) AS n FROM decisiontelecom_journal "
                "WHERE campaign = $1 GROUP BY state",
                self.campaign,
            ),
        )
        return {str(row["state"]): int(row["n"]) for row in rows}

    # -- taking and giving back -----------------------------------------------------------

    async def take(self, limit: int) -> list[Taken]:
        """Take up to ``limit`` sendable rows for this worker, under a lease."""
        self._writable()

        async def take(conn: _Conn) -> list[Any]:
            async with conn.transaction():
                return list(
                    await conn.fetch(sql.TAKE, self.campaign, limit, self.worker, self.lease)
                )

        rows = await self._db("cannot be written", take)
        taken = [Taken(int(r["idx"]), bytes(r["digest"]), r["payload"]) for r in rows]
        taken.sort(key=lambda row: row.index)
        return taken

    async def expire(self) -> None:
        """Settle as unknown the marked rows of workers whose lease ran out."""
        self._writable()
        await self._db("cannot be written", lambda conn: conn.execute(sql.EXPIRE, self.campaign))

    async def release(self) -> None:
        """Give back the rows this worker took and never marked."""
        await self._db(
            "cannot be written",
            lambda conn: conn.execute(sql.RELEASE, self.campaign, self.worker),
        )

    # -- marking and settling (group commit) ----------------------------------------------

    def _writable(self) -> None:
        if self._failure is not None:
            raise JournalError(str(self._failure))
        if self._pool is None:
            msg = f"{self!r} is not open"
            raise JournalError(msg)

    async def claim(self, index: int, digest: bytes) -> None:
        """Mark ``index`` about to be sent; return once that is committed.

        The row must be one this worker took (``digest`` was checked when it
        was loaded); a row whose lease another worker took over is refused
        with a :class:`JournalError`.
        """
        del digest
        self._writable()
        waiter: _Waiter = asyncio.get_running_loop().create_future()
        self._marks.append(index)
        self._mark_waiters.append((index, waiter))
        self._kick.set()
        await waiter

    def settle(
        self,
        index: int,
        state: JournalState,
        *,
        message_id: int | None = None,
        attempts: int = 0,
        error: str | None = None,
    ) -> None:
        """Queue the outcome of ``index``; committed with the next batch."""
        if self._failure is None and self._pool is not None:
            self._settles.append((index, state.value, message_id, attempts, error))
            self._kick.set()

    async def flush(self) -> None:
        """Return once everything queued so far is committed."""
        if not self._tasks:
            return
        self._writable()
        waiter: _Waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._kick.set()
        await waiter

    async def _write_loop(self) -> None:
        """The writer task: each turn's marks and outcomes in one transaction."""
        while True:
            await self._kick.wait()
            self._kick.clear()
            if not self._closing and self._marks:
                await asyncio.sleep(0)  # one turn: every worker that runs adds its mark
            marks, self._marks = self._marks, []
            mark_waiters, self._mark_waiters = self._mark_waiters, []
            settles, self._settles = self._settles, []
            waiters, self._waiters = self._waiters, []
            refused: set[int] = set()
            if self._failure is None and (marks or settles):
                refused = await self._commit(marks, settles)
            for index, waiter in mark_waiters:
                if waiter.done():
                    continue
                if self._failure is not None:
                    waiter.set_exception(JournalError(str(self._failure)))
                elif index in refused:
                    waiter.set_exception(
                        JournalError(
                            f"the row at position {index} of campaign {self.campaign!r} is no "
                            "longer this worker's (its lease ran out); it was not sent"
                        )
                    )
                else:
                    waiter.set_result(None)
            _resolve(waiters, self._failure)
            if self._closing and not (self._marks or self._settles or self._waiters):
                return

    async def _commit(self, marks: list[int], settles: list[_Settle]) -> set[int]:
        async def commit(conn: _Conn) -> set[int]:
            async with conn.transaction():
                if settles:
                    await conn.execute(
                        sql.SETTLE,
                        self.campaign,
                        [s[0] for s in settles],
                        [s[1] for s in settles],
                        [s[2] for s in settles],
                        [s[3] for s in settles],
                        [s[4] for s in settles],
                        self.worker,
                    )
                if not marks:
                    return set()
                rows = await conn.fetch(sql.MARK, self.campaign, marks, self.worker)
            return set(marks) - {int(row["idx"]) for row in rows}

        try:
            return await self._db("cannot be written", commit)
        except JournalError as exc:
            self._failure = exc
            logger.warning("%s", exc)
            return set()

    async def _renew_loop(self) -> None:
        """Renew the lease of this worker's rows every third of the lease."""
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await self._db(
                    "cannot be written",
                    lambda conn: conn.execute(sql.RENEW, self.campaign, self.worker, self.lease),
                )
            except JournalError as exc:
                if self._failure is None:
                    self._failure = exc
                    logger.warning("%s", exc)
                return


def _digest(message: ViberMessage | SmsMessage) -> bytes:
    return viber_digest(message) if isinstance(message, ViberMessage) else sms_digest(message)


def _record(row: Any) -> JournalRecord:
    return JournalRecord(
        int(row["idx"]),
        _state(str(row["state"]), marked=bool(row["marked"])),
        bytes(row["digest"]),
        row["message_id"],
        int(row["attempts"]),
        row["error"],
    )


async def _create_schema(conn: _Conn) -> None:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", sql.SCHEMA_LOCK)
        await conn.execute(sql.SCHEMA)


async def _close_pool(pool: asyncpg.Pool) -> None:
    try:
        await asyncio.wait_for(pool.close(), 5.0)
    except (TimeoutError, *_DB_ERRORS):
        pool.terminate()


def _resolve(waiters: list[_Waiter], failure: JournalError | None) -> None:
    for waiter in waiters:
        if waiter.done():
            continue
        if failure is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(JournalError(str(failure)))
