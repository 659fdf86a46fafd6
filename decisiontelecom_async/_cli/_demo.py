"""``decisiontelecom demo``: a whole campaign against an embedded sandbox.

It starts a sandbox on loopback with a little realistic trouble switched on
(a rate limit, some 500s, some messages undelivered on Viber and rescued by
SMS), sends the campaign through the real client over real sockets, waits
for final statuses, and prints what a campaign manager wants to see. No key,
no network.

The same seed gives the same counts. The sandbox draws each accepted
message's fate in the order the sends arrive, and concurrent sends arrive in
no fixed order, so the campaign goes out in two waves of one kind each: the
transactional messages (with an SMS fallback) first, then the promotional
ones (without). Whatever the order inside a wave, the same fates fall on
the same kind of message.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from decisiontelecom_async import (
    BulkProgress,
    MessageType,
    RetryPolicy,
    SourceType,
    StatusTimeoutError,
    ViberClient,
    ViberMessage,
)
from decisiontelecom_async._cli._demo_report import DemoReport, Served, steady_rate
from decisiontelecom_async._cli._errors import run_command
from decisiontelecom_async._cli._options import (
    rate_limit_option,
    reach_shared_limit,
    shared_limit_option,
    shared_rate_limit,
)
from decisiontelecom_async._cli._output import log_to, stderr_console
from decisiontelecom_async.sandbox import Sandbox, SandboxConfig

if TYPE_CHECKING:
    from decisiontelecom_async._cli._options import CliRateLimit

__all__ = ["demo", "demo_config", "demo_messages", "run_demo", "time_limit"]

_STATUS_TIMEOUT = 20.0
"""Seconds to wait for final statuses (the slowest, an SMS fallback, takes ~6 s)."""
_TIME_LIMIT = 45.0
_SLOWEST_RATE = 100.0
"""Messages a second the time limit allows for beyond :data:`_TIME_LIMIT`."""
_RETRIES = RetryPolicy(max_retries=6, initial_wait=0.05, max_wait=2.0, jitter=0.05, timeout=20.0)
"""Short backoffs: a wave ends when its last 500 is retried, and the next wave
waits for it (0.2 s plus up to 0.5 s of jitter left the sandbox idle ~0.5 s)."""
_TRANSACTIONAL_IN_TEN = 7
"""Of every ten messages, this many are transactional (with an SMS fallback)."""


def demo_config(seed: int, *, time_scale: float = 1.0) -> SandboxConfig:
    """The embedded sandbox: a busy but healthy service with some trouble.

    ``time_scale`` above 1 makes deliveries happen that much sooner (tests).
    """
    return SandboxConfig(
        seed=seed,
        time_scale=time_scale,
        rate_limit=400.0,
        # A real limiter lets through a short burst only; a second's worth
        # hid the limit from the learner, which then overshot it.
        rate_burst=0.1,
        server_error_share=0.02,
        undelivered_share=0.12,
        rejected_share=0.02,
        sms_delivered_share=0.85,
        delivery_delay=(0.5, 3.0),
        reply_share=0.0,
    )


def _message(index: int) -> ViberMessage:
    receiver = f"38050{1_000_000 + index:07d}"
    if index % 10 < _TRANSACTIONAL_IN_TEN:
        return ViberMessage(
            "DemoShop",
            receiver,
            f"Order #{10_000 + index} has shipped. Track it in the app.",
            sms_text=f"Order #{10_000 + index} has shipped.",
            validity_period=3600,
        )
    return ViberMessage(
        "DemoShop",
        receiver,
        "Autumn sale: 20% off everything until Sunday.",
        message_type=MessageType.TEXT_IMAGE_BUTTON,
        source_type=SourceType.PROMOTIONAL,
        image_url="https://example.com/sale.png",
        button_caption="Shop now",
        button_action="https://example.com/sale",
    )


def demo_messages(count: int, *, promotional: bool | None = None) -> Iterator[ViberMessage]:
    """The campaign mix: 70% transactional with SMS fallback, 30% promotional with a button.

    ``promotional`` keeps only one kind (``None``: both, interleaved).
    """
    for index in range(count):
        if promotional is None or promotional == (index % 10 >= _TRANSACTIONAL_IN_TEN):
            yield _message(index)


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


async def demo_campaign(
    messages: int = 2000,
    seed: int = 7,
    *,
    console: Console | None = None,
    time_scale: float = 1.0,
    rate_limit: CliRateLimit = "auto",
) -> DemoReport:
    """Run the demo campaign with its live bars; return what it counted.

    ``rate_limit`` is the client's (``"auto"``: it learns the sandbox's
    limit; the summary shows the rate it learned and the share of 429s).
    Raises :class:`TimeoutError` (one line at the command line) if the whole
    run takes longer than :func:`time_limit`.
    """
    console = console or Console(highlight=False)
    config = demo_config(seed, time_scale=time_scale)
    report = DemoReport(messages, rate_option=rate_limit, sandbox_limit=config.rate_limit)
    started = time.monotonic()
    limit = time_limit(messages)
    try:
        async with asyncio.timeout(limit):
            await _run(config, report, console)
    except TimeoutError:
        msg = f"the demo did not finish within {limit:.0f} s (is the machine very busy?)"
        raise TimeoutError(msg) from None
    report.total_seconds = time.monotonic() - started
    return report


async def run_demo(
    messages: int = 2000,
    seed: int = 7,
    *,
    console: Console | None = None,
    time_scale: float = 1.0,
    rate_limit: CliRateLimit = "auto",
) -> int:
    """Run the demo campaign; print the summary; 0 when every message was sent."""
    console = console or Console(highlight=False)
    with log_to(stderr_console()):
        report = await demo_campaign(
            messages, seed, console=console, time_scale=time_scale, rate_limit=rate_limit
        )
    console.print(report.table())
    return 0 if report.sent == report.messages else 1


def _served(sandbox: Sandbox, since: Served) -> Served:
    stats = sandbox.stats
    return Served(
        stats.rate_limited - since.rate_limited, stats.server_errors - since.server_errors
    )


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
            # 50 in flight at the in-process sandbox's latency on a busy machine held
            # the client to ~350 msg/s, under the 400 limit the demo is about.
            max_concurrency=100,
            timeout=10.0,
            retry_policy=_RETRIES,
            rate_limit=report.rate_option,
        ) as client:
            await reach_shared_limit(report.rate_option)
            with _progress(console) as progress:
                requests = sandbox.stats.requests
                ids = await _send(client, messages, report, progress)
                report.learned_rate = client.rate_limit
                report.send_requests = sandbox.stats.requests - requests
                report.served_sending = _served(sandbox, Served())
                await _await_delivery(client, sandbox, ids, report, progress)
                report.served_awaiting = _served(sandbox, report.served_sending)


class _SendBar:
    """The sending bar over both waves: the send runs' own counts, added up."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress = progress
        self.task: TaskID = progress.add_task("sending", total=total, note="")
        self.done = 0
        self.sent = 0
        self.retried = 0
        """The finished waves' counts."""

    def __call__(self, wave: BulkProgress) -> None:
        """A send run's progress hook: its counts on top of the waves before."""
        self.progress.update(
            self.task,
            completed=self.done + wave.done,
            note=f"{self.retried + wave.retried} retries",
        )
        if wave.final:
            self.done += wave.done
            self.sent += wave.ok
            self.retried += wave.retried


