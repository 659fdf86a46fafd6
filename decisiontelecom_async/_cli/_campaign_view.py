"""What a campaign shows: the live progress bar and the summary table.

The bar reads the counts the bulk run reports (:class:`BulkProgress`); the
summary reads the rows of the results file as written (:class:`Tally`),
which after a resumed run include the earlier runs' rows, and this run's
figures beside them. Throughput is messages *sent in this run* a second:
rows that failed, were never sent, or were sent by an earlier run are not
throughput.
"""

from __future__ import annotations

import collections
from pathlib import Path

import attrs
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from decisiontelecom_async import BulkProgress

__all__ = ["CampaignBar", "Tally", "resumed_line", "summary_table"]

_NOTHING_YET = BulkProgress(
    done=0, ok=0, failed=0, aborted=0, retried=0, in_flight=0, elapsed=0.0, rate=0.0
)


def sent_rate(progress: BulkProgress) -> float:
    """Messages sent a second so far."""
    return progress.ok / progress.elapsed if progress.elapsed > 0 else 0.0


class CampaignBar:
    """The live bar: rows done of the estimate, sent, failed, sent a second."""

    def __init__(self, console: Console, estimate: int) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]sending"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[green]{task.fields[ok]} ok[/] [red]{task.fields[failed]} failed[/]"),
            TextColumn("{task.fields[rate]:,.0f}/s"),
            TextColumn("{task.fields[campaign]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID = self.progress.add_task(
            "campaign", total=estimate, ok=0, failed=0, rate=0.0, campaign=""
        )
        self.latest = _NOTHING_YET

    def show_campaign(self, counts: dict[str, int]) -> None:
        """Show a shared campaign's own ``sent`` count beside this process's rows."""
        self.progress.update(self._task, campaign=f"campaign: {counts.get('sent', 0):,} sent")

    def show(self, progress: BulkProgress | None = None, *, total: int | None = None) -> None:
        """Show the run's latest counts (and, once known, the exact row count)."""
        if progress is not None:
            self.latest = progress
        latest = self.latest
        self.progress.update(
            self._task,
            completed=latest.done,
            ok=latest.ok,
            failed=latest.failed,
            rate=sent_rate(latest),
            total=total,
        )


@attrs.frozen
class Tally:
    """The rows of the results file, by status and by reason, and this run's own figures."""

    statuses: collections.Counter[str]
    """Rows by ``status`` (``sent``, ``unknown``, ``failed``, ``not_sent``, ``invalid``)."""
    reasons: collections.Counter[str]
    """Rows neither sent nor unknown, by reason."""
    sent_now: int
    """Rows this run sent (the rest of ``sent`` were sent by earlier runs)."""

    @property
    def rows(self) -> int:
        """Every row of the results file."""
        return self.statuses.total()

    @property
    def sent_earlier(self) -> int:
        """Rows an earlier run sent (answered from the journal)."""
        return self.statuses["sent"] - self.sent_now


def summary_table(tally: Tally, progress: BulkProgress, *, resumed: bool, results: Path) -> Table:
    """The campaign's summary: rows, sent (now and earlier), failed by reason, retries."""
    table = Table(title="Campaign summary", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    sent, unknown = tally.statuses["sent"], tally.statuses["unknown"]
    failed = tally.rows - sent - unknown
    table.add_row("rows", f"{tally.rows:,}")
    table.add_row("sent", f"[green]{sent:,}")
    if resumed:
        table.add_row("  sent now", f"{tally.sent_now:,}")
        table.add_row("  sent earlier", f"{tally.sent_earlier:,}")
    if unknown:
        table.add_row("unknown (may have been sent)", f"[yellow]{unknown:,}")
    table.add_row("failed", f"[red]{failed:,}" if failed else "0")
    for label, count in tally.reasons.most_common():
        table.add_row(f"  {label}", f"{count:,}")
    table.add_row("retries", f"{progress.retried:,}")
    rate = tally.sent_now / progress.elapsed if progress.elapsed > 0 else 0.0
    table.add_row("throughput", f"{rate:,.0f} sent/s")
    table.add_row("results", str(results))
    return table


def resumed_line(tally: Tally) -> str:
    """What a resumed run did, and what earlier runs did, in one line."""
    return (
        f"resumed: {tally.sent_now:,} sent now, {tally.sent_earlier:,} sent earlier, "
        f"{tally.statuses['unknown']:,} unknown"
    )
