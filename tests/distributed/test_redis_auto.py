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
import statistics
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

pytest.importorskip("redis", reason="needs the distributed extra (redis)")

import redis.asyncio as aioredis
from _limited_server import LimitedServer

from decisiontelecom_async import RetryPolicy, ViberClient, ViberMessage
from decisiontelecom_async._http._adaptive_rate import RateLearner
from decisiontelecom_async.distributed import RedisRateLimit
from decisiontelecom_async.distributed._redis_auto import PLACE, LearnedRate

if TYPE_CHECKING:
    from _servers import RedisServer

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
            kind, wait, rate, _, _ = await shared.acquire(now=now)
            assert kind == PLACE
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


async def replay_growth(learners: list[LearnedRate], seconds: float) -> float:
    """Take every place in turn, round robin over ``learners``, for ``seconds``; the rate."""
    now, turn, rate = 1000.0, 0, 0.0
    while now < 1000.0 + seconds:
        kind, wait, rate, _, _ = await learners[turn % len(learners)].acquire(now=now)
        assert kind == PLACE
        now = round(now + wait + 1 / rate + 0.000003, 6)
        turn += 1
    return rate


async def test_three_processes_raise_the_rate_no_faster_than_one(
    redis_server: RedisServer,
) -> None:
    # Three connections (three processes) taking places in turn on one key,
    # and one alone on another key, over the same moments: the step is kept
    # in Redis, so the three grow it exactly as fast as the one.
    connections = [aioredis.Redis.from_url(redis_server.url) for _ in range(4)]
    try:
        three = await replay_growth([LearnedRate(c, "three") for c in connections[:3]], 1.0)
        one = await replay_growth([LearnedRate(connections[3], "one")], 1.0)
    finally:
        for connection in connections:
            await connection.aclose()
    assert three == one
    assert one == 20.0 * 2**4  # doubled at 0.2, 0.4, 0.6 and 0.8 s


async def test_one_burst_of_429s_seen_by_three_processes_cuts_once(
    redis_server: RedisServer,
) -> None:
    connections = [aioredis.Redis.from_url(redis_server.url) for _ in range(3)]
    try:
        learners = [LearnedRate(c, "burst") for c in connections]
        grown = await replay_growth(learners, 1.0)
        # Each process got 429s for requests of the same moments: only the
        # first report cuts; the others are echoes of the rate it cut.
        cuts = [
            await learner.cut(1000.99 + 0.001 * i, now=1001.0 + 0.001 * i)
            for i, learner in enumerate(learners * 2)
        ]
    finally:
        for connection in connections:
            await connection.aclose()
    assert [cut for cut, _ in cuts] == [True] + [False] * 5
    rates = {rate for _, rate in cuts}
    assert len(rates) == 1
    assert rates.pop() < 0.9 * grown


async def test_two_clients_on_httpx_share_one_learned_rate(redis_server: RedisServer) -> None:
    # httpx's own transport (the worker processes use the SDK's aiohttp one),
    # two clients each with its own RedisRateLimit, as two processes would be.
    seconds, limit = 7, 100.0
    async with (
        httpx.AsyncClient(limits=httpx.Limits(max_connections=20)) as http,
        LimitedServer(lambda _: limit) as server,
    ):
        clients = [
            ViberClient(
                "auto-key",
                base_url=server.base_url,
                rate_limit=RedisRateLimit(redis_server.url, rate="auto"),
                max_concurrency=10,
                retry_policy=RETRIES,
                http_client=http,
            )
            for _ in range(2)
        ]
        async with clients[0], clients[1]:
            assert clients[0].rate_limit == 20.0  # the start, before anything is learned

            async def run(client: ViberClient, first: int) -> tuple[int, list[float]]:
                def messages() -> Iterator[ViberMessage]:
                    i = first
                    while server.elapsed() < seconds:
                        yield ViberMessage("Shop", f"{380500000000 + i}", "x")
                        i += 2

                sent, rates = 0, []
                async for outcome in client.send_many(messages()):
                    sent += outcome.ok
                    if outcome.index % 25 == 0 and server.elapsed() >= seconds / 2:
                        rate = client.rate_limit
                        assert isinstance(rate, float)
                        rates.append(rate)
                return sent, rates

            (sent_a, rates_a), (sent_b, rates_b) = await asyncio.gather(
                run(clients[0], 0), run(clients[1], 1)
            )
    assert sent_a + sent_b == server.total_accepted
    windows = server.window_counts(3, seconds - 1)
    accepted = sum(a for a, _ in windows) / len(windows)
    assert accepted >= 0.8 * limit, windows
    requests = server.total_accepted + server.total_refused
    assert server.total_refused / requests < 0.05, (server.total_refused, requests)
    # Both report the one shared rate, near the limit (a probe takes it above
    # for a moment: the median of the second half).
    median_a, median_b = statistics.median(rates_a), statistics.median(rates_b)
    assert 0.7 * limit <= median_a <= 1.1 * limit, rates_a
    assert median_b == pytest.approx(median_a, rel=0.1), (rates_a, rates_b)
