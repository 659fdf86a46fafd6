"""``campaign``, ``worker`` and ``results`` on a PostgreSQL journal, end to end.

Real subprocesses of the command line, the session's real PostgreSQL and
Redis, and a loopback service in this process counting what it accepts per
receiver and per second.
"""

from __future__ import annotations

import asyncio
import csv
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

pytest.importorskip("redis", reason="needs the distributed extra (redis)")
pytest.importorskip("asyncpg", reason="needs the distributed extra (asyncpg)")
pytest.importorskip("click", reason="needs the cli extra")

from cli._support import CAMPAIGN_SCRIPT, WORKTREE, read_results, script_env, write_campaign

from distributed._counting import CountingService

if TYPE_CHECKING:
    from _servers import RedisServer

pytestmark = pytest.mark.network

DEADLINE = 120.0  # seconds a command may take at all (a bound, not a measure)
ROWS = 300


async def start(base_url: str, *args: str) -> asyncio.subprocess.Process:
    env = script_env(
        DECISIONTELECOM_ACCESS_KEY="cli-shared-key",
        DECISIONTELECOM_BASE_URL=base_url,
        PYTHONPATH=str(WORKTREE),
    )
    return await asyncio.create_subprocess_exec(
        *CAMPAIGN_SCRIPT,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def finish(process: asyncio.subprocess.Process) -> tuple[int, str]:
    _, err = await asyncio.wait_for(process.communicate(), DEADLINE)
    assert process.returncode is not None
    return process.returncode, err.decode()


async def command(base_url: str, *args: str) -> tuple[int, str]:
    return await finish(await start(base_url, *args))


def one_error_line(stderr: str, says: str) -> None:
    lines = stderr.strip().splitlines()
    assert lines, stderr
    assert lines[-1].startswith("error: "), stderr
    assert says in lines[-1], stderr
    assert "Traceback" not in stderr


async def test_campaign_and_workers_share_one_campaign_then_results_from_the_journal(
    redis_server: RedisServer, postgres_dsn: str, tmp_path: Path
) -> None:
    source, results = tmp_path / "spring.csv", tmp_path / "spring.results.csv"
    write_campaign(source, ROWS)
    rate = 60.0
    journal = ["--journal", postgres_dsn, "--campaign", "spring"]
    # The loading campaign and the two workers hold 60/s between them through Redis.
    shared = ["--shared-limit", redis_server.url, "--rate-limit", "60", "--concurrency", "10"]
    service = CountingService()
    async with service.serve() as server:
        loader = await start(
            server.base_url, "campaign", str(source), "--results", str(results), *journal, *shared
        )
        # The workers join once the campaign is loaded and sending (bounded wait).
        for _ in range(int(DEADLINE * 10)):
            if service.arrivals or loader.returncode is not None:
                break
            await asyncio.sleep(0.1)
        workers = [await start(server.base_url, "worker", *journal, *shared) for _ in range(2)]
        done = [await finish(loader)] + [await finish(w) for w in workers]
        for code, err in done:
            assert code == 0, err
            assert f"campaign 'spring': {ROWS:,} of {ROWS:,} sent" in err, err
            # The bar shows this process's rows and the whole campaign's sent count.
            assert f"campaign: {ROWS:,} sent" in err, err
        mine = [
            int(re.search(r"\(([\d,]+) by this worker\)", err)[1].replace(",", ""))
            for _, err in done
        ]  # type: ignore[index]
        assert sum(mine) == ROWS, mine
        assert all(mine), mine  # the workers took part
        # Each receiver accepted once, at the shared rate for the three processes.
        assert len(service.receivers) == ROWS
        assert set(service.receivers.values()) == {1}
        assert max(service.full_windows()) <= 1.1 * rate, service.windows
        rows = read_results(results)
        assert len(rows) == ROWS
        assert {row["status"] for row in rows} == {"sent"}
        # Loading again adds nothing and sends nothing.
        code, err = await command(
            server.base_url, "campaign", str(source), "--results", str(results), *journal
        )
        assert code == 0, err
        assert sum(service.receivers.values()) == ROWS
        assert read_results(results) == rows
        # The results from the journal alone: the same rows, lines and ids.
        alone = tmp_path / "from-journal.csv"
        code, err = await command(server.base_url, "results", *journal, "--output", str(alone))
        assert code == 0, err
        assert read_results(alone) == rows
        assert [row["line"] for row in rows] == [str(line) for line in range(2, ROWS + 2)]
        # A different file for the same campaign: refused, naming the line, nothing sent.
        text = source.read_text(encoding="utf-8").replace("Hello 7,", "Changed 7,")
        edited = tmp_path / "edited.csv"
        edited.write_text(text, encoding="utf-8")
        code, err = await command(server.base_url, "campaign", str(edited), *journal)
        assert code == 2, err
        one_error_line(err, "the row at line 9 is not the one it holds")
        assert sum(service.receivers.values()) == ROWS


async def test_a_campaign_file_with_a_bad_row_has_its_results_from_the_journal(
    postgres_dsn: str, tmp_path: Path
) -> None:
    source = tmp_path / "bad.csv"
    source.write_text(
        "receiver,text,sender\n380500000001,one,Shop\nnot-a-number,two,Shop\n"
        "380500000003,three,Shop\n",
        encoding="utf-8",
    )
    journal = ["--journal", postgres_dsn, "--campaign", "bad"]
    service = CountingService()
    async with service.serve() as server:
        code, err = await command(
            server.base_url, "campaign", str(source), *journal, "--rate-limit", "none"
        )
        assert code == 1, err  # one row invalid
        exact, alone = tmp_path / "exact.csv", tmp_path / "alone.csv"
        code, err = await command(
            server.base_url, "results", *journal, "--output", str(exact), "--file", str(source)
        )
        assert code == 1, err
        code, err = await command(server.base_url, "results", *journal, "--output", str(alone))
        assert code == 1, err
    assert len(service.receivers) == 2
    with exact.open(newline="", encoding="utf-8") as handle:
        exact_rows = list(csv.DictReader(handle))
    assert [(r["line"], r["status"]) for r in exact_rows] == [
        ("2", "sent"),
        ("3", "invalid"),
        ("4", "sent"),
    ]
    alone_rows = read_results(alone)
    assert [r["status"] for r in alone_rows] == ["sent", "invalid", "sent"]
    assert alone_rows[0] == exact_rows[0]
    assert alone_rows[2] == exact_rows[2]


async def test_usage_errors_are_one_line_and_exit_2(postgres_dsn: str, tmp_path: Path) -> None:
    source = tmp_path / "c.csv"
    write_campaign(source, 3)
    cases = [
        (["worker", "--journal", postgres_dsn], "--campaign"),
        (["worker", "--journal", str(tmp_path / "x.journal"), "--campaign", "c"], "postgresql://"),
        (["campaign", str(source), "--journal", postgres_dsn], "needs --campaign NAME"),
        (["campaign", str(source), "--campaign", "c"], "--campaign names a campaign"),
        (
            [
                *["worker", "--journal", postgres_dsn, "--campaign", "c"],
                *["--shared-limit", "redis://x", "--rate-limit", "none"],
            ],
            "--rate-limit none cannot be shared",
        ),
        (
            ["results", "--journal", str(tmp_path / "x.journal"), "--output", "o.csv"],
            "pass --file FILE.csv",
        ),
        (["worker", "--journal", postgres_dsn, "--campaign", "empty"], "has no rows"),
    ]
    for args, says in cases:
        code, err = await command("http://127.0.0.1:1", *args)
        assert code == 2, (args, err)
        one_error_line(err, says)


async def test_a_database_that_cannot_be_reached_is_one_line_without_the_password() -> None:
    secret = "cli-Pa55-w0rd"
    dsn = f"postgresql://postgres:{secret}@127.0.0.1:1/campaigns"
    code, err = await command("http://127.0.0.1:1", "worker", "--journal", dsn, "--campaign", "c")
    assert code == 1, err
    one_error_line(
        err, "JournalError: the journal in PostgreSQL at postgresql://postgres@127.0.0.1:1"
    )
    assert secret not in err
