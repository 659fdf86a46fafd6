"""The client-wide gate: the shared 429 pause, long Retry-After, the rate ceiling."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import respx
from conftest import ACCESS_KEY

from decisiontelecom_async import (
    CampaignAborted,
    RateLimitError,
    RetryPolicy,
    TransportError,
    ViberClient,
    ViberMessage,
)

RATE_LIMITED = {"name": "Too Many Requests", "message": "Rate limit exceeded", "code": 0}
RECEIPT = {"message_id": 7, "status": 1}


async def test_requests_waiting_for_a_slot_do_not_slip_out_during_a_pause() -> None:
    sent_at: list[float] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        sent_at.append(time.monotonic())
        first = len(sent_at) == 1
        await asyncio.sleep(0.02)  # the service takes a moment, as a real one does
        if first:
            return httpx.Response(
                429, json={**RATE_LIMITED, "status": 429}, headers={"Retry-After": "0.3"}
            )
        return httpx.Response(200, json=RECEIPT)

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http,
        ViberClient(ACCESS_KEY, max_concurrency=2, http_client=http) as client,
    ):
        receipts = await asyncio.gather(*(client.get_status(7) for _ in range(12)))

    assert len(receipts) == 12
    paused_from = sent_at[0] + 0.02  # when the 429 arrived
    during_pause = [t for t in sent_at if paused_from < t < paused_from + 0.28]
    assert during_pause == [], f"{len(during_pause)} requests went out during the pause"


async def test_a_retry_after_above_the_cap_pauses_the_whole_client_and_sends_nothing_more(
    api: respx.MockRouter,
) -> None:
    route = api.post("/receive-viber").respond(
        429, json={**RATE_LIMITED, "status": 429}, headers={"Retry-After": "120"}
    )
    policy = RetryPolicy(max_retry_after=60)
    async with ViberClient(ACCESS_KEY, retry_policy=policy) as client:
        with pytest.raises(RateLimitError) as first:
            await client.get_status(7)
        started = time.monotonic()
        with pytest.raises(RateLimitError) as second:
            await client.get_status(8)
        elapsed = time.monotonic() - started

    assert route.call_count == 1
    assert first.value.retry_after == 120
    assert first.value.wait_refused
    assert second.value.wait_refused
    assert second.value.retry_after is not None
    assert 100 < second.value.retry_after <= 120
    assert "nothing was sent" in str(second.value)
    assert elapsed < 5  # failed at once instead of waiting two minutes


async def test_a_call_willing_to_wait_longer_is_not_refused(api: respx.MockRouter) -> None:
    api.post("/receive-viber").mock(
        side_effect=[
            httpx.Response(
                429, json={**RATE_LIMITED, "status": 429}, headers={"Retry-After": "0.2"}
            ),
            httpx.Response(200, json=RECEIPT),
        ]
    )
    async with ViberClient(ACCESS_KEY, retry_policy=RetryPolicy(max_retry_after=0.1)) as client:
        with pytest.raises(RateLimitError):
            await client.get_status(7)
        patient = RetryPolicy(max_retry_after=10)
        receipt = await client.get_status(7, retry_policy=patient)
    assert receipt.message_id == 7


async def test_errors_do_not_keep_httpx_exception_as_hidden_context() -> None:
    async with ViberClient(
        ACCESS_KEY, base_url="http://127.0.0.1:9/v1/api", retry_policy=RetryPolicy(max_retries=0)
    ) as client:
        with pytest.raises(TransportError) as caught:
            await client.get_status(7)
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None


async def test_a_retry_after_above_the_cap_stops_a_bulk_run(api: respx.MockRouter) -> None:
    route = api.post("/send-viber").respond(
        429, json={**RATE_LIMITED, "status": 429}, headers={"Retry-After": "3600"}
    )
    messages = [ViberMessage("Shop", f"38050000{i:04d}", f"text {i}") for i in range(40)]
    async with ViberClient(ACCESS_KEY, max_concurrency=4) as client:
        outcomes = [outcome async for outcome in client.send_many(messages)]

    assert sorted(outcome.index for outcome in outcomes) == list(range(40))
    refused = [o for o in outcomes if isinstance(o.error, RateLimitError)]
    aborted = [o for o in outcomes if isinstance(o.error, CampaignAborted)]
    assert refused
    assert len(refused) + len(aborted) == 40
    assert all(isinstance(o.error.cause, RateLimitError) for o in aborted)  # type: ignore[union-attr]
    assert route.call_count <= 4  # what was in flight; nothing after the answer


async def test_after_a_pause_the_line_ends_and_no_ceiling_caps_the_rate() -> None:
    # Requests held by the pause leave one by one; a request that arrives
    # when the pause is over owes that line nothing. (It used to join it: one
    # 429 held a client without a rate_limit to 200 requests/s for good.)
    from decisiontelecom_async._throttle import Throttle  # noqa: PLC0415

    now = 100.0

    async def sleep(seconds: float) -> None:
        nonlocal now
        wake_at = now + seconds
        await asyncio.sleep(0)  # every held request takes its place first
        now = max(now, wake_at)

    throttle = Throttle(None, sleep=sleep, clock=lambda: now)
    throttle.pause(0.5)
    await asyncio.gather(*(throttle.wait() for _ in range(50)))
    ended = now
    assert ended == pytest.approx(100.5 + 49 * 0.005)  # the held ones left one by one
    for _ in range(400):  # a busy client: one new request after another
        await throttle.wait()
    assert now - ended < 0.01, f"400 requests took {now - ended:.2f} s of waiting"


@pytest.mark.parametrize("ending", ["no-retries", "cancelled-while-waiting"])
async def test_a_call_that_ends_without_its_retry_does_not_hold_back_later_calls(
    api: respx.MockRouter, ending: str
) -> None:
    limited = httpx.Response(
        429, json={**RATE_LIMITED, "status": 429}, headers={"Retry-After": "30"}
    )
    answered = asyncio.Event()
    answers = iter([limited, httpx.Response(200, json=RECEIPT)])

    def answer(request: httpx.Request) -> httpx.Response:
        answered.set()
        return next(answers)

    route = api.post("/receive-viber").mock(side_effect=answer)
    async with ViberClient(ACCESS_KEY) as client:
        if ending == "no-retries":
            with pytest.raises(RateLimitError):
                await client.get_status(7, retry_policy=RetryPolicy(max_retries=0))
        else:
            call = asyncio.create_task(client.get_status(7))
            async with asyncio.timeout(5):
                await answered.wait()
            await asyncio.sleep(0.05)  # into its Retry-After wait
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
        client._throttle._resume_at = 0.0  # the wait is over; only an owed retry could hold back
        async with asyncio.timeout(5):
            receipt = await client.get_status(7)
    assert receipt.message_id == 7
    assert route.call_count == 2
