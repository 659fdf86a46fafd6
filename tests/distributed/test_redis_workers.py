"""Real worker processes (``_worker.py``) sharing one ``RedisRateLimit``.

A loopback service in this process counts what it accepts per receiver and
per second of its own clock; each worker sends its share of the campaign
(every third receiver) through the shared limit.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

pytest.importorskip("redis", reason="needs the distributed extra (redis)")

from _limited_server import LimitedServer

from distributed._counting import CountingService

if TYPE_CHECKING:
    from _servers import RedisServer

pytestmark = pytest.mark.network

WORKER = Path(__file__).with_name("_worker.py")
ROOT = Path(__file__).parents[2]
WORKERS = 3
DEADLINE = 120.0  # seconds a worker may take at all (a bound, not a measure)


async def start_worker(
    redis_url: str,
    base_url: str,
    journal: str,
    first: int,
    count: int,
    rate: float | str,
    *,
    on_signal: bool = False,
) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    args = [redis_url, base_url, journal, str(first), str(count), str(WORKERS), "10", str(rate)]
    args += ["-"] if on_signal else []
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        *args,
        stdin=asyncio.subprocess.PIPE if on_signal else None,
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


async def run_workers(
    redis_url: str, base_url: str, journals: list[str], count: int, rate: float
) -> list[tuple[int, dict[str, Any], str]]:
    processes = [
        await start_worker(redis_url, base_url, journals[w], w, count, rate) for w in range(WORKERS)
    ]
    return list(await asyncio.gather(*(finish(p) for p in processes)))


async def test_three_workers_hold_one_shared_limit(redis_server: RedisServer) -> None:
    rate, count = 100.0, 1500
    service = CountingService()
    async with service.serve() as server:
        results = await run_workers(redis_server.url, server.base_url, ["-"] * WORKERS, count, rate)
    for code, summary, err in results:
        assert code == 0, (summary, err)
        assert summary["sent"] == count // WORKERS
    # Each receiver accepted exactly once.
    assert len(service.receivers) == count
    assert set(service.receivers.values()) == {1}
    # Every whole second at most 1.1x the limit, and 80% of it used overall.
    full = service.full_windows()
    assert len(full) >= 10, service.windows
    assert max(full) <= 1.1 * rate, service.windows
    span = max(service.arrivals) - min(service.arrivals)
    assert count / span >= 0.8 * rate, (span, service.windows)


async def test_a_429_to_one_worker_pauses_them_all(redis_server: RedisServer) -> None:
    rate, count = 60.0, 300
    service = CountingService(refuse=frozenset({100}), retry_after=2.0)
    async with service.serve() as server:
        results = await run_workers(redis_server.url, server.base_url, ["-"] * WORKERS, count, rate)
    for code, summary, err in results:
        assert code == 0, (summary, err)
    assert len(service.refused_at) == 1
    refused = service.refused_at[0]
    # Nothing from any worker once the places handed out before it are spent.
    assert service.between(refused + 0.3, refused + 1.8) == 0, sorted(service.arrivals)
    assert len(service.receivers) == count
    assert set(service.receivers.values()) == {1}


async def test_redis_stopped_mid_run_stops_them_and_a_resume_completes(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    rate, count = 50.0, 450
    journals = [str(tmp_path / f"worker{w}.journal") for w in range(WORKERS)]
    service = CountingService()
    async with service.serve() as server:
        processes = [
            await start_worker(redis_server.url, server.base_url, journals[w], w, count, rate)
            for w in range(WORKERS)
        ]
        # Stop Redis once about a third of the campaign is out (bounded wait).
        for _ in range(int(DEADLINE * 10)):
            if len(service.arrivals) >= count // 3:
                break
            await asyncio.sleep(0.1)
        redis_server.stop()
        before = len(service.arrivals)
        try:
            stopped = [await finish(p) for p in processes]
        finally:
            redis_server.start()
        after_stop = len(service.arrivals)
        assert before < count
        for code, summary, err in stopped:
            assert code == 3, (summary, err)
            assert "Redis at redis://127.0.0.1:" in summary["stopped_by"]
        # A resume with the same journals sends only what was not sent.
        resumed = await run_workers(redis_server.url, server.base_url, journals, count, rate)
    assert after_stop < count
    for code, summary, err in resumed:
        assert code == 0, (summary, err)
    assert sum(s["resumed"] for _, s, _ in resumed) == after_stop
    assert len(service.receivers) == count
    assert set(service.receivers.values()) == {1}


async def test_kill_9_of_one_worker_leaves_the_rest_at_the_limit(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    rate, count = 60.0, 450
    journals = [str(tmp_path / f"worker{w}.journal") for w in range(WORKERS)]
    service = CountingService()
    async with service.serve() as server:
        processes = [
            await start_worker(redis_server.url, server.base_url, journals[w], w, count, rate)
            for w in range(WORKERS)
        ]
        for _ in range(int(DEADLINE * 10)):
            if len(service.arrivals) >= count // 3:
                break
            await asyncio.sleep(0.1)
        processes[0].kill()  # SIGKILL: no clean-up of any kind
        killed = await finish(processes[0])
        rest = [await finish(p) for p in processes[1:]]
        # The killed worker's share, resumed from its journal.
        resumed = await finish(
            await start_worker(redis_server.url, server.base_url, journals[0], 0, count, rate)
        )
    assert killed[0] == -9
    for code, summary, err in rest:
        assert code == 0, (summary, err)
        assert summary["sent"] == count // WORKERS
    code, summary, err = resumed
    # In flight at the kill: unknown, not sent again; at most its concurrency (10).
    unknown = summary["errors"].get("TransportError", 0)
    assert set(summary["errors"]) <= {"TransportError"}, (summary, err)
    assert unknown <= 10
    assert code == (1 if unknown else 0)
    # No receiver accepted twice; the only ones missing are the unknown ones.
    assert max(service.receivers.values()) == 1
    assert count - unknown <= len(service.receivers) <= count
    # The survivors kept to the shared limit while the killed one's places went unused.
    assert max(service.full_windows()) <= 1.1 * rate, service.windows


async def run_auto_workers(
    redis_url: str, schedule: Callable[[float], float], seconds: int
) -> tuple[LimitedServer, int, list[tuple[int, dict[str, Any], str]]]:
    """Three workers sharing ``rate="auto"`` against a limit of ``schedule(t)`` for ``seconds``.

    ``t`` counts from the moment every worker has started (imports take a
    while on a busy machine); so do the windows: the second value is the
    server's window in which they all began.
    """
    began = [0.0]
    async with LimitedServer(lambda t: schedule(max(0.0, t - began[0]))) as server:
        processes = [
            await start_worker(redis_url, server.base_url, "-", w, 10**6, "auto", on_signal=True)
            for w in range(WORKERS)
        ]
        for process in processes:
            assert process.stdout is not None
            ready = await asyncio.wait_for(process.stdout.readline(), DEADLINE)
            assert ready == b"ready\n", ready
        # Start on a window's edge of the server's clock, so windows are the run's.
        await asyncio.sleep(math.ceil(server.elapsed()) - server.elapsed())
        began[0] = server.elapsed()
        until = f"{time.time() + seconds!r}\n".encode()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(until)
            process.stdin.close()
        results = [await finish(p) for p in processes]
    return server, round(began[0]), results


async def test_three_workers_learn_one_auto_rate_and_follow_the_limit_down(
    redis_server: RedisServer,
) -> None:
    drop_at, seconds = 7, 13
    server, start, results = await run_auto_workers(
        redis_server.url, lambda t: 150.0 if t < drop_at else 60.0, seconds
    )
    for code, summary, err in results:
        assert code == 0, (summary, err)
    assert sum(summary["sent"] for _, summary, _ in results) == server.total_accepted
    # The service's own counts per second: after the first 3 s, the three
    # together use most of the limit, with few 429s.
    before = server.window_counts(start + 3, start + drop_at - 1)
    accepted = sum(a for a, _ in before) / len(before)
    assert accepted >= 0.85 * 150, before
    warm = server.window_counts(start, start + drop_at - 1)
    refused, requests = sum(r for _, r in warm), sum(a + r for a, r in warm)
    assert refused / requests < 0.03, warm
    # Within 3 s of the drop they send about the new limit, and use most of it.
    after = server.window_counts(start + drop_at + 3, start + seconds - 2)
    assert all(a + r <= 1.2 * 60 for a, r in after), after
    assert sum(a for a, _ in after) / len(after) >= 0.8 * 60, after
    # One rate for all, the one in force: each worker reports it.
    rates = [summary["rate"] for _, summary, _ in results]
    assert all(0.7 * 60 <= r <= 1.1 * 60 for r in rates), rates
