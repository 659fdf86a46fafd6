"""One client variant sending N small JSON POSTs; prints its figures as one JSON line.

``python bench/clients.py VARIANT --url http://127.0.0.1:PORT --n N --concurrency C``

Every variant runs in a fresh process (so its CPU time and peak RSS are its
own) and sends the same send-viber body to the loopback server of
``bench/server.py``:

* ``sdk``: ``ViberClient.send_many`` over a generator of ``ViberMessage``
  (the SDK's aiohttp transport, the default when the ``fast`` extra is there);
* ``sdk-httpx``: the same through httpx's own transport
  (``http_client=httpx.AsyncClient(...)``);
* ``httpx``: raw ``httpx.AsyncClient`` (httpx's own transport), one task per
  message under an ``asyncio.Semaphore``, the way it is usually written;
* ``httpx-aiohttp``: the same over the SDK's aiohttp transport (the same
  transport as ``sdk``: the baseline for the SDK layer's own cost);
* ``httpx-aiohttp-workers``: the leanest raw loop over that transport:
  ``C`` tasks each posting in a loop (no task per message, no semaphore);
* ``httpx-httpx_aiohttp``: raw httpx over httpx-aiohttp 0.2.0's transport,
  the published adapter the SDK's own transport replaces;
* ``aiohttp``: raw ``aiohttp.ClientSession``, one task per message under a
  semaphore;
* ``vendor``: the vendor's SDK (``decisiontelecom`` 1.0.0), one
  ``send_message`` after another as its users call it, its ``requests.post``
  pointed at the loopback server.

Measured over the send phase only: wall time, process CPU time (all
threads), and peak RSS above the RSS once the client is built (before any
request).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys
import time
import types
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import psutil

ACCESS_KEY = "bench-access-key"
SENDER = "Bench Shop"


def wire_bodies(n: int) -> Iterator[dict[str, Any]]:
    """The send-viber bodies a raw client builds, one per message."""
    for i in range(n):
        yield {
            "source_addr": SENDER,
            "destination_addr": f"380{500000000 + i}",
            "message_type": 106,
            "text": f"Your code is {i:06d}",
            "source_type": 2,
        }


def headers() -> dict[str, str]:
    import base64  # noqa: PLC0415

    token = base64.b64encode(ACCESS_KEY.encode()).decode()
    return {
        "Authorization": f"Basic {token}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }


class Counts:
    def __init__(self) -> None:
        self.ok = 0
        self.failed = 0


# -- the SDK ---------------------------------------------------------------------


async def sdk(url: str, concurrency: int, rate: float | None, *, native: bool) -> Phase:
    import httpx  # noqa: PLC0415

    from decisiontelecom_async import ViberClient, ViberMessage  # noqa: PLC0415

    http = (
        httpx.AsyncClient(
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            timeout=30.0,
        )
        if native
        else None
    )
    client = ViberClient(
        ACCESS_KEY,
        base_url=f"{url}/v1/api",
        max_concurrency=concurrency,
        rate_limit=rate,
        http_client=http,
    )
    counts = Counts()

    def messages(count: int, start: int = 0) -> Iterator[ViberMessage]:
        for i in range(start, start + count):
            yield ViberMessage(
                SENDER, f"380{500000000 + i}", f"Your code is {i:06d}", source_type=2
            )

    async def run(count: int) -> None:
        async for outcome in client.send_many(messages(count), concurrency=concurrency):
            if outcome.ok:
                counts.ok += 1
            else:
                counts.failed += 1

    async def close() -> None:
        await client.aclose()
        if http is not None:
            await http.aclose()

    return Phase(run, close, counts)


# -- raw clients -------------------------------------------------------------------


async def raw_httpx(url: str, concurrency: int, *, transport: str, workers: bool) -> Phase:
    import httpx  # noqa: PLC0415

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    if transport == "aiohttp":
        from decisiontelecom_async._http._aiohttp import AiohttpTransport  # noqa: PLC0415

        http = httpx.AsyncClient(
            transport=AiohttpTransport(limits=limits), timeout=30.0, headers=headers()
        )
    elif transport == "httpx_aiohttp":
        from httpx_aiohttp import AiohttpTransport as PublishedTransport  # noqa: PLC0415

        http = httpx.AsyncClient(
            transport=PublishedTransport(limits=limits), timeout=30.0, headers=headers()
        )
    else:
        http = httpx.AsyncClient(limits=limits, timeout=30.0, headers=headers())
    target = f"{url}/v1/api/send-viber"
    counts = Counts()

    async def post(body: dict[str, Any]) -> None:
        response = await http.post(target, json=body)
        if response.status_code == 200 and response.json()["message_id"]:
            counts.ok += 1
        else:
            counts.failed += 1

    return Phase(pool_or_gather(post, concurrency, workers=workers), http.aclose, counts)


async def raw_aiohttp(url: str, concurrency: int) -> Phase:
    import aiohttp  # noqa: PLC0415

    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency), headers=headers()
    )
    target = f"{url}/v1/api/send-viber"
    counts = Counts()

    async def post(body: dict[str, Any]) -> None:
        async with session.post(target, json=body) as response:
            answer = await response.json()
            if response.status == 200 and answer["message_id"]:
                counts.ok += 1
            else:
                counts.failed += 1

    return Phase(pool_or_gather(post, concurrency, workers=False), session.close, counts)


def pool_or_gather(
    post: Callable[[dict[str, Any]], Awaitable[None]], concurrency: int, *, workers: bool
) -> Callable[[int], Awaitable[None]]:
    async def gather(count: int) -> None:
        semaphore = asyncio.Semaphore(concurrency)

        async def one(body: dict[str, Any]) -> None:
            async with semaphore:
                await post(body)

        await asyncio.gather(*(one(body) for body in wire_bodies(count)))

    async def pool(count: int) -> None:
        bodies = wire_bodies(count)

        async def worker() -> None:
            for body in bodies:
                await post(body)

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    return pool if workers else gather


# -- the vendor's SDK ----------------------------------------------------------------


def vendor(url: str) -> tuple[Callable[[int], None], Counts]:
    import requests  # noqa: PLC0415
    from decisiontelecom import viber  # noqa: PLC0415

    real_post = requests.post
    vendor_base = "https://web.it-decision.com/v1/api"

    def post(target: str, **kwargs: Any) -> Any:
        return real_post(target.replace(vendor_base, f"{url}/v1/api"), **kwargs)

    # Its module calls requests.post(...) on every send; point it at us.
    viber.requests = types.SimpleNamespace(post=post)  # type: ignore[attr-defined]
    client = viber.ViberClient(ACCESS_KEY)
    counts = Counts()

    def run(count: int) -> None:
        for i in range(count):
            message = viber.ViberMessage(
                SENDER,
                f"380{500000000 + i}",
                viber.ViberMessageType.TextOnly,
                f"Your code is {i:06d}",
                viber.ViberMessageSourceType.Transactional,
            )
            try:
                client.send_message(message)
                counts.ok += 1
            except Exception:  # noqa: BLE001 - counted, as a user would
                counts.failed += 1

    return run, counts


# -- measuring -----------------------------------------------------------------------


class Phase:
    def __init__(
        self,
        run: Callable[[int], Awaitable[None]],
        close: Callable[[], Awaitable[None]],
        counts: Counts,
    ) -> None:
        self.run = run
        self.close = close
        self.counts = counts


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def peak_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_server(url: str, query: str) -> None:
    with urllib.request.urlopen(f"{url}/__reset?{query}", timeout=10) as answer:
        answer.read()


async def measure_async(args: argparse.Namespace) -> dict[str, Any]:
    if args.variant in ("sdk", "sdk-httpx"):
        phase = await sdk(args.url, args.concurrency, args.rate, native=args.variant == "sdk-httpx")
    elif args.variant == "aiohttp":
        phase = await raw_aiohttp(args.url, args.concurrency)
    else:
        transports = {
            "httpx": "httpx",
            "httpx-aiohttp": "aiohttp",
            "httpx-aiohttp-workers": "aiohttp",
            "httpx-httpx_aiohttp": "httpx_aiohttp",
        }
        phase = await raw_httpx(
            args.url,
            args.concurrency,
            transport=transports[args.variant],
            workers=args.variant.endswith("-workers"),
        )
    base = rss_mb()
    await phase.run(args.warmup)
    phase.counts.ok = phase.counts.failed = 0
    reset_server(args.url, args.reset)
    started, cpu = time.perf_counter(), time.process_time()
    await phase.run(args.n)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    await phase.close()
    return figures(args, phase.counts, seconds, cpu, base)


def measure_vendor(args: argparse.Namespace) -> dict[str, Any]:
    run, counts = vendor(args.url)
    base = rss_mb()
    run(args.warmup)
    counts.ok = counts.failed = 0
    reset_server(args.url, args.reset)
    started, cpu = time.perf_counter(), time.process_time()
    run(args.n)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return figures(args, counts, seconds, cpu, base)


def figures(
    args: argparse.Namespace, counts: Counts, seconds: float, cpu: float, base: float
) -> dict[str, Any]:
    return {
        "variant": args.variant,
        "n": args.n,
        "concurrency": args.concurrency,
        "ok": counts.ok,
        "failed": counts.failed,
        "seconds": seconds,
        "rps": args.n / seconds,
        "ok_rps": counts.ok / seconds,
        "cpu_us": cpu / args.n * 1e6,
        "rss_base_mb": base,
        "peak_growth_mb": peak_mb() - base,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("variant")
    parser.add_argument("--url", required=True)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--rate", type=float, default=None)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--reset", default="", help="query string for the server's /__reset")
    args = parser.parse_args()
    vendor_run = args.variant == "vendor"
    result = measure_vendor(args) if vendor_run else asyncio.run(measure_async(args))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
