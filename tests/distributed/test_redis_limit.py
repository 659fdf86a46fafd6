"""``RedisRateLimit`` against a real ``redis-server`` and a real loopback service.

In-process tests run two clients with separate limits (separate Redis
connections, as two processes would have), on both transports. The worker
tests (``test_redis_workers.py``) run real processes.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import hashlib
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

pytest.importorskip("redis", reason="needs the distributed extra (redis)")

import redis.asyncio as aioredis
from _loopback import Reply, loopback

from decisiontelecom_async import (
    CampaignAborted,
    RateLimitError,
    RetryPolicy,
    SmsClient,
    SqliteJournal,
    ViberClient,
    ViberMessage,
    distributed,
)
from decisiontelecom_async.distributed import RedisRateLimit, SharedLimitError
from distributed._counting import CountingService

if TYPE_CHECKING:
    from _servers import RedisServer

pytestmark = pytest.mark.network

RETRIES = RetryPolicy(max_retries=5, initial_wait=0.05, max_wait=0.5, max_retry_after=10.0)
KINDS = ["own", "httpx"]


def messages(first: int, count: int) -> Iterator[ViberMessage]:
    for i in range(first, first + count):
        yield ViberMessage("Shop", f"{380500000000 + i}", f"text {i}")


@contextlib.asynccontextmanager
async def transport(kind: str) -> AsyncIterator[httpx.AsyncClient | None]:
    """None for the client's own (aiohttp) transport, or an httpx client on httpx's own."""
    if kind == "own":
        yield None
        return
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=20)) as http:
        yield http


def client_for(
    base_url: str, limit: RedisRateLimit, http: httpx.AsyncClient | None, key: str = "acct-key"
) -> ViberClient:
    return ViberClient(
        key,
        base_url=base_url,
        rate_limit=limit,
        max_concurrency=10,
        retry_policy=RETRIES,
        http_client=http,
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_two_clients_share_one_limit(redis_server: RedisServer, kind: str) -> None:
    service = CountingService()
    async with transport(kind) as http, service.serve() as server:
        first = client_for(server.base_url, RedisRateLimit(redis_server.url, rate=50), http)
        second = client_for(server.base_url, RedisRateLimit(redis_server.url, rate=50), http)
        async with first, second:

            async def run(client: ViberClient, start: int) -> int:
                return sum([o.ok async for o in client.send_many(messages(start, 100))])

            sent = await asyncio.gather(run(first, 0), run(second, 100))
    assert sent == [100, 100]
    assert set(service.receivers.values()) == {1}
    assert len(service.receivers) == 200
    # Two clients of 50/s each would send 100/s: shared, every second stays near 50.
    full = service.full_windows()
    assert full, service.windows
    assert max(full) <= 55, service.windows


@pytest.mark.parametrize("kind", KINDS)
async def test_a_429_to_one_client_pauses_the_other(redis_server: RedisServer, kind: str) -> None:
    # The 30th request is refused with Retry-After: 2. Whichever client got
    # it, neither sends anything else until the pause is nearly over.
    service = CountingService(refuse=frozenset({30}), retry_after=2.0)
    async with transport(kind) as http, service.serve() as server:
        first = client_for(server.base_url, RedisRateLimit(redis_server.url, rate=40), http)
        second = client_for(server.base_url, RedisRateLimit(redis_server.url, rate=40), http)
        async with first, second:

            async def run(client: ViberClient, start: int) -> list[bool]:
                return [o.ok async for o in client.send_many(messages(start, 40))]

            results = await asyncio.gather(run(first, 0), run(second, 100))
    assert all(results[0]), results
    assert all(results[1]), results
    assert len(service.refused_at) == 1
    refused = service.refused_at[0]
    # Places handed out just before the 429 (at most 50 ms ahead) and requests
    # already on the wire may still arrive: look from 0.3 s after it.
    assert service.between(refused + 0.3, refused + 1.8) == 0, sorted(service.arrivals)
    assert sum(service.receivers.values()) == 80


@pytest.mark.parametrize("kind", KINDS)
async def test_redis_down_sends_nothing_and_says_so(redis_server: RedisServer, kind: str) -> None:
    service = CountingService()
    url = redis_server.url.replace("redis://", "redis://:redis-s3cret@")
    async with transport(kind) as http, service.serve() as server:
        redis_server.stop()
        try:
            async with client_for(server.base_url, RedisRateLimit(url, rate=50), http) as client:
                with pytest.raises(SharedLimitError) as caught:
                    await client.send(next(messages(0, 1)))
                outcomes = [o async for o in client.send_many(messages(1, 20))]
        finally:
            redis_server.start()
    message = str(caught.value)
    assert "Redis at redis://127.0.0.1:" in message
    assert "nothing was sent" in message
    assert "redis-s3cret" not in message + repr(caught.value)
    assert "acct-key" not in message
    assert service.arrivals == []
    # The run stopped: one input got the error, the rest CampaignAborted naming it.
    errors = [o.error for o in outcomes]
    assert all(e is not None for e in errors)
    assert sum(isinstance(e, SharedLimitError) for e in errors) >= 1
    aborted = [e for e in errors if isinstance(e, CampaignAborted)]
    assert aborted
    assert all(isinstance(e.cause, SharedLimitError) for e in aborted)


async def test_a_redis_that_hangs_times_out_and_nothing_is_sent(
    redis_server: RedisServer,
) -> None:
    service = CountingService()
    async with service.serve() as server:
        limit = RedisRateLimit(redis_server.url, rate=100)
        async with client_for(server.base_url, limit, None) as client:
            assert await client.send(next(messages(0, 1))) == 1
            redis_server.freeze()
            try:
                with pytest.raises(SharedLimitError, match=r"Redis at .*Timeout"):
                    # Bounded: 2 s a reply, 2 short retries.
                    await asyncio.wait_for(client.send(next(messages(1, 1))), 30)
            finally:
                redis_server.thaw()
    assert list(service.receivers) == ["380500000000"]


async def test_a_refused_redis_password_is_named_but_never_shown(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    admin = aioredis.Redis.from_url(redis_server.url)
    await admin.config_set("requirepass", "the-right-one")
    service = CountingService()
    try:
        url = redis_server.url.replace("redis://", "redis://:a-wrong-s3cret@")
        limit = RedisRateLimit(url, rate=50)
        async with service.serve() as server, client_for(server.base_url, limit, None) as client:
            with pytest.raises(SharedLimitError) as caught:
                await client.send(next(messages(0, 1)))
    finally:
        await admin.execute_command("AUTH", "the-right-one")
        await admin.config_set("requirepass", "")
        await admin.aclose()
    shown = str(caught.value) + repr(caught.value) + caplog.text
    assert "Redis at redis://127.0.0.1:" in str(caught.value)
    assert "AuthenticationError" in str(caught.value)
    assert "a-wrong-s3cret" not in shown
    assert "acct-key" not in shown
    assert service.arrivals == []


async def test_sending_resumes_once_redis_is_back(redis_server: RedisServer) -> None:
    service = CountingService()
    async with service.serve() as server:
        limit = RedisRateLimit(redis_server.url, rate=100)
        async with client_for(server.base_url, limit, None) as client:
            assert await client.send(next(messages(0, 1))) == 1
            redis_server.stop()
            try:
                with pytest.raises(SharedLimitError):
                    await client.send(next(messages(1, 1)))
            finally:
                redis_server.start()
            assert await client.send(next(messages(2, 1))) == 2
    assert sorted(service.receivers) == ["380500000000", "380500000002"]


def test_default_key_is_shared_by_an_account_and_hides_its_secret() -> None:
    first = RedisRateLimit("redis://127.0.0.1:1/0", rate=10)
    again = RedisRateLimit("redis://127.0.0.1:1/0", rate=10)
    other = RedisRateLimit("redis://127.0.0.1:1/0", rate=10)
    sms = RedisRateLimit("redis://127.0.0.1:1/0", rate=10)
    ViberClient("the-access-key", rate_limit=first)
    ViberClient("the-access-key", rate_limit=again)
    ViberClient("another-access-key", rate_limit=other)
    SmsClient("the-access-key", "pw", rate_limit=sms)
    assert first.key is not None
    assert first.key == again.key
    assert len({first.key, other.key, sms.key}) == 3
    plain = [
        hashlib.sha256(b"the-access-key").hexdigest(),
        hashlib.md5(b"the-access-key").hexdigest(),  # noqa: S324 - what it must not be
    ]
    assert "the-access-key" not in first.key
    assert not any(h[:32] in first.key for h in plain)
    assert "the-access-key" not in repr(first)


def test_one_default_key_limit_refuses_a_second_account() -> None:
    limit = RedisRateLimit("redis://127.0.0.1:1/0", rate=10)
    ViberClient("the-access-key", rate_limit=limit)
    with pytest.raises(ValueError, match="another account"):
        ViberClient("another-access-key", rate_limit=limit)
    shared = RedisRateLimit("redis://127.0.0.1:1/0", rate=10, key="team-limit")
    ViberClient("the-access-key", rate_limit=shared)
    ViberClient("another-access-key", rate_limit=shared)
    assert shared.key == "team-limit"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rate": 0}, "rate must be a positive number"),
        ({"rate": float("inf")}, "rate must be a positive number"),
        ({"rate": True}, "rate must be a positive number"),
        ({"rate": "fast"}, "rate must be a positive number"),
        ({"rate": 5, "key": ""}, "key must be a non-empty string"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RedisRateLimit("redis://127.0.0.1:1/0", **kwargs)  # type: ignore[arg-type]


def test_bad_url_is_refused_and_repr_hides_the_password() -> None:
    with pytest.raises(ValueError, match="redis://"):
        RedisRateLimit("http://127.0.0.1:6379", rate=5)
    limit = RedisRateLimit("redis://user:pa55word@127.0.0.1:6379/2", rate=5)
    assert "pa55word" not in repr(limit)
    assert "127.0.0.1:6379/2" in repr(limit)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_shared_pause_too_long_to_wait_fails_the_other_client_at_once(
    redis_server: RedisServer, kind: str
) -> None:
    # The first request is refused with Retry-After: 60, longer than the
    # policy waits (10 s): its client fails at once. So must the other one,
    # which never got a 429 itself, instead of sleeping a minute.
    service = CountingService(refuse=frozenset({0}), retry_after=60.0)
    async with transport(kind) as http, service.serve() as server:
        first = client_for(server.base_url, RedisRateLimit(redis_server.url, rate=20), http)
        second = client_for(server.base_url, RedisRateLimit(redis_server.url, rate=20), http)
        async with first, second:
            with pytest.raises(RateLimitError) as refused:
                await first.send(next(messages(0, 1)))
            assert refused.value.wait_refused
            with pytest.raises(RateLimitError) as shared:
                await asyncio.wait_for(second.send(next(messages(1, 1))), 10)
            assert shared.value.wait_refused
            assert shared.value.retry_after is not None
            assert shared.value.retry_after > 50
    assert service.arrivals == []


def docs_example(name: str, redis_url: str) -> str:
    """The example ``name`` of docs/distributed.md, as written but for Redis's URL."""
    page = (Path(__file__).parents[2] / "docs" / "distributed.md").read_text(encoding="utf-8")
    found = re.search(
        rf"^% example: {re.escape(name)}\n```python\n(.*?)^```$", page, re.MULTILINE | re.DOTALL
    )
    assert found is not None
    source = found.group(1)
    for written in ("redis://127.0.0.1:6379/0", "redis://redis:6379/0"):
        source = source.replace(written, redis_url)
    assert redis_url in source
    return source


