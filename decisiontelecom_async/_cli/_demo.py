"""``decisiontelecom demo``: a whole campaign against an embedded sandbox.

It starts a sandbox on loopback with a little realistic trouble switched on
(a rate limit, some 500s, some messages undelivered on Viber and rescued by
SMS), sends the campaign through the real client over real sockets, waits
for final statuses, and prints what a campaign manager wants to see. No key,
no network.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Iterator

import attrs
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from decisiontelecom_async._enums import MessageType, SmsStatus, SourceType, ViberStatus
from decisiontelecom_async._models import MessageReceipt, ViberMessage
from decisiontelecom_async._polling import StatusTimeoutError
from decisiontelecom_async._retry import RetryPolicy
from decisiontelecom_async._viber_client import ViberClient
from decisiontelecom_async.sandbox import Sandbox, SandboxConfig

__all__ = ["DemoReport", "demo_config", "demo_messages", "run_demo", "time_limit"]

_STATUS_TIMEOUT = 20.0
"""Seconds to wait for final statuses (the slowest, an SMS fallback, takes ~6 s)."""
_TIME_LIMIT = 45.0
_SLOWEST_RATE = 100.0
"""Messages a second the time limit allows for beyond :data:`_TIME_LIMIT`."""
_RETRIES = RetryPolicy(max_retries=6, initial_wait=0.2, max_wait=2.0, timeout=20.0)


def demo_config(seed: int, *, time_scale: float = 1.0) -> SandboxConfig:
    """The embedded sandbox: a busy but healthy service with some trouble.

    ``time_scale`` above 1 makes deliveries happen that much sooner (tests).
    """
    return SandboxConfig(
        seed=seed,
        time_scale=time_scale,
        rate_limit=400.0,
        server_error_share=0.02,
        undelivered_share=0.12,
        rejected_share=0.02,
        sms_delivered_share=0.85,
        delivery_delay=(0.5, 3.0),
        reply_share=0.0,
    )


def demo_messages(count: int) -> Iterator[ViberMessage]:
    """A campaign mix: transactional with SMS fallback, promotional with a button."""
    for index in range(count):
        receiver = f"38050{1_000_000 + index:07d}"
        if index % 10 < 7:  # noqa: PLR2004 - 70% transactional
            yield ViberMessage(
                "DemoShop",
                receiver,
                f"Order #{10_000 + index} has shipped. Track it in the app.",
                sms_text=f"Order #{10_000 + index} has shipped.",
                validity_period=3600,
            )
        else:
            yield ViberMessage(
                "DemoShop",
                receiver,
                "Autumn sale: 20% off everything until Sunday.",
                message_type=MessageType.TEXT_IMAGE_BUTTON,
                source_type=SourceType.PROMOTIONAL,
                image_url="https://example.com/sale.png",
                button_caption="Shop now",
                button_action="https://example.com/sale",
            )


@attrs.define
class DemoReport:
    """What the demo counted."""

    messages: int
    sent: int = 0
    send_failures: collections.Counter[str] = attrs.Factory(collections.Counter)
    viber_delivered: int = 0
    sms_delivered: int = 0
    not_delivered: collections.Counter[str] = attrs.Factory(collections.Counter)
    pending: int = 0
    unknown: collections.Counter[str] = attrs.Factory(collections.Counter)
    send_retries: int = 0
    status_retries: int = 0
    send_seconds: float = 0.0
    total_seconds: float = 0.0
    served_429: int = 0
    served_500: int = 0

    @property
    def retries(self) -> int:
        """Requests repeated after a 429, a 500 or a dropped connection."""
        return self.send_retries + self.status_retries

    @property
    def failed(self) -> int:
        """Messages not delivered by any route, or not sent at all."""
        return self.send_failures.total() + self.not_delivered.total()

    def add_receipt(self, receipt: MessageReceipt) -> None:
        """Count one final (or last-read) receipt."""
        if receipt.status is ViberStatus.DELIVERED:
            self.viber_delivered += 1
        elif receipt.sms_status is SmsStatus.DELIVERED:
            self.sms_delivered += 1
        elif not receipt.is_final:
            self.pending += 1
        elif receipt.sms_status is not None:
            viber = receipt.status.name.lower()
            self.not_delivered[f"{viber}, SMS {receipt.sms_status.name.lower()}"] += 1
        else:
            self.not_delivered[f"{receipt.status.name.lower()}, no fallback"] += 1

    def table(self) -> Table:
        """The campaign manager's summary."""
        table = Table(title="Demo campaign", show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column(justify="right")
        table.add_column(justify="right", style="dim")

        def share(count: int) -> str:
            return f"{count / self.messages:.1%}" if self.messages else ""

        table.add_row("messages", str(self.messages), "")
        table.add_row("sent", str(self.sent), share(self.sent))
        table.add_row(
            "delivered on Viber", f"[green]{self.viber_delivered}", share(self.viber_delivered)
        )
        table.add_row(
            "delivered by SMS fallback", f"[green]{self.sms_delivered}", share(self.sms_delivered)
        )
        table.add_row("failed", f"[red]{self.failed}" if self.failed else "0", share(self.failed))
        for reason, count in self.send_failures.most_common():
            table.add_row(f"  not sent: {reason}", f"[red]{count}", share(count))
        for reason, count in self.not_delivered.most_common():
            table.add_row(f"  {reason}", f"[yellow]{count}", share(count))
        if self.pending:
            table.add_row("no final status in time", str(self.pending), share(self.pending))
        for reason, count in self.unknown.most_common():
            table.add_row(f"status unknown: {reason}", str(count), share(count))
        table.add_row(
            "retries absorbed",
            str(self.retries),
            f"{self.served_429} x 429, {self.served_500} x 500",
        )
        rate = self.sent / self.send_seconds if self.send_seconds else 0.0
        table.add_row("send throughput", f"{rate:,.0f} msg/s", f"{self.send_seconds:.1f} s")
        table.add_row("whole run", f"{self.total_seconds:.1f} s", "")
        return table


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        console=console,
    )


