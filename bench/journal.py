"""The journal's cost: a campaign on the fast local server with and without it.

``python bench/journal.py [--n 200000] [--small 20000] [--concurrency 100] [--repeat 3]``

Starts the loopback server (``bench/server.py``), then runs in fresh
processes, in one run: ``send_many`` over a generator of ``--n`` messages
without a journal, the same with a :class:`SqliteJournal` in a temporary
folder, and the journal run again with ``--small`` messages; ``--repeat``
rounds of the three, interleaved, so that a change in the machine's speed
falls on every variant alike. It prints the median of each figure with its
spread (lowest-highest), the ratio with/without (target >= 0.8, and the
ratio of each round), the peak RSS of the journal runs (the target: the
process's peak RSS for the large run within 10% of the small one's; the
growth above the RSS before the send is printed beside it), the event-loop
turns per message and the journal's size on disk per message.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
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
        commits = count_commits(None)
        if journal_dir is not None:
            journal = SqliteJournal(Path(journal_dir) / "bench.journal")
            commits = count_commits(journal)
        base = rss_mb()
        turns = count_turns()
        started, cpu = time.perf_counter(), time.process_time()
        async for outcome in client.send_many(messages(n, WARMUP), journal=journal):
            ok += outcome.ok
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        loop_turns = turns()
    size = 0
    if journal_dir is not None:
        size = sum(path.stat().st_size for path in Path(journal_dir).iterdir())  # noqa: ASYNC240 - after the run
    return {
        "n": n,
        "ok": ok,
        "seconds": seconds,
        "rps": n / seconds,
        "cpu_us": cpu / n * 1e6,
        "peak_mb": peak_mb(),
        "peak_growth_mb": max(0.0, peak_mb() - base),
        "turns_per_msg": loop_turns / n,
        "commits_per_msg": commits() / n,
        "journal_bytes": size,
    }


def count_commits(journal: Any) -> Callable[[], int]:
    """Count ``journal``'s commits (the transactions its writer makes) from now."""
    if journal is None:
        return lambda: 0
    commit = journal._commit  # noqa: SLF001 - a benchmark's probe
    count = 0

    def counted(*args: Any) -> None:
        nonlocal count
        count += 1
        commit(*args)

    journal._commit = counted  # noqa: SLF001
    return lambda: count


def count_turns() -> Callable[[], int]:
    """Count the event loop's turns (``_run_once`` calls) from now; the result reads the count."""
    loop = asyncio.get_running_loop()
    turn = loop._run_once  # type: ignore[attr-defined]  # noqa: SLF001 - a benchmark's probe
    count = 0

    def counted() -> None:
        nonlocal count
        count += 1
        turn()

    loop._run_once = counted  # type: ignore[attr-defined]  # noqa: SLF001
    return lambda: count


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


FIGURES = (
    "rps",
    "cpu_us",
    "peak_mb",
    "peak_growth_mb",
    "turns_per_msg",
    "commits_per_msg",
    "journal_bytes",
)


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over ``runs``, with its lowest and highest as ``<figure>_range``."""
    merged = dict(runs[0])
    for key in FIGURES:
        values = [run[key] for run in runs]
        merged[key] = statistics.median(values)
        merged[f"{key}_range"] = (min(values), max(values))
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--small", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", metavar="URL")
    parser.add_argument("--journal-dir")
    args = parser.parse_args()
    if args.child:
        figures = asyncio.run(child(args.child, args.n, args.concurrency, args.journal_dir))
        sys.stdout.write(json.dumps(figures) + "\n")
        return
    runs: dict[str, list[dict[str, Any]]] = {"plain": [], "journal": [], "small": []}
    server = Server()
    try:
        for _ in range(args.repeat):
            runs["plain"].append(run_child(server, args.n, args.concurrency, journal=False))
            runs["journal"].append(run_child(server, args.n, args.concurrency, journal=True))
            runs["small"].append(run_child(server, args.small, args.concurrency, journal=True))
    finally:
        server.close()
    plain, kept, small = (median_of(runs[key]) for key in ("plain", "journal", "small"))
    rows = [("no journal", plain), ("SqliteJournal", kept), ("SqliteJournal, small", small)]
    out = [
        (
            f"journal benchmark, concurrency {args.concurrency}, fast local server, "
            f"median of {args.repeat} (lowest-highest)"
        ),
        "",
        (
            f"{'run':<21} {'messages':>8} {'msg/s':>17} {'CPU us/msg':>13} {'peak RSS MB':>17} "
            f"{'growth MB':>13} {'turns/msg':>9} {'commits/msg':>11} {'bytes/msg':>9}"
        ),
    ]

    def spread(row: dict[str, Any], key: str, form: str) -> str:
        low, high = row[f"{key}_range"]
        return f"{row[key]:{form}} ({low:{form}}-{high:{form}})"

    for name, row in rows:
        per = row["journal_bytes"] / row["n"] if row["journal_bytes"] else 0.0
        out.append(
            f"{name:<21} {row['n']:>8} {spread(row, 'rps', '.0f'):>17} "
            f"{spread(row, 'cpu_us', '.0f'):>13} {spread(row, 'peak_mb', '.1f'):>17} "
            f"{spread(row, 'peak_growth_mb', '.1f'):>13} {row['turns_per_msg']:>9.2f} "
            f"{row['commits_per_msg']:>11.3f} {per:>9.1f}"
        )
    ratio = kept["rps"] / plain["rps"]
    rounds = ", ".join(
        f"{with_['rps'] / without['rps']:.2f}"
        for with_, without in zip(runs["journal"], runs["plain"], strict=True)
    )
    flat = kept["peak_mb"] / small["peak_mb"]
    growth = kept["peak_growth_mb"] / max(small["peak_growth_mb"], 0.1)
    out += [
        "",
        f"throughput with journal / without: {ratio:.2f}x (target >= 0.80); each round: {rounds}",
        f"client CPU per message with journal / without: {kept['cpu_us'] / plain['cpu_us']:.2f}x",
        (
            f"peak RSS, {args.n} vs {args.small} with journal: {flat:.2f}x (target 0.90-1.10); "
            f"growth above the RSS before the send: {growth:.2f}x "
            f"({kept['peak_growth_mb']:.1f} vs {small['peak_growth_mb']:.1f} MB)"
        ),
    ]
    sys.stdout.write("\n".join(out) + "\n")
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "journal.json").write_text(
        json.dumps(
            {"plain": plain, "journal": kept, "small": small, "ratio": ratio, "runs": runs},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
