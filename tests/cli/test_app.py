"""The ``decisiontelecom`` command line, run as a user runs it.

Most tests call the click group through ``CliRunner`` against a sandbox
served on 127.0.0.1 from a thread of its own (the command runs its own
event loop in the test's thread, as it does in a shell). A few run the
installed ``decisiontelecom`` script as a real subprocess: ``demo``,
``campaign``, and ``sandbox`` stopped with SIGINT.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import http.server
import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from decisiontelecom_async import (
    MessageType,
    SmsStatus,
    SourceType,
    ViberStatus,
)
from decisiontelecom_async._cli import _commands as _cli_commands
from decisiontelecom_async._cli import _demo as _cli_demo
from decisiontelecom_async._cli import cli
from decisiontelecom_async._cli._csv import (
    RESULT_COLUMNS,
    BadRow,
    CampaignReader,
    CampaignRow,
    parse_enum_text,
    scan_file,
)
from decisiontelecom_async._cli._demo import DemoReport, run_demo
from decisiontelecom_async._models import MessageReceipt
from decisiontelecom_async.sandbox import Sandbox

pytestmark = pytest.mark.network

SECRET = "s3cr3t-CLI-key-do-not-print"
SECRET_B64 = base64.b64encode(SECRET.encode()).decode()
SANDBOX_KEY = "sandbox-key"
_SCRIPT = Path(sys.executable).parent / "decisiontelecom"
# The installed entry point; the same main() when run from a tree not installed.
SCRIPT = (
    [str(_SCRIPT)]
    if _SCRIPT.exists()
    else [sys.executable, "-c", "from decisiontelecom_async._cli import main; main()"]
)


class ServedSandbox:
    """A sandbox served on loopback from a thread with its own event loop."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self.base_url = ""
        self.sandbox: Sandbox | None = None
        self._thread = threading.Thread(target=self._main, name="served-sandbox", daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with Sandbox(**self._options) as sandbox, sandbox.serve(port=0) as base_url:
            self.sandbox = sandbox
            self.base_url = base_url
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> Self:
        self._thread.start()
        assert self._ready.wait(10), "the sandbox did not start"
        if self._failure is not None:
            raise self._failure
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        assert not self._thread.is_alive()
        if self._failure is not None:
            raise self._failure


@pytest.fixture
def served() -> Iterator[ServedSandbox]:
    # time_scale=0: statuses stay where they are and no callbacks go out.
    with ServedSandbox(time_scale=0, seed=3) as server:
        yield server


def closed_port_url() -> str:
    """A loopback URL where nothing listens: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/api"


def run(*args: str, key: str | None = SANDBOX_KEY, base_url: str | None = None) -> Result:
    env = {"DECISIONTELECOM_ACCESS_KEY": key, "DECISIONTELECOM_BASE_URL": base_url}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def output(result: Result) -> str:
    return result.stdout + result.stderr


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text
        assert SECRET_B64 not in text


def assert_one_error_line(result: Result, *, code: int, says: str) -> None:
    assert result.exit_code == code, output(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines
    assert says in lines[0]
    assert "Traceback" not in output(result)


def read_results(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == RESULT_COLUMNS
        return list(reader)


# -- send ------------------------------------------------------------------------


def test_help_lists_every_command() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for command in ("send", "status", "campaign", "sandbox", "demo"):
        assert command in result.stdout


def test_send_prints_the_id_and_puts_every_flag_on_the_wire(served: ServedSandbox) -> None:
    result = run(
        "send",
        "--sender", "Shop",
        "--to", "380501234567",
        "--text", "Sale",
        "--type", "TEXT_IMAGE_BUTTON",
        "--source", "1",
        "--image-url", "https://example.com/a.png",
        "--button-caption", "Go",
        "--button-action", "https://example.com/go",
        "--callback-url", "https://example.com/cb",
        "--ttl", "3600",
        base_url=served.base_url,
    )  # fmt: skip
    assert result.exit_code == 0, output(result)
    message_id = int(result.stdout.strip())
    assert served.sandbox is not None
    message = served.sandbox.message(message_id)
    assert message is not None
    assert message.request == {
        "source_addr": "Shop",
        "destination_addr": "380501234567",
        "message_type": 108,
        "source_type": 1,
        "text": "Sale",
        "image": "https://example.com/a.png",
        "button_caption": "Go",
        "button_action": "https://example.com/go",
        "callback_url": "https://example.com/cb",
        "validity_period": 3600,
    }


def test_send_takes_the_sms_text_and_the_key_from_the_option(served: ServedSandbox) -> None:
    result = run(
        "send", "--access-key", SANDBOX_KEY, "--sender", "Shop", "--to", "380501234567",
        "--text", "Code 1", "--sms-text", "Code 1", "--type", "106", "--source", "transactional",
        key=None, base_url=served.base_url,
    )  # fmt: skip
    assert result.exit_code == 0, output(result)
    assert served.sandbox is not None
    message = served.sandbox.message(int(result.stdout))
    assert message is not None
    assert message.request is not None
    assert message.request["text_sms"] == "Code 1"


def test_send_without_a_key_is_one_line() -> None:
    result = run("send", "--sender", "Shop", "--to", "380501234567", "--text", "Hi", key=None)
    assert_one_error_line(result, code=2, says="DECISIONTELECOM_ACCESS_KEY")


def test_a_wrong_key_is_one_line_and_never_echoed(served: ServedSandbox) -> None:
    result = run(
        "send", "--sender", "Shop", "--to", "380501234567", "--text", "Hi",
        key=SECRET, base_url=served.base_url,
    )  # fmt: skip
    assert_one_error_line(result, code=1, says="AuthenticationError")
    assert_no_secret(output(result))


def test_a_wrong_key_given_as_an_option_is_never_echoed(served: ServedSandbox) -> None:
    result = run(
        "send", "--access-key", SECRET, "--sender", "Shop", "--to", "380501234567",
        "--text", "Hi", key=None, base_url=served.base_url,
    )  # fmt: skip
    assert_one_error_line(result, code=1, says="401")
    assert_no_secret(output(result))


def test_an_unreachable_server_is_one_line() -> None:
    result = run(
        "send", "--max-retries", "0", "--sender", "Shop", "--to", "380501234567", "--text", "Hi",
        key=SECRET, base_url=closed_port_url(),
    )  # fmt: skip
    assert_one_error_line(result, code=1, says="TransportError")
    assert_no_secret(output(result))


def test_an_invalid_message_is_one_line_naming_each_field() -> None:
    result = run(
        "send", "--sender", "Shop", "--to", "+38 050", "--text", "Hi", "--type", "108",
        key=SECRET, base_url=closed_port_url(),
    )  # fmt: skip
    assert_one_error_line(result, code=2, says="receiver")
    assert "image_url" in result.stderr
    assert_no_secret(output(result))


def test_an_unknown_type_names_the_choices() -> None:
    result = run("send", "--sender", "S", "--to", "1", "--text", "x", "--type", "video", key=SECRET)
    assert result.exit_code == 2
    assert "text-image-button (108)" in result.stderr
    assert_no_secret(output(result))


def test_even_a_bug_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: object) -> int:
        raise RuntimeError(f"boom with {SECRET}")

    monkeypatch.setattr(_cli_commands, "send_one", broken)
    result = run("send", "--sender", "S", "--to", "1234567", "--text", "x", key=SECRET)
    assert_one_error_line(result, code=1, says="unexpected RuntimeError: boom")
    assert_no_secret(output(result))


# -- status ----------------------------------------------------------------------


def test_status_shows_a_table_in_the_order_given(served: ServedSandbox) -> None:
    ids = [
        run("send", "--sender", "Shop", "--to", f"38050123456{n}", "--text", "Hi",
            base_url=served.base_url).stdout.strip()
        for n in range(2)
    ]  # fmt: skip
    result = run("status", ids[1], ids[0], base_url=served.base_url)
    assert result.exit_code == 0, output(result)
    assert result.stdout.index(ids[1]) < result.stdout.index(ids[0])
    assert result.stdout.count("pending") == 2


def test_status_of_an_unknown_id_fails_that_row(served: ServedSandbox) -> None:
    sent = run("send", "--sender", "S", "--to", "1234567", "--text", "x", base_url=served.base_url)
    result = run("status", sent.stdout.strip(), "12345", base_url=served.base_url)
    assert result.exit_code == 1
    assert "pending" in result.stdout
    assert result.stderr.startswith("error: message 12345: InvalidParameterError")
    assert len(result.stderr.splitlines()) == 1


def test_status_with_a_wrong_key_is_one_line(served: ServedSandbox) -> None:
    result = run("status", "1", "2", "3", key=SECRET, base_url=served.base_url)
    assert_one_error_line(result, code=1, says="AuthenticationError")
    assert_no_secret(output(result))


def test_status_of_an_unreachable_server_is_one_line() -> None:
    result = run("status", "--max-retries", "0", "1", "2", key=SECRET, base_url=closed_port_url())
    assert_one_error_line(result, code=1, says="TransportError")


# -- campaign files --------------------------------------------------------------


def rows_of(text: str, **options: Any) -> list[CampaignRow | BadRow]:
    return list(CampaignReader(io.StringIO(text, newline=""), **options))


def test_reader_names_the_line_each_row_starts_on() -> None:
    rows = rows_of(
        "receiver,text,sender\n"
        '380501234567,"two\nlines",Shop\n'
        "\n"
        "380501234568,three,Shop\n"
        "abc,bad,Shop\n"
    )
    assert [(type(row).__name__, row.line) for row in rows] == [
        ("CampaignRow", 2),
        ("CampaignRow", 5),
        ("BadRow", 6),
    ]
    first = rows[0]
    assert isinstance(first, CampaignRow)
    assert first.message.text == "two\nlines"


def test_reader_takes_enum_names_or_numbers() -> None:
    rows = rows_of(
        "receiver,text,sender,message_type,source_type,image_url,button_caption,button_action\n"
        "1234567,a,S,text-image-button,PROMOTIONAL,https://e.com/a.png,Go,https://e.com\n"
        "1234567,a,S,208, 1 ,https://e.com/a.png,Go,https://e.com\n"
        "1234567,a,S,TEXT_ONLY,transactional,,,\n"
    )
    types = [(row.message.message_type, row.message.source_type) for row in rows]  # type: ignore[union-attr]
    assert types == [
        (MessageType.TEXT_IMAGE_BUTTON, SourceType.PROMOTIONAL),
        (MessageType.TEXT_IMAGE_BUTTON_2WAY, SourceType.PROMOTIONAL),
        (MessageType.TEXT_ONLY, SourceType.TRANSACTIONAL),
    ]
    assert parse_enum_text(MessageType, "video") == "video"


def test_reader_handles_short_extra_and_unreadable_rows() -> None:
    rows = rows_of(
        "receiver,text,sender,sms_text\n"
        "1234567,short row,S\n"  # the missing sms_text cell counts as empty
        "1234567,extra,S,,surplus\n"
        "1234567,trailing commas,S,,,\n"  # empty surplus cells are harmless
        '1234567,"' + "x" * 140_000 + '",S\n'  # over csv's field limit
        "1234567,after,S\n",
    )
    kinds = [(type(row).__name__, row.line) for row in rows]
    assert kinds == [
        ("CampaignRow", 2),
        ("BadRow", 3),
        ("CampaignRow", 4),
        ("BadRow", 5),
        ("CampaignRow", 6),
    ]
    assert "5 cells but the header names 4 columns" in rows[1].reason  # type: ignore[union-attr]
    assert "unreadable CSV" in rows[3].reason  # type: ignore[union-attr]


def test_reader_takes_the_default_sender_and_reports_each_broken_field() -> None:
    good, bad = rows_of("receiver,text\n1234567,hi\n,\u200b\n", default_sender="Shop")
    assert isinstance(good, CampaignRow)
    assert good.message.sender == "Shop"
    assert isinstance(bad, BadRow)
    assert "receiver" in bad.reason


@pytest.mark.parametrize(
    ("header", "says"),
    [
        ("receiver,sender", "lacks the column(s) text"),
        ("receiver,text,reciever", "unknown column(s) reciever"),
        ("receiver,text,text", "repeats the column(s) text"),
        ("", "the CSV file is empty"),
    ],
)
def test_reader_refuses_a_bad_header(header: str, says: str) -> None:
    with pytest.raises(ValueError, match=r".*") as caught:
        CampaignReader(io.StringIO(header))
    assert says in str(caught.value)


def test_reader_is_lazy() -> None:
    def endless() -> Iterator[str]:
        yield "receiver,text,sender\n"
        n = 0
        while True:
            n += 1
            yield f"38050{n:07d},hi,S\n"

    rows = iter(CampaignReader(endless()))  # type: ignore[arg-type]
    assert [next(rows).line for _ in range(3)] == [2, 3, 4]


def test_scan_counts_lines_and_names_the_first_undecodable_one(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(b"receiver,text\n1,a\n2,b")
    assert scan_file(path, "utf-8-sig").lines == 2
    path.write_bytes(b"receiver,text\n1,a\n2,\xcf\xf0\xe8\n")
    with pytest.raises(ValueError, match="line 3"):
        scan_file(path, "utf-8-sig")
    assert scan_file(path, "cp1251").lines == 2


# -- campaign --------------------------------------------------------------------


MESSY = (
    "\ufeffreceiver,text,sender,message_type,source_type,sms_text\n"
    "380501000001,Hello,Shop,text-only,transactional,Hello\n"
    "not-a-number,Hello,Shop,,,\n"
    "\n"
    '380501000002,"Line one\nline two",Shop,106,2,\n'
    "380501000003,Too many,Shop,,,,surplus\n"
    "380501000004\n"
    "380501000005,Promo,,TEXT_ONLY,PROMOTIONAL,\n"
    "380501000006,Last,Shop,,,\n"
)


def test_campaign_writes_one_result_per_row_and_keeps_going(
    served: ServedSandbox, tmp_path: Path
) -> None:
    source = tmp_path / "messy.csv"
    source.write_text(MESSY, encoding="utf-8")
    result = run("campaign", str(source), base_url=served.base_url)
    assert result.exit_code == 1, output(result)
    results = read_results(tmp_path / "messy.results.csv")
    by_line = {int(row["line"]): row for row in results}
    assert sorted(by_line) == [2, 3, 5, 7, 8, 9, 10]
    assert [line for line, row in sorted(by_line.items()) if row["status"] == "sent"] == [2, 5, 10]
    assert {by_line[line]["status"] for line in (3, 7, 8, 9)} == {"invalid"}
    assert "receiver" in by_line[3]["error"]
    assert "7 cells but the header names 6 columns" in by_line[7]["error"]
    assert "text" in by_line[8]["error"]
    assert "sender" in by_line[9]["error"]
    assert all(row["message_id"].isdigit() for row in results if row["status"] == "sent")
    assert all(row["attempts"] == "1" for row in results if row["status"] == "sent")
    summary = result.stderr
    assert "Campaign summary" in summary
    assert "invalid row" in summary
    assert "Traceback" not in output(result)
    assert served.sandbox is not None
    sent = served.sandbox.message(int(by_line[5]["message_id"]))
    assert sent is not None
    assert sent.request is not None
    assert sent.request["text"] == "Line one\nline two"


def test_campaign_of_good_rows_exits_0_with_a_default_sender(
    served: ServedSandbox, tmp_path: Path
) -> None:
    source = tmp_path / "good.csv"
    rows = "".join(f"38050{n:07d},Hi {n}\n" for n in range(300))
    source.write_text("receiver,text\n" + rows, encoding="utf-8")
    results = tmp_path / "out" / "r.csv"
    results.parent.mkdir()
    result = run(
        "campaign", str(source), "--sender", "Shop", "--results", str(results),
        "--concurrency", "20", base_url=served.base_url,
    )  # fmt: skip
    assert result.exit_code == 0, output(result)
    rows_out = read_results(results)
    assert len(rows_out) == 300
    assert {row["status"] for row in rows_out} == {"sent"}
    assert sorted(int(row["line"]) for row in rows_out) == list(range(2, 302))
    assert "300/300" in result.stderr


def test_campaign_stops_when_the_balance_runs_out(tmp_path: Path) -> None:
    source = tmp_path / "c.csv"
    source.write_text(
        "receiver,text,sender\n" + "".join(f"38050{n:07d},Hi,Shop\n" for n in range(40)),
        encoding="utf-8",
    )
    with ServedSandbox(time_scale=0, balance=10) as server:
        result = run("campaign", str(source), "--concurrency", "2", base_url=server.base_url)
    assert result.exit_code == 1, output(result)
    rows = read_results(tmp_path / "c.results.csv")
    assert len(rows) == 40
    statuses = [row["status"] for row in rows]
    assert statuses.count("sent") == 10
    not_sent = [row for row in rows if row["status"] == "not_sent"]
    assert len(not_sent) >= 25
    assert {row["error_type"] for row in not_sent} == {"CampaignAborted"}
    assert all("InsufficientBalanceError" in row["error"] for row in not_sent)
    assert max(int(row["line"]) for row in not_sent) == 41
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the campaign stopped after InsufficientBalanceError")
    assert f"{len(not_sent)} row(s) not sent" in last
    assert "warning:" not in result.stderr


def test_campaign_with_a_wrong_key_sends_nothing_and_never_echoes_it(
    served: ServedSandbox, tmp_path: Path
) -> None:
    source = tmp_path / "c.csv"
    source.write_text("receiver,text,sender\n380501234567,Hi,Shop\n380501234568,Hi,Shop\n")
    result = run("campaign", str(source), key=SECRET, base_url=served.base_url)
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("error: the campaign stopped after AuthenticationError")
    )
    rows = read_results(tmp_path / "c.results.csv")
    assert len(rows) == 2
    assert "sent" not in {row["status"] for row in rows}
    assert_no_secret(output(result), (tmp_path / "c.results.csv").read_text())
    assert served.sandbox is not None
    assert served.sandbox.messages() == []


def test_campaign_stops_at_once_when_the_server_cannot_be_reached(tmp_path: Path) -> None:
    source = tmp_path / "c.csv"
    source.write_text(
        "receiver,text,sender\n" + "".join(f"38050{n:07d},Hi,Shop\n" for n in range(500))
    )
    result = run(
        "campaign", str(source), "--max-retries", "0", "--concurrency", "5",
        key=SECRET, base_url=closed_port_url(),
    )  # fmt: skip
    assert result.exit_code == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the campaign stopped after TransportError")
    rows = read_results(tmp_path / "c.results.csv")
    assert len(rows) == 500
    assert [row["status"] for row in rows].count("not_sent") >= 490
    assert_no_secret(output(result))


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"receiver,sender\n1,S\n", "lacks the column(s) text"),
        (b"receiver,text\n1,\xcf\xf0\n", "is not utf-8-sig text (line 2"),
        (b"", "the CSV file is empty"),
    ],
)
def test_a_broken_campaign_file_is_one_line_and_sends_nothing(
    tmp_path: Path, content: bytes, says: str
) -> None:
    source = tmp_path / "c.csv"
    source.write_bytes(content)
    result = run("campaign", str(source), key=SECRET, base_url=closed_port_url())
    assert_one_error_line(result, code=2, says=says)
    assert not (tmp_path / "c.results.csv").exists()
    assert_no_secret(output(result))


def test_a_missing_campaign_file_is_one_line(tmp_path: Path) -> None:
    result = run("campaign", str(tmp_path / "nope.csv"), key=SECRET)
    assert_one_error_line(result, code=2, says="no such file")


def test_campaign_reads_other_encodings(served: ServedSandbox, tmp_path: Path) -> None:
    source = tmp_path / "c.csv"
    source.write_bytes("receiver,text,sender\n380501234567,Привіт,Shop\n".encode("cp1251"))
    result = run("campaign", str(source), "--encoding", "cp1251", base_url=served.base_url)
    assert result.exit_code == 0, output(result)
    (row,) = read_results(tmp_path / "c.results.csv")
    assert served.sandbox is not None
    message = served.sandbox.message(int(row["message_id"]))
    assert message is not None
    assert message.request is not None
    assert message.request["text"] == "Привіт"
    assert run("campaign", str(source), "--encoding", "klingon").exit_code == 2


def test_a_results_file_in_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    source = tmp_path / "c.csv"
    source.write_text("receiver,text\n")
    result = run("campaign", str(source), "--results", str(tmp_path / "no" / "r.csv"), key=SECRET)
    assert_one_error_line(result, code=2, says="no such directory")


def test_the_campaign_file_is_never_overwritten(tmp_path: Path) -> None:
    source = tmp_path / "c.csv"
    source.write_text("receiver,text\n")
    result = run("campaign", str(source), "--results", str(source), key=SECRET)
    assert_one_error_line(result, code=2, says="would overwrite")
    assert source.read_text() == "receiver,text\n"


# -- the demo's report -----------------------------------------------------------


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


def test_the_demo_gives_up_in_one_line_rather_than_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_cli_demo, "_TIME_LIMIT", 0.3)
    monkeypatch.setattr(_cli_demo, "_SLOWEST_RATE", 1e9)
    result = run("demo", "--messages", "5000")
    assert_one_error_line(result, code=1, says="the demo did not finish within 0 s")


# -- real processes --------------------------------------------------------------


def script_env(**extra: str) -> dict[str, str]:
    env = {
        name: value for name, value in os.environ.items() if not name.startswith("DECISIONTELECOM_")
    }
    env.update(extra)
    env["COLUMNS"] = "100"
    return env


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


def test_campaign_runs_as_a_script(served: ServedSandbox, tmp_path: Path) -> None:
    source = tmp_path / "c.csv"
    source.write_text("receiver,text,sender\n380501234567,Hi,Shop\nbad,Hi,Shop\n")
    done = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [*SCRIPT, "campaign", str(source)],
        capture_output=True,
        text=True,
        timeout=60,
        env=script_env(
            DECISIONTELECOM_ACCESS_KEY=SANDBOX_KEY, DECISIONTELECOM_BASE_URL=served.base_url
        ),
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Campaign summary" in done.stderr
    assert [row["status"] for row in read_results(tmp_path / "c.results.csv")] == [
        "invalid",
        "sent",
    ]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_sandbox_stops_cleanly_on_a_signal(signum: signal.Signals) -> None:
    # start_new_session: the signal goes to the script alone, never to pytest.
    with subprocess.Popen(  # noqa: S603 - our own script, fixed arguments
        [*SCRIPT, "sandbox", "--port", "0", "--seed", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=script_env(),
        start_new_session=True,
    ) as process:
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            assert "http://127.0.0.1:" in first, first
            process.send_signal(signum)
            out, err = process.communicate(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 0, err
    assert "sandbox stopped" in out
    assert "error" not in err
    assert "Traceback" not in err


# -- a campaign killed or stopped keeps its record ----------------------------------------

_WORKTREE = Path(__file__).resolve().parents[2]
# This tree's package, whichever one the interpreter has installed.
CAMPAIGN_SCRIPT = [sys.executable, "-c", "from decisiontelecom_async._cli import main; main()"]


class CountingServer:
    """A loopback stand-in that accepts every send with a fresh id, a little slowly.

    It runs in threads of its own, so it keeps answering while the test waits
    on the subprocess; :attr:`ids` are the ids it handed out, in order.
    """

    def __init__(self, delay: float) -> None:
        self.ids: list[int] = []
        self.lock = threading.Lock()
        counting = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(delay)
                with counting.lock:
                    message_id = 7_000_000 + len(counting.ids)
                    counting.ids.append(message_id)
                data = json.dumps({"message_id": message_id}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1/api"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def accepted(self) -> set[int]:
        with self.lock:
            return set(self.ids)

    def wait_for(self, count: int, process: subprocess.Popen[str]) -> None:
        for _ in range(6000):
            if len(self.ids) >= count or process.poll() is not None:
                return
            time.sleep(0.01)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


def write_campaign(path: Path, rows: int) -> None:
    lines = ["receiver,text,sender"]
    lines += [f"380{500000000 + i},Hello {i},Shop" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def start_campaign(
    server: CountingServer, source: Path, results: Path, concurrency: int
) -> subprocess.Popen[str]:
    env = script_env(
        DECISIONTELECOM_ACCESS_KEY=SANDBOX_KEY,
        DECISIONTELECOM_BASE_URL=server.base_url,
        PYTHONPATH=str(_WORKTREE),
    )
    # start_new_session: the signal goes to the campaign alone, never to pytest.
    return subprocess.Popen(  # noqa: S603 - our own script, fixed arguments
        [
            *CAMPAIGN_SCRIPT,
            "campaign",
            str(source),
            "--results",
            str(results),
            "--concurrency",
            str(concurrency),
            "--max-retries",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )


def read_settled_rows(path: Path) -> list[dict[str, str]]:
    """The complete rows on disk (a row cut short by a kill is not one)."""
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return list(reader)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_campaign_killed_with_sigkill_has_every_accepted_row_on_disk(tmp_path: Path) -> None:
    source = tmp_path / "big.csv"
    write_campaign(source, 5000)
    concurrency = 10
    rng = random.Random(20261202)  # noqa: S311 - where to kill, not a secret
    with CountingServer(delay=0.002) as server:
        for attempt in range(3):
            results = tmp_path / f"big-{attempt}.results.csv"
            before = server.accepted()
            process = start_campaign(server, source, results, concurrency)
            try:
                server.wait_for(len(before) + rng.randint(100, 1500), process)
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
            finally:
                process.kill()
                process.communicate(timeout=30)
            time.sleep(0.2)  # let the server finish answering what was in flight
            accepted = server.accepted() - before
            recorded = {
                int(row["message_id"])
                for row in read_settled_rows(results)
                if row["status"] == "sent"
            }
            assert recorded <= accepted
            missing = accepted - recorded
            assert len(missing) <= concurrency, (attempt, len(accepted), len(recorded))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"]
)
def test_a_signalled_campaign_records_every_row_and_exits_with_the_signal_code(
    tmp_path: Path, signum: signal.Signals, code: int
) -> None:
    source = tmp_path / "big.csv"
    rows = 5000
    write_campaign(source, rows)
    results = tmp_path / "big.results.csv"
    with CountingServer(delay=0.002) as server:
        process = start_campaign(server, source, results, 10)
        try:
            server.wait_for(300, process)
            assert process.poll() is None
            process.send_signal(signum)
            _, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=30)
        accepted = server.accepted()
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr
    recorded = read_results(results)
    assert sorted(int(row["line"]) for row in recorded) == list(range(2, rows + 2))
    sent = {int(row["message_id"]) for row in recorded if row["status"] == "sent"}
    assert sent == accepted
    rest = [row for row in recorded if row["status"] != "sent"]
    assert rest, "the campaign stopped before the end"
    assert {row["status"] for row in rest} == {"not_sent"}
    assert len(sent) + len(rest) == rows