@pytest.mark.parametrize("name", ["redis-limit", "redis-auto"])
async def test_the_docs_example_runs_against_a_real_redis(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    # docs/distributed.md's examples "redis-limit" and "redis-auto".
    source = docs_example(name, redis_server.url)
    async with loopback(lambda number, path: Reply(body={"message_id": number + 1})) as service:
        monkeypatch.setenv("DECISIONTELECOM_BASE_URL", service.base_url)
        namespace: dict[str, object] = {
            "access_key": "docs-example-key",
            "messages": list(messages(0, 20)),
        }
        code = compile(source, "docs/distributed.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(code, namespace)  # noqa: S307 - our own docs
        if result is not None:
            await result
    assert service.requests == 20


async def test_the_docs_task_queue_example_sends_each_message_once(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # docs/distributed.md's "task-queue" example: a queue's task that runs
    # twice sends nothing twice. Its broker is a stand-in, and so is its
    # PostgresJournal: a SqliteJournal keeps the same journal contract
    # (the PostgreSQL journal's own tests run the real one).
    source = docs_example("task-queue", redis_server.url)

    class Broker:
        def task(self, function: object) -> object:
            return function

    def journal_for(dsn: str, *, campaign: str) -> SqliteJournal:
        del dsn
        return SqliteJournal(tmp_path / f"{campaign}.journal")

    monkeypatch.setattr(distributed, "PostgresJournal", journal_for, raising=False)
    async with loopback(lambda number, path: Reply(body={"message_id": number + 1})) as service:
        monkeypatch.setenv("DECISIONTELECOM_BASE_URL", service.base_url)
        namespace: dict[str, Any] = {
            "broker": Broker(),
            "access_key": "docs-example-key",
            "to_viber_messages": lambda rows: (ViberMessage(**row) for row in rows),
        }
        exec(compile(source, "docs/distributed.md", "exec"), namespace)  # noqa: S102 - our own docs
        rows = [
            {"sender": "Shop", "receiver": f"{380500000000 + i}", "text": f"text {i}"}
            for i in range(15)
        ]
        first = await namespace["send_campaign"]("spring-sale", rows)
        again = await namespace["send_campaign"]("spring-sale", rows)
    assert service.requests == 15
    assert first == 15
    assert again == 15  # every input reported sent: resumed from the journal
