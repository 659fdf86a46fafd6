"""The real client against the served sandbox, over real loopback sockets.

Each fault knob on its own, and what a user of the client sees: retries
absorb 429s, 500s and errors inside a 200; 402 and 401 fail at once; a
connection dropped before the work can be retried safely, one dropped after
it cannot. Callbacks go to a real receiver (uvicorn serving ``callback_app``).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from decisiontelecom_async import (
    AuthenticationError,
    CampaignAborted,
    InsufficientBalanceError,
    MessageType,
    RetryPolicy,
    SmsApiError,
    SmsErrorCode,
    SmsStatus,
    SourceType,
    TransportError,
    ViberClient,
    ViberMessage,
    ViberStatus,
)
from decisiontelecom_async.callbacks import (
    InboundMessage,
    StatusCallback,
    callback_app,
    callback_url,
)
from decisiontelecom_async.sandbox import DropPhase, Sandbox

pytestmark = pytest.mark.network

MESSAGE = ViberMessage("Shop", "380501234567", "Hi")
QUICK = RetryPolicy(max_retries=3, initial_wait=0.01, max_wait=0.05, jitter=0.01)


@contextlib.asynccontextmanager
async def served(**options: Any) -> AsyncIterator[Sandbox]:
    async with Sandbox(**options) as sandbox, sandbox.serve(host="127.0.0.1", port=0):
        yield sandbox


@contextlib.asynccontextmanager
async def client_for(sandbox: Sandbox, **options: Any) -> AsyncIterator[ViberClient]:
    """A client of its own, on the served URL: nothing shared with the sandbox."""
    options.setdefault("retry_policy", QUICK)
    async with ViberClient(
        options.pop("access_key", "sandbox-key"), base_url=sandbox.base_url, **options
    ) as client:
        yield client


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


# -- the happy path --------------------------------------------------------------


async def test_statuses_progress_to_final_in_real_time() -> None:
    async with (
        served(delivery_delay=0.1, undelivered_share=0.5, seed=1) as sandbox,
        client_for(sandbox) as client,
    ):
        assert sandbox.base_url.startswith("http://127.0.0.1:")
        plain = await client.send(MESSAGE)
        fallback = [
            await client.send(ViberMessage("Shop", "380501234567", "Code", sms_text="Code 1"))
            for _ in range(4)
        ]
        receipts = {}

        async def all_final() -> bool:
            for message_id in (plain, *fallback):
                receipts[message_id] = await client.get_status(message_id)
            return all(receipt.is_final for receipt in receipts.values())

        await eventually(all_final)
    assert {r.status for r in receipts.values()} <= {ViberStatus.DELIVERED, ViberStatus.UNDELIVERED}
    for receipt in receipts.values():
        assert receipt.delivered
        if receipt.status is ViberStatus.UNDELIVERED:
            assert receipt.sms_status is SmsStatus.DELIVERED
            assert receipt.sms_message_id not in (None, receipt.message_id)
    assert any(r.sms_message_id for r in receipts.values())


async def test_many_concurrent_sends_over_keep_alive_connections() -> None:
    async with served() as sandbox, client_for(sandbox, max_concurrency=20) as client:
        ids = await asyncio.gather(*(client.send(MESSAGE) for _ in range(200)))
    assert len(set(ids)) == 200
    assert sandbox.stats.sends_accepted == 200


# -- each fault knob -------------------------------------------------------------


@pytest.mark.parametrize("transport", ["default", "httpx"])
async def test_429s_are_absorbed_by_retries(transport: str) -> None:
    # 60 sends against 25 a second (bursts of 25) are refused whatever the
    # machine's speed; each refused one is promised a turn, and gets it
    # within three retries only if no first attempt goes out ahead of it.
    async with contextlib.AsyncExitStack() as stack:
        options: dict[str, Any] = {"max_concurrency": 4}
        if transport == "httpx":
            options["http_client"] = await stack.enter_async_context(httpx.AsyncClient())
        sandbox = await stack.enter_async_context(served(rate_limit=25))
        client = await stack.enter_async_context(client_for(sandbox, **options))
        ids = await asyncio.gather(*(client.send(MESSAGE) for _ in range(60)))
    assert len(set(ids)) == 60
    assert sandbox.stats.rate_limited > 0
    assert len(sandbox.messages()) == 60


@pytest.mark.parametrize("knob", ["server_error_share", "error_in_200_share"])
async def test_500s_and_errors_inside_200_are_absorbed_by_retries(knob: str) -> None:
    policy = RetryPolicy(max_retries=8, initial_wait=0.001, max_wait=0.01, jitter=0.0)
    async with served(seed=3, **{knob: 0.3}) as sandbox, client_for(sandbox) as client:
        ids = [await client.send(MESSAGE, retry_policy=policy) for _ in range(20)]
        receipts = [await client.get_status(i, retry_policy=policy) for i in ids]
    assert sandbox.stats.server_errors + sandbox.stats.errors_in_200 > 0
    # Nothing was stored twice: a failed attempt did no work.
    assert len(sandbox.messages()) == len(set(ids)) == 20
    assert {r.message_id for r in receipts} == set(ids)


async def test_402_fails_at_once() -> None:
    async with served(balance=2) as sandbox, client_for(sandbox) as client:
        await client.send(MESSAGE)
        await client.send(MESSAGE)
        with pytest.raises(InsufficientBalanceError) as caught:
            await client.send(MESSAGE)
    assert caught.value.attempts == 1
    assert sandbox.stats.requests == 3


async def test_402_stops_a_bulk_campaign() -> None:
    async with served(balance=5) as sandbox, client_for(sandbox) as client:
        outcomes = [o async for o in client.send_many([MESSAGE] * 20, concurrency=1)]
    assert len(outcomes) == 20
    assert sum(o.ok for o in outcomes) == 5
    failures = [o.error for o in outcomes if not o.ok]
    assert sum(isinstance(e, InsufficientBalanceError) for e in failures) == 1
    aborted = [e for e in failures if isinstance(e, CampaignAborted)]
    assert len(aborted) == 14
    assert all(isinstance(e.cause, InsufficientBalanceError) for e in aborted)
    assert sandbox.stats.balance_exhausted == 1
    assert len(sandbox.messages()) == 5


@pytest.mark.parametrize("body", ["empty", "text", "json"])
async def test_401_fails_fast_with_one_request(body: str) -> None:
    async with (
        served(unauthorized_body=body) as sandbox,
        client_for(sandbox, access_key="not-the-key") as client,
    ):
        with pytest.raises(AuthenticationError) as caught:
            await client.send(MESSAGE)
    assert caught.value.attempts == 1
    assert caught.value.http_status == 401
    assert "not-the-key" not in str(caught.value) + repr(caught.value)
    assert sandbox.stats.requests == sandbox.stats.unauthorized == 1


async def test_dropped_before_processing_nothing_happened() -> None:
    async with (
        served(drop_connection_share=1.0, drop_connection_phase=DropPhase.BEFORE) as sandbox,
        client_for(sandbox) as client,
    ):
        with pytest.raises(TransportError) as caught:
            await client.send(MESSAGE)
    # The client cannot know the drop came before the work: it does not resend.
    assert caught.value.outcome_unknown
    assert caught.value.attempts == 1
    assert sandbox.messages() == []


async def test_dropped_before_processing_retried_send_lands_exactly_once() -> None:
    policy = RetryPolicy(
        max_retries=10, initial_wait=0.001, max_wait=0.01, jitter=0.0, retry_unknown_outcome=True
    )
    async with (
        served(seed=2, drop_connection_share=0.5, drop_connection_phase="before") as sandbox,
        client_for(sandbox) as client,
    ):
        ids = [await client.send(MESSAGE, retry_policy=policy) for _ in range(10)]
    assert sandbox.stats.dropped_before > 0
    assert len(set(ids)) == 10
    assert sorted(m.message_id for m in sandbox.messages()) == sorted(ids)


async def test_dropped_after_processing_is_unknown_and_not_resent() -> None:
    async with (
        served(drop_connection_share=1.0, drop_connection_phase=DropPhase.AFTER) as sandbox,
        client_for(sandbox) as client,
    ):
        with pytest.raises(TransportError) as caught:
            await client.send(MESSAGE)
    assert caught.value.outcome_unknown
    assert caught.value.attempts == 1
    assert sandbox.stats.requests == 1
    # The message exists and will be delivered; the client just never heard.
    (stored,) = sandbox.messages()
    assert stored.receiver == MESSAGE.receiver


async def test_latency_past_the_timeout_is_an_unknown_outcome() -> None:
    async with served(latency=0.15) as sandbox, client_for(sandbox, timeout=0.05) as client:
        with pytest.raises(TransportError) as caught:
            await client.send(MESSAGE)
        assert caught.value.outcome_unknown
        # The service finished the work after the client stopped waiting.
        await eventually(lambda: _is(len(sandbox.messages()) == 1))


async def test_latency_within_the_timeout_only_slows_down() -> None:
    async with served(latency=(0.02, 0.04)) as sandbox, client_for(sandbox) as client:
        started = time.monotonic()
        await client.send(MESSAGE)
        assert time.monotonic() - started >= 0.02


async def _is(value: bool) -> bool:
    return value


# -- callbacks to a real receiver ------------------------------------------------


@contextlib.asynccontextmanager
async def uvicorn_serving(app: Any) -> AsyncIterator[str]:
    uvicorn = pytest.importorskip("uvicorn")
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await eventually(lambda: _is(server.started))
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_status_callbacks_and_replies_reach_a_real_receiver() -> None:
    statuses: list[StatusCallback] = []
    replies: list[InboundMessage] = []
    token = secrets.token_urlsafe(24)
    app = callback_app(on_status=statuses.append, on_inbound=replies.append, token=token)
    async with (
        uvicorn_serving(app) as receiver,
        served(delivery_delay=0.1, reply_delay=0.05) as sandbox,
        client_for(sandbox) as client,
    ):
        message_id = await client.send(
            ViberMessage(
                "Shop",
                "380501234567",
                "Want the offer?",
                message_type=MessageType.TEXT_ONLY_2WAY,
                source_type=SourceType.PROMOTIONAL,
                callback_url=callback_url(f"{receiver}/viber", token),
            )
        )
        await eventually(lambda: _is(bool(replies)))
    assert [(s.message_id, s.status) for s in statuses] == [
        (message_id, ViberStatus.SENT),
        (message_id, ViberStatus.DELIVERED),
    ]
    (reply,) = replies
    assert reply.reply_to == message_id
    assert reply.phone_number == "380501234567"
    assert sandbox.stats.callbacks_delivered == 3
    assert sandbox.stats.callback_failures == 0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_dead_receiver_gets_bounded_retries_and_the_sandbox_keeps_serving() -> None:
    dead = f"http://127.0.0.1:{_closed_port()}/cb"
    async with (
        served(
            delivery_delay=0.02, callback_attempts=2, callback_backoff=0.02, callback_timeout=0.5
        ) as sandbox,
        client_for(sandbox) as client,
    ):
        await client.send(ViberMessage("Shop", "380501234567", "Hi", callback_url=dead))
        await eventually(lambda: _is(sandbox.stats.callbacks_abandoned == 2))
        assert sandbox.stats.callback_failures == 4
        message_id = await client.send(MESSAGE)
        assert (await client.get_status(message_id)).message_id == message_id


# -- the SMS API -----------------------------------------------------------------


async def test_sms_api_over_loopback() -> None:
    from decisiontelecom_async import SmsClient  # noqa: PLC0415

    async with served(delivery_delay=0.05) as sandbox:
        assert sandbox.sms_base_url == sandbox.base_url.replace("/v1/api", "/ru/js")
        async with SmsClient(
            "sandbox-login", "sandbox-password", base_url=sandbox.sms_base_url
        ) as sms:
            message_id = await sms.send("380501234567", "Shop", "Tom & Jerry: 100% + #1")
            await eventually(lambda: _is_status(sms.get_status(message_id), SmsStatus.DELIVERED))
            assert (await sms.get_balance()).currency == "EUR"
        async with SmsClient("sandbox-login", "wrong", base_url=sandbox.sms_base_url) as sms:
            with pytest.raises(SmsApiError) as caught:
                await sms.get_balance()
            assert caught.value.code is SmsErrorCode.INVALID_LOGIN_OR_PASSWORD
            assert "wrong" not in str(caught.value)


async def _is_status(status: Awaitable[SmsStatus], expected: SmsStatus) -> bool:
    return await status is expected


# -- the HTTP server itself ------------------------------------------------------


async def test_the_server_hangs_up_without_a_byte_and_survives_bad_requests() -> None:
    async with served(drop_connection_share=1.0, drop_connection_phase="before") as sandbox:
        port = int(sandbox.base_url.split(":")[2].split("/")[0])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /v1/api/send-viber HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 2) == b""
        writer.close()
        await writer.wait_closed()

        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"NONSENSE\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 2)
        assert answer.startswith(b"HTTP/1.1 400")
        writer.close()
        await writer.wait_closed()
    async with served() as sandbox:
        # curl sends "Expect: 100-continue" before a body over 1 KiB.
        port = int(sandbox.base_url.split(":")[2].split("/")[0])
        body = b'{"message_id": 1}'
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /v1/api/receive-viber HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Authorization: Basic c2FuZGJveC1rZXk=\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        await writer.drain()
        assert await asyncio.wait_for(reader.readline(), 2) == b"HTTP/1.1 100 Continue\r\n"
        assert await asyncio.wait_for(reader.readline(), 2) == b"\r\n"
        writer.write(body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.readuntil(b"}"), 2)
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        assert b'"name":"Invalid Parameter: message_id"' in answer
        writer.close()
        await writer.wait_closed()
    async with served() as sandbox, httpx.AsyncClient() as http:
        response = await http.post(
            sandbox.base_url + "/send-viber",
            json={"message_id": 1},
            headers={"connection": "close"},
        )
        assert response.status_code == 401
        assert response.headers["connection"] == "close"