async def _send(
    client: ViberClient, messages: int, report: DemoReport, progress: Progress
) -> list[int]:
    started, cpu = time.monotonic(), time.process_time()
    ids: list[int] = []
    finished: list[float] = []
    bar = _SendBar(progress, messages)
    for promotional in (False, True):
        outcomes = client.send_many(
            demo_messages(messages, promotional=promotional), progress=bar, progress_interval=0.1
        )
        try:
            async with outcomes:
                async for outcome in outcomes:
                    finished.append(time.monotonic() - started)
                    if outcome.message_id is not None:
                        ids.append(outcome.message_id)
                    else:
                        report.send_failures[type(outcome.error).__name__] += 1
        finally:
            # Interrupted: what the closed run still held is of no use to a demo.
            async for _ in outcomes.drain():
                pass
    report.sent = bar.sent
    report.send_retries = bar.retried
    report.send_seconds = time.monotonic() - started
    report.send_cpu_seconds = time.process_time() - cpu
    report.steady_rate = steady_rate(finished)
    report.machine_load = _machine_load()
    return ids


def _machine_load() -> tuple[float, int] | None:
    """The one-minute load average and the cores, where the system tells them."""
    if not hasattr(os, "getloadavg"):  # Windows
        return None
    return os.getloadavg()[0], os.cpu_count() or 1


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


@click.command()
@click.option("--messages", type=click.IntRange(1, 100_000), default=2000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed for the sandbox.")
@rate_limit_option
@shared_limit_option
def demo(
    messages: int,
    seed: int,
    rate_limit: float | Literal["auto"] | None,
    shared_limit: str | None,
) -> None:
    """Run a whole campaign against an embedded sandbox: no key, no network."""
    limit = shared_rate_limit(rate_limit, shared_limit)
    run_command(run_demo(messages, seed, rate_limit=limit))
