"""The one cattrs converter: the exact wire format out, tolerant parsing in."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from decisiontelecom_async import (
    MessageReceipt,
    MessageType,
    SmsStatus,
    SourceType,
    UnexpectedResponseError,
    ViberClient,
    ViberMessage,
    ViberStatus,
)
from decisiontelecom_async._converter import receipt_from_wire, viber_message_to_wire
from decisiontelecom_async._numbers import MAX_ID, parse_int

BIG_ID = 2**63 + 5


def test_full_message_uses_wire_names_and_int_enums() -> None:
    message = ViberMessage(
        "Custom Company",
        8882222200,
        "Message content",
        message_type=MessageType.TEXT_IMAGE_BUTTON,
        source_type=SourceType.PROMOTIONAL,
        image_url="https://yourdomain.com/images/image.jpg",
        button_caption="Join Us",
        button_action="https://yourdomain.com/join-us",
        callback_url="https://yourdomain.com/viber-callback",
        validity_period=40,
    )
    wire = viber_message_to_wire(message)
    assert wire == {
        "source_addr": "Custom Company",
        "destination_addr": "8882222200",
        "message_type": 108,
        "text": "Message content",
        "image": "https://yourdomain.com/images/image.jpg",
        "button_caption": "Join Us",
        "button_action": "https://yourdomain.com/join-us",
        "source_type": 1,
        "callback_url": "https://yourdomain.com/viber-callback",
        "validity_period": 40,
    }
    assert type(wire["message_type"]) is int
    assert type(wire["source_type"]) is int


def test_minimal_message_omits_unset_fields_instead_of_null() -> None:
    wire = viber_message_to_wire(ViberMessage("Shop", "380501234567", "Hi", sms_text="Hi SMS"))
    assert wire == {
        "source_addr": "Shop",
        "destination_addr": "380501234567",
        "text": "Hi",
        "text_sms": "Hi SMS",
        "message_type": 106,
        "source_type": 2,
    }
    assert None not in wire.values()


async def test_the_body_on_the_wire_is_that_json(
    api: respx.MockRouter, client: ViberClient
) -> None:
    route = api.post("/send-viber").respond(json={"message_id": 429})
    await client.send(ViberMessage("Shop", 380501234567, "Привіт 😀", sms_text="Привіт"))
    sent = json.loads(route.calls.last.request.content)
    assert sent == {
        "source_addr": "Shop",
        "destination_addr": "380501234567",
        "text": "Привіт 😀",
        "text_sms": "Привіт",
        "message_type": 106,
        "source_type": 2,
    }
    assert isinstance(sent["destination_addr"], str)


async def test_a_64_bit_id_round_trips(api: respx.MockRouter, client: ViberClient) -> None:
    api.post("/send-viber").respond(content=f'{{"message_id": {BIG_ID}}}'.encode())
    status = api.post("/receive-viber").respond(
        content=(
            f'{{"message_id": {BIG_ID}, "status": 1, '
            f'"sms_message_id": {BIG_ID + 1}, "sms_message_status": 2}}'
        ).encode()
    )
    message_id = await client.send(ViberMessage("Shop", "1", "hi"))
    assert message_id == BIG_ID
    receipt = await client.get_status(message_id)
    assert status.calls.last.request.content == f'{{"message_id":{BIG_ID}}}'.encode()
    assert receipt.message_id == BIG_ID
    assert receipt.sms_message_id == BIG_ID + 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"message_id": 429, "status": 1, "sms_message_id": 36478, "sms_message_status": 2},
            MessageReceipt(429, ViberStatus.DELIVERED, 36478, SmsStatus.DELIVERED),
        ),
        ({"message_id": 429, "status": 5}, MessageReceipt(429, ViberStatus.PENDING)),
        (
            {"message_id": 429, "status": 0, "sms_message_id": None, "sms_message_status": None},
            MessageReceipt(429, ViberStatus.SENT),
        ),
        (
            {"message_id": 429, "status": 4, "sms_message_id": 0, "sms_message_status": ""},
            MessageReceipt(429, ViberStatus.UNDELIVERED),
        ),
        (
            {"message_id": "429", "status": "2", "sms_message_id": "77", "sms_message_status": "3"},
            MessageReceipt(429, ViberStatus.ERROR, 77, SmsStatus.EXPIRED),
        ),
        (
            {"message_id": 429, "status": 1, "price": 0.02, "new_field": {"nested": [1]}},
            MessageReceipt(429, ViberStatus.DELIVERED),
        ),
    ],
)
def test_receipts_parse_tolerantly(body: dict[str, Any], expected: MessageReceipt) -> None:
    assert receipt_from_wire(body) == expected


def test_unknown_status_numbers_fall_back_and_keep_the_raw_value() -> None:
    receipt = receipt_from_wire(
        {"message_id": 1, "status": 26, "sms_message_id": 2, "sms_message_status": 9}
    )
    assert receipt.status is ViberStatus.UNKNOWN
    assert receipt.raw_status == 26
    assert receipt.sms_status is SmsStatus.UNKNOWN
    assert receipt.raw_sms_status == 9
    assert not receipt.is_final


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"status": 1}, "no 'message_id'"),
        ({"message_id": 1}, "no 'status'"),
        ({"message_id": None, "status": 1}, "no 'message_id'"),
        ({"message_id": -1, "status": 1}, "message_id is not a message id"),
        ({"message_id": 2**64, "status": 1}, "message_id is not a message id"),
        ({"message_id": 1.5, "status": 1}, "message_id is not a message id"),
        ({"message_id": True, "status": 1}, "message_id is not a message id"),
        ({"message_id": "12a", "status": 1}, "message_id is not a message id"),
        ({"message_id": 1, "status": "delivered"}, "status is not a status code"),
        ({"message_id": 1, "status": "²"}, "status is not a status code"),
        ({"message_id": 1, "status": 1, "sms_message_id": [3]}, "sms_message_id"),
        ({"message_id": 1, "status": 1, "sms_message_status": {}}, "sms_status"),
    ],
)
def test_unusable_receipts_are_unexpected_responses(body: dict[str, Any], reason: str) -> None:
    with pytest.raises(UnexpectedResponseError, match=reason):
        receipt_from_wire(body)


async def test_extra_fields_in_the_send_answer_are_ignored(
    api: respx.MockRouter, client: ViberClient
) -> None:
    api.post("/send-viber").respond(json={"message_id": "77", "queued": True, "cost": None})
    assert await client.send(ViberMessage("Shop", "1", "hi")) == 77


async def test_unknown_status_through_the_client(
    api: respx.MockRouter, client: ViberClient
) -> None:
    api.post("/receive-viber").respond(json={"message_id": 5, "status": 99})
    receipt = await client.get_status(5)
    assert receipt.status is ViberStatus.UNKNOWN
    assert receipt.raw_status == 99


async def test_status_request_body(api: respx.MockRouter, client: ViberClient) -> None:
    route = api.post("/receive-viber").mock(
        return_value=httpx.Response(200, json={"message_id": 429, "status": 1})
    )
    await client.get_status(429)
    assert json.loads(route.calls.last.request.content) == {"message_id": 429}


# -- the one integer reader every parser shares -------------------------------------

_LONG = "7" * 5000  # over int()'s 4300-digit limit


@pytest.mark.parametrize(
    ("value", "options", "expected"),
    [
        (5, {}, 5),
        (-5, {}, -5),
        (True, {}, None),
        (False, {"signed": True}, None),
        ("42", {}, 42),
        (" 42\n", {}, 42),
        (" 42", {"strip": False}, None),
        ("-42", {}, None),
        (" -42 ", {"signed": True}, -42),
        ("-", {"signed": True}, None),
        ("", {}, None),
        ("²", {}, None),
        ("٤٢", {}, None),
        ("4.2", {}, None),
        ("1" * 100, {}, int("1" * 100)),
        ("1" * 101, {}, None),
        (_LONG, {}, None),
        ("-" + _LONG, {"signed": True}, None),
        (4.0, {}, None),
        (None, {}, None),
    ],
)
def test_parse_int(value: object, options: dict[str, bool], expected: int | None) -> None:
    assert parse_int(value, **options) == expected


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"message_id": _LONG, "status": 1}, "message_id is not a message id"),
        ({"message_id": 1, "status": _LONG}, "status is not a status code"),
        ({"message_id": 1, "status": "-" + _LONG}, "status is not a status code"),
        ({"message_id": 1, "status": 1, "sms_message_status": _LONG}, "sms_status"),
        ({"message_id": 1, "status": True}, "status is not a status code"),
        ({"message_id": " 1", "status": 1}, "not a message id"),
        ({"message_id": MAX_ID + 1, "status": 1}, "not a message id"),
    ],
)
def test_receipt_refuses_unreadable_integers(body: dict[str, Any], reason: str) -> None:
    with pytest.raises(UnexpectedResponseError, match=reason):
        receipt_from_wire(body)


def test_receipt_reads_signed_and_spaced_status_codes() -> None:
    receipt = receipt_from_wire({"message_id": str(MAX_ID), "status": " -3 "})
    assert receipt.message_id == MAX_ID
    assert receipt.raw_status == -3
