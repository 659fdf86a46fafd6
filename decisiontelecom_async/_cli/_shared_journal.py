"""The command line's side of a shared journal: ``--journal postgresql://...`` and ``--campaign``.

A ``--journal`` that is a ``postgresql://`` (or ``postgres://``) DSN names a
:class:`PostgresJournal`, which needs ``--campaign NAME``; anything else is
the path of an :class:`SqliteJournal`. ``campaign`` loads the file's rows
into a PostgreSQL campaign before it sends (:func:`load_rows`: each row with
its line in the file, so that ``results`` can write a results file without
the file); ``worker`` and ``results`` need no file.
"""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from decisiontelecom_async import SmsMessage, ViberMessage
from decisiontelecom_async._cli._csv import BadRow, CampaignRow
from decisiontelecom_async._cli._errors import EXIT_USAGE, fail, keep_secret

if TYPE_CHECKING:
    from decisiontelecom_async.distributed import PostgresJournal

__all__ = ["campaign_line", "is_dsn", "load_rows", "postgres_journal"]

_LOAD_BATCH = 1000
_SCHEMES = ("postgresql://", "postgres://")


def is_dsn(journal: str | None) -> bool:
    """Whether ``--journal`` names a PostgreSQL database rather than a file."""
    return journal is not None and journal.lower().startswith(_SCHEMES)


def postgres_journal(dsn: str, campaign: str | None) -> PostgresJournal:
    """The :class:`PostgresJournal` of ``--journal DSN --campaign NAME``; usage errors exit 2."""
    with contextlib.suppress(ValueError):
        password = urllib.parse.urlsplit(dsn).password
        if password:
            # Never on the terminal, whatever a driver's message holds.
            keep_secret(urllib.parse.unquote(password))
    if not campaign or not campaign.strip():
        fail("--journal postgresql://... needs --campaign NAME", EXIT_USAGE)
    try:
        from decisiontelecom_async.distributed import PostgresJournal  # noqa: PLC0415
    except ImportError as exc:
        fail(str(exc), EXIT_USAGE)
    try:
        return PostgresJournal(dsn, campaign=campaign)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)


def mismatch_text(journal: PostgresJournal, csv_file: Path, where: str) -> str:
    """The one line for a file that is not the one a PostgreSQL campaign was loaded from."""
    return (
        f"the campaign {journal.campaign!r} in {journal!r} was loaded from another file: "
        f"{where} (was {csv_file} edited, or are --sender, --delimiter or --encoding "
        "different?); nothing was sent. Pass another --campaign NAME to start afresh"
    )


async def load_rows(
    journal: PostgresJournal, rows: Iterable[CampaignRow | BadRow], csv_file: Path
) -> int:
    """Load the file's rows into the campaign (loading twice adds nothing); the data rows read.

    Raises :class:`ValueError` (exit 2) before anything is sent when a row
    differs from what the campaign holds at its position.
    """
    batch: list[tuple[int, ViberMessage | SmsMessage, int | None]] = []
    count = 0

    async def load() -> None:
        for index in await journal.load_messages(batch):
            line = next(row_line for i, _, row_line in batch if i == index)
            where = f"the row at line {line} is not the one it holds"
            raise ValueError(mismatch_text(journal, csv_file, where))
        batch.clear()

    for position, row in enumerate(rows):
        count = position + 1
        if isinstance(row, BadRow):
            continue  # its results row comes from the file; nothing to send
        batch.append((position, row.message, row.line))
        if len(batch) >= _LOAD_BATCH:
            await load()
    if batch:
        await load()
    extent = await journal.extent()
    if extent > count:
        where = f"the file has {count} row(s), fewer than the {extent} it holds"
        raise ValueError(mismatch_text(journal, csv_file, where))
    return count


def campaign_line(journal: PostgresJournal, counts: dict[str, int], sent_here: int) -> str:
    """This worker's part and the whole campaign's counts, in one line."""
    total = sum(counts.values())
    open_rows = sum(counts.get(state, 0) for state in ("pending", "claimed", "not_sent"))
    return (
        f"campaign {journal.campaign!r}: {counts.get('sent', 0):,} of {total:,} sent "
        f"({sent_here:,} by this worker), {counts.get('unknown', 0):,} unknown, "
        f"{counts.get('failed', 0):,} failed, {open_rows:,} not sent yet"
    )
