"""``decisiontelecom demo``: a whole campaign against an embedded sandbox.

It starts a sandbox on loopback with a little realistic trouble switched on
(a rate limit, some 500s, some messages undelivered on Viber and rescued by
SMS), sends the campaign through the real client over real sockets, waits
for final statuses, and prints what a campaign manager wants to see. No key,
no network.
"""

from __future__ import annotations

import collections
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
from decisiontelecom_async._retry import RetryPolicy
from decisiontelecom_async._viber_client import ViberClient
from decisiontelecom_async.sandbox import Sandbox, SandboxConfig

__all__ = ["DemoReport", "demo_config", "demo_messages", "run_demo"]

_STATUS_TIMEOUT = 60.0


def demo_config(seed: int) -> SandboxConfig:
    """The embedded sandbox: a busy but healthy service with some trouble."""
    return SandboxConfig(
        seed=seed,
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
    retries: int = 0
    send_seconds: float = 0.0
    total_seconds: float = 0.0
    served_429: int = 0
    served_500: int = 0

    def add_receipt(self, receipt: MessageReceipt) -> None:
        """Count one final (or last-read) receipt."""
        if receipt.status is ViberStatus.DELIVERED:
            self.viber_delivered += 1
        elif receipt.sms_status is SmsStatus.DELIVERED:
            self.sms_delivered += 1
        elif not receipt.is_final:
            self.pending += 1
        elif receipt.sms_status is not None:
            self.not_delivered[f"SMS {receipt.sms_status.name.lower()}"] += 1
        else:
            self.not_delivered[f"Viber {receipt.status.name.lower()}, no fallback"] += 1

    def table(self) -> Table:
        """The campaign manager's summary."""
        table = Table(title="Demo campaign", show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column(justify="right")
        table.add_column(justify="right", style="dim")

        def share(count: int) -> str:
            return f"{count / self.messages:.1%}" if self.messages else ""

        table.add_row("messages", str(self.messages), "")
        table.add_row("accepted by the service", str(self.sent), share(self.sent))
        for reason, count in self.send_failures.most_common():
            table.add_row(f"  not sent: {reason}", f"[red]{count}", share(count))
        table.add_row(
            "delivered on Viber", f"[green]{self.viber_delivered}", share(self.viber_delivered)
        )
        table.add_row(
            "delivered by SMS fallback", f"[green]{self.sms_delivered}", share(self.sms_delivered)
        )
        for reason, count in self.not_delivered.most_common():
            table.add_row(f"not delivered: {reason}", f"[yellow]{count}", share(count))
        if self.pending:
            table.add_row("still pending", str(self.pending), share(self.pending))
        table.add_row(
            "retries absorbed",
            str(self.retries),
            f"{self.served_429} x 429, {self.served_500} x 500 served",
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


async def run_demo(messages: int = 2000, seed: int = 7, *, console: Console | None = None) -> int:
    """Run the demo campaign; print the summary; 0 when every message was accepted."""
    console = console or Console(highlight=False)
    config = demo_config(seed)
    report = DemoReport(messages)
    started = time.monotonic()
    async with Sandbox(config) as sandbox, sandbox.serve(port=0) as base_url:
        console.print(f"sandbox listening at [bold]{base_url}[/] (rate limit 400/s, 2% 500s)")
        async with ViberClient(
            config.access_key,
            base_url=base_url,
            max_concurrency=50,
            retry_policy=RetryPolicy(max_retries=6, initial_wait=0.2, max_wait=2.0),
        ) as client:
            ids: list[int] = []
            with _progress(console) as progress:
                task = progress.add_task("sending", total=messages, note="")
                async for outcome in client.send_many(demo_messages(messages)):
                    report.retries += max(0, outcome.attempts - 1)
                    if outcome.message_id is not None:
                        report.sent += 1
                        ids.append(outcome.message_id)
                    else:
                        report.send_failures[type(outcome.error).__name__] += 1
                    progress.update(task, advance=1, note=f"{report.retries} retries")
                report.send_seconds = time.monotonic() - started

                task = progress.add_task("awaiting delivery", total=len(ids), note="")
                async for status in client.wait_for_final_statuses(
                    ids, timeout=_STATUS_TIMEOUT, poll_interval=0.5, max_poll_interval=2.0
                ):
                    report.retries += max(0, status.attempts - 1)
                    if status.receipt is not None:
                        report.add_receipt(status.receipt)
                    else:
                        report.pending += 1
                    progress.update(
                        task,
                        advance=1,
                        note=f"{report.viber_delivered} Viber, {report.sms_delivered} SMS",
                    )
        report.served_429 = sandbox.stats.rate_limited
        report.served_500 = sandbox.stats.server_errors
    report.total_seconds = time.monotonic() - started
    console.print(report.table())
    return 0 if report.sent == messages else 1
