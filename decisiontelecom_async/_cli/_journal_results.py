"""A journaled campaign's results file: written from the journal, replaced atomically.

The journal keys each row by its position among the file's data rows (blank
lines left out). Every data row is handed to ``send_many``, a row that
cannot become a message too: it gets a ``ValidationError`` outcome of its
own and no journal record. So positions are the same from run to run
whatever the rows' validity, and a row fixed between two runs is sent by
the second one without moving any other row.

At the end of a run (finished, stopped or signalled) the file is read again
and joined with :meth:`Journal.records` in one pass: one result row per
data row, in file order, earlier runs' rows included, whatever this run
reached. It is written beside the results file and moved over it in one
``os.replace``, so a run killed at any moment leaves the previous results
file whole; the journal, not the results file, is what a re-run resumes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from decisiontelecom_async import Journal, JournalRecord, JournalState
from decisiontelecom_async._cli._csv import BadRow, CampaignRow, ResultWriter

__all__ = ["NOT_REACHED", "write_results", "written_whole"]

NOT_REACHED = "not sent: the campaign stopped before this row"
"""The error of a row no run ever claimed, when this run's stop gave no reason."""
_UNKNOWN = (
    "outcome unknown: the request was in flight when a run died, or its answer was lost; "
    "not sent again (--resend-unknown sends it)"
)


def _split(summary: str | None, default_type: str, default_text: str) -> tuple[str, str]:
    """``"Type: message"`` (the journal's one-line summary) as ``(type, message)``."""
    if not summary:
        return default_type, default_text
    kind, sep, text = summary.partition(": ")
    return (kind, text) if sep and kind.isidentifier() else (default_type, summary)


def _write_record(
    writer: ResultWriter, row: CampaignRow, record: JournalRecord | None, not_reached: str
) -> None:
    line, receiver = row.line, row.message.receiver
    state = None if record is None else record.state
    if record is None or state is JournalState.NOT_SENT:
        # Never claimed (the run stopped first) or claimed and stopped before it left.
        text = not_reached if record is None or not record.error else record.error
        _, text = _split(text, "CampaignAborted", text)
        writer.row(line, receiver, "not_sent", None, "CampaignAborted", text, 0)
    elif state is JournalState.SENT and record.message_id is not None:
        writer.sent(line, receiver, record.message_id, record.attempts)
    elif state is JournalState.FAILED:
        kind, text = _split(record.error, "DecisionTelecomError", "refused")
        writer.row(line, receiver, "failed", None, kind, text, record.attempts)
    else:  # unknown, or claimed by a run that died
        kind, text = _split(record.error, "TransportError", _UNKNOWN)
        writer.row(line, receiver, "unknown", None, kind, text, record.attempts)


async def write_results(
    rows: Iterable[CampaignRow | BadRow],
    journal: Journal,
    results: Path,
    *,
    not_reached: str = NOT_REACHED,
) -> ResultWriter:
    """Write ``results`` from ``rows`` (the file read again) and ``journal``; return its counts.

    ``not_reached`` is the error of a row with no record. The file appears
    whole or not at all (written to a temporary file beside it, then moved).
    """
    with written_whole(results) as sink:
        writer = ResultWriter(sink)
        records = aiter(journal.records())
        record = await anext(records, None)
        for position, row in enumerate(rows):
            while record is not None and record.index < position:
                record = await anext(records, None)  # (a record beyond the rows read)
            here = record if record is not None and record.index == position else None
            if isinstance(row, BadRow):
                writer.invalid(row)
            else:
                _write_record(writer, row, here, not_reached)
    return writer


@contextlib.contextmanager
def written_whole(results: Path) -> Iterator[TextIO]:
    """A file to write that replaces ``results`` in one move when the block ends well.

    It is written beside ``results`` and synced first, so ``results`` is
    whole at every moment; on any error the temporary file is removed, and
    an :class:`OSError` says which results file could not be written.
    """
    temporary = results.with_name(f".{results.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", newline="", encoding="utf-8") as sink:
            yield sink
            sink.flush()
            os.fsync(sink.fileno())
        temporary.replace(results)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        msg = f"cannot write the results to {results}: {exc.strerror or exc}"
        raise OSError(msg) from None
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
