"""Real worker processes (``_worker.py``) sharing a ``PostgresJournal`` and a ``RedisRateLimit``.

Every worker is handed the whole campaign; the journal shares it out. A
loopback service in this process counts what it accepts per receiver and
per second of its own clock; the journal's own rows are read at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

pytest.importorskip("redis", reason="needs the distributed extra (redis)")
pytest.importorskip("asyncpg", reason="needs the distributed extra (asyncpg)")

from decisiontelecom_async.distributed import PostgresJournal
from distributed._counting import CountingService

if TYPE_CHECKING:
    from _servers import PostgresServer, RedisServer

pytestmark = pytest.mark.network

WORKER = Path(__file__).with_name("_worker.py")
ROOT = Path(__file__).parents[2]
WORKERS = 3
CONCURRENCY = 10
DEADLINE = 120.0  # seconds a worker may take at all (a bound, not a measure)


async def start_worker(
    redis_url: str, base_url: str, dsn: str, count: int, rate: float, *, lease: float = 30.0
) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
        "DT_CAMPAIGN": "spring",
        "DT_LEASE": str(lease),
    }
    args = [redis_url, base_url, dsn, "0", str(count), "1", str(CONCURRENCY), str(rate)]
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def finish(process: asyncio.subprocess.Process) -> tuple[int, dict[str, Any], str]:
    """The worker's exit code, its summary line, and its stderr."""
    out, err = await asyncio.wait_for(process.communicate(), DEADLINE)
    assert process.returncode is not None
    lines = out.decode().splitlines()
    summary = json.loads(lines[-1]) if lines else {}
    return process.returncode, summary, err.decode()


async def wait_for_arrivals(service: CountingService, count: int) -> None:
    for _ in range(int(DEADLINE * 10)):
        if len(service.arrivals) >= count:
            return
        await asyncio.sleep(0.1)


async def journal_counts(dsn: str) -> dict[str, int]:
    async with PostgresJournal(dsn, campaign="spring") as journal:
        return await journal.counts()


async def test_three_workers_share_the_campaign_and_the_limit(
    redis_server: RedisServer, postgres_dsn: str
) -> None:
    rate, count = 100.0, 1500
    service = CountingService()
    async with service.serve() as server:
        processes = [
            await start_worker(redis_server.url, server.base_url, postgres_dsn, count, rate)
            for _ in range(WORKERS)
        ]
        results = [await finish(p) for p in processes]
    sent = 0
    for code, summary, err in results:
        assert code == 0, (summary, err)
        # One outcome per input handed to it: its own, and the others' resumed.
        assert summary["sent"] + summary["resumed"] == count, summary
        assert summary["sent"] > 0, summary  # every worker took part
        sent += summary["sent"]
    assert sent == count
    # Each receiver accepted exactly once.
    assert len(service.receivers) == count
    assert set(service.receivers.values()) == {1}
    # Every whole second at most 1.1x the limit, and 80% of it used overall.
    full = service.full_windows()
    assert len(full) >= 10, service.windows
    assert max(full) <= 1.1 * rate, service.windows
    span = max(service.arrivals) - min(service.arrivals)
    assert count / span >= 0.8 * rate, (span, service.windows)
    assert await journal_counts(postgres_dsn) == {"sent": count}


async def test_kill_9_of_one_worker_the_others_take_over_its_rows(
    redis_server: RedisServer, postgres_dsn: str
) -> None:
    rate, count, lease = 100.0, 600, 2.0
    service = CountingService()
    async with service.serve() as server:
        processes = [
            await start_worker(
                redis_server.url, server.base_url, postgres_dsn, count, rate, lease=lease
            )
            for _ in range(WORKERS)
        ]
        await wait_for_arrivals(service, count // 3)
        processes[0].kill()  # SIGKILL: no clean-up of any kind
        killed = await finish(processes[0])
        rest = [await finish(p) for p in processes[1:]]
    assert killed[0] == -9
    for code, summary, err in rest:
        # In flight at the kill: unknown (TransportError), not sent again.
        assert set(summary["errors"]) <= {"TransportError"}, (summary, err)
        unknown = summary["errors"].get("TransportError", 0)
        assert unknown <= CONCURRENCY, summary
        assert code == (1 if unknown else 0), (summary, err)
        assert summary["sent"] + summary["resumed"] + unknown == count, summary
    # No receiver accepted twice; only the unknown ones may be missing.
    assert max(service.receivers.values()) == 1
    counts = await journal_counts(postgres_dsn)
    assert set(counts) <= {"sent", "unknown"}, counts
    assert counts.get("unknown", 0) <= CONCURRENCY
    assert counts["sent"] + counts.get("unknown", 0) == count
    assert counts["sent"] <= len(service.receivers) <= count


async def test_postgres_stopped_mid_run_stops_them_and_a_resume_completes(
    redis_server: RedisServer, postgres_server: PostgresServer, postgres_dsn: str
) -> None:
    rate, count, lease = 100.0, 600, 2.0
    service = CountingService()
    async with service.serve() as server:
        processes = [
            await start_worker(
                redis_server.url, server.base_url, postgres_dsn, count, rate, lease=lease
            )
            for _ in range(WORKERS)
        ]
        await wait_for_arrivals(service, count // 3)
        postgres_server.stop()
        try:
            stopped = [await finish(p) for p in processes]
        finally:
            postgres_server.start()
        after_stop = len(service.arrivals)
        for code, summary, err in stopped:
            assert code == 4, (summary, err)
            assert "the journal in PostgreSQL at postgresql://" in summary["journal_stop"], summary
            # Still one outcome per input: the rest stopped with the journal's error.
            assert set(summary["errors"]) <= {"JournalError", "CampaignAborted"}, summary
            assert summary["sent"] + sum(summary["errors"].values()) == count, summary
        assert after_stop < count
        # A resume by new workers finishes the campaign.
        processes = [
            await start_worker(
                redis_server.url, server.base_url, postgres_dsn, count, rate, lease=lease
            )
            for _ in range(WORKERS)
        ]
        resumed = [await finish(p) for p in processes]
    for code, summary, err in resumed:
        assert set(summary["errors"]) <= {"TransportError"}, (summary, err)
        assert code in {0, 1}, (summary, err)
    # Nothing sent unrecorded: every accepted request's row is sent or unknown,
    # no receiver accepted twice, and the unknown ones are at most what was in flight.
    assert max(service.receivers.values()) == 1
    counts = await journal_counts(postgres_dsn)
    assert set(counts) <= {"sent", "unknown"}, counts
    assert counts["sent"] + counts.get("unknown", 0) == count
    assert counts.get("unknown", 0) <= 2 * WORKERS * CONCURRENCY
    assert counts["sent"] <= len(service.receivers) <= count
