"""What the ``send``, ``status``, ``campaign`` and ``sandbox`` commands do, as coroutines."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from decisiontelecom_async._bulk import BulkRun, stops_run
from decisiontelecom_async._bulk_calls import send_many_of
from decisiontelecom_async._cli._app import Service
from decisiontelecom_async._cli._csv import (
    BadRow,
    CampaignReader,
    ResultWriter,
    error_label,
    scan_file,
)
from decisiontelecom_async._errors import (
    AuthenticationError,
    CampaignAborted,
    DecisionTelecomError,
    TransportError,
)
from decisiontelecom_async._models import SendOutcome, ViberMessage
from decisiontelecom_async.sandbox import Sandbox, SandboxConfig

__all__ = [
    "CampaignTally",
    "log_to",
    "run_campaign",
    "send_one",
    "serve_sandbox",
    "show_statuses",
]

LOGGER_NAME = "decisiontelecom_async"
_STOPPED_WARNING = "%s stopped after"
"""The bulk engine's warning when a run stops; the commands say it themselves."""
_UNREACHABLE_STREAK = 20
"""Connect failures in a row (each after its retries) that stop a campaign."""
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""Signals that stop a campaign the careful way; the exit code is 128 + the signal."""


@contextlib.contextmanager
def on_signals(
    handler: Callable[[signal.Signals], None], signals: Sequence[signal.Signals]
) -> Iterator[None]:
    """Call ``handler(signum)`` on each of ``signals`` meanwhile, from the running loop.

    Our own handler also works where SIGINT was ignored (a background job).
    Where the loop cannot take signal handlers, the defaults stay.
    """
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for signum in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, handler, signum)
            handled.append(signum)
    try:
        yield
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)


def stdout_console() -> Console:
    """The console for a command's output."""
    return Console(highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    """The console for progress, warnings and summaries."""
    return Console(stderr=True, highlight=False)


class _ConsoleHandler(logging.Handler):
    """Prints the package's warnings as one line each, above any live progress bar."""

    def __init__(self, console: Console, skip: tuple[str, ...]) -> None:
        super().__init__(logging.WARNING)
        self._console = console
        self._skip = skip

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, str) and record.msg.startswith(self._skip):
            return
        try:
            text = f"{record.levelname.lower()}: {record.getMessage()}"
            self._console.print(text, markup=False, highlight=False, soft_wrap=True)
        except Exception:  # noqa: BLE001 - logging must never break the command
            self.handleError(record)


@contextlib.contextmanager
def log_to(console: Console, *, skip: tuple[str, ...] = ()) -> Iterator[None]:
    """Send the package's warnings to ``console`` (one line, no traceback) meanwhile.

    Records whose format string starts with one of ``skip`` are left out
    (the command says the same thing better itself).
    """
    logger = logging.getLogger(LOGGER_NAME)
    handler = _ConsoleHandler(console, skip)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


async def send_one(service: Service, fields: dict[str, Any]) -> int:
    """Send one message built from ``fields``; print its id."""
    message = ViberMessage(**fields)
    with log_to(stderr_console()):
        async with service.client() as client:
            message_id = await client.send(message)
    print(message_id)  # noqa: T201 - the command's output, for scripts
    return 0


