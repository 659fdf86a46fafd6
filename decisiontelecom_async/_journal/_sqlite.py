"""The embedded journal: one SQLite file in WAL mode, written by one writer task.

Workers hand the writer task claims and outcomes; it lets a batch gather
(one turn of the event loop after its first claim by default; outcomes
alone wait for the next claim, at most 16 turns), writes it in one
transaction and wakes the workers whose claims that commit made durable
(group commit). The journal costs one commit per batch, not one per
message, and never serialises the workers. The commit runs on the event
loop's thread: with WAL and
``synchronous=NORMAL`` it is a few writes to the page cache, far cheaper
than handing it to a thread, which would wait for the interpreter lock
behind a busy loop at every row. With ``synchronous="FULL"`` (an fsync per
commit) it runs in a thread so the loop does not wait for the disk.

Durability: WAL with ``synchronous=NORMAL`` (the default) survives a crash
of the process (``kill -9`` included) but may lose the last commits on power
loss or an OS crash; ``synchronous="FULL"`` syncs every commit to the disk
and survives those too, at some cost per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from pathlib import Path
from typing import Literal

from decisiontelecom_async._errors import JournalError
from decisiontelecom_async._journal._base import Journal, JournalRecord, JournalState
from decisiontelecom_async._journal._lock import FileLock

__all__ = ["SqliteJournal"]

_APPLICATION_ID = 0x44544A31  # "DTJ1": tells a journal from any other SQLite file
_FORMAT = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inputs (
    idx INTEGER PRIMARY KEY,
    digest BLOB NOT NULL,
    state TEXT NOT NULL,
    message_id INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT
)
"""
_CACHE_KIB = 512
_IN_PROCESS_WAIT = 5.0
"""Seconds an opener waits for another journal of this process on the same file."""
_MAX_GATHER_TURNS = 16
"""The most turns of the event loop a batch of outcomes waits for a claim to join it."""
_CLAIM = "INSERT OR REPLACE INTO inputs (idx, digest, state) VALUES (?, ?, 'claimed')"
_SETTLE = "UPDATE inputs SET state = ?, message_id = ?, attempts = ?, error = ? WHERE idx = ?"

_Waiter = asyncio.Future[None]
_Settle = tuple[str, int | None, int, str | None, int]
"""An outcome as the writer keeps it: the parameters of ``_SETTLE``."""


