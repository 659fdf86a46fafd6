"""What ``decisiontelecom demo`` counts, and the table it prints.

Retries are kept apart by where they happened: while sending (the send
run's own count, the figure on the progress bar too) and while waiting for
statuses (status look-ups repeated after a 429, a 500 or a dropped
connection), each beside the 429s and 500s the sandbox served meanwhile.
"""

from __future__ import annotations

import collections

import attrs
from rich.table import Table

from decisiontelecom_async import MessageReceipt, SmsStatus, ViberStatus

__all__ = ["DemoReport", "Served"]


@attrs.frozen
class Served:
    """429 and 500 answers the sandbox served during one phase of the demo."""

    rate_limited: int = 0
    server_errors: int = 0

    def __str__(self) -> str:
        return f"{self.rate_limited} x 429, {self.server_errors} x 500"


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
    """Send requests repeated, as the send runs reported them."""
    status_retries: int = 0
    """Status look-ups repeated after a failed one."""
    served_sending: Served = Served()
    served_awaiting: Served = Served()
    send_seconds: float = 0.0
    total_seconds: float = 0.0

    @property
    def failed(self) -> int:
        """Messages not delivered by any route, or not sent at all."""
        return self.send_failures.total() + self.not_delivered.total()

    def counts(self) -> dict[str, int]:
        """Every message count of the report (not timings or retries), by its label."""
        counts = {
            "messages": self.messages,
            "sent": self.sent,
            "delivered on Viber": self.viber_delivered,
            "delivered by SMS fallback": self.sms_delivered,
            "failed": self.failed,
            "no final status in time": self.pending,
        }
        counts.update({f"not sent: {k}": v for k, v in self.send_failures.items()})
        counts.update(self.not_delivered)
        counts.update({f"status unknown: {k}": v for k, v in self.unknown.items()})
        return counts

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
            "retries absorbed while sending", str(self.send_retries), str(self.served_sending)
        )
        table.add_row(
            "retries absorbed in status look-ups",
            str(self.status_retries),
            str(self.served_awaiting),
        )
        rate = self.sent / self.send_seconds if self.send_seconds else 0.0
        table.add_row("send throughput", f"{rate:,.0f} msg/s", f"{self.send_seconds:.1f} s")
        table.add_row("whole run", f"{self.total_seconds:.1f} s", "")
        return table