async def show_statuses(service: Service, message_ids: Sequence[int]) -> int:
    """Print a table of the statuses of ``message_ids``, in the order given.

    A wrong key, or a service that cannot be reached for any id, is one error
    line rather than a table of the same failure.
    """
    found: dict[int, Any] = {}
    with log_to(stderr_console(), skip=(_STOPPED_WARNING,)):
        async with (
            service.client() as client,
            contextlib.aclosing(client.get_statuses(message_ids)) as outcomes,
        ):
            async for outcome in outcomes:
                found[outcome.index] = outcome
    errors = [outcome.error for outcome in found.values() if outcome.error is not None]
    for error in errors:
        cause = error.cause if isinstance(error, CampaignAborted) else error
        if isinstance(cause, AuthenticationError):
            raise cause
    if errors and len(errors) == len(found) and all(isinstance(e, TransportError) for e in errors):
        raise errors[0]

    # No vertical rules: the widest row (two 20-digit ids) fits 80 columns,
    # and no cell is ever cut short or wrapped, so ids can be copied.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name in ("message id", "viber status", "sms id", "sms status", "final"):
        table.add_column(name, no_wrap=True)
    problems = stderr_console()
    for index in range(len(message_ids)):
        outcome = found[index]
        receipt = outcome.receipt
        if outcome.error is not None or receipt is None:
            error = outcome.error
            problems.print(
                f"error: message {outcome.message_id}: {type(error).__name__}: {error}",
                markup=False,
                soft_wrap=True,
            )
            continue
        table.add_row(
            str(receipt.message_id),
            receipt.status.name.lower(),
            "" if receipt.sms_message_id is None else str(receipt.sms_message_id),
            "" if receipt.sms_status is None else receipt.sms_status.name.lower(),
            "yes" if receipt.is_final else "no",
        )
    if table.row_count:
        stdout_console().print(table)
    return 1 if errors else 0


class CampaignTally:
    """Running counts of a campaign, for the progress bar and the summary."""

    def __init__(self) -> None:
        self.sent = 0
        self.failed: collections.Counter[str] = collections.Counter()
        self.retries = 0
        """Repeated requests of rows that were sent in the end."""
        self.started = time.monotonic()
        self.unreachable_streak = 0
        self.stopped_by: DecisionTelecomError | None = None

    @property
    def done(self) -> int:
        """Rows finished, sent or not."""
        return self.sent + self.failed.total()

    @property
    def rate(self) -> float:
        """Rows finished per second so far."""
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def stops(self, error: DecisionTelecomError) -> bool:
        """Whether ``error`` stops the campaign.

        As for ``send_many`` (an empty balance, a refused key), and also a
        service that cannot be reached: the first connect failure (after its
        retries) when nothing was sent yet, or a long streak of them later.
        """
        stop = stops_run(error)
        if isinstance(error, TransportError) and not error.outcome_unknown:
            self.unreachable_streak += 1
            stop = self.sent == 0 or self.unreachable_streak >= _UNREACHABLE_STREAK
        if stop and self.stopped_by is None:
            self.stopped_by = error
        return stop


