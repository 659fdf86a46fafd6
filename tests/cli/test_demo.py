"""``decisiontelecom demo``: a whole campaign against an embedded sandbox."""

from __future__ import annotations

import io
import re
import subprocess

import pytest
from rich.console import Console

from cli._support import (
    SCRIPT,
    assert_one_error_line,
    run,
    script_env,
)
from decisiontelecom_async import (
    SmsStatus,
    ViberStatus,
)
from decisiontelecom_async._cli import _demo as _cli_demo
from decisiontelecom_async._cli._demo import run_demo
from decisiontelecom_async._cli._demo_report import DemoReport, Served, steady_rate
from decisiontelecom_async._models import MessageReceipt
from decisiontelecom_async.sandbox._faults import Faults

pytestmark = pytest.mark.network


def receipt(status: ViberStatus, sms: SmsStatus | None = None) -> MessageReceipt:
    return MessageReceipt(
        message_id=1, status=status, sms_message_id=None if sms is None else 2, sms_status=sms
    )


def test_demo_report_sorts_receipts_by_route_and_reason() -> None:
    report = DemoReport(messages=5, sent=5)
    report.add_receipt(receipt(ViberStatus.DELIVERED))
    report.add_receipt(receipt(ViberStatus.UNDELIVERED, SmsStatus.DELIVERED))
    report.add_receipt(receipt(ViberStatus.UNDELIVERED, SmsStatus.UNDELIVERABLE))
    report.add_receipt(receipt(ViberStatus.REJECTED))
    report.add_receipt(receipt(ViberStatus.SENT))
    assert (report.viber_delivered, report.sms_delivered, report.pending) == (1, 1, 1)
    assert report.not_delivered == {
        "undelivered, SMS undeliverable": 1,
        "rejected, no fallback": 1,
    }
    assert report.failed == 2


async def test_demo_counts_every_message_and_every_retry() -> None:
    console = Console(file=io.StringIO(), width=100)
    code = await run_demo(150, seed=2, console=console, time_scale=20)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert code == 0, text
    assert "sandbox at http://127.0.0.1:" in text
    for label in ("delivered on Viber", "delivered by SMS fallback", "retries absorbed"):
        assert label in text


async def test_demo_reports_the_learned_rate_and_the_429_share() -> None:
    console = Console(file=io.StringIO(), width=120)
    code = await run_demo(150, seed=2, console=console, time_scale=20)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert code == 0, text
    learned = next(line for line in text.splitlines() if "rate learned (auto)" in line)
    # 150 messages may never go above the limit: then there is nothing learned.
    assert "req/s" in learned or "limit not reached" in learned
    assert "sandbox limit 400/s" in learned
    assert "answered 429 while sending" in text
    assert "of the limit" in text
    # (No steady throughput: 150 messages are sent within the 2 s warm-up.)
    assert "CPU while sending" in text


def test_the_demo_sandbox_allows_short_bursts_as_a_real_limiter_does() -> None:
    # A second's burst let a client send above the limit unseen for a while:
    # the rate it learned overshot (413 req/s against 400) and earned 3% 429s.
    config = _cli_demo.demo_config(7)
    faults = Faults(config, monotonic=lambda: 0.0)  # a frozen clock: no refill
    let_through = sum(1 for _ in range(1000) if faults.retry_after() is None)
    assert config.rate_limit == 400
    assert let_through == 40


def test_demo_report_shows_the_learned_rate_only_once_a_429_taught_it() -> None:
    def rendered(report: DemoReport) -> str:
        console = Console(file=io.StringIO(), width=120)
        console.print(report.table())
        return console.file.getvalue()  # type: ignore[attr-defined,no-any-return]

    taught = DemoReport(
        10,
        sandbox_limit=400.0,
        learned_rate=391.0,
        served_sending=Served(rate_limited=3),
        send_requests=100,
    )
    assert "391 req/s" in rendered(taught)
    assert "3.0%" in rendered(taught)
    untaught = DemoReport(10, sandbox_limit=400.0, learned_rate=1280.0, send_requests=100)
    assert "limit not reached" in rendered(untaught)
    assert "1,280" not in rendered(untaught)
    fixed = DemoReport(10, rate_option=400.0, sandbox_limit=400.0)
    assert "rate limit (fixed)" in rendered(fixed)
    unlimited = DemoReport(10, rate_option=None, sandbox_limit=400.0)
    assert re.search(r"rate limit\s+.\s+none", rendered(unlimited))


