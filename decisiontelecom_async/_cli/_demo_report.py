"""What ``decisiontelecom demo`` counts, and the table it prints.

Retries are kept apart by where they happened: while sending (the send
run's own count, the figure on the progress bar too) and while waiting for
statuses (status look-ups repeated after a 429, a 500 or a dropped
connection), each beside the 429s and 500s the sandbox served meanwhile.

The rate rows say what the client's ``rate_limit`` did: the rate it learned
(``auto``), the share of its requests answered 429 while sending, and the
steady throughput as a share of the sandbox's limit; the CPU row says when
the machine, not the limit, held the throughput back.
"""

from __future__ import annotations

import collections
import math
from typing import TYPE_CHECKING

import attrs
from rich.table import Table

from decisiontelecom_async import MessageReceipt, SmsStatus, ViberStatus

if TYPE_CHECKING:
    from decisiontelecom_async._cli._options import CliRateLimit

__all__ = ["DemoReport", "Served", "steady_rate"]

WARM_UP = 2.0
TARGET = 0.9
"""The share of the sandbox's limit the steady throughput should reach; under
it, the report says what held it back."""
STEADY_SHARE = 0.95
"""The steady throughput leaves out the first seconds (a learned rate starts
low) and the last messages (they wait out retry backoffs one by one)."""


def steady_rate(finished: list[float]) -> float:
    """Outcomes a second from ``WARM_UP`` s until ``STEADY_SHARE`` of them had come.

    ``finished`` holds each outcome's time, in seconds since the sending began.
    """
    if not finished:
        return 0.0
    until = finished[max(0, math.ceil(len(finished) * STEADY_SHARE) - 1)]
    if until <= WARM_UP:
        return 0.0
    return sum(1 for t in finished if WARM_UP < t <= until) / (until - WARM_UP)


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
    rate_option: CliRateLimit = "auto"
    """What ``rate_limit`` the client was given (a shared limit with ``--shared-limit``)."""
    sandbox_limit: float | None = None
    learned_rate: float | None = None
    """The client's rate in force when the sending ended."""
    steady_rate: float = 0.0
    """Messages a second once warmed up, before the tail of retries (see :func:`steady_rate`)."""
    send_cpu_seconds: float = 0.0
    """CPU this process (client and sandbox both) spent while sending."""
    send_requests: int = 0
    """Requests the sandbox saw while sending (``served_sending`` says how many got a 429)."""
    machine_load: tuple[float, int] | None = None
    """The machine's load average (one minute) when the sending ended, and its cores."""

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

    def _rate_row(self) -> tuple[str, str, str]:
        limit = f"sandbox limit {self.sandbox_limit:g}/s" if self.sandbox_limit else ""
        if not (self.rate_option is None or isinstance(self.rate_option, float | str)):
            learned = f"{self.learned_rate:,.0f} req/s" if self.learned_rate else "-"
            return ("rate limit (shared)", learned, limit)
        if self.rate_option == "auto":
            if not self.served_sending.rate_limited:
                # Never above the limit, so nothing to learn it from.
                return ("rate learned (auto)", "limit not reached", f"no 429; {limit}")
            learned = f"{self.learned_rate:,.0f} req/s" if self.learned_rate else "-"
            return ("rate learned (auto)", learned, limit)
        if self.rate_option is None:
            return ("rate limit", "none", limit)
        return ("rate limit (fixed)", f"{self.rate_option:g} req/s", limit)

    def _add_rate_rows(self, table: Table) -> None:
        table.add_row(*self._rate_row())
        sent_429 = self.served_sending.rate_limited
        share_429 = sent_429 / self.send_requests if self.send_requests else 0.0
        table.add_row(
            "answered 429 while sending",
            f"{share_429:.1%}",
            f"{sent_429} of {self.send_requests} requests",
        )
        rate = self.sent / self.send_seconds if self.send_seconds else 0.0
        limit = self.sandbox_limit
        of_limit = f", {rate / limit:.0%} of the limit" if limit else ""
        table.add_row(
            "send throughput", f"{rate:,.0f} msg/s", f"{self.send_seconds:.1f} s{of_limit}"
        )
        if self.steady_rate:
            of_limit = f"{self.steady_rate / limit:.0%} of the limit, " if limit else ""
            table.add_row(
                "steady throughput",
                f"{self.steady_rate:,.0f} msg/s",
                f"{of_limit}after {WARM_UP:g} s, until {STEADY_SHARE:.0%} were sent",
            )
        if self.steady_rate and limit and self.steady_rate < TARGET * limit:
            table.add_row(f"under {TARGET:.0%} of the limit", "because", self._held_back())
        if self.send_seconds:
            # Client and sandbox share one event loop: near 100%, the CPU (not
            # the rate limit) is what holds the throughput back.
            table.add_row(
                "CPU while sending",
                f"{self.send_cpu_seconds / self.send_seconds:.0%}",
                "of one core, client and sandbox together",
            )

    def _held_back(self) -> str:
        """What kept the steady throughput under :data:`TARGET` of the limit."""
        reasons = []
        cpu = self.send_cpu_seconds / self.send_seconds if self.send_seconds else 0.0
        if cpu >= 0.9:  # noqa: PLR2004 - near one whole core
            reasons.append(f"the CPU: {cpu:.0%} of the one core client and sandbox share")
        if self.machine_load and self.machine_load[0] > self.machine_load[1]:
            load, cores = self.machine_load
            # More runnable work than cores: this process waited for its turn.
            reasons.append(f"a busy machine (load {load:.1f} on {cores} cores)")
        limit = self.sandbox_limit or 0.0
        if self.learned_rate and self.learned_rate < TARGET * limit:
            reasons.append(f"the rate learned ({self.learned_rate:,.0f} req/s)")
        if not reasons:
            reasons.append("the warm-up weighs heavily in a short run (try --messages 10000)")
        return "; ".join(reasons)

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
        self._add_rate_rows(table)
        table.add_row("whole run", f"{self.total_seconds:.1f} s", "")
        return table
