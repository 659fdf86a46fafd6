"""``decisiontelecom campaign``: one message per CSV row, a result row per input row.

The rows stream through the client's public ``send_many``: the file is
read lazily, the live bar and the summary show the counts the run reports
(:class:`BulkProgress`), and the campaign's own stop rule
(:class:`Unreachable`) is handed to ``send_many(stop_when=...)``.

By default the campaign keeps a journal beside the file
(``send_many(journal=...)``): a re-run resumes, sending nothing the service
accepted, and the results file is written from the journal at the end (see
:mod:`._journal_results`). With ``--no-journal`` each outcome becomes a
result row the moment it comes (:meth:`CampaignRun.record`).
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal, cast

import click

from decisiontelecom_async import (
    BulkProgress,
    BulkRun,
    CampaignAborted,
    DecisionTelecomError,
    Journal,
    JournalError,
    JournalMismatchError,
    SendOutcome,
    SqliteJournal,
    TransportError,
    ViberMessage,
)
from decisiontelecom_async._cli._campaign_view import (
    CampaignBar,
    Tally,
    resumed_line,
    summary_table,
)
from decisiontelecom_async._cli._csv import (
    BadRow,
    CampaignReader,
    CampaignRow,
    ResultWriter,
    scan_file,
)
from decisiontelecom_async._cli._errors import EXIT_USAGE, fail, run_command
from decisiontelecom_async._cli._journal_results import NOT_REACHED, write_results
from decisiontelecom_async._cli._options import (
    Service,
    check_delimiter,
    check_encoding,
    rate_limit_option,
    reach_shared_limit,
    service_options,
    shared_limit_option,
    shared_rate_limit,
)
from decisiontelecom_async._cli._output import (
    STOP_SIGNALS,
    STOPPED_WARNING,
    log_to,
    on_signals,
    stderr_console,
)
from decisiontelecom_async._cli._shared_journal import (
    campaign_line,
    is_dsn,
    load_rows,
    mismatch_text,
    postgres_journal,
)

if TYPE_CHECKING:
    from decisiontelecom_async.distributed import PostgresJournal

if TYPE_CHECKING:
    from decisiontelecom_async._cli._options import CliRateLimit

__all__ = ["CampaignRun", "Unreachable", "campaign", "run_campaign"]

_UNREACHABLE_STREAK = 20
"""Connect failures in a row (each after its retries) that stop a campaign."""
_PROGRESS_INTERVAL = 0.2
_COUNTS_EVERY = 1.0
"""Seconds between two looks at a shared campaign's counts for the bar."""
"""Seconds between the counts the run reports to the bar."""


class Unreachable:
    """The campaign's stop rule: the service cannot be reached.

    ``send_many`` already stops for an empty balance or a refused key. This
    adds a connect failure (after its retries) before anything was sent, or
    a long streak of them later.
    """

    def __init__(self) -> None:
        self.anything_sent = False
        self.streak = 0

    def __call__(self, outcome: SendOutcome[ViberMessage]) -> bool:
        """Whether ``outcome`` stops the campaign."""
        error = outcome.error
        if error is None:
            self.anything_sent = True
            self.streak = 0
            return False
        if not isinstance(error, TransportError) or error.outcome_unknown:
            return False
        self.streak += 1
        return not self.anything_sent or self.streak >= _UNREACHABLE_STREAK


