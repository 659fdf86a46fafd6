"""Profile the SDK's hot path: ``send_many`` against the loopback server, under cProfile.

``python bench/profile_sdk.py [--n 3000] [--concurrency 100] [--sort tottime]
[--journal] [--transport aiohttp|httpx] [--no-profile]``

Starts ``bench/server.py`` in its own process, sends ``n`` messages once to
warm up and once under the profiler, and prints the top functions and the
event loop's turns per message. ``--journal`` sends the profiled run with a
:class:`SqliteJournal` in a temporary folder; ``--transport httpx`` sends
through httpx's own transport instead of the SDK's aiohttp one;
``--no-profile`` prints only the CPU per message and the loop's turns. Use it
(or ``py-spy record -o profile.svg -- python bench/profile_sdk.py``) to see
where the client's CPU goes per message.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from decisiontelecom_async import SqliteJournal, ViberClient, ViberMessage

HERE = Path(__file__).parent


async def send(
    client: ViberClient, n: int, concurrency: int, journal: SqliteJournal | None = None
) -> int:
    messages = (
        ViberMessage("Bench Shop", f"380{500000000 + i}", f"Your code is {i:06d}") for i in range(n)
    )
    ok = 0
    async for outcome in client.send_many(messages, concurrency=concurrency, journal=journal):
        ok += outcome.ok
    return ok


class Turns:
    """Counts the event loop's turns (``_run_once`` calls) while installed."""

    def __init__(self) -> None:
        self.count = 0
        loop = asyncio.get_running_loop()
        turn = loop._run_once  # type: ignore[attr-defined]  # noqa: SLF001 - a probe

        def counted() -> None:
            self.count += 1
            turn()

        loop._run_once = counted  # type: ignore[attr-defined]  # noqa: SLF001


async def main(args: argparse.Namespace, port: int) -> None:
    http = None
    if args.transport == "httpx":
        limits = httpx.Limits(
            max_connections=args.concurrency, max_keepalive_connections=args.concurrency
        )
        http = httpx.AsyncClient(limits=limits, timeout=30.0)
    with tempfile.TemporaryDirectory(prefix="profile-sdk-") as folder:
        journal = SqliteJournal(Path(folder) / "profile.journal") if args.journal else None
        async with ViberClient(
            "bench-key",
            base_url=f"http://127.0.0.1:{port}/v1/api",
            max_concurrency=args.concurrency,
            http_client=http,
        ) as client:
            await send(client, 500, args.concurrency)
            profiler = cProfile.Profile()
            turns = Turns()
            cpu = time.process_time()
            if args.profile:
                profiler.enable()
            ok = await send(client, args.n, args.concurrency, journal)
            if args.profile:
                profiler.disable()
            cpu = time.process_time() - cpu
        if http is not None:
            await http.aclose()
    print(
        f"{ok} of {args.n} sent; {cpu / args.n * 1e6:.0f} us CPU and "
        f"{turns.count / args.n:.2f} loop turns per message"
    )
    if args.profile:
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--journal", action="store_true", help="send with a SqliteJournal")
    parser.add_argument("--transport", choices=("aiohttp", "httpx"), default="aiohttp")
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    arguments = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, str(HERE / "server.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        asyncio.run(main(arguments, int(server.stdout.readline())))
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)
