"""``rate_limit="auto"`` beside a fixed ceiling at the true limit and no ceiling at all.

``python bench/adaptive_rate.py`` (also run by ``bench/run.py``). The server
is ``tests/_limited_server.py``: a token bucket on 127.0.0.1 (a tenth of a
second's burst) that answers 429 + ``Retry-After`` past its limit and counts
accepted and refused requests per second of its own clock. For limits of
60, 150 and 400 requests/second, and a limit that drops from 150 to 60 after
5 s, a ``ViberClient`` (concurrency 50) sends for 10 s (11 s for the drop)
with each ``rate_limit`` and prints, from the server's counts:

* accepted/s after the first 3 s, as a ratio to the limit (target >= 0.9);
* the share of all requests answered 429 (target < 2%);
* for the drop, seconds after it until every later second holds <= 1.1x the
  new limit (target <= 3).

Nothing here asserts; ``--seconds`` shortens or lengthens each run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "tests"))

from _limited_server import LimitedServer  # noqa: E402 - found through the path above

from decisiontelecom_async import RetryPolicy, ViberClient, ViberMessage  # noqa: E402

RETRIES = RetryPolicy(max_retries=8, initial_wait=0.05, max_wait=0.5, timeout=30.0)
WARM_UP = 3
DROP_AT = 5


def messages_until(server: LimitedServer, seconds: float) -> Iterator[ViberMessage]:
    i = 0
    while server.elapsed() < seconds:
        yield ViberMessage("Shop", f"380{500000000 + i}", f"text {i}")
        i += 1


async def one_run(
    schedule: Callable[[float], float], seconds: int, rate_limit: float | str | None
) -> dict[str, Any]:
    async with (
        LimitedServer(schedule) as server,
        ViberClient(
            "bench-key", base_url=server.base_url, rate_limit=rate_limit, retry_policy=RETRIES
        ) as client,
    ):
        failed = 0
        async for outcome in client.send_many(messages_until(server, seconds)):
            failed += not outcome.ok
        learned = client.rate_limit
    windows = server.window_counts(0, seconds - 1)
    requests = server.total_accepted + server.total_refused
    return {
        "windows": windows,
        "refused_share": server.total_refused / max(requests, 1),
        "requests": requests,
        "failed": failed,
        "rate_at_end": learned,
    }


def accepted_ratio(run: dict[str, Any], first: int, last: int, limit: float) -> float:
    counts = run["windows"][first : last + 1]
    return sum(a for a, _ in counts) / len(counts) / limit


def settle_time(run: dict[str, Any], drop_at: int, limit: float) -> float | None:
    """Seconds after the drop from which every second sends <= 1.1x ``limit``."""
    windows = run["windows"]
    for start in range(drop_at, len(windows)):
        if all(a + r <= 1.1 * limit for a, r in windows[start:]):
            return float(start - drop_at)
    return None


async def main_async(seconds: int) -> dict[str, Any]:
    modes: list[tuple[str, Callable[[float], float | str | None]]] = [
        ("auto", lambda _: "auto"),
        ("fixed = true limit", lambda limit: limit),
        ("none", lambda _: None),
    ]
    results: dict[str, Any] = {}
    print(
        f"\nAdaptive rate limit: {seconds} s per run, concurrency 50, server counts per second\n"
        "| server limit | rate_limit | accepted/s after 3 s / limit | 429 share | "
        "requests | rate at end | <= 1.1x new limit after |\n"
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
    )
    for limit in (60.0, 150.0, 400.0):
        for label, option in modes:
            run = await one_run(lambda _, limit=limit: limit, seconds, option(limit))
            results[f"{limit:g}/{label}"] = run
            rate = run["rate_at_end"]
            print(
                f"| {limit:g} | {label} | {accepted_ratio(run, WARM_UP, seconds - 1, limit):.2f} "
                f"| {run['refused_share']:.1%} | {run['requests']} "
                f"| {'-' if rate is None else f'{rate:.0f}'} | |"
            )
    drop_seconds = seconds + 1
    for label, option in modes:
        run = await one_run(lambda t: 150.0 if t < DROP_AT else 60.0, drop_seconds, option(150.0))
        results[f"drop/{label}"] = run
        before = accepted_ratio(run, WARM_UP, DROP_AT - 1, 150.0)
        after = accepted_ratio(run, DROP_AT + 3, drop_seconds - 1, 60.0)
        settled = settle_time(run, DROP_AT, 60.0)
        rate = run["rate_at_end"]
        print(
            f"| 150 -> 60 at {DROP_AT} s | {label} | {before:.2f} before, {after:.2f} after "
            f"| {run['refused_share']:.1%} | {run['requests']} "
            f"| {'-' if rate is None else f'{rate:.0f}'} "
            f"| {'never' if settled is None else f'{settled:.0f} s'} |"
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    results = asyncio.run(main_async(args.seconds))
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "adaptive_rate.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
