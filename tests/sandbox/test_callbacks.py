"""The sandbox's callbacks in process: status changes, 2-Way replies, bounded retries."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from decisiontelecom_async import (
    MessageType,
    SmsStatus,
    SourceType,
    ViberMessage,
    ViberStatus,
)
from decisiontelecom_async.callbacks import InboundMessage, StatusCallback, parse_callback
from decisiontelecom_async.callbacks._parse import callback_to_wire
from decisiontelecom_async.sandbox import Sandbox

CALLBACK_URL = "https://receiver.example/viber-callback"


class Receiver:
    """A callback receiver behind an httpx.MockTransport; fails the first ``failures`` POSTs."""

    def __init__(
        self, failures: int = 0, *, fail_with: Callable[[], httpx.Response] | None = None
    ) -> None:
        self.failures = failures
        self.fail_with = fail_with or (lambda: httpx.Response(503))
        self.bodies: list[dict[str, Any]] = []
        self.posts = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.posts += 1
        assert request.method == "POST"
        assert str(request.url) == CALLBACK_URL
        assert request.headers["content-type"] == "application/json"
        if self.posts <= self.failures:
            return self.fail_with()
        self.bodies.append(json.loads(request.content))
        return httpx.Response(200)

    @property
    def parsed(self) -> list[Any]:
        return [parse_callback(body) for body in self.bodies]


def two_way(text: str = "Do you want the offer?") -> ViberMessage:
    return ViberMessage(
        "Shop",
        "380501234567",
        text,
        message_type=MessageType.TEXT_ONLY_2WAY,
        source_type=SourceType.PROMOTIONAL,
        callback_url=CALLBACK_URL,
    )


async def test_status_changes_and_a_reply_arrive_in_order() -> None:
    receiver = Receiver()
    async with (
        Sandbox(
            time_scale=0, reply_delay=2.0, callback_transport=httpx.MockTransport(receiver)
        ) as box,
        box.client() as client,
    ):
        message_id = await client.send(two_way())
        assert await box.flush_callbacks() == 0
        assert await box.advance(0.5) == 1
        assert await box.advance(0.5) == 1
        assert await box.advance(2.0) == 1
        await box.advance(3600)
    sent, delivered, reply = receiver.parsed
    assert isinstance(sent, StatusCallback)
    assert (sent.message_id, sent.status) == (message_id, ViberStatus.SENT)
    assert isinstance(delivered, StatusCallback)
    assert delivered.status is ViberStatus.DELIVERED
    assert delivered.is_final
    assert isinstance(reply, InboundMessage)
    assert reply.reply_to == message_id
    assert reply.phone_number == "380501234567"
    assert reply.text in box.config.reply_texts
    assert receiver.bodies[2]["message"]["tracking_data"] == f"tracking_id:{message_id}"
    assert receiver.bodies[2]["time"] == int(box.clock.now() - 3600)
    assert box.stats.callbacks_delivered == 3
    assert box.stats.replies_delivered == 1
    assert [c.kind for c in box.callbacks] == ["status", "status", "reply"]
    # The sandbox writes its bodies on its own; the SDK's encoding must agree with
    # them (the page allows the sms_* fields absent or null: the sandbox sends null).
    sent_bodies = [{k: v for k, v in body.items() if v is not None} for body in receiver.bodies]
    assert [callback_to_wire(callback) for callback in receiver.parsed] == sent_bodies


async def test_a_status_callback_has_the_receipt_fields() -> None:
    receiver = Receiver()
    async with (
        Sandbox(
            time_scale=0, undelivered_share=1.0, callback_transport=httpx.MockTransport(receiver)
        ) as box,
        box.client() as client,
    ):
        message_id = await client.send(
            ViberMessage(
                "Shop", "380501234567", "Code", sms_text="Code 1", callback_url=CALLBACK_URL
            )
        )
        await box.advance(10)
    assert [set(body) for body in receiver.bodies] == [
        {"message_id", "status", "sms_message_id", "sms_message_status"}
    ] * 3
    sent, undelivered, sms = receiver.parsed
    assert sent.status is ViberStatus.SENT
    assert undelivered.status is ViberStatus.UNDELIVERED
    assert undelivered.sms_message_id is not None
    assert not undelivered.is_final
    assert sms.sms_status is SmsStatus.DELIVERED
    assert sms.is_final
    assert {c.message_id for c in receiver.parsed} == {message_id}


@pytest.mark.parametrize(
    ("message_type", "replies"),
    [(MessageType.TEXT_ONLY, 0), (MessageType.TEXT_ONLY_2WAY, 1)],
)
async def test_only_two_way_messages_get_replies(message_type: MessageType, replies: int) -> None:
    receiver = Receiver()
    async with (
        Sandbox(time_scale=0, callback_transport=httpx.MockTransport(receiver)) as box,
        box.client() as client,
    ):
        await client.send(
            ViberMessage(
                "Shop", "380501234567", "Hi", message_type=message_type, callback_url=CALLBACK_URL
            )
        )
        await box.advance(60)
    assert sum(isinstance(c, InboundMessage) for c in receiver.parsed) == replies


async def test_reply_share_is_seeded() -> None:
    async def replies(seed: int) -> list[bool]:
        receiver = Receiver()
        async with (
            Sandbox(
                time_scale=0,
                seed=seed,
                reply_share=0.5,
                callback_transport=httpx.MockTransport(receiver),
            ) as box,
            box.client() as client,
        ):
            ids = [await client.send(two_way()) for _ in range(20)]
            await box.advance(60)
        replied = {c.reply_to for c in receiver.parsed if isinstance(c, InboundMessage)}
        return [message_id in replied for message_id in ids]

    first = await replies(1)
    assert 0 < sum(first) < 20
    assert await replies(1) == first


async def test_a_failing_receiver_gets_bounded_retries_with_backoff() -> None:
    receiver = Receiver(failures=2)
    async with (
        Sandbox(
            time_scale=0,
            reply_share=0.0,
            callback_backoff=1.0,
            callback_transport=httpx.MockTransport(receiver),
        ) as box,
        box.client() as client,
    ):
        await client.send(two_way())
        await box.advance(0.5)  # "sent" fails once
        assert receiver.posts == 1
        assert box.pending_callbacks == 1
        await box.advance(0.5)  # "delivered" fails; "sent" waits for its retry at 1.5
        assert receiver.posts == 2
        await box.advance(0.5)  # "sent" retried and accepted
        assert receiver.posts == 3
        await box.advance(1.5)  # "delivered" retried at 2.0
        assert receiver.posts == 4
    assert box.stats.callback_failures == 2
    assert box.stats.callbacks_delivered == 2
    assert box.stats.callbacks_abandoned == 0


@pytest.mark.parametrize(
    "failure",
    [
        lambda: httpx.Response(500),
        lambda: httpx.Response(302, headers={"location": "https://elsewhere.example/"}),
    ],
)
async def test_a_receiver_that_always_fails_is_given_up(failure: Any) -> None:
    receiver = Receiver(failures=100, fail_with=failure)
    async with (
        Sandbox(
            time_scale=0,
            reply_share=0.0,
            callback_attempts=3,
            callback_transport=httpx.MockTransport(receiver),
        ) as box,
        box.client() as client,
    ):
        await client.send(two_way())
        await box.advance(3600)
        assert box.pending_callbacks == 0
    assert receiver.posts == 6  # two status changes, three tries each
    assert box.stats.callbacks_abandoned == 2
    assert [c.delivered for c in box.callbacks] == [False, False]
    assert all(c.attempts == 3 for c in box.callbacks)


async def test_an_exploding_transport_never_crashes_the_sandbox() -> None:
    def explode(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("receiver bug")

    async with (
        Sandbox(
            time_scale=0, callback_attempts=2, callback_transport=httpx.MockTransport(explode)
        ) as box,
        box.client() as client,
    ):
        message_id = await client.send(two_way())
        await box.advance(3600)
        assert (await client.get_status(message_id)).status is ViberStatus.DELIVERED
    assert box.stats.callbacks_abandoned == 3