def time_limit(messages: int) -> float:
    """The most the demo may take before it gives up (it never hangs)."""
    return _TIME_LIMIT + messages / _SLOWEST_RATE


async def run_demo(
    messages: int = 2000,
    seed: int = 7,
    *,
    console: Console | None = None,
    time_scale: float = 1.0,
) -> int:
    """Run the demo campaign; print the summary; 0 when every message was sent.

    Raises :class:`TimeoutError` (one line at the command line) if the whole
    run takes longer than :func:`time_limit`.
    """
    console = console or Console(highlight=False)
    config = demo_config(seed, time_scale=time_scale)
    report = DemoReport(messages)
    started = time.monotonic()
    limit = time_limit(messages)
    try:
        async with asyncio.timeout(limit):
            await _run(config, report, console)
    except TimeoutError:
        msg = f"the demo did not finish within {limit:.0f} s (is the machine very busy?)"
        raise TimeoutError(msg) from None
    report.total_seconds = time.monotonic() - started
    console.print(report.table())
    return 0 if report.sent == report.messages else 1


async def _run(config: SandboxConfig, report: DemoReport, console: Console) -> None:
    messages = report.messages
    async with Sandbox(config) as sandbox, sandbox.serve(port=0) as base_url:
        console.print(f"sandbox at [bold]{base_url}[/]")
        console.print(
            f"trouble: {config.rate_limit:g} requests/s limit, "
            f"{config.server_error_share:.0%} 500s, "
            f"{config.undelivered_share:.0%} undelivered on Viber"
        )
        async with ViberClient(
            config.access_key,
            base_url=base_url,
            max_concurrency=50,
            timeout=10.0,
            retry_policy=_RETRIES,
        ) as client:
            with _progress(console) as progress:
                ids = await _send(client, messages, report, progress)
                await _await_delivery(client, sandbox, ids, report, progress)
        report.served_429 = sandbox.stats.rate_limited
        report.served_500 = sandbox.stats.server_errors


async def _send(
    client: ViberClient, messages: int, report: DemoReport, progress: Progress
) -> list[int]:
    started = time.monotonic()
    ids: list[int] = []
    task = progress.add_task("sending", total=messages, note="")
    async with contextlib.aclosing(client.send_many(demo_messages(messages))) as outcomes:
        async for outcome in outcomes:
            report.send_retries += max(0, outcome.attempts - 1)
            if outcome.message_id is not None:
                report.sent += 1
                ids.append(outcome.message_id)
            else:
                report.send_failures[type(outcome.error).__name__] += 1
            progress.update(task, advance=1, note=f"{report.send_retries} retries")
    report.send_seconds = time.monotonic() - started
    return ids


async def _await_delivery(
    client: ViberClient, sandbox: Sandbox, ids: list[int], report: DemoReport, progress: Progress
) -> None:
    # An outcome's attempts count every poll of its id, not only retries: the
    # retries are the requests the sandbox saw beyond the answered look-ups.
    requests, lookups = sandbox.stats.requests, sandbox.stats.status_lookups
    failed_lookups = 0
    task = progress.add_task("awaiting delivery", total=len(ids), note="")
    waiting = client.wait_for_final_statuses(
        ids, timeout=_STATUS_TIMEOUT, poll_interval=0.5, max_poll_interval=2.0
    )
    async with contextlib.aclosing(waiting) as outcomes:
        async for status in outcomes:
            if status.receipt is not None:
                report.add_receipt(status.receipt)
            else:
                report.unknown[type(status.error).__name__] += 1
            if status.error is not None and not isinstance(status.error, StatusTimeoutError):
                failed_lookups += 1
            progress.update(
                task,
                advance=1,
                note=f"{report.viber_delivered} Viber, {report.sms_delivered} SMS",
            )
    report.status_retries = max(
        0,
        sandbox.stats.requests
        - requests
        - (sandbox.stats.status_lookups - lookups)
        - failed_lookups,
    )
