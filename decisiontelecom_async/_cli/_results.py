"""``decisiontelecom results``: a campaign's results file from its journal, at any time.

From a PostgreSQL campaign alone (``--journal postgresql://... --campaign
NAME``): one row per loaded row, in position order, with the line and
receiver stored when ``campaign`` loaded it. Rows that could not become a
message are never loaded: each gap in the positions is an ``invalid`` row
(line 0; invalid rows after the last good one are not seen), and a row
loaded by ``send_many`` rather than the command line has line 0. With
``--file FILE.csv`` (and the ``--sender``, ``--encoding``, ``--delimiter``
the campaign used) the file is read again and joined with the journal, as
``campaign`` writes it: exact, invalid rows included. An SQLite journal
holds digests only, not the messages, so it needs ``--file``.

Rows still in flight read ``unknown``, rows not sent yet ``not_sent``. The
file is written beside ``--output`` and moved over it whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from decisiontelecom_async import Journal, SqliteJournal, ViberMessage
from decisiontelecom_async._cli._campaign import _rows_again
from decisiontelecom_async._cli._csv import BadRow, CampaignRow, ResultWriter
from decisiontelecom_async._cli._errors import EXIT_USAGE, fail, run_command
from decisiontelecom_async._cli._journal_results import (
    NOT_REACHED,
    _write_record,
    write_results,
    written_whole,
)
from decisiontelecom_async._cli._options import check_delimiter, check_encoding
from decisiontelecom_async._cli._output import stderr_console
from decisiontelecom_async._cli._shared_journal import is_dsn, postgres_journal

if TYPE_CHECKING:
    from decisiontelecom_async.distributed import PostgresJournal

__all__ = ["results"]

_CHUNK = 1000
_NOT_LOADED = (
    "this row could not become a message, so the campaign never loaded it "
    "(pass --file FILE.csv for its line and reason)"
)


async def _from_journal(journal: PostgresJournal, output: Path) -> ResultWriter:
    with written_whole(output) as sink:
        writer = ResultWriter(sink)
        extent = await journal.extent()
        for start in range(0, extent, _CHUNK):
            stop = min(start + _CHUNK, extent)
            found = {row.record.index: row for row in await journal.stored(start, stop)}
            for position in range(start, stop):
                row = found.get(position)
                if row is None:
                    writer.invalid(BadRow(0, "", _NOT_LOADED))
                    continue
                message = cast("ViberMessage", row.message)
                line = row.line or 0
                _write_record(writer, CampaignRow(line, message), row.record, NOT_REACHED)
    return writer


async def run_results(
    journal: Journal,
    output: Path,
    csv_file: Path | None,
    *,
    sender: str | None,
    encoding: str,
    delimiter: str | None,
) -> int:
    """Write the results file; 0 when every row is sent, 1 otherwise."""
    async with journal:
        if csv_file is not None:
            rows = _rows_again(csv_file, encoding, sender, delimiter)
            writer = await write_results(rows, journal, output)
        else:
            writer = await _from_journal(cast("PostgresJournal", journal), output)
    statuses = writer.statuses
    shown = ", ".join(f"{n:,} {status}" for status, n in sorted(statuses.items()))
    stderr_console().print(
        f"wrote {statuses.total():,} row(s) to {output}: {shown or 'none'}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return 0 if statuses["sent"] == statuses.total() else 1


@click.command()
@click.option(
    "--journal",
    "journal_spec",
    required=True,
    help="The campaign's journal: a postgresql:// DSN, or the path of a journal file.",
)
@click.option("--campaign", "campaign_name", help="The campaign's name (a PostgreSQL journal).")
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write one result row per input row.",
)
@click.option(
    "--file",
    "csv_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The campaign's CSV file, read again for exact lines (needed for a journal file).",
)
@click.option("--sender", help="The --sender the campaign used (with --file).")
@click.option(
    "--encoding",
    default="utf-8-sig",
    show_default=True,
    callback=check_encoding,
    help="The file's text encoding (with --file).",
)
@click.option("--delimiter", callback=check_delimiter, help="The cell delimiter (with --file).")
def results(  # noqa: PLR0917 - one parameter per click option
    journal_spec: str,
    campaign_name: str | None,
    output: Path,
    csv_file: Path | None,
    sender: str | None,
    encoding: str,
    delimiter: str | None,
) -> None:
    """Write a campaign's results file from its journal, at any time, while workers run too.

    One row per input row: sent (with its message_id), failed, unknown (in
    flight, or its answer lost), not_sent, invalid. A PostgreSQL campaign
    needs only --journal and --campaign; a journal file needs --file (it
    keeps digests, not the messages). Exit code 0 when every row is sent, 1
    when any is not, 2 for bad usage.
    """
    journal: Journal
    if is_dsn(journal_spec):
        journal = postgres_journal(journal_spec, campaign_name)
    else:
        if campaign_name is not None:
            fail("--campaign names a campaign of a PostgreSQL journal", EXIT_USAGE)
        if csv_file is None:
            fail(
                "a journal file keeps digests, not the messages: pass --file FILE.csv "
                "(the campaign's file) to write its results",
                EXIT_USAGE,
            )
        path = Path(journal_spec)
        if not path.is_file():
            fail(f"no such journal: {path}", EXIT_USAGE)
        journal = SqliteJournal(path, create=False)
    if csv_file is not None and not csv_file.is_file():
        fail(f"no such file: {csv_file}", EXIT_USAGE)
    if not output.parent.is_dir():
        fail(f"no such directory for the results: {output.parent}", EXIT_USAGE)
    run_command(
        run_results(
            journal, output, csv_file, sender=sender, encoding=encoding, delimiter=delimiter
        )
    )
