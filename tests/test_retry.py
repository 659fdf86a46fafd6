"""Retries: what is repeated, how long the client waits, and when it stops."""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import respx
from conftest import ACCESS_KEY, FakeTime

from decisiontelecom_async import (
    APIError,
    AuthenticationError,
    InsufficientBalanceError,
    InvalidParameterError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    TransportError,
    UnexpectedResponseError,
    ValidationError,
    ViberClient,
    ViberMessage,
)
from decisiontelecom_async._retry import is_retryable

RATE_LIMITED = {"name": "Too Many Requests", "message": "Rate limit exceeded", "code": 0}
SENT = httpx.Response(200, json={"message_id": 429})
RECEIPT = httpx.Response(200, json={"message_id": 429, "status": 1})
EXACT = RetryPolicy(max_retries=3, initial_wait=1.0, max_wait=30.0, jitter=0.0)


def fail(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={**RATE_LIMITED, "status": status}, headers=headers)


@pytest.fixture
def make_client(fake_time: FakeTime) -> Callable[..., ViberClient]:
    def make(**options: Any) -> ViberClient:
        client = ViberClient(ACCESS_KEY, **options)
        client._sleep = fake_time.sleep
        client._clock = fake_time.clock
        return client

    return make


@pytest.fixture
async def exact_client(make_client: Callable[..., ViberClient]) -> AsyncIterator[ViberClient]:
    async with make_client(retry_policy=EXACT) as client:
        yield client


# -- what is retried -------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_send_retries_429_and_500(
    api: respx.MockRouter,
    exact_client: ViberClient,
    message: ViberMessage,
    fake_time: FakeTime,
    status: int,
) -> None:
    route = api.post("/send-viber").mock(side_effect=[fail(status), fail(status), SENT])
    assert await exact_client.send(message) == 429
    assert route.call_count == 3
    assert fake_time.sleeps == [1.0, 2.0]


@pytest.mark.parametrize(
    "exc", [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), httpx.PoolTimeout("full")]
)
async def test_send_retries_failures_that_never_reached_the_service(
    api: respx.MockRouter, exact_client: ViberClient, message: ViberMessage, exc: Exception
) -> None:
    route = api.post("/send-viber").mock(side_effect=[exc, SENT])
    assert await exact_client.send(message) == 429
    assert route.call_count == 2


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("slow"),
        httpx.WriteTimeout("slow"),
        httpx.ReadError("reset"),
        httpx.RemoteProtocolError("dropped"),
    ],
)
async def test_send_does_not_retry_an_unknown_outcome(
    api: respx.MockRouter, exact_client: ViberClient, message: ViberMessage, exc: Exception
) -> None:
    route = api.post("/send-viber").mock(side_effect=[exc, SENT])
    with pytest.raises(TransportError) as info:
        await exact_client.send(message)
    assert info.value.outcome_unknown
    assert info.value.attempts == 1
    assert route.call_count == 1


async def test_send_retries_an_unknown_outcome_when_asked(
    api: respx.MockRouter, exact_client: ViberClient, message: ViberMessage
) -> None:
    route = api.post("/send-viber").mock(side_effect=[httpx.ReadTimeout("slow"), SENT])
    policy = RetryPolicy(retry_unknown_outcome=True, jitter=0.0)
    assert await exact_client.send(message, retry_policy=policy) == 429
    assert route.call_count == 2


