"""``decisiontelecom campaign``: one message per CSV row, a result row per input row.

The rows stream through the client's public ``send_many``: the file is
read lazily, each outcome becomes a result row the moment it comes
(:meth:`CampaignRun.record`, written from the stream of outcomes, whatever
produced them), the live bar and the summary show the counts the run reports
(:class:`BulkProgress`), and the campaign's own stop rule
(:class:`Unreachable`) is handed to ``send_many(stop_when=...)``.
"""

from __future__ import annotations

import collections
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Literal

import click

from decisiontelecom_async import (
    BulkProgress,
    BulkRun,
    DecisionTelecomError,
    SendOutcome,
    TransportError,
    ViberMessage,
)
from decisiontelecom_async._cli._campaign_view import CampaignBar, summary_table
from decisiontelecom_async._cli._csv import (
    BadRow,
    CampaignReader,
    ResultWriter,
    error_label,
    scan_file,
)
from decisiontelecom_async._cli._errors import EXIT_USAGE, fail, run_command
from decisiontelecom_async._cli._options import (
    Service,
    check_delimiter,
    check_encoding,
    rate_limit_option,
    service_options,
)
from decisiontelecom_async._cli._output import (
    STOP_SIGNALS,
    STOPPED_WARNING,
    log_to,
    on_signals,
    stderr_console,
)

__all__ = ["CampaignRun", "Unreachable", "campaign", "run_campaign"]

_UNREACHABLE_STREAK = 20
"""Connect failures in a row (each after its retries) that stop a campaign."""
_PROGRESS_INTERVAL = 0.2
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
    """One campaign: reads rows, writes a result row for each outcome, keeps the bar moving."""

    def __init__(self, reader: CampaignReader, writer: ResultWriter, bar: CampaignBar) -> None:
        self.reader = reader
        self.writer = writer
        self.bar = bar
        self.rule = Unreachable()
        self.failures: collections.Counter[str] = collections.Counter()
        """Rows not sent, by reason (a row refused before sending included)."""
        self.stopped_by: DecisionTelecomError | None = None
        """The error that stopped the campaign, if one did."""
        self.progress: BulkProgress | None = None
        """The run's last counts (final once the run handed out every outcome)."""
        self.rows_of: dict[int, tuple[int, str]] = {}
        """Line and receiver of each message handed to send_many, by its index."""
        self.interrupted: signal.Signals | None = None
        """The signal that stopped the campaign, if one did."""
        self._outcomes: BulkRun[SendOutcome[ViberMessage]] | None = None

    def interrupt(self, signum: signal.Signals) -> None:
        """Stop like a stop of the service: send nothing new, settle, record every row."""
        if self.interrupted is None:
            self.interrupted = signum
        if self._outcomes is not None:
            self._outcomes.stop()

    def messages(self) -> Iterator[ViberMessage]:
        """The good rows' messages; bad rows are recorded on the way."""
        index = 0
        for item in self.reader:
            if isinstance(item, BadRow):
                self.writer.invalid(item)
                self.failures[error_label(item)] += 1
                self.bar.invalid += 1
                self.bar.show()
                continue
            self.rows_of[index] = (item.line, item.message.receiver)
            index += 1
            yield item.message
        # Now the exact count is known (quoted line breaks, blank lines).
        self.bar.show(total=self.reader.rows)

    def report(self, progress: BulkProgress) -> None:
        """The run's progress hook."""
        self.progress = progress
        self.bar.show(progress)

    def record(self, outcome: SendOutcome[ViberMessage]) -> None:
        """Write the result row of one outcome."""
        line, receiver = self.rows_of.pop(outcome.index)
        if outcome.error is None and outcome.message_id is not None:
            self.writer.sent(line, receiver, outcome.message_id, outcome.attempts)
            return
        error = outcome.error
        assert error is not None  # noqa: S101 - SendOutcome's invariant
        self.failures[error_label(error)] += 1
        self.writer.failed(line, receiver, error, outcome.attempts)

    async def send(
        self, service: Service, *, concurrency: int, rate_limit: float | Literal["auto"] | None
    ) -> None:
        """Send every row; record each outcome as it comes."""
        async with service.client(max_concurrency=concurrency, rate_limit=rate_limit) as client:
            outcomes = client.send_many(
                self.messages(),
                concurrency=concurrency,
                progress=self.report,
                progress_interval=_PROGRESS_INTERVAL,
                stop_when=self.rule,
            )
            self._outcomes = outcomes
            if self.interrupted is not None:
                outcomes.stop()
            # A signal only stops the run: the loop still gets every outcome,
            # the rest of the file as not sent, and writes each as it comes.
            async with outcomes:
                async for outcome in outcomes:
                    self.record(outcome)
        self.stopped_by = outcomes.stopped_by
        self.bar.show(total=self.reader.rows)


