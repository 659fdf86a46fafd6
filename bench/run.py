"""Run every benchmark and print the tables (``nox -s bench`` or ``python bench/run.py``).

Starts the loopback server (``bench/server.py``) in its own process, then
runs each client variant (``bench/clients.py``) in a fresh process, so that
client CPU time and peak RSS belong to one variant. Four scenarios:

1. fast server, N small JSON POSTs at concurrency 100: requests/second,
   client CPU per message, peak RSS growth, each with its ratio to the SDK;
   the server's own CPU per request is printed beside each row;
2. the same with every answer 20 ms late (latency mode);
3. memory: ``send_many`` over a generator of 20,000 and of 200,000
   messages, three runs of each (peak RSS growth must be flat);
4. rate limit: the server allows 200 requests/second (token bucket, bursts
   of 20, 429 with ``Retry-After: 1`` beyond), the SDK has ``rate_limit=200``;
5. the adaptive rate (``bench/adaptive_rate.py``): ``rate_limit="auto"``
   beside a fixed ceiling at the true limit and none, for limits of 60, 150
   and 400 requests/second and a drop from 150 to 60;
6. the shared limit (``bench/distributed.py``, needs ``redis-server``): 1, 2
   and 4 worker processes with no limit, an in-process one and a
   ``RedisRateLimit``, and three workers sharing ``rate="auto"``.

Then ``bench/otel.py``: client CPU per message with OpenTelemetry absent,
present but unconfigured, and configured with in-memory exporters.

With ``--journal``, ``bench/journal.py`` runs last: a 200,000-message
campaign with and without a :class:`SqliteJournal`.

Each figure of scenarios 1 and 2 is the median of ``--repeat`` runs (variants
interleaved). ``--quick`` shrinks everything for a smoke run. The figures
also go to ``bench/results/latest.json``. Nothing here asserts: the targets
are printed next to the figures for a reader to judge.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
PYTHON = sys.executable

FAST_VARIANTS = [
    ("sdk", "this SDK, send_many"),
    ("sdk-httpx", "this SDK on httpx's own transport"),
    ("httpx", "raw httpx.AsyncClient + semaphore"),
    ("httpx-aiohttp", "raw httpx + the SDK's aiohttp transport + semaphore"),
    ("httpx-aiohttp-workers", "raw httpx + the SDK's aiohttp transport, C workers"),
    ("httpx-httpx_aiohttp", "raw httpx + httpx-aiohttp 0.2.0 transport + semaphore"),
    ("aiohttp", "raw aiohttp.ClientSession + semaphore"),
    ("vendor", "vendor SDK 1.0.0, sequential"),
]
LATENCY_VARIANTS = ["sdk", "httpx", "httpx-aiohttp", "aiohttp", "vendor"]


class Server:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [PYTHON, str(HERE / "server.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline())}"

    def stats(self) -> dict[str, float]:
        with urllib.request.urlopen(f"{self.url}/__stats", timeout=10) as answer:
            stats: dict[str, float] = json.loads(answer.read())
            return stats

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


def run_client(
    server: Server,
    variant: str,
    *,
    n: int,
    concurrency: int = 100,
    reset: str = "",
    rate: float | None = None,
    warmup: int = 300,
) -> dict[str, Any]:
    command = [
        PYTHON,
        str(HERE / "clients.py"),
        variant,
        f"--url={server.url}",
        f"--n={n}",
        f"--concurrency={concurrency}",
        f"--warmup={warmup}",
        f"--reset={reset}",
    ]
    if rate is not None:
        command.append(f"--rate={rate}")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        msg = f"{variant} failed"
        raise RuntimeError(msg)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["server"] = server.stats()
    return result


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    merged = dict(runs[0])
    for key in ("rps", "ok_rps", "cpu_us", "peak_growth_mb", "seconds"):
        merged[key] = statistics.median(run[key] for run in runs)
    merged["server_cpu_us"] = statistics.median(run["server"]["cpu_us_per_request"] for run in runs)
    merged["runs"] = len(runs)
    return merged


def table(title: str, rows: list[tuple[str, dict[str, Any]]]) -> str:
    sdk = rows[0][1]
    lines = [
        f"\n{title}",
        (
            "| client | n | req/s | x SDK | client CPU us/msg | x SDK | peak RSS growth MB |"
            " x SDK | server CPU us/req |"
        ),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, row in rows:
        lines.append(
            f"| {label} | {row['n']} | {row['rps']:,.0f} | {row['rps'] / sdk['rps']:.2f} "
            f"| {row['cpu_us']:,.0f} | {row['cpu_us'] / sdk['cpu_us']:.2f} "
            f"| {row['peak_growth_mb']:.1f} "
            f"| {row['peak_growth_mb'] / max(sdk['peak_growth_mb'], 0.1):.2f} "
            f"| {row['server_cpu_us']:.0f} |"
        )
    return "\n".join(lines)


def scenario(
    server: Server,
    variants: list[str],
    *,
    n: int,
    vendor_n: int,
    reset: str,
    repeat: int,
) -> dict[str, dict[str, Any]]:
    runs: dict[str, list[dict[str, Any]]] = {variant: [] for variant in variants}
    for _ in range(repeat):
        for variant in variants:
            count = vendor_n if variant == "vendor" else n
            warmup = 20 if variant == "vendor" else 300
            runs[variant].append(run_client(server, variant, n=count, reset=reset, warmup=warmup))
    return {variant: median_of(found) for variant, found in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small counts, one run each")
    parser.add_argument(
        "--journal", action="store_true", help="also run bench/journal.py (the journal's cost)"
    )
    args = parser.parse_args()
    n, repeat = (1000, 1) if args.quick else (args.n, args.repeat)
    memory_counts = (2000, 20_000) if args.quick else (20_000, 200_000)
    labels = dict(FAST_VARIANTS)
    results: dict[str, Any] = {"n": n, "repeat": repeat, "started": time.time()}
    server = Server()
    try:
        fast = scenario(
            server, [v for v, _ in FAST_VARIANTS], n=n, vendor_n=n, reset="", repeat=repeat
        )
        results["fast"] = fast
        print(
            table(
                f"Fast loopback server: {n} POSTs, concurrency 100 (median of {repeat})",
                [(labels[v], fast[v]) for v in fast],
            )
        )
        vendor_n = max(50, n // 20)
        latency = scenario(
            server, LATENCY_VARIANTS, n=n, vendor_n=vendor_n, reset="latency_ms=20", repeat=repeat
        )
        results["latency"] = latency
        print(
            table(
                f"Latency mode (20 ms per answer): {n} POSTs, concurrency 100"
                f" (vendor: {vendor_n}, sequential; median of {repeat})",
                [(labels[v], latency[v]) for v in latency],
            )
        )
        # A few hundred kB of allocator noise moves one run's growth, so each
        # count runs memory_repeat times (interleaved) and the median counts.
        memory_repeat = 1 if args.quick else 3
        memory_runs: dict[int, list[dict[str, Any]]] = {count: [] for count in memory_counts}
        for _ in range(memory_repeat):
            for count in memory_counts:
                memory_runs[count].append(run_client(server, "sdk", n=count, reset=""))
        memory = {count: median_of(runs) for count, runs in memory_runs.items()}
        results["memory"] = memory
        small, large = (memory[count] for count in memory_counts)

        def samples(count: int) -> str:
            return ", ".join(f"{run['peak_growth_mb']:.2f}" for run in memory_runs[count])

        print(
            f"\nMemory: send_many over a generator, peak RSS growth above the built client"
            f" (median of {memory_repeat})\n"
            f"| messages | req/s | peak RSS growth MB | runs |\n| ---: | ---: | ---: | --- |\n"
            f"| {memory_counts[0]:,} | {small['rps']:,.0f} | {small['peak_growth_mb']:.2f} "
            f"| {samples(memory_counts[0])} |\n"
            f"| {memory_counts[1]:,} | {large['rps']:,.0f} | {large['peak_growth_mb']:.2f} "
            f"| {samples(memory_counts[1])} |\n"
            f"ratio {memory_counts[1]:,} / {memory_counts[0]:,}: "
            f"{large['peak_growth_mb'] / max(small['peak_growth_mb'], 0.1):.2f}"
        )
        rate_n = 400 if args.quick else 2000
        limited = run_client(
            server, "sdk", n=rate_n, reset="rate=200&burst=20", rate=200, warmup=50
        )
        results["rate_limit"] = limited
        stats = limited["server"]
        delivered = stats["ok"] / limited["seconds"]
        print(
            f"\nServer limit 200 req/s (bursts of 20), SDK rate_limit=200, {rate_n} messages:\n"
            f"delivered {delivered:,.1f} req/s ({delivered / 200:.0%} of the limit), "
            f"{stats['limited']:.0f} of {stats['requests']:.0f} requests answered 429 "
            f"({stats['limited'] / max(stats['requests'], 1):.1%}), "
            f"{limited['ok']} of {rate_n} sent"
        )
        sdk_fast, sdk_latency = fast["sdk"], latency["sdk"]
        print(
            "\nTargets (each a ratio within this run):\n"
            f"- SDK CPU/msg vs raw httpx on the same (aiohttp) transport: "
            f"{sdk_fast['cpu_us'] / fast['httpx-aiohttp']['cpu_us']:.2f}x with a semaphore, "
            f"{sdk_fast['cpu_us'] / fast['httpx-aiohttp-workers']['cpu_us']:.2f}x vs C workers"
            " (target <= 1.15)\n"
            f"- latency mode, SDK vs raw aiohttp throughput: "
            f"{sdk_latency['rps'] / latency['aiohttp']['rps']:.2f}x (target >= 0.7)\n"
            f"- latency mode, SDK vs vendor SDK throughput: "
            f"{sdk_latency['rps'] / latency['vendor']['rps']:.0f}x (target >= 50)\n"
            f"- peak RSS growth, {memory_counts[1]:,} messages: "
            f"{large['peak_growth_mb']:.2f} MB (target <= 20), "
            f"{large['peak_growth_mb'] / max(small['peak_growth_mb'], 0.1):.2f}x "
            f"the growth for {memory_counts[0]:,} (target 0.90-1.10)\n"
            f"- rate limit: {delivered / 200:.0%} of 200 req/s delivered (target >= 85%), "
            f"{stats['limited'] / max(stats['requests'], 1):.1%} answered 429 (target < 5%)"
        )
    finally:
        server.close()
    # Its own loopback server and clients, after the shared server has gone.
    adaptive = [PYTHON, str(HERE / "adaptive_rate.py"), *(["--seconds=6"] if args.quick else [])]
    subprocess.run(adaptive, check=False)
    # The telemetry's cost: absent, unconfigured, configured (bench/otel.py).
    telemetry = [PYTHON, str(HERE / "otel.py"), *(["--n=2000", "--repeat=1"] if args.quick else [])]
    subprocess.run(telemetry, check=False)
    # The shared limit at scale and the shared auto rate (its own redis-server).
    shared = ["--n=500", "--repeat=1", "--auto-seconds=10"] if args.quick else []
    subprocess.run([PYTHON, str(HERE / "distributed.py"), *shared], check=False)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2, default=str))
    if args.journal:
        counts = ["--n=20000", "--small=2000"] if args.quick else []
        subprocess.run([PYTHON, str(HERE / "journal.py"), *counts], check=True)


if __name__ == "__main__":
    main()