@pytest.mark.parametrize("status", [502, 504])
async def test_send_does_not_retry_a_gateway_failure_by_default(
    api: respx.MockRouter, exact_client: ViberClient, message: ViberMessage, status: int
) -> None:
    route = api.post("/send-viber").mock(side_effect=[httpx.Response(status), SENT])
    with pytest.raises(ServerError):
        await exact_client.send(message)
    assert route.call_count == 1
    policy = RetryPolicy(retry_unknown_outcome=True, jitter=0.0)
    route.side_effect = [httpx.Response(status), SENT]
    assert await exact_client.send(message, retry_policy=policy) == 429


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("dropped"),
        httpx.ConnectError("refused"),
        httpx.Response(500),
        httpx.Response(502),
        httpx.Response(504),
        fail(429),
    ],
    ids=repr,
)
async def test_get_status_retries_any_transient_failure(
    api: respx.MockRouter, exact_client: ViberClient, failure: httpx.Response | Exception
) -> None:
    route = api.post("/receive-viber").mock(side_effect=[failure, failure, RECEIPT])
    receipt = await exact_client.get_status(429)
    assert receipt.message_id == 429
    assert route.call_count == 3


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, InvalidParameterError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (402, InsufficientBalanceError),
        (404, APIError),
    ],
)
@pytest.mark.parametrize("call", ["send", "get_status"])
async def test_client_errors_are_never_retried(
    api: respx.MockRouter,
    exact_client: ViberClient,
    message: ViberMessage,
    fake_time: FakeTime,
    status: int,
    cls: type[APIError],
    call: str,
) -> None:
    send = api.post("/send-viber").respond(status, json={"name": "x", "status": status})
    lookup = api.post("/receive-viber").respond(status)
    attempt = exact_client.send(message) if call == "send" else exact_client.get_status(429)
    with pytest.raises(cls) as info:
        await attempt
    assert info.value.attempts == 1
    assert send.call_count + lookup.call_count == 1
    assert fake_time.sleeps == []


@pytest.mark.parametrize("status", [400, 402])
async def test_errors_inside_200_are_not_retried_either(
    api: respx.MockRouter, exact_client: ViberClient, message: ViberMessage, status: int
) -> None:
    route = api.post("/send-viber").respond(200, json={"name": "x", "code": 1, "status": status})
    with pytest.raises(APIError):
        await exact_client.send(message)
    assert route.call_count == 1


async def test_unexpected_bodies_are_not_retried_even_for_reads(
    api: respx.MockRouter, exact_client: ViberClient
) -> None:
    route = api.post("/receive-viber").respond(200, text="<html>maintenance</html>")
    with pytest.raises(UnexpectedResponseError):
        await exact_client.get_status(429)
    assert route.call_count == 1


# -- how long it waits ----------------------------------------------------------


async def test_exponential_backoff_capped_at_max_wait(
    api: respx.MockRouter,
    make_client: Callable[..., ViberClient],
    message: ViberMessage,
    fake_time: FakeTime,
) -> None:
    policy = RetryPolicy(max_retries=5, initial_wait=1.0, max_wait=5.0, jitter=0.0)
    route = api.post("/send-viber").respond(500)
    async with make_client(retry_policy=policy) as client:
        with pytest.raises(ServerError) as info:
            await client.send(message)
    assert fake_time.sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert route.call_count == 6
    assert info.value.attempts == 6
    assert "(after 6 attempts)" in str(info.value)


async def test_jitter_adds_up_to_jitter_seconds(
    api: respx.MockRouter,
    make_client: Callable[..., ViberClient],
    message: ViberMessage,
    fake_time: FakeTime,
) -> None:
    policy = RetryPolicy(max_retries=8, initial_wait=0.5, max_wait=4.0, jitter=0.5)
    api.post("/send-viber").respond(500)
    async with make_client(retry_policy=policy) as client:
        with pytest.raises(ServerError):
            await client.send(message)
    bases = [policy.backoff(n) for n in range(1, 9)]
    assert bases == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert len(fake_time.sleeps) == 8
    for base, slept in zip(bases, fake_time.sleeps, strict=True):
        assert base <= slept <= base + 0.5
    # Eight draws of uniform(0, 0.5) are not all zero.
    assert fake_time.sleeps != bases


async def test_default_policy_waits_a_little_then_more(
    api: respx.MockRouter, client: ViberClient, message: ViberMessage, fake_time: FakeTime
) -> None:
    api.post("/send-viber").respond(500)
    with pytest.raises(ServerError) as info:
        await client.send(message)
    assert info.value.attempts == 4
    assert len(fake_time.sleeps) == 3
    for retry, slept in enumerate(fake_time.sleeps, start=1):
        assert 0.5 * 2 ** (retry - 1) <= slept <= 0.5 * 2 ** (retry - 1) + 0.5


async def test_total_time_budget_stops_retries(
    api: respx.MockRouter,
    make_client: Callable[..., ViberClient],
    message: ViberMessage,
    fake_time: FakeTime,
) -> None:
    policy = RetryPolicy(max_retries=10, initial_wait=1.0, jitter=0.0, timeout=6.0)
    route = api.post("/send-viber").respond(500)
    async with make_client(retry_policy=policy) as client:
        with pytest.raises(ServerError) as info:
            await client.send(message)
    # 1 + 2 = 3 s waited; the next wait of 4 s would end at 7 s, past 6 s.
    assert fake_time.sleeps == [1.0, 2.0]
    assert route.call_count == 3
    assert info.value.attempts == 3


