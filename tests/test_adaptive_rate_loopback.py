"""``rate_limit="auto"`` against a real server with a limit nobody told the client.

The server (``_limited_server.py``) is a token bucket on 127.0.0.1 that
answers 429 + ``Retry-After`` past its limit. Every assertion is on the
server's own per-second counts, with generous margins: the benchmark
(``bench/adaptive_rate.py``) shows the real targets (0.9x, 2%).
"""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from _limited_server import LimitedServer

from decisiontelecom_async import RetryPolicy, SmsClient, ViberClient, ViberMessage

pytestmark = pytest.mark.network

RETRIES = RetryPolicy(max_retries=8, initial_wait=0.05, max_wait=0.5, timeout=30.0)
WARM_UP = 3  # seconds the client may take to find the limit


def messages_until(server: LimitedServer, seconds: float, most: int) -> Iterator[ViberMessage]:
    """Messages for as long as the server's clock is under ``seconds``."""
    for i in range(most):
        if server.elapsed() >= seconds:
            return
        yield ViberMessage("Shop", f"380{500000000 + i}", f"text {i}")


@contextlib.asynccontextmanager
async def transport(kind: str) -> AsyncIterator[httpx.AsyncClient | None]:
    """None for the client's own (aiohttp) transport, or an httpx client on httpx's own."""
    if kind == "own":
        yield None
        return
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=20)) as http:
        yield http


async def run(
    schedule: Callable[[float], float], seconds: int, kind: str
) -> tuple[LimitedServer, list[float]]:
    """Send for ``seconds`` with ``rate_limit="auto"``; the server and the rates seen."""
    rates: list[float] = []
    async with (
        transport(kind) as http,
        LimitedServer(schedule) as server,
        ViberClient(
            "loopback-key",
            base_url=server.base_url,
            rate_limit="auto",
            max_concurrency=20,
            retry_policy=RETRIES,
            http_client=http,
        ) as client,
    ):
        most = int(schedule(0) * seconds * 3)
        async for outcome in client.send_many(messages_until(server, seconds, most)):
            assert outcome.ok, outcome.error
            if outcome.index % 50 == 0:
                rate = client.rate_limit
                assert isinstance(rate, float)
                rates.append(rate)
    return server, rates


# Each limit on one transport (both are covered, the time stays bounded);
# httpx's own transport costs several times the CPU a request, so it gets
# the lower limit: on a busy machine the client's CPU, not the algorithm,
# would cap it.
@pytest.mark.parametrize(("limit", "kind"), [(150.0, "own"), (60.0, "httpx")])
async def test_auto_finds_a_fixed_limit_and_holds_just_under_it(limit: float, kind: str) -> None:
    seconds = 10
    server, rates = await run(lambda _: limit, seconds, kind)

    after_warm_up = server.window_counts(WARM_UP, seconds - 1)
    accepted = sum(a for a, _ in after_warm_up) / len(after_warm_up)
    assert accepted >= 0.8 * limit, f"{accepted:.0f}/s accepted of {limit:g}: {after_warm_up}"
    requests = server.total_accepted + server.total_refused
    share = server.total_refused / requests
    assert share < 0.05, f"{server.total_refused} of {requests} answered 429"
    # The rate it reports is the one it holds: near the limit (a probe takes
    # it above for a moment, so the median of the second half, not the last).
    assert 0.7 * limit <= statistics.median(rates[len(rates) // 2 :]) <= 1.1 * limit, rates


async def test_auto_follows_the_limit_down_when_it_drops_mid_run() -> None:
    drop_at, seconds = 5, 11
    server, rates = await run(lambda t: 150.0 if t < drop_at else 60.0, seconds, "own")

    before = server.window_counts(WARM_UP, drop_at - 1)
    assert sum(a for a, _ in before) / len(before) >= 0.8 * 150, before
    # Within 3 s of the drop the client sends (accepted + refused) at most
    # about the new limit, and still uses most of it.
    after = server.window_counts(drop_at + 3, seconds - 1)
    assert all(a + r <= 1.2 * 60 for a, r in after), after
    assert sum(a for a, _ in after) / len(after) >= 0.8 * 60, after
    requests = server.total_accepted + server.total_refused
    assert server.total_refused / requests < 0.08, f"{server.total_refused} of {requests}"
    assert statistics.median(rates[-len(rates) // 4 :]) <= 1.1 * 60, rates


async def test_auto_on_the_sms_client_reports_a_rate() -> None:
    async with (
        LimitedServer(lambda _: 100.0) as server,
        SmsClient("login", "password", base_url=server.base_url, rate_limit="auto") as sms,
    ):
        assert isinstance(sms.rate_limit, float)
        assert sms.rate_limit > 0
