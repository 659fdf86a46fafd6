"""The journal's cost: a campaign on the fast local server with and without it.

``python bench/journal.py [--n 200000] [--small 20000] [--concurrency 100]``

Starts the loopback server (``bench/server.py``), then runs in fresh
processes, in one run: ``send_many`` over a generator of ``--n`` messages
without a journal, the same with a :class:`SqliteJournal` in a temporary
folder, and the journal run again with ``--small`` messages. It prints
messages/second of each, the ratio with/without (target >= 0.8), the peak
RSS growth of the journal runs (target: the large run within 10% of the
small one) and the journal's size on disk per message.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from run import Server  # noqa: E402 - a sibling script, found through the path above

WARMUP = 300


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def child(url: str, n: int, concurrency: int, journal_dir: str | None) -> dict[str, Any]:
    from decisiontelecom_async import SqliteJournal, ViberClient, ViberMessage  # noqa: PLC0415

    def messages(count: int, start: int) -> Iterator[ViberMessage]:
        for i in range(start, start + count):
            yield ViberMessage("Shop", f"380{500000000 + i}", f"Your code is {i:06d}")

    ok = 0
    async with ViberClient(
        "bench-key", base_url=f"{url}/v1/api", max_concurrency=concurrency
    ) as client:
        async for _ in client.send_many(messages(WARMUP, 0)):
            pass
        journal = None
        if journal_dir is not None:
            journal = SqliteJournal(Path(journal_dir) / "bench.journal")
        base = rss_mb()
        started, cpu = time.perf_counter(), time.process_time()
        async for outcome in client.send_many(messages(n, WARMUP), journal=journal):
            ok += outcome.ok
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    size = 0
    if journal_dir is not None:
        size = sum(path.stat().st_size for path in Path(journal_dir).iterdir())  # noqa: ASYNC240 - after the run
    return {
        "n": n,
        "ok": ok,
        "seconds": seconds,
        "rps": n / seconds,
        "cpu_us": cpu / n * 1e6,
        "peak_growth_mb": max(0.0, peak_mb() - base),
        "journal_bytes": size,
    }


def run_child(server: Server, n: int, concurrency: int, *, journal: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="journal-bench-") as folder:
        command = [sys.executable, __file__, "--child", server.url, f"--n={n}"]
        command += [f"--concurrency={concurrency}"]
        if journal:
            command.append(f"--journal-dir={folder}")
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        msg = "the benchmark child failed"
        raise RuntimeError(msg)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--small", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--child", metavar="URL")
    parser.add_argument("--journal-dir")
    args = parser.parse_args()
    if args.child:
        figures = asyncio.run(child(args.child, args.n, args.concurrency, args.journal_dir))
        sys.stdout.write(json.dumps(figures) + "\n")
        return
    server = Server()
    try:
        plain = run_child(server, args.n, args.concurrency, journal=False)
        kept = run_child(server, args.n, args.concurrency, journal=True)
        small = run_child(server, args.small, args.concurrency, journal=True)
    finally:
        server.close()
    rows = [("no journal", plain), ("SqliteJournal", kept), ("SqliteJournal, small", small)]
    out = [f"journal benchmark, concurrency {args.concurrency}, fast local server", ""]
    out.append(
        f"{'run':<22} {'messages':>9} {'msg/s':>9} {'CPU us/msg':>11} {'peak RSS +MB':>13} "
        f"{'bytes/msg':>10}"
    )
    for name, row in rows:
        per = row["journal_bytes"] / row["n"] if row["journal_bytes"] else 0.0
        out.append(
            f"{name:<22} {row['n']:>9} {row['rps']:>9.0f} {row['cpu_us']:>11.0f} "
            f"{row['peak_growth_mb']:>13.1f} "
            f"{per:>10.1f}"
        )
    ratio = kept["rps"] / plain["rps"]
    flat = kept["peak_growth_mb"] / max(small["peak_growth_mb"], 0.1)
    out += [
        "",
        f"throughput with journal / without: {ratio:.2f}x (target >= 0.80)",
        f"client CPU per message with journal / without: {kept['cpu_us'] / plain['cpu_us']:.2f}x",
        f"peak RSS growth, {args.n} vs {args.small} with journal: {flat:.2f}x (target 0.90-1.10)",
    ]
    sys.stdout.write("\n".join(out) + "\n")
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "journal.json").write_text(
        json.dumps({"plain": plain, "journal": kept, "small": small, "ratio": ratio}, indent=2)
    )


if __name__ == "__main__":
    main()
