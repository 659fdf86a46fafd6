"""The shared limit at scale: N worker processes, with and without ``RedisRateLimit``.

``python bench/distributed.py [--n 2000] [--auto-seconds 12]`` (also run by
``bench/run.py``). Needs ``redis-server`` on the PATH (it starts its own on
a free port, and says so and stops if there is none).

1. **Scale.** For 1, 2 and 4 worker processes against the fast local server
   (``bench/server.py``), each sending ``--n`` messages at concurrency 50
   after a warm-up, started together: aggregate messages/second (the
   server's own count over its first to last accepted request), each with
   ``rate_limit`` none (the baseline, measured in the same run), a fixed
   in-process ceiling too high to bind (``rate_limit=1e6``) and a
   ``RedisRateLimit`` as high (``rate=1e6``: every request still asks Redis).
   Each row is the median of ``--repeat`` runs (modes interleaved).
   Printed: throughput and its ratio to the baseline of the same N, CPU
   microseconds per message in the workers, and Redis round trips per
   message (``INFO commandstats``: every command Redis ran, divided by the
   messages sent).
2. **Shared auto.** Three workers sharing ``RedisRateLimit(url,
   rate="auto")`` against ``tests/_limited_server.py`` (a limit of 150/s
   that drops to 60/s at 7 s, answering 429 + ``Retry-After`` past it):
   accepted/s after 3 s as a ratio to the limit (target >= 0.9), the share
   of requests answered 429 before the drop (target < 2%), and the
   seconds after the drop until every later second holds <= 1.1x the new
   limit (target <= 3), and Redis round trips per request.

Nothing here asserts. The figures go to ``bench/results/distributed.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "tests")]

from _limited_server import LimitedServer  # noqa: E402 - found through the path above
from run import Server  # noqa: E402 - a sibling script

PYTHON = sys.executable
WARMUP = 200
CONCURRENCY = 50
WORKERS = (1, 2, 4)
MODES = ("none", "in-process 1e6/s", "redis 1e6/s")
AUTO_WORKER = ROOT / "tests" / "distributed" / "_worker.py"
DROP_AT = 7
_IN_SCRIPTS = {
    "time", "get", "set", "hget", "hmget", "hset", "hincrby", "zadd", "zcount",
    "zremrangebyscore", "pexpire",
}  # fmt: skip
"""The commands the limit's Lua scripts run: not round trips."""


# -- a worker process --------------------------------------------------------------


async def worker(url: str, redis_url: str, mode: str, n: int, first: int) -> dict[str, Any]:
    """Warm up, say ``ready``, wait for ``go`` on stdin, send ``n`` messages; the figures."""
    from decisiontelecom_async import ViberClient, ViberMessage  # noqa: PLC0415
    from decisiontelecom_async.distributed import RedisRateLimit  # noqa: PLC0415

    rate_limit: Any = None
    if mode == MODES[1]:
        rate_limit = 1e6
    elif mode == MODES[2]:
        rate_limit = RedisRateLimit(redis_url, rate=1e6, key="bench-scale")

    def messages(count: int, start: int) -> Any:
        for i in range(start, start + count):
            yield ViberMessage("Shop", f"380{500000000 + i}", f"Your code is {i:06d}")

    async with ViberClient(
        "bench-key",
        base_url=f"{url}/v1/api",
        max_concurrency=CONCURRENCY,
        rate_limit=rate_limit,
    ) as client:
        async for _ in client.send_many(messages(WARMUP, first)):
            pass
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        ok = 0
        started, cpu = time.perf_counter(), time.process_time()
        async for outcome in client.send_many(messages(n, first + WARMUP)):
            ok += outcome.ok
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"ok": ok, "seconds": seconds, "cpu_seconds": cpu}


