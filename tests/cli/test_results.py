"""``decisiontelecom results`` on a journal file: the campaign's results file again, from it.

A real campaign subprocess against a real loopback server first; then
``results`` writes the same file from the journal and the CSV file. (The
PostgreSQL side is in ``tests/distributed/test_postgres_cli.py``.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cli._support import CountingServer, assert_one_error_line, run, start_campaign, write_campaign

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]


def test_results_from_a_journal_file_and_its_csv_equal_the_campaigns(tmp_path: Path) -> None:
    source = tmp_path / "c.csv"
    write_campaign(source, 40)
    with source.open("a", encoding="utf-8") as handle:
        handle.write("not-a-number,Hi,Shop\n")
    results = tmp_path / "c.results.csv"
    with CountingServer(delay=0.0) as server:
        process = start_campaign(server, source, results, 5)
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 1, stderr  # the invalid row
    again = tmp_path / "again.csv"
    journal = tmp_path / "c.journal"
    done = run("results", "--journal", str(journal), "--file", str(source), "--output", str(again))
    assert done.exit_code == 1, done.stderr  # not every row is sent
    assert "wrote 41 row(s)" in done.stderr
    assert again.read_bytes() == results.read_bytes()


def test_results_of_a_journal_file_need_the_file(tmp_path: Path) -> None:
    journal = tmp_path / "c.journal"
    journal.write_bytes(b"")
    done = run("results", "--journal", str(journal), "--output", str(tmp_path / "o.csv"))
    assert_one_error_line(done, code=2, says="pass --file FILE.csv")
    done = run(
        "results",
        "--journal",
        str(tmp_path / "none.journal"),
        "--file",
        str(journal),
        "--output",
        str(tmp_path / "o.csv"),
    )
    assert_one_error_line(done, code=2, says="no such journal")
