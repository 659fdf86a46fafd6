"""``decisiontelecom campaign`` keeps a journal: killed, signalled or finished, a re-run resumes.

Real subprocesses against a real loopback server that counts the sends it
accepted per receiver: whatever happens to a run, the results file ends
with one row per input row, every accepted receiver ``sent`` or
``unknown``, and no receiver accepted twice.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli._support import (
    CountingServer,
    assert_one_error_line,
    output,
    read_results,
    run,
    start_campaign,
    write_campaign,
)

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]


def finish(
    server: CountingServer, source: Path, results: Path, concurrency: int, *extra: str
) -> tuple[int, str]:
    """Run a campaign to its end; its exit code and stderr."""
    process = start_campaign(server, source, results, concurrency, *extra)
    try:
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)
    return process.returncode, stderr


def receivers_of(results: Path) -> dict[str, dict[str, str]]:
    """The results rows by receiver, checking there is one row per receiver."""
    rows = read_results(results)
    by_receiver = {row["receiver"]: row for row in rows}
    assert len(by_receiver) == len(rows)
    return by_receiver


def test_killed_at_random_moments_a_rerun_sends_nothing_twice_and_reports_every_row(
    tmp_path: Path,
) -> None:
    source = tmp_path / "big.csv"
    rows = 3000
    write_campaign(source, rows)
    results = tmp_path / "big.results.csv"
    concurrency = 10
    kills = 3
    rng = random.Random(20261203)  # noqa: S311 - where to kill, not a secret
    with CountingServer(delay=0.002) as server:
        for _ in range(kills):
            before = len(server.ids)
            process = start_campaign(server, source, results, concurrency)
            try:
                server.wait_for(before + rng.randint(50, 700), process)
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
            finally:
                process.kill()
                process.communicate(timeout=30)
            time.sleep(0.2)  # let the server finish answering what was in flight
        code, stderr = finish(server, source, results, concurrency)
        accepted = server.accepted_receivers()
    assert "Traceback" not in stderr
    # Nothing was accepted twice, however the runs died.
    assert set(accepted.values()) == {1}, accepted.most_common(3)
    got = receivers_of(results)
    assert len(got) == rows
    assert sorted(int(row["line"]) for row in got.values()) == list(range(2, rows + 2))
    statuses = {receiver: row["status"] for receiver, row in got.items()}
    assert all(statuses[receiver] in {"sent", "unknown"} for receiver in accepted)
    unknown = [receiver for receiver, status in statuses.items() if status == "unknown"]
    assert len(unknown) <= kills * concurrency
    # The rest were all sent in the end; unknown ones are not sent again.
    assert set(statuses.values()) <= {"sent", "unknown"}
    # Every row reported sent was accepted; an unknown one may or may not have
    # been (a kill between its durable claim and its request leaving).
    assert {receiver for receiver, status in statuses.items() if status == "sent"} <= set(accepted)
    assert code == (1 if unknown else 0), stderr
    assert "resumed:" in stderr
    assert f"{len(unknown)} unknown" in stderr


def test_sigterm_then_rerun_finishes_the_campaign_and_says_what_each_run_did(
    tmp_path: Path,
) -> None:
    source = tmp_path / "c.csv"
    rows = 3000
    write_campaign(source, rows)
    results = tmp_path / "c.results.csv"
    with CountingServer(delay=0.002) as server:
        process = start_campaign(server, source, results, 10)
        try:
            server.wait_for(300, process)
            assert process.poll() is None
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=30)
        assert process.returncode == 143, stderr
        first = read_results(results)
        assert len(first) == rows
        sent_first = sum(row["status"] == "sent" for row in first)
        assert sent_first == len(server.ids)  # what was in flight was settled
        assert {row["status"] for row in first} == {"sent", "not_sent"}
        code, stderr = finish(server, source, results, 10)
        accepted = server.accepted_receivers()
    assert code == 0, stderr
    assert set(accepted.values()) == {1}
    assert len(accepted) == rows
    assert {row["status"] for row in read_results(results)} == {"sent"}
    assert f"resumed: {rows - sent_first:,} sent now, {sent_first:,} sent earlier, 0 unknown" in (
        stderr
    )


def test_a_rerun_of_a_finished_campaign_sends_nothing_and_keeps_the_results(
    tmp_path: Path,
) -> None:
    source = tmp_path / "c.csv"
    write_campaign(source, 200)
    with source.open("a", encoding="utf-8") as handle:
        handle.write("not-a-number,Hi,Shop\n")
    results = tmp_path / "c.results.csv"
    with CountingServer(delay=0.0) as server:
        code, stderr = finish(server, source, results, 10)
        assert code == 1, stderr  # the invalid row
        written = results.read_bytes()
        sent = len(server.ids)
        code, stderr = finish(server, source, results, 10)
        assert code == 1, stderr
        assert len(server.ids) == sent == 200  # nothing sent again
    assert results.read_bytes() == written
    assert "resumed: 0 sent now, 200 sent earlier, 0 unknown" in stderr
    assert read_results(results)[-1]["status"] == "invalid"


def test_a_row_fixed_between_runs_is_sent_and_no_other_row_moves(tmp_path: Path) -> None:
    source = tmp_path / "c.csv"
    source.write_text(
        "receiver,text,sender\n380500000001,One,Shop\nbad,Two,Shop\n\n380500000003,Three,Shop\n",
        encoding="utf-8",
    )
    results = tmp_path / "c.results.csv"
    with CountingServer(delay=0.0) as server:
        code, stderr = finish(server, source, results, 2)
        assert code == 1, stderr
        assert [row["status"] for row in read_results(results)] == ["sent", "invalid", "sent"]
        source.write_text(source.read_text().replace("bad,", "380500000002,"), encoding="utf-8")
        code, stderr = finish(server, source, results, 2)
        accepted = server.accepted_receivers()
    assert code == 0, stderr
    assert accepted == {"380500000001": 1, "380500000002": 1, "380500000003": 1}
    assert [(row["line"], row["status"]) for row in read_results(results)] == [
        ("2", "sent"),
        ("3", "sent"),
        ("5", "sent"),
    ]


def test_an_unknown_row_is_not_resent_unless_asked(tmp_path: Path) -> None:
    source = tmp_path / "c.csv"
    write_campaign(source, 20)
    results = tmp_path / "c.results.csv"
    lost = "380500000007"
    with CountingServer(delay=0.0) as server:
        server.drop_once.add(lost)  # accepted, but the answer never comes
        code, stderr = finish(server, source, results, 4)
        assert code == 1, stderr
        row = receivers_of(results)[lost]
        assert row["status"] == "unknown", row
        code, stderr = finish(server, source, results, 4)
        assert code == 1, stderr
        assert server.accepted_receivers()[lost] == 1  # not sent again
        assert receivers_of(results)[lost]["status"] == "unknown"
        assert "resumed: 0 sent now, 19 sent earlier, 1 unknown" in stderr
        code, stderr = finish(server, source, results, 4, "--resend-unknown")
        assert code == 0, stderr
        assert server.accepted_receivers()[lost] == 2  # asked for: sent again
    assert {row["status"] for row in read_results(results)} == {"sent"}


def test_a_journal_of_another_file_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    first = tmp_path / "a.csv"
    write_campaign(first, 30)
    journal = tmp_path / "shared.journal"
    with CountingServer(delay=0.0) as server:
        code, stderr = finish(
            server, first, tmp_path / "a.results.csv", 4, "--journal", str(journal)
        )
        assert code == 0, stderr
        other = tmp_path / "b.csv"
        other.write_text(first.read_text().replace("Hello 0,", "Goodbye,"), encoding="utf-8")
        results = tmp_path / "b.results.csv"
        code, stderr = finish(server, other, results, 4, "--journal", str(journal))
        assert len(server.ids) == 30  # nothing of b.csv was sent
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert lines[-1].startswith("error: the journal"), stderr
    assert "line 2" in lines[-1]
    assert "nothing was sent" in lines[-1]
    assert "Traceback" not in stderr
    assert not results.exists()


def test_no_journal_keeps_no_journal_and_sends_everything_again(tmp_path: Path) -> None:
    source = tmp_path / "c.csv"
    write_campaign(source, 20)
    results = tmp_path / "c.results.csv"
    with CountingServer(delay=0.0) as server:
        for _ in range(2):
            code, stderr = finish(server, source, results, 4, "--no-journal")
            assert code == 0, stderr
        accepted = server.accepted_receivers()
    assert set(accepted.values()) == {2}
    assert not list(tmp_path.glob("*.journal*"))
    assert len(read_results(results)) == 20
    assert "resumed:" not in stderr


def test_without_journal_a_lost_answer_is_unknown_too(tmp_path: Path) -> None:
    source = tmp_path / "c.csv"
    write_campaign(source, 10)
    results = tmp_path / "c.results.csv"
    with CountingServer(delay=0.0) as server:
        server.drop_once.add("380500000003")
        code, stderr = finish(server, source, results, 2, "--no-journal")
    assert code == 1, stderr
    row = receivers_of(results)["380500000003"]
    assert (row["status"], row["error_type"]) == ("unknown", "TransportError"), row
    assert "unknown (may have been sent)" in stderr


def test_the_journal_lies_beside_the_file_by_default(tmp_path: Path) -> None:
    source = tmp_path / "c.csv"
    write_campaign(source, 5)
    with CountingServer(delay=0.0) as server:
        code, stderr = finish(server, source, tmp_path / "c.results.csv", 2)
    assert code == 0, stderr
    assert (tmp_path / "c.journal").is_file()


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--no-journal", "--journal", "x.journal"], "--journal needs a journal"),
        (["--no-journal", "--resend-unknown"], "--resend-unknown needs a journal"),
    ],
)
def test_journal_options_that_contradict_are_bad_usage(
    tmp_path: Path, options: list[str], says: str
) -> None:
    source = tmp_path / "c.csv"
    write_campaign(source, 1)
    result = run("campaign", str(source), *options)
    assert_one_error_line(result, code=2, says=says)
    assert not (tmp_path / "c.results.csv").exists(), output(result)


def test_a_journal_in_use_by_another_process_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "c.csv"
    write_campaign(source, 3000)
    journal = tmp_path / "c.journal"
    with CountingServer(delay=0.002) as server:
        process = start_campaign(server, source, tmp_path / "r1.csv", 2)
        try:
            server.wait_for(20, process)
            assert process.poll() is None
            code, stderr = finish(server, source, tmp_path / "r2.csv", 2, "--journal", str(journal))
        finally:
            process.kill()
            process.communicate(timeout=30)
    assert code == 2, stderr
    assert stderr.strip().splitlines()[-1].startswith(f"error: cannot use the journal {journal}")
    assert not (tmp_path / "r2.csv").exists()


def test_campaign_help_names_the_journal_options() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "decisiontelecom_async._cli", "campaign", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for option in ("--journal", "--no-journal", "--resend-unknown"):
        assert option in done.stdout