class CampaignRun:
    """One campaign: reads rows, hands each outcome to the results, keeps the bar moving.

    ``writer`` is the results file written as outcomes come (``--no-journal``);
    ``None`` when the results are written from the journal at the end.
    """

    def __init__(
        self, reader: CampaignReader, writer: ResultWriter | None, bar: CampaignBar
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.bar = bar
        self.rule = Unreachable()
        self.stopped_by: DecisionTelecomError | None = None
        """The error that stopped the campaign, if one did."""
        self.progress: BulkProgress | None = None
        """The run's last counts (final once the run handed out every outcome)."""
        self.rows_of: dict[int, CampaignRow | BadRow] = {}
        """Each row handed to send_many and not settled yet, by its position."""
        self.sent_now = 0
        """Rows this run sent (not answered from the journal)."""
        self.not_reached = NOT_REACHED
        """The error of the rows the run never got to (its stop's, once it stopped)."""
        self.interrupted: signal.Signals | None = None
        """The signal that stopped the campaign, if one did."""
        self._outcomes: BulkRun[SendOutcome[ViberMessage]] | None = None
        self.shared: PostgresJournal | None = None
        """A PostgreSQL campaign this process works on, whose counts the bar shows."""
        self._looked = 0.0

    def interrupt(self, signum: signal.Signals) -> None:
        """Stop like a stop of the service: send nothing new, settle, record every row."""
        if self.interrupted is None:
            self.interrupted = signum
        if self._outcomes is not None:
            self._outcomes.stop()

    def items(self) -> Iterator[ViberMessage | BadRow]:
        """Every data row: its message, or the bad row itself.

        A bad row goes to send_many too, where it gets a ValidationError
        outcome of its own and no journal record: so a row's position (the
        journal's key) is its place among the data rows, the same in every
        run, whichever rows are bad.
        """
        for position, item in enumerate(self.reader):
            self.rows_of[position] = item
            yield item.message if isinstance(item, CampaignRow) else item
        # Now the exact count is known (quoted line breaks, blank lines).
        self.bar.show(total=self.reader.rows)

    async def report(self, progress: BulkProgress) -> None:
        """The run's progress hook; a shared campaign's counts are looked at once a second."""
        self.progress = progress
        self.bar.show(progress)
        if self.shared is not None and time.monotonic() - self._looked >= _COUNTS_EVERY:
            await self.show_campaign()

    async def show_campaign(self) -> None:
        """Show the shared campaign's counts on the bar (the run says what failed, not the bar)."""
        if self.shared is None:
            return
        self._looked = time.monotonic()
        try:
            counts = await self.shared.counts()
        except Exception:  # noqa: BLE001 - the bar only watches
            return
        self.bar.show_campaign(counts)

    def record(self, outcome: SendOutcome[ViberMessage]) -> None:
        """Count one outcome; without a journal, write its result row."""
        row = self.rows_of.pop(outcome.index)
        error = outcome.error
        if outcome.ok and not outcome.resumed:
            self.sent_now += 1
        if isinstance(error, CampaignAborted) and self.not_reached == NOT_REACHED:
            self.not_reached = str(error)  # the first says why the run stopped
        writer = self.writer
        if writer is None:
            return
        if isinstance(row, BadRow):
            writer.invalid(row)
        elif error is None and outcome.message_id is not None:
            writer.sent(row.line, row.message.receiver, outcome.message_id, outcome.attempts)
        else:
            assert error is not None  # noqa: S101 - SendOutcome's invariant
            writer.failed(row.line, row.message.receiver, error, outcome.attempts)

    async def send(
        self,
        service: Service,
        *,
        concurrency: int,
        rate_limit: CliRateLimit,
        journal: Journal | None = None,
        resend_unknown: bool = False,
    ) -> None:
        """Send every row; hand each outcome to :meth:`record` as it comes."""
        async with service.client(max_concurrency=concurrency, rate_limit=rate_limit) as client:
            await reach_shared_limit(rate_limit)
            outcomes = client.send_many(
                # A bad row is not a ViberMessage on purpose: see items().
                cast("Iterator[ViberMessage]", self.items()),
                concurrency=concurrency,
                progress=self.report,
                progress_interval=_PROGRESS_INTERVAL,
                stop_when=self.rule,
                journal=journal,
                resend_unknown=resend_unknown,
            )
            self._outcomes = outcomes
            if self.interrupted is not None:
                outcomes.stop()
            # A signal only stops the run: the loop still gets every outcome,
            # the rest of the file as not sent.
            async with outcomes:
                async for outcome in outcomes:
                    self.record(outcome)
        self.stopped_by = outcomes.stopped_by
        self.bar.show(total=self.reader.rows)

    def mismatch(self, error: JournalMismatchError, journal: Journal, csv_file: Path) -> str:
        """The one line for a file that is not the journal's."""
        row = self.rows_of.get(error.position)
        where = (
            f"the row at line {row.line} is not the one it recorded"
            if row is not None
            else f"the file has {self.reader.rows} row(s), fewer than it recorded"
        )
        if not isinstance(journal, SqliteJournal):
            return mismatch_text(cast("PostgresJournal", journal), csv_file, where)
        return (
            f"the journal {journal.path} was kept for another campaign: {where} "
            f"(was {csv_file} edited, or are --sender, --delimiter or --encoding different?); "
            "nothing was sent. Pass --journal NEW_PATH to start afresh"
        )


def _open_results(results: Path) -> IO[str]:
    try:
        return results.open("w", newline="", encoding="utf-8")
    except OSError as exc:
        msg = f"cannot write the results to {results}: {exc.strerror or exc}"
        raise OSError(msg) from None


@contextlib.asynccontextmanager
async def _opened(journal: Journal | None) -> AsyncIterator[int]:
    """Hold ``journal`` open meanwhile; yield the rows its earlier runs recorded (0: none)."""
    if journal is None:
        yield 0
        return
    try:
        await journal.open()
        earlier = await journal.extent()
    except JournalError as exc:
        await journal.aclose()
        if not isinstance(journal, SqliteJournal):
            raise  # a database that cannot be reached: exit 1, the error says why
        # Refused before anything is sent: the file cannot be resumed, like a bad CSV.
        msg = f"cannot use the journal {journal.path}: {exc}"
        raise ValueError(msg) from None
    try:
        yield earlier
    finally:
        await journal.aclose()


def _rows_again(
    csv_file: Path, encoding: str, sender: str | None, delimiter: str | None
) -> Iterator[CampaignRow | BadRow]:
    """The file's data rows read again, as the run read them, for the results."""
    with csv_file.open(newline="", encoding=encoding) as source:
        yield from CampaignReader(source, default_sender=sender, delimiter=delimiter)


async def run_campaign(
    service: Service,
    csv_file: Path,
    results: Path,
    *,
    sender: str | None,
    concurrency: int,
    rate_limit: CliRateLimit,
    encoding: str = "utf-8-sig",
    delimiter: str | None = None,
    journal: Path | None = None,
    resend_unknown: bool = False,
    shared: PostgresJournal | None = None,
) -> int:
    """Send every row of ``csv_file``; write ``results``; print a summary.

    ``shared`` (a PostgreSQL campaign, instead of ``journal``) is loaded with
    the file's rows first; this process then works on it like a ``worker``,
    and the summary adds the whole campaign's counts.

    The file is checked first (it decodes, its header names the columns), so
    a broken file sends nothing. With a ``journal`` (see the module
    docstring) the run resumes what earlier runs recorded, and ``results``
    is written from the journal at the end, atomically; a journal kept for
    another file raises :class:`ValueError` (exit 2) before anything is
    sent. Without one, each row's outcome is written to ``results`` as it
    comes (completion order; ``line`` ties it to the input) and flushed at
    once. SIGINT or SIGTERM stops the campaign: nothing new is sent, requests
    out settle, the rows not reached are recorded as not sent, and the exit
    code is 130 (SIGINT) or 143 (SIGTERM). Otherwise returns 0 when every
    row ends ``sent``, 1 when any does not (``unknown`` included).
    """
    try:
        estimate = scan_file(csv_file, encoding).lines
    except OSError as exc:
        msg = f"cannot read {csv_file}: {exc.strerror or exc}"
        raise OSError(msg) from None
    console = stderr_console()
    kept: Journal | None = shared if shared is not None else None
    if journal is not None:
        kept = SqliteJournal(journal)
    async with _opened(kept) as earlier:
        if shared is not None:
            await load_rows(shared, _rows_again(csv_file, encoding, sender, delimiter), csv_file)
        with csv_file.open(newline="", encoding=encoding) as source:
            reader = CampaignReader(source, default_sender=sender, delimiter=delimiter)
            bar = CampaignBar(console, estimate)
            with contextlib.ExitStack() as stack:
                sink = None if kept is not None else stack.enter_context(_open_results(results))
                stack.enter_context(bar.progress)
                # The bulk engine's "stopped after" warning: the summary's last line says it.
                stack.enter_context(log_to(console, skip=(STOPPED_WARNING,)))
                run = CampaignRun(reader, None if sink is None else ResultWriter(sink), bar)
                run.shared = shared
                stack.enter_context(on_signals(run.interrupt, STOP_SIGNALS))
                try:
                    await run.send(
                        service,
                        concurrency=concurrency,
                        rate_limit=rate_limit,
                        journal=kept,
                        resend_unknown=resend_unknown,
                    )
                except JournalMismatchError as exc:
                    assert kept is not None  # noqa: S101 - only a journaled run checks
                    raise ValueError(run.mismatch(exc, kept, csv_file)) from None
                await run.show_campaign()  # the bar's last line: where the campaign stands
                # (Signals still only stop: the results are written whole.)
                writer = run.writer
                if kept is not None:
                    writer = await write_results(
                        _rows_again(csv_file, encoding, sender, delimiter),
                        kept,
                        results,
                        not_reached=run.not_reached,
                    )
        counts = None if shared is None else await shared.counts()
    assert writer is not None  # noqa: S101 - one or the other wrote the results
    assert run.progress is not None  # noqa: S101 - the run reports its final counts
    tally = Tally(writer.statuses, writer.reasons, run.sent_now)
    console.print(summary_table(tally, run.progress, resumed=earlier > 0, results=results))
    if earlier:
        console.print(resumed_line(tally), markup=False, highlight=False, soft_wrap=True)
    if shared is not None and counts is not None:
        line = campaign_line(shared, counts, run.sent_now)
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    not_sent = tally.statuses["not_sent"]
    if run.interrupted is not None:
        console.print(
            f"error: the campaign was stopped by {run.interrupted.name}; "
            f"{not_sent} row(s) not sent (status not_sent in {results})",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return 128 + run.interrupted
    if run.stopped_by is not None:
        cause = run.stopped_by
        console.print(
            f"error: the campaign stopped after {type(cause).__name__}: {cause.message_text}; "
            f"{not_sent} row(s) not sent (status not_sent in {results})",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    return 0 if tally.statuses["sent"] == tally.rows else 1


def _journal_of(
    csv_file: Path, journal_spec: str | None, campaign_name: str | None, *, no_journal: bool
) -> tuple[Path | None, PostgresJournal | None]:
    """The journal file, or the PostgreSQL campaign, that ``--journal`` and ``--campaign`` name."""
    if journal_spec is not None and is_dsn(journal_spec):
        return None, postgres_journal(journal_spec, campaign_name)
    if campaign_name is not None:
        fail(
            "--campaign names a campaign of a PostgreSQL journal: pass --journal postgresql://...",
            EXIT_USAGE,
        )
    if no_journal:
        return None, None
    if journal_spec is not None:
        return Path(journal_spec), None
    return csv_file.with_name(csv_file.stem + ".journal"), None


@click.command()
@service_options
@click.argument("csv_file", type=click.Path(path_type=Path))
@click.option(
    "--results",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write one result row per input row [default: FILE.results.csv].",
)
@click.option("--sender", help="Sender for rows whose 'sender' cell is empty.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1000),
    default=50,
    show_default=True,
    help="Messages in flight at once.",
)
@rate_limit_option
@shared_limit_option
@click.option(
    "--encoding",
    default="utf-8-sig",
    show_default=True,
    callback=check_encoding,
    help="The file's text encoding (utf-8-sig reads UTF-8 with or without a BOM).",
)
@click.option(
    "--delimiter",
    callback=check_delimiter,
    help="The cell delimiter: ',', ';' or 'tab' [default: found from the header].",
)
@click.option(
    "--journal",
    "journal_spec",
    help=(
        "Where the campaign keeps what it sent, to resume from: a file [default: "
        "FILE.journal], or a postgresql:// DSN that workers share (with --campaign)."
    ),
)
@click.option(
    "--campaign",
    "campaign_name",
    help="The campaign's name in a PostgreSQL journal (needed with --journal postgresql://...).",
)
@click.option(
    "--no-journal",
    is_flag=True,
    help="Keep no journal: a re-run sends every row again.",
)
@click.option(
    "--resend-unknown",
    is_flag=True,
    help="On resume, send again the rows whose outcome is unknown (they may arrive twice).",
)
def campaign(  # noqa: PLR0917 - one parameter per click option
    service: Service,
    csv_file: Path,
    results: Path | None,
    sender: str | None,
    concurrency: int,
    rate_limit: float | Literal["auto"] | None,
    shared_limit: str | None,
    encoding: str,
    delimiter: str | None,
    journal_spec: str | None,
    campaign_name: str | None,
    no_journal: bool,
    resend_unknown: bool,
) -> None:
    """Send one message per row of CSV_FILE, with live progress.

    Columns: receiver, text (required); sender (or --sender); message_type,
    source_type, sms_text, image_url, button_caption, button_action,
    callback_url, validity_period (optional), separated by commas,
    semicolons or tabs. A bad row is reported with its line number in the
    results file and does not stop the rest. A journal beside the file
    (FILE.journal) records each message before it is sent: running the same
    command again resumes, sending nothing the service accepted, and writes
    the results file whole, earlier runs' rows included. Ctrl+C or SIGTERM
    stops sending, settles what is in flight and records every row (the rest
    as not_sent). Exit code 0 when every row ends sent, 1 when any does not
    (unknown included), 2 for bad usage or a file refused before sending,
    130 after Ctrl+C, 143 after SIGTERM.
    """
    if not csv_file.exists():
        fail(f"no such file: {csv_file}", EXIT_USAGE)
    if not csv_file.is_file():
        fail(f"not a file: {csv_file}", EXIT_USAGE)
    if no_journal and (journal_spec is not None or resend_unknown):
        given = "--journal" if journal_spec is not None else "--resend-unknown"
        fail(f"{given} needs a journal: leave out --no-journal", EXIT_USAGE)
    journal, shared = _journal_of(csv_file, journal_spec, campaign_name, no_journal=no_journal)
    results = results or csv_file.with_name(csv_file.stem + ".results.csv")
    for other, what in ((results, "results file"), (journal, "journal")):
        if other is not None and other.resolve() == csv_file.resolve():
            fail(f"the {what} would overwrite the campaign file {csv_file}", EXIT_USAGE)
    if journal is not None and journal.resolve() == results.resolve():
        fail(f"the results file and the journal are the same file: {results}", EXIT_USAGE)
    limit = shared_rate_limit(rate_limit, shared_limit)
    if not results.parent.is_dir():
        fail(f"no such directory for the results: {results.parent}", EXIT_USAGE)
    if journal is not None and not journal.parent.is_dir():
        fail(f"no such directory for the journal: {journal.parent}", EXIT_USAGE)
    run_command(
        run_campaign(
            service,
            csv_file,
            results,
            sender=sender,
            concurrency=concurrency,
            rate_limit=limit,
            encoding=encoding,
            delimiter=delimiter,
            journal=journal,
            resend_unknown=resend_unknown,
            shared=shared,
        )
    )
