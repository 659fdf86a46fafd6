"""What the ``send``, ``status`` and ``campaign`` commands do, as coroutines."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

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

from decisiontelecom_async._cli_csv import (
    BadRow,
    ResultWriter,
    count_rows,
    error_label,
    read_campaign,
)
from decisiontelecom_async._errors import DecisionTelecomError
from decisiontelecom_async._models import ViberMessage
from decisiontelecom_async._viber_client import ViberClient
from decisiontelecom_async.sandbox import Sandbox, SandboxConfig

__all__ = ["CampaignTally", "run_campaign", "send_one", "serve_sandbox", "show_statuses"]


def _stdout() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)


async def send_one(access_key: str, base_url: str, fields: dict[str, Any]) -> int:
    """Send one message built from ``fields``; print its id."""
    message = ViberMessage(**fields)
    async with ViberClient(access_key, base_url=base_url) as client:
        message_id = await client.send(message)
    print(message_id)  # noqa: T201 - the command's output, for scripts
    return 0


async def show_statuses(access_key: str, base_url: str, message_ids: Sequence[int]) -> int:
    """Print a table of the statuses of ``message_ids``."""
    table = Table("message id", "viber status", "sms id", "sms status", "final")
    failed = 0
    async with ViberClient(access_key, base_url=base_url) as client:
        for message_id in message_ids:
            try:
                receipt = await client.get_status(message_id)
            except DecisionTelecomError as exc:  # shown per id; the rest go on
                failed += 1
                table.add_row(str(message_id), f"[red]{type(exc).__name__}: {exc}", "", "", "")
                continue
            table.add_row(
                str(receipt.message_id),
                receipt.status.name.lower(),
                "" if receipt.sms_message_id is None else str(receipt.sms_message_id),
                "" if receipt.sms_status is None else receipt.sms_status.name.lower(),
                "yes" if receipt.is_final else "no",
            )
    _stdout().print(table)
    return 1 if failed else 0


class CampaignTally:
    """Running counts of a campaign, for the progress bar and the summary."""

    def __init__(self) -> None:
        self.sent = 0
        self.failed: collections.Counter[str] = collections.Counter()
        self.retries = 0
        self.started = time.monotonic()

    @property
    def done(self) -> int:
        """Rows finished, sent or not."""
        return self.sent + self.failed.total()

    @property
    def rate(self) -> float:
        """Rows finished per second so far."""
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0


def _summary(tally: CampaignTally, results: Path) -> Table:
    table = Table(title="Campaign summary", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("rows", str(tally.done))
    table.add_row("sent", f"[green]{tally.sent}")
    table.add_row("failed", f"[red]{tally.failed.total()}" if tally.failed else "0")
    for label, count in tally.failed.most_common():
        table.add_row(f"  {label}", str(count))
    table.add_row("retries absorbed", str(tally.retries))
    table.add_row("throughput", f"{tally.rate:,.0f} messages/s")
    table.add_row("results", str(results))
    return table


async def run_campaign(
    access_key: str,
    base_url: str,
    csv_file: Path,
    results: Path,
    *,
    sender: str | None,
    concurrency: int,
    rate_limit: float | None,
) -> int:
    """Send every row of ``csv_file``; write ``results``; print a summary."""
    total = count_rows(csv_file)
    tally = CampaignTally()
    console = _stderr()
    progress = Progress(
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
    task = progress.add_task("campaign", total=total, ok=0, failed=0, rate=0.0)
    in_flight: dict[int, tuple[int, str]] = {}

    with (
        csv_file.open(newline="", encoding="utf-8-sig") as source,
        results.open("w", newline="", encoding="utf-8") as sink,
        progress,
    ):
        writer = ResultWriter(sink)

        def advance() -> None:
            progress.update(
                task, advance=1, ok=tally.sent, failed=tally.failed.total(), rate=tally.rate
            )

        def messages() -> Iterator[ViberMessage]:
            index = 0
            for item in read_campaign(source, default_sender=sender):
                if isinstance(item, BadRow):
                    writer.failed(item.line, item.receiver, item.reason, 0)
                    tally.failed[error_label(item.reason)] += 1
                    advance()
                    continue
                in_flight[index] = (item.line, item.message.receiver)
                index += 1
                yield item.message

        async with ViberClient(
            access_key, base_url=base_url, max_concurrency=concurrency, rate_limit=rate_limit
        ) as client:
            async for outcome in client.send_many(messages(), concurrency=concurrency):
                line, receiver = in_flight.pop(outcome.index)
                tally.retries += max(0, outcome.attempts - 1)
                if outcome.error is None and outcome.message_id is not None:
                    tally.sent += 1
                    writer.sent(line, receiver, outcome.message_id, outcome.attempts)
                else:
                    error = outcome.error
                    assert error is not None  # noqa: S101 - SendOutcome's invariant
                    tally.failed[error_label(error)] += 1
                    writer.failed(line, receiver, error, outcome.attempts)
                advance()
    console.print(_summary(tally, results))
    return 1 if tally.failed else 0


async def serve_sandbox(config: SandboxConfig, host: str, port: int) -> int:
    """Serve a sandbox until interrupted; print where it listens."""
    console = _stdout()

    def ready(base_url: str) -> None:
        console.print(f"Viber + SMS API: [bold]{base_url}[/]")
        console.print(f"SMS API:         [bold]{sandbox.sms_base_url}[/]")
        console.print(
            f"access key: {config.access_key!r} (a sandbox key, not a secret)  press Ctrl+C to stop"
        )

    async with Sandbox(config) as sandbox:
        with contextlib.suppress(asyncio.CancelledError):
            await sandbox.serve_forever(host, port, ready=ready)
    return 0
