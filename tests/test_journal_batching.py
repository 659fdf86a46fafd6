"""The journal's group commit: claims that arrive over several loop turns share commits.

A campaign whose answers come back a few at a time (a fast server, a client
busy with its own CPU) hands the journal a claim or an outcome on nearly
every turn of the event loop. One commit per turn would then be one commit
per message or two, which costs more than the message. These tests drive a
real :class:`SqliteJournal` with workers that claim on successive turns and
count its commits and how many turns each claim waited: counts, not times.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Self

import pytest

from decisiontelecom_async import JournalState, SqliteJournal


class Turns:
    """Counts the event loop's turns while a run goes on (a task that yields each turn)."""

    def __init__(self) -> None:
        self.now = 0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            self.now += 1
            await asyncio.sleep(0)

    def __enter__(self) -> Self:
        self._task = asyncio.create_task(self._tick())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()


def count_commits(journal: SqliteJournal, monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Count the journal's commits (transactions it writes) from now on."""
    commit = journal._commit
    count = 0

    def counted(*args: object) -> None:
        nonlocal count
        count += 1
        commit(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(journal, "_commit", counted)
    return lambda: count


def claimed_on_disk(path: Path) -> dict[int, str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as raw:
        return dict(raw.execute("SELECT idx, state FROM inputs").fetchall())


async def claim_on_turn(
    journal: SqliteJournal, index: int, turns: Turns, waited: dict[int, int]
) -> None:
    """Claim ``index`` ``index`` turns from now; note how many turns the claim waited."""
    for _ in range(index):
        await asyncio.sleep(0)
    started = turns.now
    await journal.claim(index, bytes(16))
    waited[index] = turns.now - started


async def test_an_outcome_and_the_next_claim_share_one_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bulk worker's rhythm: claim, send (a few turns), settle the outcome,
    # wait a turn or two for the consumer to take it, claim the next input.
    # The outcome needs no commit of its own: it rides with the next claim.
    path = tmp_path / "rhythm.journal"
    async with SqliteJournal(path) as journal:
        commits = count_commits(journal, monkeypatch)
        for index in range(30):
            await journal.claim(index, bytes(16))
            for _ in range(3):
                await asyncio.sleep(0)  # the request and its answer
            journal.settle(index, JournalState.SENT, message_id=1000 + index, attempts=1)
            for _ in range(2):
                await asyncio.sleep(0)  # the consumer takes the outcome
        await journal.flush()
        # One commit per claim (and the flush), not one per claim and one per outcome.
        assert commits() <= 32
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as raw:
        rows = raw.execute("SELECT idx, state, message_id FROM inputs ORDER BY idx").fetchall()
    assert rows == [(i, "sent", 1000 + i) for i in range(30)]


async def test_a_claim_waits_a_bounded_number_of_turns_however_busy_the_loop(
    tmp_path: Path,
) -> None:
    # A claim on every turn for 600 turns, and outcomes gathering meanwhile:
    # every claim is made durable within a few turns.
    path = tmp_path / "busy.journal"
    waited: dict[int, int] = {}
    async with SqliteJournal(path) as journal:
        with Turns() as turns:
            await asyncio.gather(*(claim_on_turn(journal, i, turns, waited) for i in range(600)))
    assert max(waited.values()) <= 4
    assert len(claimed_on_disk(path)) == 600


async def test_outcomes_arriving_one_per_turn_do_not_each_get_a_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "settles.journal"
    async with SqliteJournal(path) as journal:
        await asyncio.gather(*(journal.claim(i, bytes(16)) for i in range(40)))
        commits = count_commits(journal, monkeypatch)
        for i in range(40):
            journal.settle(i, JournalState.SENT, message_id=1000 + i, attempts=1)
            await asyncio.sleep(0)
        await journal.flush()
        assert commits() <= 4
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as raw:
        rows = raw.execute("SELECT idx, state, message_id FROM inputs ORDER BY idx").fetchall()
    assert rows == [(i, "sent", 1000 + i) for i in range(40)]