# -- the parent ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Redis:
    """A redis-server of our own on 127.0.0.1, stopped by its PID."""

    def __init__(self, binary: str, directory: str) -> None:
        import redis  # noqa: PLC0415 - the distributed extra

        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        options = ["--save", "", "--appendonly", "no", "--dir", directory]
        self.process = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), *options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.client = redis.Redis.from_url(self.url)
        for _ in range(200):
            try:
                self.client.ping()
            except redis.ConnectionError:
                time.sleep(0.05)
            else:
                return
        self.close()
        msg = "redis-server did not start"
        raise RuntimeError(msg)

    def commands_run(self) -> tuple[int, int]:
        """(Round trips, commands) Redis has served (``INFO commandstats``), INFOs excluded.

        A round trip is a command a client sent (a script's ``EVALSHA``, a
        connection's ``HELLO``...); the commands count those a script ran too.
        """
        stats = self.client.info("commandstats")
        commands = sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info")
        inside = sum(
            v["calls"] for k, v in stats.items() if k.removeprefix("cmdstat_") in _IN_SCRIPTS
        )
        return commands - inside, commands

    def close(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


def start_workers(
    server: Server, redis: Redis, mode: str, workers: int, n: int
) -> list[subprocess.Popen[str]]:
    processes = []
    for w in range(workers):
        command = [PYTHON, __file__, "--worker", mode, server.url, redis.url, str(n)]
        command.append(str(w * (n + WARMUP)))
        processes.append(
            subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        )
    return processes


def scale_run(server: Server, redis: Redis, mode: str, workers: int, n: int) -> dict[str, Any]:
    processes = start_workers(server, redis, mode, workers, n)
    for process in processes:
        assert process.stdout is not None
        ready = process.stdout.readline()
        if ready != "ready\n":
            msg = f"a worker did not start ({mode}, {workers})"
            raise RuntimeError(msg)
    # Counts from here: warm-ups done, every worker waiting.
    with urllib_open(f"{server.url}/__reset"):
        pass
    trips, commands = redis.commands_run()
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    figures = []
    for process in processes:
        out, _ = process.communicate(timeout=600)
        if process.returncode != 0:
            msg = f"a worker failed ({mode}, {workers})"
            raise RuntimeError(msg)
        figures.append(json.loads(out.splitlines()[-1]))
    trips_after, commands_after = redis.commands_run()
    stats = server.stats()
    sent = sum(f["ok"] for f in figures)
    return {
        "workers": workers,
        "mode": mode,
        "sent": sent,
        "rps": stats["ok"] / max(stats["ok_window_seconds"], 1e-9),
        "cpu_us_per_message": sum(f["cpu_seconds"] for f in figures) / max(sent, 1) * 1e6,
        "redis_round_trips_per_message": (trips_after - trips) / max(sent, 1),
        "redis_commands_per_message": (commands_after - commands) / max(sent, 1),
    }


def urllib_open(url: str) -> Any:
    import urllib.request  # noqa: PLC0415

    return urllib.request.urlopen(url, timeout=10)


def scale(redis: Redis, n: int, repeat: int) -> list[dict[str, Any]]:
    server = Server()
    rows = []
    try:
        print(
            f"\nShared limit at scale: N workers x {n:,} messages, concurrency {CONCURRENCY} each, "
            f"median of {repeat} runs, "
            f"fast local server; {time.strftime('%Y-%m-%d', time.gmtime())}, "
            f"{os.cpu_count()} CPUs (shared)\n"
            "| workers | rate_limit | msg/s (all workers) | vs none, same N | "
            "worker CPU us/msg | Redis round trips/msg | Redis commands/msg |\n"
            "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"
        )
        for workers in WORKERS:
            # Modes interleaved, the median of each: the machine's noise
            # falls on all three alike.
            runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
            for _ in range(repeat):
                for mode in MODES:
                    runs[mode].append(scale_run(server, redis, mode, workers, n))
            baseline = None
            for mode in MODES:
                row = {
                    key: statistics.median(r[key] for r in runs[mode])
                    if isinstance(runs[mode][0][key], float)
                    else runs[mode][0][key]
                    for key in runs[mode][0]
                }
                rows.append(row)
                baseline = baseline or row["rps"]
                row["vs_none"] = row["rps"] / baseline
                print(
                    f"| {workers} | {mode} | {row['rps']:,.0f} | {row['vs_none']:.2f}x "
                    f"| {row['cpu_us_per_message']:,.0f} "
                    f"| {row['redis_round_trips_per_message']:.2f} "
                    f"| {row['redis_commands_per_message']:.2f} |",
                    flush=True,
                )
    finally:
        server.close()
    return rows


async def shared_auto(redis: Redis, seconds: int) -> dict[str, Any]:
    """Three ``rate="auto"`` workers (the tests' worker) against a limit that drops."""
    began = [0.0]

    def schedule(t: float) -> float:
        return 150.0 if t - began[0] < DROP_AT else 60.0

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    async with LimitedServer(schedule) as server:
        processes = [
            await asyncio.create_subprocess_exec(
                PYTHON,
                str(AUTO_WORKER),
                *[redis.url, server.base_url, "-", str(w), str(10**6), "3", "10", "auto", "-"],
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=env,
            )
            for w in range(3)
        ]
        for process in processes:
            assert process.stdout is not None
            await process.stdout.readline()
        await asyncio.sleep(math.ceil(server.elapsed()) - server.elapsed())
        began[0] = server.elapsed()
        trips, _ = redis.commands_run()
        until = f"{time.time() + seconds!r}\n".encode()
        summaries = []
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(until)
            process.stdin.close()
        for process in processes:
            out, _ = await process.communicate()
            summaries.append(json.loads(out.decode().splitlines()[-1]))
        trips = redis.commands_run()[0] - trips
    start = round(began[0])
    windows = server.window_counts(start, start + seconds - 1)
    before = windows[3:DROP_AT]
    warm = windows[:DROP_AT]
    refused = sum(r for _, r in warm) / max(sum(a + r for a, r in warm), 1)
    settled = None
    for first in range(DROP_AT, len(windows) - 1):
        if all(a + r <= 1.1 * 60 for a, r in windows[first:-1]):
            settled = first - DROP_AT
            break
    result = {
        "windows": windows,
        "accepted_ratio": sum(a for a, _ in before) / len(before) / 150.0,
        "refused_share_before_drop": refused,
        "settled_after_drop": settled,
        "rates_at_end": [s["rate"] for s in summaries],
        "redis_round_trips_per_request": trips
        / max(server.total_accepted + server.total_refused, 1),
    }
    print(
        '\nShared rate="auto": 3 worker processes, one RedisRateLimit key, limit 150/s '
        f"dropping to 60/s at {DROP_AT} s, {seconds} s\n"
        "| accepted/s after 3 s / limit | 429 share before the drop | "
        "<= 1.1x new limit after | rate at end (each worker) | Redis round trips/request |\n"
        "| ---: | ---: | ---: | --- | ---: |\n"
        f"| {result['accepted_ratio']:.2f} | {refused:.1%} "
        f"| {'never' if settled is None else f'{settled} s'} "
        f"| {', '.join(f'{r:.0f}' for r in result['rates_at_end'])} "
        f"| {result['redis_round_trips_per_request']:.2f} |",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="messages per worker")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each row (median)")
    parser.add_argument("--auto-seconds", type=int, default=12)
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        mode, url, redis_url, n, first = args.worker
        figures = asyncio.run(worker(url, redis_url, mode, int(n), int(first)))
        sys.stdout.write(json.dumps(figures) + "\n")
        return
    binary = shutil.which("redis-server")
    if binary is None:
        print("\nShared limit: skipped, no redis-server on the PATH (apt-get install redis-server)")
        return
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as directory:
        redis = Redis(binary, directory)
        try:
            results = {
                "scale": scale(redis, args.n, args.repeat),
                "shared_auto": asyncio.run(shared_auto(redis, args.auto_seconds)),
            }
        finally:
            redis.close()
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "distributed.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