class SqliteJournal(Journal):
    """A campaign journal in one SQLite file: the embedded default, no server.

    ::

        journal = SqliteJournal("spring-sale.journal")  # created if missing
        async for outcome in client.send_many(messages, journal=journal):
            ...

    One process at a time may use a journal file: a second opener gets a
    :class:`JournalError` at once (a lock on ``<path>.lock``, released by the
    kernel when the process dies). Keep the file with its ``-wal`` companion
    while it exists: together they are the journal.

    ``synchronous``: ``"NORMAL"`` survives a crash of the process;
    ``"FULL"`` also survives power loss, at a cost per commit. ``create``:
    ``False`` refuses a missing file instead of starting an empty journal
    (for a resume that must find its journal). ``commit_interval`` is how
    long (seconds) a batch gathers after its first claim; the default, 0, is
    one turn of the event loop, in which every worker that runs adds its
    claim to the same commit. Outcomes ride with the next claim's commit
    (with no claim coming, they are committed 16 turns of the loop later).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        create: bool = True,
        commit_interval: float = 0.0,
    ) -> None:
        if synchronous not in {"NORMAL", "FULL"}:
            msg = f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}"
            raise ValueError(msg)
        if not isinstance(commit_interval, int | float) or not 0 <= commit_interval <= 1:
            msg = f"commit_interval must be a number of seconds in [0, 1], got {commit_interval!r}"
            raise ValueError(msg)
        self.path = Path(path)
        """Where the journal lives."""
        self._synchronous = synchronous
        self._create = create
        self._commit_interval = commit_interval
        self._lock = FileLock(f"{self.path}.lock", what=f"the journal {self.path}")
        self._conn: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._file_id: tuple[int, int] | None = None
        self._claims: list[tuple[int, bytes]] = []
        self._settles: list[_Settle] = []
        self._waiters: list[_Waiter] = []
        self._kick = asyncio.Event()
        self._closing = False
        self._writer: asyncio.Task[None] | None = None
        self._failure: JournalError | None = None

    def __repr__(self) -> str:
        return f"SqliteJournal({str(self.path)!r})"

    # -- open and close -----------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """Whether the journal is open in this process."""
        return self._conn is not None

    async def open(self) -> None:
        """Lock, create or check the file, and start the writer; see :class:`Journal`."""
        if self._conn is not None:
            return
        deadline = time.monotonic() + _IN_PROCESS_WAIT
        while self._lock.held_here and time.monotonic() < deadline:  # noqa: ASYNC110 - the holder is another object, maybe not yet collected
            await asyncio.sleep(0.02)  # another journal of this process is closing
        await asyncio.to_thread(self._open_files)
        self._failure = None
        self._closing = False
        self._claims, self._settles, self._waiters = [], [], []
        self._kick = asyncio.Event()
        self._writer = asyncio.create_task(self._write_loop(), name=f"journal-writer:{self.path}")

    def _open_files(self) -> None:
        existed = self.path.exists()
        if not existed and not self._create:
            msg = f"no journal at {self.path} (create=False)"
            raise JournalError(msg)
        self._lock.acquire()
        conn = reader = None
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            if existed:
                self._check(conn)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            # Writes go to the right edge of one b-tree: a small cache does,
            # and memory stays flat however long the campaign.
            conn.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
            # A write now, so that a read-only file or directory, or a full
            # disk, is refused here, before anything is sent.
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(_SCHEMA)
            conn.execute(f"PRAGMA application_id={_APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={_FORMAT}")
            conn.execute("COMMIT")
            reader = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
            reader.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
            stat = self.path.stat()
        except (sqlite3.Error, OSError) as exc:
            for connection in (reader, conn):
                if connection is not None:
                    connection.close()
            self._lock.release()
            raise self._error("cannot be opened", exc) from None
        except JournalError:
            if conn is not None:
                conn.close()
            self._lock.release()
            raise
        self._conn, self._reader = conn, reader
        self._file_id = (stat.st_dev, stat.st_ino)

    def _check(self, conn: sqlite3.Connection) -> None:
        """Refuse a file that is not a journal, or a damaged one."""
        (application_id,) = conn.execute("PRAGMA application_id").fetchone()
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if application_id == 0 and version == 0 and not _has_tables(conn):
            return  # an empty file: a new journal
        if application_id != _APPLICATION_ID:
            msg = f"{self.path} is not a decisiontelecom journal"
            raise JournalError(msg)
        if version != _FORMAT:
            msg = f"the journal {self.path} has format {version}; this SDK reads {_FORMAT}"
            raise JournalError(msg)
        (verdict,) = conn.execute("PRAGMA quick_check").fetchone()
        if verdict != "ok":
            first = verdict.replace("*** in database main ***", "").strip().splitlines()[0]
            msg = f"the journal {self.path} is damaged ({first}); nothing was sent"
            raise JournalError(msg)

    def _error(self, what: str, exc: BaseException) -> JournalError:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        if isinstance(exc, sqlite3.DatabaseError) and "not a database" in reason:
            return JournalError(f"{self.path} is not a decisiontelecom journal or is damaged")
        return JournalError(f"the journal {self.path} {what}: {reason}")

    async def aclose(self) -> None:
        """Write what is pending, stop the writer, close the file and release the lock."""
        if self._conn is None:
            return
        writer, self._writer = self._writer, None
        if writer is not None:
            self._closing = True
            self._kick.set()
            await asyncio.shield(writer)
        conn, reader = self._conn, self._reader
        self._conn = self._reader = None
        # The reader first: the writer, closing last, folds the WAL into the file.
        await asyncio.to_thread(_close_all, reader, conn)
        self._lock.release()

    # -- reading --------------------------------------------------------------------

    def _reading(self) -> sqlite3.Connection:
        if self._reader is None:
            msg = f"{self!r} is not open"
            raise JournalError(msg)
        return self._reader

    async def extent(self) -> int:
        """The highest recorded index + 1 (0 for an empty journal)."""
        reader = self._reading()
        row = await asyncio.to_thread(
            lambda: reader.execute("SELECT MAX(idx) FROM inputs").fetchone()
        )
        return 0 if row is None or row[0] is None else int(row[0]) + 1

    async def read(self, start: int, stop: int) -> list[JournalRecord]:
        """The records of ``start <= index < stop`` in index order."""
        reader = self._reading()

        def fetch() -> list[JournalRecord]:
            rows = reader.execute(
                "SELECT idx, state, digest, message_id, attempts, error FROM inputs "
                "WHERE idx >= ? AND idx < ? ORDER BY idx",
                (start, stop),
            ).fetchall()
            return [
                JournalRecord(idx, JournalState(state), bytes(digest), message_id, attempts, error)
                for idx, state, digest, message_id, attempts, error in rows
            ]

        try:
            return await asyncio.to_thread(fetch)
        except (sqlite3.Error, ValueError) as exc:
            raise self._error("cannot be read", exc) from None

    # -- writing --------------------------------------------------------------------

    def _writable(self) -> None:
        if self._failure is not None:
            raise JournalError(str(self._failure))
        if self._writer is None:
            msg = f"{self!r} is not open"
            raise JournalError(msg)

    async def claim(self, index: int, digest: bytes) -> None:
        """Record ``index`` as claimed; return once the commit holding it is done."""
        self._writable()
        waiter: _Waiter = asyncio.get_running_loop().create_future()
        self._claims.append((index, digest))
        self._waiters.append(waiter)
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
        """Queue the outcome of ``index``; it is committed with the next batch."""
        if self._failure is None and self._writer is not None:
            self._settles.append((state.value, message_id, attempts, error, index))
            self._kick.set()

    async def flush(self) -> None:
        """Return once everything queued so far is committed."""
        if self._writer is None:
            return
        self._writable()
        waiter: _Waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._kick.set()
        await waiter

    async def _write_loop(self) -> None:
        """The writer task: let a batch gather, commit it, wake its waiters."""
        while True:
            await self._kick.wait()
            self._kick.clear()
            if not self._closing:
                await self._gather()
            claims, self._claims = self._claims, []
            settles, self._settles = self._settles, []
            waiters, self._waiters = self._waiters, []
            if self._failure is None and (claims or settles):
                if self._synchronous == "FULL":
                    await asyncio.to_thread(self._commit, claims, settles)
                else:
                    self._commit(claims, settles)
            _resolve(waiters, self._failure)
            if self._closing and not (self._claims or self._settles or self._waiters):
                return

    async def _gather(self) -> None:
        """Let the batch gather; return when it is to be committed.

        A claim (or a flush) has someone waiting on the disk: its batch
        gathers one more turn of the loop (``commit_interval`` seconds, if
        set), in which every worker that runs adds its claim. Outcomes alone
        wait for the next claim, at most :data:`_MAX_GATHER_TURNS` turns: a
        bulk worker settles an outcome a turn or two before it claims its next
        input, and a commit of its own for each outcome would double the
        commits. Claims are not held longer than that one turn: the longer a
        committed batch takes to leave, the more of it a crash finds claimed
        and unsent (recorded unknown, never sent).
        """
        for _ in range(_MAX_GATHER_TURNS):
            if self._closing or not (self._settles or self._waiters):
                return  # closing, or a kick whose batch the last commit took
            if self._waiters:
                await asyncio.sleep(self._commit_interval if self._claims else 0)
                return
            await asyncio.sleep(0)

    def _commit(self, claims: list[tuple[int, bytes]], settles: list[_Settle]) -> None:
        conn = self._conn
        assert conn is not None  # noqa: S101 - the writer runs while open
        try:
            self._check_file()
            conn.execute("BEGIN")
            # Claims first: an outcome queued in the same batch is always of
            # an input claimed before it.
            conn.executemany(_CLAIM, claims)
            conn.executemany(_SETTLE, settles)
            conn.execute("COMMIT")
        except (sqlite3.Error, OSError, JournalError) as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if not isinstance(exc, JournalError):
                exc = self._error("cannot be written", exc)
            self._failure = exc

    def _check_file(self) -> None:
        """Refuse to go on once the journal file was deleted or replaced under the run."""
        try:
            stat = os.stat(self.path)  # noqa: PTH116 - one cheap call per batch
        except FileNotFoundError:
            msg = f"the journal {self.path} was deleted during the run; nothing more is sent"
            raise JournalError(msg) from None
        if (stat.st_dev, stat.st_ino) != self._file_id:
            msg = f"the journal {self.path} was replaced during the run; nothing more is sent"
            raise JournalError(msg)


def _resolve(waiters: list[_Waiter], failure: JournalError | None) -> None:
    for waiter in waiters:
        if waiter.done():
            continue  # its worker was cancelled
        if failure is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(JournalError(str(failure)))


def _has_tables(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    return bool(row and row[0])


def _close_all(*connections: sqlite3.Connection | None) -> None:
    for connection in connections:
        if connection is not None:
            connection.close()