def _open_results(results: Path) -> IO[str]:
    try:
        return results.open("w", newline="", encoding="utf-8")
    except OSError as exc:
        msg = f"cannot write the results to {results}: {exc.strerror or exc}"
        raise OSError(msg) from None


async def run_campaign(
    service: Service,
    csv_file: Path,
    results: Path,
    *,
    sender: str | None,
    concurrency: int,
    rate_limit: float | Literal["auto"] | None,
    encoding: str = "utf-8-sig",
    delimiter: str | None = None,
) -> int:
    """Send every row of ``csv_file``; write ``results``; print a summary.

    The file is checked first (it decodes, its header names the columns), so
    a broken file sends nothing. Then rows stream through ``send_many``;
    each row's outcome is written to ``results`` as it comes (completion
    order; ``line`` ties it to the input) and flushed at once. SIGINT or
    SIGTERM stops the campaign: nothing new is sent, requests out settle,
    the rows not reached are recorded as not sent, and the exit code is 130
    (SIGINT) or 143 (SIGTERM). Otherwise returns 0 when every row was sent.
    """
    try:
        estimate = scan_file(csv_file, encoding).lines
    except OSError as exc:
        msg = f"cannot read {csv_file}: {exc.strerror or exc}"
        raise OSError(msg) from None
    console = stderr_console()
    with csv_file.open(newline="", encoding=encoding) as source:
        reader = CampaignReader(source, default_sender=sender, delimiter=delimiter)
        bar = CampaignBar(console, estimate)
        # The bulk engine's "stopped after" warning: the summary's last line says it.
        with (
            _open_results(results) as sink,
            bar.progress,
            log_to(console, skip=(STOPPED_WARNING,)),
        ):
            run = CampaignRun(reader, ResultWriter(sink), bar)
            with on_signals(run.interrupt, STOP_SIGNALS):
                await run.send(service, concurrency=concurrency, rate_limit=rate_limit)
    assert run.progress is not None  # noqa: S101 - the run reports its final counts
    not_sent = run.progress.aborted
    console.print(
        summary_table(run.progress, invalid=bar.invalid, failures=run.failures, results=results)
    )
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
    return 1 if run.failures else 0


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
def campaign(  # noqa: PLR0917 - one parameter per click option
    service: Service,
    csv_file: Path,
    results: Path | None,
    sender: str | None,
    concurrency: int,
    rate_limit: float | Literal["auto"] | None,
    encoding: str,
    delimiter: str | None,
) -> None:
    """Send one message per row of CSV_FILE, with live progress.

    Columns: receiver, text (required); sender (or --sender); message_type,
    source_type, sms_text, image_url, button_caption, button_action,
    callback_url, validity_period (optional), separated by commas,
    semicolons or tabs. A bad row is reported with its line number in the
    results file and does not stop the rest. Each result row is flushed as
    it settles. Ctrl+C or SIGTERM stops sending, settles what is in flight
    and records every row (the rest as not_sent). Exit code 0 when every row
    was sent, 1 when any was not, 130 after Ctrl+C, 143 after SIGTERM.
    """
    if not csv_file.exists():
        fail(f"no such file: {csv_file}", EXIT_USAGE)
    if not csv_file.is_file():
        fail(f"not a file: {csv_file}", EXIT_USAGE)
    results = results or csv_file.with_name(csv_file.stem + ".results.csv")
    if results.resolve() == csv_file.resolve():
        fail(f"the results file would overwrite the campaign file {csv_file}", EXIT_USAGE)
    if not results.parent.is_dir():
        fail(f"no such directory for the results: {results.parent}", EXIT_USAGE)
    run_command(
        run_campaign(
            service,
            csv_file,
            results,
            sender=sender,
            concurrency=concurrency,
            rate_limit=rate_limit,
            encoding=encoding,
            delimiter=delimiter,
        )
    )