async def test_time_spent_in_requests_counts_against_the_budget(
    api: respx.MockRouter,
    make_client: Callable[..., ViberClient],
    message: ViberMessage,
    fake_time: FakeTime,
) -> None:
    def slow_failure(request: httpx.Request) -> httpx.Response:
        fake_time.now += 4.0
        return httpx.Response(500)

    policy = RetryPolicy(max_retries=10, initial_wait=1.0, jitter=0.0, timeout=10.0)
    route = api.post("/send-viber").mock(side_effect=slow_failure)
    async with make_client(retry_policy=policy) as client:
        with pytest.raises(ServerError):
            await client.send(message)
    # 4 s + wait 1 s + 4 s = 9 s; another 2 s wait would end at 11 s.
    assert fake_time.sleeps == [1.0]
    assert route.call_count == 2


async def test_retry_after_seconds_is_honoured(
    api: respx.MockRouter, client: ViberClient, message: ViberMessage, fake_time: FakeTime
) -> None:
    api.post("/send-viber").mock(side_effect=[fail(429, **{"Retry-After": "7"}), SENT])
    assert await client.send(message) == 429
    assert fake_time.sleeps == [7.0]


async def test_retry_after_http_date_is_honoured(
    api: respx.MockRouter, client: ViberClient, message: ViberMessage, fake_time: FakeTime
) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    api.post("/send-viber").mock(side_effect=[fail(429, **{"Retry-After": when}), SENT])
    assert await client.send(message) == 429
    assert len(fake_time.sleeps) == 1
    assert 27.0 <= fake_time.sleeps[0] <= 30.0


async def test_retry_after_inside_an_http_200_error_is_honoured(
    api: respx.MockRouter, client: ViberClient, message: ViberMessage, fake_time: FakeTime
) -> None:
    limited = httpx.Response(
        200, json={**RATE_LIMITED, "status": 429}, headers={"Retry-After": "2"}
    )
    api.post("/send-viber").mock(side_effect=[limited, SENT])
    assert await client.send(message) == 429
    assert fake_time.sleeps == [2.0]


async def test_retry_after_up_to_the_cap_is_waited(
    api: respx.MockRouter, client: ViberClient, message: ViberMessage, fake_time: FakeTime
) -> None:
    api.post("/send-viber").mock(side_effect=[fail(429, **{"Retry-After": "60"}), SENT])
    assert await client.send(message) == 429
    assert fake_time.sleeps == [60.0]


@pytest.mark.parametrize("retry_after", ["61", "3600"])
async def test_retry_after_past_the_cap_fails_at_once(
    api: respx.MockRouter,
    client: ViberClient,
    message: ViberMessage,
    fake_time: FakeTime,
    retry_after: str,
) -> None:
    route = api.post("/send-viber").mock(
        side_effect=[fail(429, **{"Retry-After": retry_after}), SENT]
    )
    with pytest.raises(RateLimitError) as info:
        await client.send(message)
    assert info.value.retry_after == float(retry_after)
    assert info.value.attempts == 1
    assert fake_time.sleeps == []
    assert route.call_count == 1


async def test_retry_after_cap_is_configurable(
    api: respx.MockRouter, client: ViberClient, message: ViberMessage, fake_time: FakeTime
) -> None:
    api.post("/send-viber").mock(side_effect=[fail(429, **{"Retry-After": "5"}), SENT])
    with pytest.raises(RateLimitError) as info:
        await client.send(message, retry_policy=RetryPolicy(max_retry_after=4.0))
    assert info.value.retry_after == 5.0
    assert fake_time.sleeps == []


async def test_a_429_pauses_the_whole_client(
    api: respx.MockRouter, client: ViberClient, message: ViberMessage, fake_time: FakeTime
) -> None:
    api.post("/send-viber").mock(side_effect=[fail(429, **{"Retry-After": "5"}), SENT])
    lookup = api.post("/receive-viber").mock(return_value=RECEIPT)
    with pytest.raises(RateLimitError):
        await client.send(message, retry_policy=RetryPolicy(max_retries=0))
    assert fake_time.sleeps == []
    # The next request of any kind waits out the Retry-After first.
    await client.get_status(429)
    assert fake_time.sleeps == [5.0]
    assert lookup.call_count == 1


