"""Campaign files for the command line: CSV rows in, one result row out per row.

Input columns are the :class:`ViberMessage` field names: ``receiver`` and
``text`` are required; ``sender`` is required unless a default is given;
``message_type``, ``source_type`` (numbers or names such as ``TEXT_ONLY``,
``text-only`` or ``promotional``), ``sms_text``, ``image_url``,
``button_caption``, ``button_action``, ``callback_url`` and
``validity_period`` are optional. Cells are separated by commas,
semicolons (what Excel saves where the decimal mark is a comma) or tabs,
found from the header unless given. Empty cells count as unset; blank lines
are skipped. Rows are read lazily, so a file of any size streams through in
constant memory. A row that cannot become a message is a :class:`BadRow`
naming the line it starts on; it never stops the rows after it.
"""

from __future__ import annotations

import codecs
import collections
import csv
import enum
import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

import attrs

from decisiontelecom_async import (
    CampaignAborted,
    DecisionTelecomError,
    MessageType,
    SourceType,
    TransportError,
    UnexpectedResponseError,
    ValidationError,
    ViberMessage,
)

__all__ = [
    "CSV_COLUMNS",
    "DELIMITERS",
    "REQUIRED_COLUMNS",
    "RESULT_COLUMNS",
    "BadRow",
    "CampaignReader",
    "CampaignRow",
    "ResultWriter",
    "error_label",
    "parse_enum_text",
    "scan_file",
    "status_of",
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
REQUIRED_COLUMNS = ("receiver", "text")
DELIMITERS = {"comma": ",", "semicolon": ";", "tab": "\t", "\\t": "\t"}
"""Names a delimiter may be given by, besides the character itself."""
_CANDIDATES = (",", ";", "\t")
"""The delimiters a header is tried with, the usual one first."""
RESULT_COLUMNS = ("line", "receiver", "status", "message_id", "error_type", "error", "attempts")
_OPTIONAL_TEXT = ("sms_text", "image_url", "button_caption", "button_action", "callback_url")

_E = TypeVar("_E", bound=enum.IntEnum)


@attrs.frozen
class CampaignRow:
    """A good row: the line it starts on and the message built from it."""

    line: int
    message: ViberMessage


@attrs.frozen
class BadRow:
    """A row that could not become a message, with the reason."""

    line: int
    receiver: str
    reason: str


def _column_names(cells: list[str]) -> list[str]:
    return [name.strip().lstrip("\ufeff").lower() for name in cells]


def _known_columns(header: str, delimiter: str) -> int:
    """How many known column names ``header`` holds, read with ``delimiter``."""
    try:
        cells = next(csv.reader([header], delimiter=delimiter), [])
    except csv.Error:
        return 0
    return len(set(_column_names(cells)) & set(CSV_COLUMNS))


def _find_delimiter(header: str) -> str:
    """The delimiter of a header line: the one naming the most known columns.

    A header naming none (every column a typo) is split where it splits the
    most, so the error names each column; a tie goes to the comma.
    """
    known = {candidate: _known_columns(header, candidate) for candidate in _CANDIDATES}
    best = max(_CANDIDATES, key=lambda candidate: known[candidate])
    if known[best]:
        return best
    return max(_CANDIDATES, key=header.count)


def parse_enum_text(enum_type: type[_E], value: str) -> _E | str:
    """``106``, ``TEXT_ONLY``, ``text-only`` -> the member; anything else as given.

    An unknown value is handed back unchanged so that :class:`ViberMessage`
    names it in its own validation message.
    """
    text = value.strip()
    if text.isdigit():
        try:
            return enum_type(int(text))
        except ValueError:
            return text
    try:
        return enum_type[text.upper().replace("-", "_")]
    except KeyError:
        return text


@attrs.frozen
class FileScan:
    """What one cheap pass over a campaign file found."""

    lines: int
    """Physical lines, a first estimate of the rows for the progress bar."""


def scan_file(path: Path, encoding: str) -> FileScan:
    """Count lines and check that the whole file decodes, in constant memory.

    Raises :class:`ValueError` naming the line of the first byte that is not
    ``encoding`` text, before anything is sent.
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    lines = 0
    last = b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line = lines + chunk.count(b"\n", 0, max(exc.start, 0)) + 1
                msg = (
                    f"{path} is not {encoding} text (line {line}: {exc.reason}); "
                    "save it as 'CSV UTF-8' or pass --encoding (for example cp1251)"
                )
                raise ValueError(msg) from None
            lines += chunk.count(b"\n")
            last = chunk[-1:]
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            msg = f"{path} is not {encoding} text (it ends inside a character: {exc.reason})"
            raise ValueError(msg) from None
    if last != b"\n":
        lines += 1
    return FileScan(lines=max(0, lines - 1))


class CampaignReader:
    """Reads a campaign CSV: the header at once, the rows lazily.

    ``CampaignReader(handle)`` checks the header (raising :class:`ValueError`
    for a missing, unknown or repeated column) before anything is sent;
    iterating yields one :class:`CampaignRow` or :class:`BadRow` per data row.
    :attr:`rows` counts the rows yielded so far. ``delimiter`` is found from
    the header (the one of ``,``, ``;`` and tab that names the most known
    columns) unless given; :attr:`delimiter` is the one in use.
    """

    def __init__(
        self,
        handle: Iterable[str],
        *,
        default_sender: str | None = None,
        delimiter: str | None = None,
    ) -> None:
        lines = iter(handle)
        first = next(lines, None)
        if first is None:
            msg = "the CSV file is empty; its first line must name the columns: " + ", ".join(
                CSV_COLUMNS
            )
            raise ValueError(msg)
        forced = delimiter is not None
        self.delimiter = delimiter if delimiter is not None else _find_delimiter(first)
        self._reader = csv.reader(itertools.chain([first], lines), delimiter=self.delimiter)
        self._default_sender = default_sender
        self.rows = 0
        try:
            header = next(self._reader)
        except csv.Error as exc:
            msg = f"the CSV header cannot be read: {exc}"
            raise ValueError(msg) from None
        self.columns = _column_names(header)
        self._check_header(first if forced else None)

    def _check_header(self, forced_on: str | None) -> None:
        named = [name for name in self.columns if name]
        problems = []
        missing = [name for name in REQUIRED_COLUMNS if name not in named]
        if missing:
            problems.append(f"lacks the column(s) {', '.join(missing)}")
        unknown = [name for name in named if name not in CSV_COLUMNS]
        if unknown:
            problems.append(f"has unknown column(s) {', '.join(unknown)}")
        repeated = sorted({name for name in named if named.count(name) > 1})
        if repeated:
            problems.append(f"repeats the column(s) {', '.join(repeated)}")
        if problems:
            msg = f"the CSV header {' and '.join(problems)}; the columns are: " + ", ".join(
                CSV_COLUMNS
            )
            if forced_on is not None:
                found = _find_delimiter(forced_on)
                if found != self.delimiter and _known_columns(forced_on, found) >= len(
                    REQUIRED_COLUMNS
                ):
                    msg += f" (the header reads as {found!r}-delimited: pass --delimiter {found!r})"
                else:
                    msg += f" (read with --delimiter {self.delimiter!r})"
            raise ValueError(msg)

    def __iter__(self) -> Iterator[CampaignRow | BadRow]:
        reader = self._reader
        while True:
            first_line = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                # The reader starts afresh at the next line: one bad row, not a bad file.
                self.rows += 1
                yield BadRow(first_line, "", f"unreadable CSV: {exc}")
                continue
            if not any(cell.strip() for cell in cells):
                continue  # a blank line, or a row of empty cells
            self.rows += 1
            yield self._row(first_line, cells)

    def _row(self, line: int, cells: list[str]) -> CampaignRow | BadRow:
        extra = cells[len(self.columns) :]
        values = {
            name: cell.strip() for name, cell in zip(self.columns, cells, strict=False) if name
        }
        receiver = values.get("receiver", "")
        if any(cell.strip() for cell in extra):
            return BadRow(
                line,
                receiver,
                f"{len(cells)} cells but the header names {len(self.columns)} columns",
            )
        try:
            return CampaignRow(line, ViberMessage(**self._kwargs(values)))
        except ValidationError as exc:
            return BadRow(line, receiver, "; ".join(str(problem) for problem in exc.problems))

    def _kwargs(self, values: dict[str, str]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "sender": values.get("sender") or self._default_sender or "",
            "receiver": values.get("receiver", ""),
            "text": values.get("text", ""),
        }
        for name in _OPTIONAL_TEXT:
            if values.get(name):
                kwargs[name] = values[name]
        if values.get("message_type"):
            kwargs["message_type"] = parse_enum_text(MessageType, values["message_type"])
        if values.get("source_type"):
            kwargs["source_type"] = parse_enum_text(SourceType, values["source_type"])
        if values.get("validity_period"):
            period = values["validity_period"]
            kwargs["validity_period"] = int(period) if period.isdigit() else period
        return kwargs


class ResultWriter:
    """Writes the results CSV: one row per input row, its id or its error.

    ``status`` is ``sent``, ``invalid`` (the row could not become a message),
    ``failed`` (the service refused it or could not be reached: it was not
    accepted), ``unknown`` (the request left and no usable answer came back:
    it may have been accepted) or ``not_sent`` (the campaign had stopped:
    ``CampaignAborted``).

    Every row is flushed to the file as it is written, so a row is on disk
    (in the operating system's hands) as soon as its outcome is known: a
    process killed outright (``kill -9``) loses no row it recorded. That
    costs about 1.5 microseconds a row, nothing beside a request.
    :attr:`statuses` and :attr:`reasons` count what was written.
    """

    def __init__(self, handle: IO[str]) -> None:
        self._writer = csv.writer(handle)
        self._handle = handle
        self.statuses: collections.Counter[str] = collections.Counter()
        """Rows written, by status."""
        self.reasons: collections.Counter[str] = collections.Counter()
        """Rows neither sent nor unknown, by reason (``invalid row`` or the error's type)."""
        self._writer.writerow(RESULT_COLUMNS)
        self._handle.flush()

    def row(  # noqa: PLR0917 - one parameter per column
        self,
        line: int,
        receiver: str,
        status: str,
        message_id: int | None,
        error_type: str,
        error: str,
        attempts: int,
    ) -> None:
        """Write one result row as it is, and count it."""
        self.statuses[status] += 1
        if status not in {"sent", "unknown"}:
            self.reasons["invalid row" if status == "invalid" else error_type] += 1
        shown_id = "" if message_id is None else message_id
        self._writer.writerow((line, receiver, status, shown_id, error_type, error, attempts))
        self._handle.flush()

    def sent(self, line: int, receiver: str, message_id: int, attempts: int) -> None:
        """Record a message the service accepted."""
        self.row(line, receiver, "sent", message_id, "", "", attempts)

    def invalid(self, row: BadRow) -> None:
        """Record a row that could not become a message."""
        self.row(row.line, row.receiver, "invalid", None, "ValidationError", row.reason, 0)

    def failed(self, line: int, receiver: str, error: DecisionTelecomError, attempts: int) -> None:
        """Record a message that was not sent, or may have been, with the reason."""
        self.row(line, receiver, status_of(error), None, type(error).__name__, str(error), attempts)

    def flush(self) -> None:
        """Push buffered rows to the file."""
        self._handle.flush()


def status_of(error: DecisionTelecomError) -> str:
    """The results ``status`` of an outcome's error: ``not_sent``, ``unknown`` or ``failed``."""
    if isinstance(error, CampaignAborted):
        return "not_sent"
    if isinstance(error, TransportError) and error.outcome_unknown:
        return "unknown"
    if isinstance(error, UnexpectedResponseError):
        return "unknown"  # an answer came, but it says neither "accepted" nor "refused"
    return "failed"


def error_label(error: DecisionTelecomError | BadRow) -> str:
    """A short label to group failures by in the summary."""
    return "invalid row" if isinstance(error, BadRow) else type(error).__name__
