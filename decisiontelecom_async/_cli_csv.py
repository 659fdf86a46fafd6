"""Campaign files for the command line: CSV rows in, one result row out per row.

Input columns are the :class:`ViberMessage` field names: ``receiver`` and
``text`` are required; ``sender`` is required unless a default is given;
``message_type``, ``source_type`` (numbers or names such as ``TEXT_ONLY`` or
``promotional``), ``sms_text``, ``image_url``, ``button_caption``,
``button_action``, ``callback_url`` and ``validity_period`` are optional.
Empty cells count as unset. Rows are read lazily, so a file of any size
streams through in constant memory.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

import attrs

from decisiontelecom_async._enums import MessageType, SourceType
from decisiontelecom_async._errors import DecisionTelecomError, ValidationError

__all__ = [
    "CSV_COLUMNS",
    "RESULT_COLUMNS",
    "BadRow",
    "CampaignRow",
    "ResultWriter",
    "count_rows",
    "error_label",
    "read_campaign",
]

CSV_COLUMNS = (
    "receiver",
    "text",
    "sender",
    "message_type",
    "source_type",
    "sms_text",
    "image_url",
    "button_caption",
    "button_action",
    "callback_url",
    "validity_period",
)
RESULT_COLUMNS = ("line", "receiver", "status", "message_id", "error_type", "error", "attempts")

_E = TypeVar("_E", MessageType, SourceType)


@attrs.frozen
class CampaignRow:
    """A good row: its line number and the message built from it."""

    line: int
    message: Any


@attrs.frozen
class BadRow:
    """A row that could not become a message, with the reason."""

    line: int
    receiver: str
    reason: str


def count_rows(path: Path) -> int:
    """Count the data rows of a CSV file cheaply (for the progress bar's ETA)."""
    lines = 0
    last = b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        lines += 1
    return max(0, lines - 1)


def _parse_enum(enum_type: type[_E], value: str) -> _E | str:
    text = value.strip()
    if text.lstrip("-").isdigit():
        try:
            return enum_type(int(text))
        except ValueError:
            return text
    try:
        return enum_type[text.upper()]
    except KeyError:
        return text


def _row_to_kwargs(row: dict[str, str | None], default_sender: str | None) -> dict[str, Any]:
    cells = {key.strip(): (value or "").strip() for key, value in row.items() if key}
    kwargs: dict[str, Any] = {
        "sender": cells.get("sender") or default_sender or "",
        "receiver": cells.get("receiver", ""),
        "text": cells.get("text", ""),
    }
    for name in ("sms_text", "image_url", "button_caption", "button_action", "callback_url"):
        if cells.get(name):
            kwargs[name] = cells[name]
    if cells.get("message_type"):
        kwargs["message_type"] = _parse_enum(MessageType, cells["message_type"])
    if cells.get("source_type"):
        kwargs["source_type"] = _parse_enum(SourceType, cells["source_type"])
    if cells.get("validity_period"):
        period = cells["validity_period"]
        kwargs["validity_period"] = int(period) if period.isdigit() else period
    return kwargs


def read_campaign(
    handle: IO[str], *, default_sender: str | None = None
) -> Iterator[CampaignRow | BadRow]:
    """Yield one :class:`CampaignRow` or :class:`BadRow` per data row, lazily."""
    from decisiontelecom_async._models import ViberMessage  # noqa: PLC0415 - keeps import light

    reader = csv.DictReader(handle)
    fields = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in ("receiver", "text") if name not in fields]
    if missing:
        msg = f"the CSV header lacks the column(s) {', '.join(missing)}; columns: " + ", ".join(
            CSV_COLUMNS
        )
        raise ValueError(msg)
    unknown = [name for name in fields if name not in CSV_COLUMNS]
    if unknown:
        msg = f"the CSV header has unknown column(s) {', '.join(unknown)}; columns: " + ", ".join(
            CSV_COLUMNS
        )
        raise ValueError(msg)
    for row in reader:
        line = reader.line_num
        receiver = (row.get("receiver") or "").strip()
        if None in row:
            yield BadRow(line, receiver, "more cells than the header has columns")
            continue
        try:
            yield CampaignRow(line, ViberMessage(**_row_to_kwargs(row, default_sender)))
        except ValidationError as exc:
            yield BadRow(line, receiver, "; ".join(str(problem) for problem in exc.problems))


class ResultWriter:
    """Writes the results CSV: one row per input row, id or error."""

    def __init__(self, handle: IO[str]) -> None:
        self._writer = csv.writer(handle)
        self._writer.writerow(RESULT_COLUMNS)
        self._handle = handle

    def sent(self, line: int, receiver: str, message_id: int, attempts: int) -> None:
        """Record a message the service accepted."""
        self._writer.writerow((line, receiver, "sent", message_id, "", "", attempts))

    def failed(
        self, line: int, receiver: str, error: DecisionTelecomError | str, attempts: int
    ) -> None:
        """Record a row that was not sent, with the reason."""
        if isinstance(error, str):
            self._writer.writerow((line, receiver, "invalid", "", "ValidationError", error, 0))
        else:
            self._writer.writerow(
                (line, receiver, "failed", "", type(error).__name__, str(error), attempts)
            )

    def flush(self) -> None:
        """Push buffered rows to the file."""
        self._handle.flush()


def error_label(error: DecisionTelecomError | str) -> str:
    """A short label to group failures by in the summary."""
    return "invalid row" if isinstance(error, str) else type(error).__name__
