"""``decisiontelecom campaign``: a CSV file sent row by row, killed and signalled too."""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from cli._support import (
    SANDBOX_KEY,
    SCRIPT,
    SECRET,
    CountingServer,
    ServedSandbox,
    assert_no_secret,
    assert_one_error_line,
    closed_port_url,
    output,
    read_results,
    read_settled_rows,
    run,
    script_env,
    start_campaign,
    write_campaign,
)
from decisiontelecom_async._cli._options import Service

pytestmark = pytest.mark.network


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
    # Written from the journal at the end: in the file's order.
    assert [row["status"] for row in read_results(tmp_path / "c.results.csv")] == [
        "sent",
        "invalid",
    ]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_campaign_without_journal_killed_with_sigkill_has_every_accepted_row_on_disk(
    tmp_path: Path,
) -> None:
    source = tmp_path / "big.csv"
    write_campaign(source, 5000)
    concurrency = 10
    rng = random.Random(20261202)  # noqa: S311 - where to kill, not a secret
    with CountingServer(delay=0.002) as server:
        for attempt in range(3):
            results = tmp_path / f"big-{attempt}.results.csv"
            before = server.accepted()
            # Without a journal, each row is on disk as it settles.
            process = start_campaign(server, source, results, concurrency, "--no-journal")
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


@pytest.mark.parametrize(
    ("delimiter", "option"),
    [(";", []), ("\t", []), (";", ["--delimiter", ";"]), ("\t", ["--delimiter", "tab"])],
    ids=["semicolon", "tab", "forced-semicolon", "forced-tab"],
)
def test_campaign_reads_semicolon_and_tab_files(
    served: ServedSandbox, tmp_path: Path, delimiter: str, option: list[str]
) -> None:
    source = tmp_path / "c.csv"
    rows = [["receiver", "text", "sender"], ["380501234567", "Hello, friend", "Shop"]]
    rows.append(["380501234568", "Bye, friend", "Shop"])
    source.write_text("\n".join(delimiter.join(row) for row in rows) + "\n", encoding="utf-8")
    result = run("campaign", str(source), *option, base_url=served.base_url)
    assert result.exit_code == 0, output(result)
    got = read_results(tmp_path / "c.results.csv")
    assert {row["status"] for row in got} == {"sent"}
    assert served.sandbox is not None
    texts = set()
    for row in got:
        message = served.sandbox.message(int(row["message_id"]))
        assert message is not None
        assert message.request is not None
        texts.add(message.request["text"])
    assert texts == {"Hello, friend", "Bye, friend"}


def test_a_forced_delimiter_that_does_not_fit_is_one_line(tmp_path: Path) -> None:
    source = tmp_path / "c.csv"
    source.write_text("receiver;text;sender\n380501234567;Hi;Shop\n", encoding="utf-8")
    result = run("campaign", str(source), "--delimiter", ",", key=SECRET)
    assert_one_error_line(result, code=2, says="--delimiter")
    assert not (tmp_path / "c.results.csv").exists()


def summary_figure(text: str, label: str) -> str:
    """The figure of one row of the summary table, as printed."""
    summary = text[text.index("Campaign summary") :]
    match = re.search(rf"\b{re.escape(label)}\W+([\d,.]+)", summary)
    assert match is not None, text
    return match.group(1)


def test_the_throughput_counts_only_messages_sent(tmp_path: Path) -> None:
    source = tmp_path / "c.csv"
    source.write_text(
        "receiver,text,sender\n" + "".join(f"38050{n:07d},Hi,Shop\n" for n in range(300))
    )
    result = run(
        "campaign", str(source), "--max-retries", "0",
        key=SECRET, base_url=closed_port_url(),
    )  # fmt: skip
    assert result.exit_code == 1
    assert summary_figure(result.stderr, "sent") == "0"
    assert summary_figure(result.stderr, "throughput") == "0"


def test_the_summary_counts_what_the_run_reports(served: ServedSandbox, tmp_path: Path) -> None:
    source = tmp_path / "c.csv"
    source.write_text(
        "receiver,text,sender\n"
        + "".join(f"38050{n:07d},Hi,Shop\n" for n in range(40))
        + "bad,Hi,Shop\n"
    )
    result = run("campaign", str(source), base_url=served.base_url)
    assert result.exit_code == 1
    assert summary_figure(result.stderr, "rows") == "41"
    assert summary_figure(result.stderr, "sent") == "40"
    assert summary_figure(result.stderr, "failed") == "1"
    assert int(summary_figure(result.stderr, "throughput").replace(",", "")) > 0


@pytest.mark.parametrize(
    ("given", "expected"),
    [([], "auto"), (["--rate-limit", "none"], None), (["--rate-limit", "50"], 50.0)],
)
def test_campaign_rate_limit_is_auto_unless_told(
    served: ServedSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    given: list[str],
    expected: object,
) -> None:
    seen: list[object] = []
    original = Service.client

    def client(self: Service, **options: Any) -> Any:
        seen.append(options.get("rate_limit"))
        return original(self, **options)

    monkeypatch.setattr(Service, "client", client)
    source = tmp_path / "one.csv"
    source.write_text("receiver,text,sender\n380501234567,Hi,Shop\n", encoding="utf-8")
    result = run("campaign", str(source), *given, base_url=served.base_url)
    assert result.exit_code == 0, output(result)
    assert seen == [expected]


def test_a_bad_rate_limit_is_bad_usage(tmp_path: Path) -> None:
    source = tmp_path / "one.csv"
    source.write_text("receiver,text,sender\n380501234567,Hi,Shop\n", encoding="utf-8")
    for bad in ("fast", "0", "-3", "nan"):
        result = run("campaign", str(source), "--rate-limit", bad)
        assert_one_error_line(result, code=2, says="'auto', 'none' or a number")