def test_the_demo_says_why_it_stayed_under_90_percent_of_the_limit() -> None:
    def rendered(**figures: object) -> str:
        report = DemoReport(
            2000, sent=2000, sandbox_limit=400.0, send_seconds=8.0, steady_rate=320.0
        )
        for name, value in figures.items():
            setattr(report, name, value)
        console = Console(file=io.StringIO(), width=200)
        console.print(report.table())
        return console.file.getvalue()  # type: ignore[attr-defined,no-any-return]

    starved = rendered(send_cpu_seconds=7.8)
    assert "under 90% of the limit" in starved
    assert "CPU" in starved.split("under 90% of the limit")[1]
    busy = rendered(send_cpu_seconds=2.0, machine_load=(5.2, 2))
    assert "busy machine (load 5.2 on 2 cores)" in busy
    short = rendered(send_cpu_seconds=2.0, machine_load=(0.5, 2))
    assert "--messages" in short.split("under 90% of the limit")[1]
    assert "under 90%" not in rendered(steady_rate=380.0, send_cpu_seconds=7.8)


def test_steady_throughput_leaves_out_the_warm_up_and_the_retry_tail() -> None:
    # 100 outcomes in the warm-up, then 100 a second, then a tail of 10 late retries.
    finished = [0.5] * 100 + [2.0 + i / 100 for i in range(1, 301)] + [10.0] * 10
    assert steady_rate(finished) == pytest.approx(100.0)
    assert steady_rate([0.1, 0.2]) == 0.0
    assert steady_rate([]) == 0.0


@pytest.mark.parametrize(
    ("given", "expected"),
    [([], "auto"), (["--rate-limit", "none"], None), (["--rate-limit", "50"], 50.0)],
)
def test_demo_rate_limit_is_auto_unless_told(
    monkeypatch: pytest.MonkeyPatch, given: list[str], expected: object
) -> None:
    seen: list[object] = []

    async def fake_run_demo(messages: int, seed: int, **options: object) -> int:
        del messages, seed
        seen.append(options.get("rate_limit"))
        return 0

    monkeypatch.setattr(_cli_demo, "run_demo", fake_run_demo)
    result = run("demo", *given, key=None)
    assert result.exit_code == 0, result.output
    assert seen == [expected]


def test_the_demo_gives_up_in_one_line_rather_than_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_cli_demo, "_TIME_LIMIT", 0.3)
    monkeypatch.setattr(_cli_demo, "_SLOWEST_RATE", 1e9)
    result = run("demo", "--messages", "5000")
    assert_one_error_line(result, code=1, says="the demo did not finish within 0 s")


def test_demo_runs_end_to_end_as_a_script() -> None:
    done = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [*SCRIPT, "demo", "--messages", "200"],
        capture_output=True,
        text=True,
        timeout=60,
        env=script_env(),
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for label in (
        "sent",
        "delivered on Viber",
        "delivered by SMS fallback",
        "failed",
        "retries absorbed",
        "send throughput",
    ):
        assert label in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


_COUNTED = (
    "sent",
    "delivered on Viber",
    "delivered by SMS fallback",
    "failed",
    "undelivered, no fallback",
    "undelivered, SMS undeliverable",
    "rejected, no fallback",
    "rejected, SMS undeliverable",
    "rejected, SMS delivered",
)


def demo_counts(text: str) -> dict[str, str]:
    """The table's message counts (not the timings or retries, which vary)."""
    counts = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip("│| ").split("│")]
        if len(cells) >= 2 and cells[0] in _COUNTED:
            counts[cells[0]] = cells[1]
    return counts


async def run_captured(messages: int, seed: int) -> str:
    console = Console(file=io.StringIO(), width=120)
    code = await run_demo(messages, seed=seed, console=console, time_scale=20)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert code == 0, text
    return text


async def test_the_demo_gives_the_same_counts_for_the_same_seed() -> None:
    first = demo_counts(await run_captured(600, seed=5))
    second = demo_counts(await run_captured(600, seed=5))
    assert first["sent"] == "600"
    assert int(first["delivered by SMS fallback"]) > 0
    assert first == second


async def test_the_bar_and_the_table_give_the_same_retries() -> None:
    text = await run_captured(600, seed=4)
    bar = re.search(r"sending .* (\d+) retries", text)
    assert bar is not None, text
    table = re.search(r"retries absorbed while sending\W+(\d+)", text)
    assert table is not None, text
    assert bar.group(1) == table.group(1)
    assert int(bar.group(1)) > 0  # 2% of the answers are 500s: some were retried
    lookups = re.search(r"retries absorbed in status look-ups\W+(\d+)", text)
    assert lookups is not None, text
    # No row adds the two up unsaid.
    assert re.search(r"retries absorbed\s+│", text) is None, text
