"""``decisiontelecom worker``: join a campaign loaded into a PostgreSQL journal, without its file.

The worker sends what the journal holds (``send_many(journal.inputs(),
journal=journal)``): it takes rows in batches, each claimed before its
request leaves, and answers the rows other workers settle from the journal,
so it ends when the whole campaign has an outcome. The live bar shows this
worker's counts and the campaign's; the summary both. ``--shared-limit``
makes ``--rate-limit R`` the total of every process using the same Redis,
and ``auto`` one learned rate for all (the option shared with ``campaign``
and ``demo``).

Exit codes as for ``campaign``: 0 when every row of the campaign ends sent,
1 when any does not (unknown included) or the journal fails, 2 for bad
usage or a campaign with no rows, 130 after Ctrl+C, 143 after SIGTERM.
"""

from __future__ import annotations

import collections
import signal
import time
from typing import TYPE_CHECKING, Literal

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

from decisiontelecom_async import BulkProgress, BulkRun, CampaignAborted, SendOutcome, ViberMessage
from decisiontelecom_async._cli._campaign import Unreachable
from decisiontelecom_async._cli._csv import status_of
from decisiontelecom_async._cli._errors import EXIT_USAGE, fail, run_command
from decisiontelecom_async._cli._options import (
    Service,
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
from decisiontelecom_async._cli._shared_journal import campaign_line, is_dsn, postgres_journal

if TYPE_CHECKING:
    from decisiontelecom_async._cli._options import CliRateLimit
    from decisiontelecom_async.distributed import PostgresJournal

__all__ = ["worker"]

_PROGRESS_INTERVAL = 0.2
_COUNTS_EVERY = 1.0
"""Seconds between two looks at the campaign's counts for the bar."""


class _Watch:
    """This worker's outcomes and the campaign's counts, for the bar and the summary."""

    def __init__(self, journal: PostgresJournal, progress: Progress, total: int) -> None:
        self.journal = journal
        self.bar = progress
        self.task = progress.add_task("worker", total=total, mine=0, campaign="")
        self.statuses: collections.Counter[str] = collections.Counter()
        self.sent_here = 0
        self.counts: dict[str, int] = {}
        self.last = BulkProgress(
            done=0, ok=0, failed=0, aborted=0, retried=0, in_flight=0, elapsed=0.0, rate=0.0
        )
        self._looked = 0.0
        self.run: BulkRun[SendOutcome[ViberMessage]] | None = None
        self.interrupted: signal.Signals | None = None

    def interrupt(self, signum: signal.Signals) -> None:
        if self.interrupted is None:
            self.interrupted = signum
        if self.run is not None:
            self.run.stop()

    async def report(self, progress: BulkProgress) -> None:
        self.last = progress
        now = time.monotonic()
        if now - self._looked >= _COUNTS_EVERY:
            await self.look()
        self.show()

    async def look(self) -> None:
        """Read the campaign's counts for the bar."""
        self._looked = time.monotonic()
        try:
            self.counts = await self.journal.counts()
        except Exception:  # noqa: BLE001 - the bar only watches; the run says what failed
            self.counts = {}

    def show(self) -> None:
        counts = self.counts
        campaign = f"campaign: {counts.get('sent', 0):,} sent" if counts else ""
        self.bar.update(self.task, completed=self.last.done, mine=self.sent_here, campaign=campaign)

    def record(self, outcome: SendOutcome[ViberMessage]) -> None:
        error = outcome.error
        if error is None:
            self.statuses["sent"] += 1
            self.sent_here += not outcome.resumed
        elif isinstance(error, CampaignAborted):
            self.statuses["not_sent"] += 1
        else:
            self.statuses[status_of(error)] += 1


async def run_worker(
    service: Service,
    journal: PostgresJournal,
    *,
    concurrency: int,
    rate_limit: CliRateLimit,
    resend_unknown: bool,
) -> int:
    """Work on the campaign until every row has an outcome; print both summaries."""
    console = stderr_console()
    async with journal:
        total = await journal.extent()
        if total == 0:
            msg = (
                f"the campaign {journal.campaign!r} has no rows in {journal!r}: load it first "
                "with 'decisiontelecom campaign FILE.csv --journal ... --campaign NAME'"
            )
            raise ValueError(msg)
        bar = Progress(
            SpinnerColumn(),
            TextColumn("[bold]working"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[green]{task.fields[mine]} sent here[/] {task.fields[campaign]}"),
            console=console,
            transient=False,
        )
        watch = _Watch(journal, bar, total)
        with (
            bar,
            log_to(console, skip=(STOPPED_WARNING,)),
            on_signals(watch.interrupt, STOP_SIGNALS),
        ):
            async with service.client(max_concurrency=concurrency, rate_limit=rate_limit) as client:
                await reach_shared_limit(rate_limit)
                outcomes = client.send_many(
                    journal.inputs(),  # type: ignore[arg-type]  # the stored messages
                    concurrency=concurrency,
                    progress=watch.report,
                    progress_interval=_PROGRESS_INTERVAL,
                    stop_when=Unreachable(),
                    journal=journal,
                    resend_unknown=resend_unknown,
                )
                watch.run = outcomes
                if watch.interrupted is not None:
                    outcomes.stop()
                async with outcomes:
                    async for outcome in outcomes:
                        watch.record(outcome)
            await watch.look()  # the bar's last line: where the campaign stands
            watch.show()
        counts = await journal.counts()
    mine = ", ".join(f"{n:,} {status}" for status, n in sorted(watch.statuses.items()))
    console.print(
        f"this worker: {watch.sent_here:,} sent here; outcomes: {mine or 'none'}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        campaign_line(journal, counts, watch.sent_here),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if watch.interrupted is not None:
        console.print(
            f"error: the worker was stopped by {watch.interrupted.name}; its rows not sent "
            "are left for the other workers",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return 128 + watch.interrupted
    if outcomes.stopped_by is not None:
        cause = outcomes.stopped_by
        console.print(
            f"error: the worker stopped after {type(cause).__name__}: {cause.message_text}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return 1
    return 0 if counts.get("sent", 0) == sum(counts.values()) else 1


@click.command()
@service_options
@click.option(
    "--journal", "journal_spec", required=True, help="The campaign's PostgreSQL journal (a DSN)."
)
@click.option("--campaign", "campaign_name", required=True, help="The campaign's name in it.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1000),
    default=50,
    show_default=True,
    help="Messages in flight at once in this worker.",
)
@rate_limit_option
@shared_limit_option
@click.option(
    "--resend-unknown",
    is_flag=True,
    help="When this worker starts a new run, send again the rows whose outcome is unknown.",
)
def worker(  # noqa: PLR0917 - one parameter per click option
    service: Service,
    journal_spec: str,
    campaign_name: str,
    concurrency: int,
    rate_limit: float | Literal["auto"] | None,
    shared_limit: str | None,
    resend_unknown: bool,
) -> None:
    """Join a campaign loaded into a PostgreSQL journal and send its rows, without the file.

    Start any number of workers, on any number of machines, with the same
    --journal and --campaign: each row is sent by exactly one of them. A
    worker that dies leaves its rows never sent to the others after the
    lease (30 s); its rows in flight are unknown. With --shared-limit,
    --rate-limit R is the total for all processes. Exit code 0 when every
    row of the campaign ends sent, 1 when any does not, 2 for bad usage,
    130 after Ctrl+C, 143 after SIGTERM.
    """
    if not is_dsn(journal_spec):
        fail("worker needs --journal postgresql://... (a file journal has one process)", EXIT_USAGE)
    journal = postgres_journal(journal_spec, campaign_name)
    limit = shared_rate_limit(rate_limit, shared_limit)
    run_command(
        run_worker(
            service,
            journal,
            concurrency=concurrency,
            rate_limit=limit,
            resend_unknown=resend_unknown,
        )
    )
