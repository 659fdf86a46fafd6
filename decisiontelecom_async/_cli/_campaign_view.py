"""What a campaign shows: the live progress bar and the summary table.

Both read the counts the bulk run reports (:class:`BulkProgress`), plus the
rows refused before sending, which never reach the run. Throughput is
messages *sent* a second: rows that failed or were never sent are not
throughput.
"""

from __future__ import annotations

import collections
from pathlib import Path

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

__all__ = ["CampaignBar", "summary_table"]

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
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID = self.progress.add_task(
            "campaign", total=estimate, ok=0, failed=0, rate=0.0
        )
        self.invalid = 0
        self.latest = _NOTHING_YET

    def show(self, progress: BulkProgress | None = None, *, total: int | None = None) -> None:
        """Show the run's latest counts (and, once known, the exact row count)."""
        if progress is not None:
            self.latest = progress
        latest = self.latest
        self.progress.update(
            self._task,
            completed=self.invalid + latest.done,
            ok=latest.ok,
            failed=self.invalid + latest.failed,
            rate=sent_rate(latest),
            total=total,
        )


def summary_table(
    progress: BulkProgress,
    *,
    invalid: int,
    failures: collections.Counter[str],
    results: Path,
) -> Table:
    """The campaign's summary: rows, sent, failed by reason, retries, throughput."""
    table = Table(title="Campaign summary", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    failed = invalid + progress.failed
    table.add_row("rows", str(invalid + progress.done))
    table.add_row("sent", f"[green]{progress.ok}")
    table.add_row("failed", f"[red]{failed}" if failed else "0")
    for label, count in failures.most_common():
        table.add_row(f"  {label}", str(count))
    table.add_row("retries", str(progress.retried))
    table.add_row("throughput", f"{sent_rate(progress):,.0f} sent/s")
    table.add_row("results", str(results))
    return table