def _summary(tally: CampaignTally, results: Path) -> Table:
    table = Table(title="Campaign summary", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("rows", str(tally.done))
    table.add_row("sent", f"[green]{tally.sent}")
    table.add_row("failed", f"[red]{tally.failed.total()}" if tally.failed else "0")
    for label, count in tally.failed.most_common():
        table.add_row(f"  {label}", str(count))
    table.add_row("retries absorbed", str(tally.retries))
    table.add_row("throughput", f"{tally.rate:,.0f} rows/s")
    table.add_row("results", str(results))
    return table


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]sending"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[green]{task.fields[ok]} ok[/] [red]{task.fields[failed]} failed[/]"),
        TextColumn("{task.fields[rate]:,.0f}/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


class _Campaign:
    """One campaign run: reads rows, records outcomes, keeps the bar moving."""

    def __init__(
        self, reader: CampaignReader, writer: ResultWriter, progress: Progress, estimate: int
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.progress = progress
        self.task = progress.add_task("campaign", total=estimate, ok=0, failed=0, rate=0.0)
        self.tally = CampaignTally()
        self.in_flight: dict[int, tuple[int, str]] = {}
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

    def advance(self) -> None:
        tally = self.tally
        self.progress.update(
            self.task, advance=1, ok=tally.sent, failed=tally.failed.total(), rate=tally.rate
        )

    def messages(self) -> Iterator[ViberMessage]:
        """The good rows' messages; bad rows are recorded on the way."""
        index = 0
        for item in self.reader:
            if isinstance(item, BadRow):
                self.writer.invalid(item)
                self.tally.failed[error_label(item)] += 1
                self.advance()
                continue
            self.in_flight[index] = (item.line, item.message.receiver)
            index += 1
            yield item.message
        # Now the exact count is known (quoted line breaks, blank lines).
        self.progress.update(self.task, total=self.reader.rows)

    def record(self, outcome: SendOutcome[ViberMessage]) -> None:
        line, receiver = self.in_flight.pop(outcome.index)
        tally = self.tally
        if outcome.error is None and outcome.message_id is not None:
            tally.sent += 1
            tally.retries += max(0, outcome.attempts - 1)
            tally.unreachable_streak = 0
            self.writer.sent(line, receiver, outcome.message_id, outcome.attempts)
        else:
            error = outcome.error
            assert error is not None  # noqa: S101 - SendOutcome's invariant
            tally.failed[error_label(error)] += 1
            self.writer.failed(line, receiver, error, outcome.attempts)
        self.advance()

    async def send(self, service: Service, *, concurrency: int, rate_limit: float | None) -> None:
        async with service.client(max_concurrency=concurrency, rate_limit=rate_limit) as client:
            outcomes = send_many_of(
                client,
                self.messages(),
                client._send,  # noqa: SLF001 - send_many with the campaign's own stop rule
                ViberMessage,
                concurrency=concurrency,
                progress=None,
                progress_interval=0.5,
                stops=self.tally.stops,
                name="campaign",
            )
            self._outcomes = outcomes
            if self.interrupted is not None:
                outcomes.stop()
            # A signal only stops the run: the loop still gets every outcome,
            # the rest of the file as not sent, and writes each as it comes.
            async with outcomes:
                async for outcome in outcomes:
                    self.record(outcome)
        self.progress.update(self.task, total=self.reader.rows)


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
    rate_limit: float | None,
    encoding: str = "utf-8-sig",
) -> int:
    """Send every row of ``csv_file``; write ``results``; print a summary.

    The file is checked first (it decodes, its header names the columns), so
    a broken file sends nothing. Then rows stream through the bulk engine;
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
        reader = CampaignReader(source, default_sender=sender)
        progress = _progress(console)
        # The bulk engine's "stopped after" warning: the summary's last line says it.
        with (
            _open_results(results) as sink,
            progress,
            log_to(console, skip=(_STOPPED_WARNING,)),
        ):
            run = _Campaign(reader, ResultWriter(sink), progress, estimate)
            with on_signals(run.interrupt, _STOP_SIGNALS):
                await run.send(service, concurrency=concurrency, rate_limit=rate_limit)
    tally = run.tally
    console.print(_summary(tally, results))
    if run.interrupted is not None:
        console.print(
            f"error: the campaign was stopped by {run.interrupted.name}; "
            f"{tally.failed['CampaignAborted']} row(s) not sent (status not_sent in {results})",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return 128 + run.interrupted
    if tally.stopped_by is not None:
        cause = tally.stopped_by
        console.print(
            f"error: the campaign stopped after {type(cause).__name__}: {cause.message_text}; "
            f"{tally.failed['CampaignAborted']} row(s) not sent (status not_sent in {results})",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    return 1 if tally.failed else 0


async def serve_sandbox(config: SandboxConfig, host: str, port: int) -> int:
    """Serve a sandbox until SIGINT or SIGTERM; print where it listens, then "stopped"."""
    console = stdout_console()
    stop = asyncio.Event()

    def ready(base_url: str) -> None:
        console.print(f"Viber + SMS API: [bold]{base_url}[/]")
        console.print(f"SMS API:         [bold]{sandbox.sms_base_url}[/]")
        console.print(
            f"access key: {config.access_key!r} (a sandbox key, not a secret)  press Ctrl+C to stop"
        )

    with on_signals(lambda _signum: stop.set(), _STOP_SIGNALS), log_to(stderr_console()):
        async with Sandbox(config) as sandbox, sandbox.serve(host, port) as base_url:
            ready(base_url)
            with contextlib.suppress(asyncio.CancelledError):
                await stop.wait()
    console.print("sandbox stopped")
    return 0