async def test_rate_limit_retries_exhausted(
    api: respx.MockRouter, exact_client: ViberClient, message: ViberMessage
) -> None:
    route = api.post("/send-viber").respond(429, json={**RATE_LIMITED, "status": 429})
    with pytest.raises(RateLimitError) as info:
        await exact_client.send(message)
    assert info.value.retry_after is None
    assert info.value.attempts == 4
    assert route.call_count == 4


# -- per client and per call ------------------------------------------------------


async def test_max_retries_per_client(
    api: respx.MockRouter, make_client: Callable[..., ViberClient], message: ViberMessage
) -> None:
    route = api.post("/send-viber").respond(500)
    async with make_client(max_retries=1) as client:
        with pytest.raises(ServerError):
            await client.send(message)
    assert route.call_count == 2
    async with make_client(max_retries=0) as client:
        with pytest.raises(ServerError):
            await client.send(message)
    assert route.call_count == 3


async def test_retry_policy_per_client_and_per_call(
    api: respx.MockRouter,
    make_client: Callable[..., ViberClient],
    message: ViberMessage,
    fake_time: FakeTime,
) -> None:
    route = api.post("/send-viber").respond(500)
    policy = RetryPolicy(max_retries=2, initial_wait=3.0, jitter=0.0)
    async with make_client(retry_policy=policy) as client:
        assert client.retry_policy is policy
        with pytest.raises(ServerError):
            await client.send(message)
        assert route.call_count == 3
        assert fake_time.sleeps == [3.0, 6.0]

        per_call = RetryPolicy(max_retries=1, initial_wait=10.0, jitter=0.0)
        with pytest.raises(ServerError):
            await client.send(message, retry_policy=per_call)
        assert route.call_count == 5
        assert fake_time.sleeps == [3.0, 6.0, 10.0]

        lookup = api.post("/receive-viber").respond(500)
        with pytest.raises(ServerError):
            await client.get_status(429, retry_policy=RetryPolicy(max_retries=0))
        assert lookup.call_count == 1


async def test_validation_errors_are_not_retried(
    api: respx.MockRouter, exact_client: ViberClient
) -> None:
    with pytest.raises(ValidationError):
        await exact_client.get_status(-1)
    assert not api.calls.called


# -- the policy itself ---------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"max_retries": -1},
        {"max_retries": 1.5},
        {"initial_wait": -0.1},
        {"max_wait": float("inf")},
        {"jitter": float("nan")},
        {"timeout": "10"},
    ],
)
def test_policy_refuses_nonsense(options: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError)):
        RetryPolicy(**options)


def test_client_refuses_negative_max_retries() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        ViberClient("key", max_retries=-1)


def outcome_unknown() -> TransportError:
    return TransportError("x", outcome_unknown=True)


@pytest.mark.parametrize(
    ("exc", "write", "read"),
    [
        (RateLimitError("x", "", code=0, status=429), True, True),
        (RateLimitError("x", "", code=0, status=429, retry_after=61.0), False, False),
        (ServerError("x", "", code=2, status=500), True, True),
        (ServerError("x", "", code=None, status=503), True, True),
        (ServerError("x", "", code=None, status=502), False, True),
        (TransportError("x", outcome_unknown=False), True, True),
        (outcome_unknown(), False, True),
        (InvalidParameterError("x", "", code=1, status=400), False, False),
        (AuthenticationError("x", "", code=None, status=401), False, False),
        (InsufficientBalanceError("x", "", code=3, status=402), False, False),
        (UnexpectedResponseError("junk"), False, False),
        (ValidationError([]), False, False),
        (RuntimeError("closed"), False, False),
    ],
    ids=repr,
)
def test_is_retryable(exc: BaseException, write: bool, read: bool) -> None:
    for idempotent, expected in ((False, write), (True, read)):
        retryable = is_retryable(
            exc, idempotent=idempotent, retry_unknown_outcome=False, max_retry_after=60.0
        )
        assert retryable is expected
