"""wait_for_final_status(es): poll with backoff until final, or time out with the last receipt."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import respx
from conftest import ACCESS_KEY, FakeTime

from decisiontelecom_async import (
    AuthenticationError,
    CampaignAborted,
    InvalidParameterError,
    MessageReceipt,
    RetryPolicy,
    StatusOutcome,
    StatusTimeoutError,
    ValidationError,
    ViberClient,
    ViberStatus,
)


def receipt_body(message_id: int, status: int, **extra: object) -> dict[str, object]:
    return {"message_id": message_id, "status": status, **extra}


async def test_polls_until_the_receipt_is_final(
    api: respx.MockRouter, client: ViberClient, fake_time: FakeTime
) -> None:
    route = api.post("/receive-viber").mock(
        side_effect=[
            httpx.Response(200, json=receipt_body(7, 0)),
            httpx.Response(200, json=receipt_body(7, 5)),
            httpx.Response(200, json=receipt_body(7, 4, sms_message_id=9, sms_message_status=6)),
            httpx.Response(200, json=receipt_body(7, 4, sms_message_id=9, sms_message_status=2)),
        ]
    )
    receipt = await client.wait_for_final_status(
        7, timeout=600, poll_interval=2.0, max_poll_interval=3.0
    )
    assert receipt.is_final
    assert receipt.delivered
    assert route.call_count == 4
    # Waits grow by half each time (within the 10% jitter), capped at the maximum.
    first, second, third = fake_time.sleeps
    assert 1.8 <= first <= 2.2
    assert 2.7 <= second <= 3.3
    assert 2.7 <= third <= 3.3


async def test_times_out_with_the_last_receipt(
    api: respx.MockRouter, client: ViberClient, fake_time: FakeTime
) -> None:
    api.post("/receive-viber").mock(return_value=httpx.Response(200, json=receipt_body(7, 5)))
    started = fake_time.now
    with pytest.raises(StatusTimeoutError) as caught:
        await client.wait_for_final_status(7, timeout=10, poll_interval=1.0, max_poll_interval=4)
    error = caught.value
    assert isinstance(error, TimeoutError)
    assert error.message_id == 7
    assert error.receipt == MessageReceipt(7, ViberStatus.PENDING)
    assert error.timeout == 10
    assert error.attempts == len(fake_time.sleeps) + 1
    # The last look-up happens at the deadline, not a whole interval before it.
    assert fake_time.now == pytest.approx(started + 10)
    assert "no final status after 10s" in str(error)


async def test_an_error_of_a_look_up_is_raised_with_every_request_counted(
    api: respx.MockRouter, client: ViberClient
) -> None:
    api.post("/receive-viber").mock(
        side_effect=[
            httpx.Response(200, json=receipt_body(7, 0)),
            httpx.Response(400, json={"name": "Invalid Parameter: message_id", "code": 1}),
        ]
    )
    with pytest.raises(InvalidParameterError) as caught:
        await client.wait_for_final_status(7, timeout=60)
    assert caught.value.attempts == 2


@pytest.mark.parametrize(
    "options",
    [
        {"timeout": 0},
        {"timeout": 5, "poll_interval": -1},
        {"timeout": 5, "poll_interval": 10, "max_poll_interval": 5},
        {"timeout": True},
    ],
)
async def test_bad_arguments_are_refused_before_any_request(
    api: respx.MockRouter, client: ViberClient, options: dict[str, float]
) -> None:
    route = api.post("/receive-viber")
    with pytest.raises(ValueError, match="must"):
        await client.wait_for_final_status(7, **options)
    with pytest.raises(ValueError, match="must"):
        client.wait_for_final_statuses([7], **options)
    assert route.call_count == 0


async def test_a_bad_id_is_refused_before_any_request(client: ViberClient) -> None:
    with pytest.raises(ValidationError):
        await client.wait_for_final_status(0, timeout=5)


# -- many ids ---------------------------------------------------------------------------------


def poll_answers(finals_after: dict[int, int]) -> object:
    """Each id turns delivered after that many look-ups (never, when absent)."""
    seen: dict[int, int] = {}

    async def answer(request: httpx.Request) -> httpx.Response:
        message_id = json.loads(request.content)["message_id"]
        seen[message_id] = seen.get(message_id, 0) + 1
        await asyncio.sleep(0)
        final = seen[message_id] >= finals_after.get(message_id, 10**9)
        return httpx.Response(200, json=receipt_body(message_id, 1 if final else 0))

    return answer


async def test_many_ids_come_out_as_each_turns_final(api: respx.MockRouter) -> None:
    api.post("/receive-viber").mock(side_effect=poll_answers({1: 3, 2: 1, 3: 2, 4: 1}))
    async with ViberClient(ACCESS_KEY, max_concurrency=2) as client:
        outcomes = [
            o
            async for o in client.wait_for_final_statuses(
                [1, 2, 3, 4], timeout=30, poll_interval=0.005, max_poll_interval=0.01
            )
        ]
    assert [o.message_id for o in outcomes][-1] == 1
    assert sorted(o.index for o in outcomes) == [0, 1, 2, 3]
    for outcome in outcomes:
        assert isinstance(outcome, StatusOutcome)
        assert outcome.ok
        assert outcome.receipt is not None
        assert outcome.receipt.delivered
    by_id = {o.message_id: o.attempts for o in outcomes}
    assert by_id == {1: 3, 2: 1, 3: 2, 4: 1}


async def test_ids_not_final_by_the_deadline_carry_their_last_receipt(
    api: respx.MockRouter,
) -> None:
    api.post("/receive-viber").mock(side_effect=poll_answers({2: 1}))
    async with ViberClient(ACCESS_KEY, max_concurrency=4) as client:
        outcomes = {
            o.message_id: o
            async for o in client.wait_for_final_statuses(
                range(1, 21), timeout=0.1, poll_interval=0.01, max_poll_interval=0.02
            )
        }
    assert len(outcomes) == 20
    assert outcomes[2].ok
    late = outcomes[5]
    assert isinstance(late.error, StatusTimeoutError)
    assert late.receipt == MessageReceipt(5, ViberStatus.SENT)
    assert late.error.receipt == late.receipt
    assert late.attempts >= 2


async def test_watching_is_not_capped_by_the_request_bound(api: respx.MockRouter) -> None:
    watching = 0
    most = 0

    async def answer(request: httpx.Request) -> httpx.Response:
        nonlocal watching, most
        message_id = json.loads(request.content)["message_id"]
        return httpx.Response(200, json=receipt_body(message_id, 0))

    api.post("/receive-viber").mock(side_effect=answer)
    async with ViberClient(ACCESS_KEY, max_concurrency=2) as client:
        outcomes = client.wait_for_final_statuses(
            range(1, 41), timeout=0.05, concurrency=40, poll_interval=0.01
        )
        async for _ in outcomes:
            tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith("wait_for")]
            most = max(most, len(tasks))
    # All 40 watched at once although only 2 requests go out at a time.
    assert most == 40


async def test_a_refused_key_stops_the_waiting_at_once(api: respx.MockRouter) -> None:
    calls = 0

    async def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        message_id = json.loads(request.content)["message_id"]
        if calls == 5:
            return httpx.Response(403)
        return httpx.Response(200, json=receipt_body(message_id, 0))

    api.post("/receive-viber").mock(side_effect=answer)
    async with ViberClient(ACCESS_KEY) as client:
        # Pollers sleep for up to an hour between look-ups; the stop wakes them.
        outcomes = [
            o
            async for o in client.wait_for_final_statuses(
                range(1, 11), timeout=7200, poll_interval=3600, max_poll_interval=3600
            )
        ]
    assert len(outcomes) == 10
    kinds = {type(o.error) for o in outcomes}
    assert kinds <= {AuthenticationError, CampaignAborted}
    aborted = [o for o in outcomes if isinstance(o.error, CampaignAborted)]
    assert len(aborted) == 9
    assert all(o.receipt is None for o in aborted)


# -- the timeout bounds the look-ups too ----------------------------------------------------


def other_tasks() -> set[asyncio.Task[object]]:
    return {task for task in asyncio.all_tasks() if task is not asyncio.current_task()}


def hanging_after_first(first: dict[str, object]) -> object:
    """Answer the first look-up of each id with ``first``; never answer the later ones."""
    seen: set[int] = set()

    async def answer(request: httpx.Request) -> httpx.Response:
        message_id = json.loads(request.content)["message_id"]
        if message_id not in seen:
            seen.add(message_id)
            return httpx.Response(200, json={**first, "message_id": message_id})
        await asyncio.Event().wait()  # a service that never answers
        raise AssertionError

    return answer


@pytest.mark.parametrize("service", ["hangs", "keeps failing"])
async def test_a_slow_look_up_does_not_outlast_the_timeout(
    api: respx.MockRouter, recwarn: pytest.WarningsRecorder, service: str
) -> None:
    if service == "hangs":
        api.post("/receive-viber").mock(side_effect=hanging_after_first(receipt_body(7, 5)))
    else:
        # Every later look-up runs the whole retry policy: minutes of 503s and backoff.
        api.post("/receive-viber").mock(
            side_effect=[
                httpx.Response(200, json=receipt_body(7, 5)),
                *[httpx.Response(503, json={"name": "x", "code": 2})] * 50,
            ]
        )
    before = other_tasks()
    policy = RetryPolicy(max_retries=20, initial_wait=1.0, jitter=0.0, timeout=600)
    loop = asyncio.get_running_loop()
    async with ViberClient(ACCESS_KEY, retry_policy=policy) as client:
        started = loop.time()
        with pytest.raises(StatusTimeoutError) as caught:
            await asyncio.wait_for(
                client.wait_for_final_status(7, timeout=0.3, poll_interval=0.05), 5
            )
        elapsed = loop.time() - started
        assert client.in_flight == 0
    assert elapsed < 0.3 + 0.05 + 0.5
    error = caught.value
    assert error.receipt == MessageReceipt(7, ViberStatus.PENDING)
    assert error.timeout == 0.3
    assert error.attempts >= 1
    await asyncio.sleep(0)
    assert other_tasks() <= before
    assert not recwarn.list


async def test_one_deadline_bounds_the_look_ups_of_many_ids(
    api: respx.MockRouter, recwarn: pytest.WarningsRecorder
) -> None:
    slow = hanging_after_first(receipt_body(0, 0))

    async def answer(request: httpx.Request) -> httpx.Response:
        message_id = json.loads(request.content)["message_id"]
        if message_id % 2:
            return httpx.Response(200, json=receipt_body(message_id, 1))
        return await slow(request)  # type: ignore[operator, no-any-return]

    api.post("/receive-viber").mock(side_effect=answer)
    before = other_tasks()
    loop = asyncio.get_running_loop()
    async with ViberClient(ACCESS_KEY) as client:
        started = loop.time()
        async with asyncio.timeout(5):
            outcomes = {
                o.message_id: o
                async for o in client.wait_for_final_statuses(
                    range(1, 11), timeout=0.3, poll_interval=0.05
                )
            }
        elapsed = loop.time() - started
    assert elapsed < 0.3 + 0.05 + 0.5
    assert len(outcomes) == 10
    for message_id, outcome in outcomes.items():
        if message_id % 2:
            assert outcome.ok
        else:
            assert isinstance(outcome.error, StatusTimeoutError)
            assert outcome.receipt == MessageReceipt(message_id, ViberStatus.SENT)
    await asyncio.sleep(0)
    assert other_tasks() <= before
    assert not recwarn.list
