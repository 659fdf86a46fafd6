"""``RedisRateLimit(url, rate="auto")``: the Lua learner against the Python one, and in use.

The first test replays one sequence of events (a sender always wanting to
send, a token-bucket service whose limit drops) on a fixed clock through
``RateLearner`` and through the Lua scripts in a real Redis, and asserts the
same rate at every step: the two are one algorithm. The others run clients
against a real loopback service; the worker-process tests are in
``test_redis_workers.py``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

pytest.importorskip("redis", reason="needs the distributed extra (redis)")

import redis.asyncio as aioredis
from _limited_server import LimitedServer

from decisiontelecom_async import RetryPolicy, ViberClient, ViberMessage
from decisiontelecom_async._http._adaptive_rate import RateLearner
from decisiontelecom_async.distributed import RedisRateLimit
from decisiontelecom_async.distributed._redis_auto import LearnedRate

if TYPE_CHECKING:
    from distributed.conftest import RedisServer

pytestmark = pytest.mark.network

RETRIES = RetryPolicy(max_retries=8, initial_wait=0.05, max_wait=0.5, timeout=30.0)


class Bucket:
    """A token bucket of ``limit(t)`` a second with a tenth of a second's burst."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.tokens = max(1.0, limit / 10)
        self.at = 0.0

    def admit(self, now: float) -> bool:
        burst = max(1.0, self.limit / 10)
        self.tokens = min(burst, self.tokens + (now - self.at) * self.limit)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


async def test_the_lua_learner_follows_the_python_rules_step_by_step(
    redis_server: RedisServer,
) -> None:
    redis = aioredis.Redis.from_url(redis_server.url)
    shared = LearnedRate(redis, "replay")
    # One clock for both, in whole microseconds (as Redis keeps it).
    clock = [1000.0]
    learner = RateLearner(lambda: clock[0])
    bucket = Bucket(150.0)
    compared = cuts = 0
    try:
        while clock[0] < 1012.0:
            if clock[0] >= 1006.0:
                bucket.limit = 60.0
            now = clock[0]
            wait, rate, _, _ = await shared.acquire(now=now)
            assert wait >= 0
            # Python: the same step, taken at the same moment.
            assert learner.place() is not None
            assert rate == pytest.approx(learner.rate, rel=1e-6), (now, cuts)
            compared += 1
            clock[0] = sent = round(now + wait, 6)
            if bucket.admit(sent):
                learner.on_success()
            else:
                cut, rate = await shared.cut(sent, now=sent)
                learner.on_429(None, sent)
                cuts += cut
                assert rate == pytest.approx(learner.rate, rel=1e-6), (sent, cuts)
            # The sender asks again a few microseconds after its next place
            # would be (so every place is the moment it asks): the places
            # then never fall exactly on a step's edge, where the Python
            # learner's float seconds and Redis's whole microseconds could
            # disagree by 1e-13 s. The replay is deterministic (no real clock).
            clock[0] = round(sent + 1 / rate + 0.000001 * (1 + compared % 7), 6)
    finally:
        await redis.aclose()
    assert compared > 1000
    # It found both limits: cut at least once on each.
    assert cuts >= 2
    assert learner.ceiling is not None
    assert learner.ceiling <= 1.1 * 60


async def test_auto_shared_learns_a_limit_and_reports_it(redis_server: RedisServer) -> None:
    seconds, limit = 8, 120.0
    async with LimitedServer(lambda _: limit) as server:
        clients = [
            ViberClient(
                "auto-key",
                base_url=server.base_url,
                rate_limit=RedisRateLimit(redis_server.url, rate="auto"),
                max_concurrency=10,
                retry_policy=RETRIES,
            )
            for _ in range(2)
        ]
        async with clients[0], clients[1]:
            assert clients[0].rate_limit == 20.0  # the start, before anything is learned

            async def run(client: ViberClient, first: int) -> int:
                def messages() -> object:
                    i = first
                    while server.elapsed() < seconds:
                        yield ViberMessage("Shop", f"{380500000000 + i}", "x")
                        i += 2

                return sum([o.ok async for o in client.send_many(messages())])  # type: ignore[arg-type]

            sent = await asyncio.gather(run(clients[0], 0), run(clients[1], 1))
            rates = [c.rate_limit for c in clients]
    assert sum(sent) == server.total_accepted
    windows = server.window_counts(3, seconds - 1)
    accepted = sum(a for a, _ in windows) / len(windows)
    assert accepted >= 0.8 * limit, windows
    requests = server.total_accepted + server.total_refused
    assert server.total_refused / requests < 0.05, (server.total_refused, requests)
    # Both report the one shared rate, near the limit.
    for rate in rates:
        assert isinstance(rate, float)
        assert 0.7 * limit <= rate <= 1.1 * limit, rates
