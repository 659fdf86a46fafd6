"""Profile the SDK's hot path: ``send_many`` against the loopback server, under cProfile.

``python bench/profile_sdk.py [--n 3000] [--concurrency 100] [--sort tottime]``

Starts ``bench/server.py`` in its own process, sends ``n`` messages once to
warm up and once under the profiler, and prints the top functions. Use it
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
from pathlib import Path

from decisiontelecom_async import ViberClient, ViberMessage

HERE = Path(__file__).parent


async def send(client: ViberClient, n: int, concurrency: int) -> int:
    messages = (
        ViberMessage("Bench Shop", f"380{500000000 + i}", f"Your code is {i:06d}") for i in range(n)
    )
    ok = 0
    async for outcome in client.send_many(messages, concurrency=concurrency):
        ok += outcome.ok
    return ok


async def main(args: argparse.Namespace, port: int) -> None:
    async with ViberClient(
        "bench-key", base_url=f"http://127.0.0.1:{port}/v1/api", max_concurrency=args.concurrency
    ) as client:
        await send(client, 500, args.concurrency)
        profiler = cProfile.Profile()
        profiler.enable()
        ok = await send(client, args.n, args.concurrency)
        profiler.disable()
    print(f"{ok} of {args.n} sent")
    pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=40)
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
