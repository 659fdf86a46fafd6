"""parse_callback: the page's bodies, tolerance, every refusal, and fuzzing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decisiontelecom_async import (
    MessageReceipt,
    SmsStatus,
    UnexpectedResponseError,
    ViberStatus,
    callbacks,
)
from decisiontelecom_async.callbacks import InboundMessage, StatusCallback, parse_callback
from decisiontelecom_async.callbacks._parse import callback_to_wire, tracking_data_for

# The vendor's page, "Get message from a user for 2Way messages" (trailing blanks trimmed).
PAGE_REPLY = b"""{
    "message_token": 44444444444444,
    "phone_number": "972512222222",
    "time": 2121212121,
    "message":
    {
        "text": "a message to the service",
        "tracking_data": "tracking_id:100035"
    }
}"""

# The page's receive-viber answer (trailing blanks trimmed): a status callback's fields.
PAGE_STATUS = b"""{
	"message_id":429,
	"status":1,
	"sms_message_id":36478,
	"sms_message_status":2
}"""


def reply(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(PAGE_REPLY)
    body.update(changes)
    return body


def reply_message(**changes: Any) -> dict[str, Any]:
    return reply(message={**json.loads(PAGE_REPLY)["message"], **changes})


def test_the_pages_2way_example_parses() -> None:
    message = parse_callback(PAGE_REPLY)

    assert message == InboundMessage(
        message_token=44444444444444,
        phone_number="972512222222",
        time=datetime(2037, 3, 21, 1, 35, 21, tzinfo=UTC),
        text="a message to the service",
        tracking_data="tracking_id:100035",
    )
    assert message.reply_to == 100035
    assert message.time.tzinfo is UTC
    assert message.time.timestamp() == 2121212121
    assert message.raw["message"]["text"] == "a message to the service"


def test_the_pages_status_example_parses_like_get_status() -> None:
    callback = parse_callback(PAGE_STATUS)

    assert isinstance(callback, StatusCallback)
    assert callback.message_id == 429
    assert callback.status is ViberStatus.DELIVERED
    assert callback.sms_message_id == 36478
    assert callback.sms_status is SmsStatus.DELIVERED
    assert callback.is_final
    assert callback.delivered
    # It is a receipt, so code written for get_status works on it unchanged.
    assert isinstance(callback, MessageReceipt)


@pytest.mark.parametrize("form", [bytes, bytearray, memoryview, "str", "mapping"])
def test_bytes_str_and_mapping_give_the_same_result(form: object) -> None:
    if form == "str":
        body: Any = PAGE_REPLY.decode()
    elif form == "mapping":
        body = json.loads(PAGE_REPLY)
    else:
        body = form(PAGE_REPLY)  # type: ignore[operator]

    assert parse_callback(body) == parse_callback(PAGE_REPLY)


def test_utf16_bodies_and_non_latin_text_are_read() -> None:
    body = json.dumps(reply_message(text="Дякую! 👍"), ensure_ascii=False).encode("utf-16")

    message = parse_callback(body)

    assert isinstance(message, InboundMessage)
    assert message.text == "Дякую! 👍"


@pytest.mark.parametrize(
    ("status", "sms_status", "final"),
    [
        (0, None, False),  # sent
        (5, None, False),  # pending
        (1, None, True),  # delivered on Viber
        (4, None, True),  # undelivered, no fallback
        (4, 6, False),  # undelivered, SMS accepted and still under way
        (4, 5, True),  # undelivered, SMS undeliverable
        (2, 3, True),  # error, SMS expired
    ],
)
def test_status_callbacks_share_is_final_with_receipts(
    status: int, sms_status: int | None, final: bool
) -> None:
    body: dict[str, Any] = {"message_id": 7, "status": status}
    if sms_status is not None:
        body |= {"sms_message_id": 8, "sms_message_status": sms_status}

    callback = parse_callback(body)

    assert isinstance(callback, StatusCallback)
    assert callback.is_final is final


def test_unknown_status_numbers_are_tolerated_like_get_status() -> None:
    callback = parse_callback(
        {"message_id": "429", "status": 77, "sms_message_id": "36478", "sms_message_status": "9"}
    )

    assert isinstance(callback, StatusCallback)
    assert callback.message_id == 429
    assert callback.status is ViberStatus.UNKNOWN
    assert callback.raw_status == 77
    assert callback.sms_status is SmsStatus.UNKNOWN
    assert callback.raw_sms_status == 9


def test_status_callback_without_sms_fallback_has_none_for_sms_fields() -> None:
    callback = parse_callback({"message_id": 429, "status": 0, "sms_message_id": None})

    assert isinstance(callback, StatusCallback)
    assert callback.sms_message_id is None
    assert callback.sms_status is None
    assert not callback.is_final


def test_unknown_fields_are_ignored_and_kept_on_raw() -> None:
    callback = parse_callback(reply(channel="viber", extra={"a": 1}))

    assert isinstance(callback, InboundMessage)
    assert callback.raw["channel"] == "viber"


@pytest.mark.parametrize(
    ("tracking_data", "reply_to"),
    [
        ("tracking_id:100035", 100035),
        (" tracking_id : 42 ", 42),
        (tracking_data_for(2**64 - 1), 2**64 - 1),
        ("tracking_id:", None),
        ("tracking_id:abc", None),
        ("tracking_id:-5", None),
        ("tracking_id:1.5", None),
        ("tracking_id:99999999999999999999", None),  # over 64 bits
        ("100035", None),
        ("order:100035", None),
        ("", None),
        (None, None),
    ],
)
def test_reply_to_is_read_from_tracking_data_or_none(
    tracking_data: str | None, reply_to: int | None
) -> None:
    message = parse_callback(reply_message(tracking_data=tracking_data))

    assert isinstance(message, InboundMessage)
    assert message.tracking_data == tracking_data
    assert message.reply_to == reply_to


def test_a_reply_without_message_object_or_text_still_arrives() -> None:
    # A sticker or picture reply may carry no text; losing it would be worse.
    body = reply()
    del body["message"]

    message = parse_callback(body)

    assert isinstance(message, InboundMessage)
    assert message.text == ""
    assert message.tracking_data is None
    assert message.reply_to is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2121212121, datetime(2037, 3, 21, 1, 35, 21, tzinfo=UTC)),
        ("2121212121", datetime(2037, 3, 21, 1, 35, 21, tzinfo=UTC)),
        (1700000000.5, datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)),
        # Milliseconds, as Viber itself sends them.
        (1700000000500, datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_time_is_an_aware_utc_datetime(value: object, expected: datetime) -> None:
    message = parse_callback(reply(time=value))

    assert isinstance(message, InboundMessage)
    assert message.time == expected
    assert message.time.utcoffset() is not None


def test_phone_number_and_token_are_accepted_as_numbers_or_digit_strings() -> None:
    message = parse_callback(reply(phone_number=972512222222, message_token="44444444444444"))

    assert isinstance(message, InboundMessage)
    assert message.phone_number == "972512222222"
    assert message.message_token == 44444444444444


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"   ", "empty"),
        (b"{message: 429}", "not JSON"),
        (b"<html>502 Bad Gateway</html>", "not JSON"),
        (b"\xff\xfe\xfa", "not JSON"),
        (b'{"message_token": 1', "not JSON"),
        (b"[" * 100_000, "not JSON"),
        (b"9" * 5000, "not JSON"),
        (b"[1, 2]", "expected a JSON object, got list"),
        (b"null", "expected a JSON object, got NoneType"),
        (b'"text"', "expected a JSON object, got str"),
        (b"{}", "neither a 2-Way reply"),
        (b'{"name": "Too Many Requests", "code": 0, "status": 429}', "neither a 2-Way reply"),
        (json.dumps(reply(message_token=None)), "message_token is not a message id"),
        (json.dumps(reply(message_token="abc")), "message_token is not a message id"),
        (json.dumps(reply(message_token=-1)), "message_token is not a message id"),
        (json.dumps(reply(message_token=2**64)), "message_token is not a message id"),
        (json.dumps(reply(message_token=True)), "message_token is not a message id"),
        (json.dumps(reply(phone_number=None)), "no 'phone_number'"),
        (json.dumps(reply(phone_number="  ")), "phone_number is not a phone number"),
        (json.dumps(reply(phone_number=[972])), "phone_number is not a phone number"),
        (json.dumps(reply(time=None)), "no 'time'"),
        (json.dumps(reply(time="yesterday")), "time is not a Unix timestamp"),
        (json.dumps(reply(time=-1)), "time is not a Unix timestamp"),
        (json.dumps(reply(time=10**30)), "time is not a Unix timestamp"),
        (json.dumps(reply(time=False)), "time is not a Unix timestamp"),
        (json.dumps(reply(message="hi")), "message is not an object"),
        (json.dumps(reply_message(text=5)), "message.text is not a string"),
        (json.dumps(reply_message(tracking_data={"id": 1})), "tracking_data is not a string"),
        (b'{"message_id": 429}', "not a status callback: the answer has no 'status'"),
        (b'{"message_id": null, "status": 1}', "not a status callback"),
        (b'{"message_id": "x", "status": 1}', "message_id is not a message id"),
        (b'{"message_id": 1, "status": "delivered"}', "status is not a status code"),
        (b'{"message_id": 1, "status": [1]}', "status is not a status code"),
        (b'{"message_id": 1, "status": 1, "sms_message_status": {}}', "sms_status is not"),
    ],
)
def test_anything_else_is_refused_with_a_reason(body: bytes | str, reason: str) -> None:
    with pytest.raises(UnexpectedResponseError) as caught:
        parse_callback(body)

    assert reason in caught.value.reason
    assert caught.value.status is None


@pytest.mark.parametrize("body", [None, 42, 4.2, ["message_id"], object()])
def test_a_body_of_the_wrong_python_type_is_refused_not_a_type_error(body: Any) -> None:
    with pytest.raises(UnexpectedResponseError, match="expected a JSON object"):
        parse_callback(body)


def test_the_refusal_quotes_an_excerpt_of_the_body() -> None:
    with pytest.raises(UnexpectedResponseError) as caught:
        parse_callback(b'{"message_id": "x", "status": 1}' + b" " * 1000)

    assert caught.value.body.startswith('{"message_id": "x"')
    assert len(caught.value.body) < 400


@pytest.mark.parametrize("body", [PAGE_REPLY, PAGE_STATUS, b'{"message_id": 5, "status": 77}'])
def test_callback_to_wire_is_the_inverse_of_parse_callback(body: bytes) -> None:
    callback = parse_callback(body)

    assert parse_callback(callback_to_wire(callback)) == callback
    assert callback_to_wire(callback) == json.loads(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=6)
    ),
    max_leaves=20,
)
# Values a careless or hostile sender might put in each known field.
field_values = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=30)
    | st.from_regex(r"-?\d{1,25}(\.\d{0,3})?", fullmatch=True)
    | st.sampled_from(["tracking_id:1", "tracking_id:", "²", "--5", " 12 "])
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(
        st.sampled_from(["text", "tracking_data"]), st.none() | st.text() | st.integers()
    )
)
callback_like = st.dictionaries(
    st.sampled_from(
        [
            "message_token",
            "phone_number",
            "time",
            "message",
            "message_id",
            "status",
            "sms_message_id",
            "sms_message_status",
        ]
    ),
    field_values,
)


def parses_or_refuses(body: Any) -> None:
    outcome: InboundMessage | StatusCallback | UnexpectedResponseError
    try:
        outcome = parse_callback(body)
    except UnexpectedResponseError as exc:
        outcome = exc
    # Whatever comes back can be shown: no repr trips over a huge int or deep nesting.
    assert repr(outcome)
    assert str(outcome)
    if isinstance(outcome, UnexpectedResponseError):
        assert outcome.reason
    elif isinstance(outcome, InboundMessage):
        assert outcome.time.tzinfo is UTC
    else:
        assert isinstance(outcome, StatusCallback)


@given(json_values)
def test_arbitrary_json_parses_or_is_refused(value: object) -> None:
    parses_or_refuses(value)
    parses_or_refuses(json.dumps(value))


@settings(max_examples=300)
@given(callback_like)
def test_callback_shaped_objects_with_any_values_parse_or_are_refused(body: dict[str, Any]) -> None:
    parses_or_refuses(body)
    parses_or_refuses(json.dumps(body).encode())


@given(st.binary() | st.text())
def test_arbitrary_bytes_and_text_parse_or_are_refused(body: bytes | str) -> None:
    parses_or_refuses(body)


def test_the_callbacks_module_exports_exactly_its_public_names() -> None:
    assert callbacks.__all__ == [
        "Callback",
        "CallbackApp",
        "InboundMessage",
        "StatusCallback",
        "callback_app",
        "callback_url",
        "parse_callback",
    ]
    assert all(hasattr(callbacks, name) for name in callbacks.__all__)


# Issue 10, item 8: a decoded mapping is as hostile as raw bytes can be.
HUGE = 10**5000  # past Python's int-to-str limit (4,300 digits)


def deeply_nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = {"a": [value]}
    return value


@pytest.mark.parametrize(
    "body",
    [
        {"message_id": HUGE, "status": 1},
        {"message_id": -HUGE, "status": 1},
        {"message_id": 5, "status": HUGE},
        {"message_id": 5, "status": 1, "sms_message_id": HUGE},
        {"message_id": 5, "status": 1, "sms_message_status": HUGE},
        {"message_token": HUGE, "phone_number": "380501234567", "time": 1},
        {"message_token": 1, "phone_number": HUGE, "time": 1},
        {"message_token": 1, "phone_number": "380501234567", "time": HUGE},
        {"message_token": 1, "phone_number": "380501234567", "time": -HUGE},
        {"message_token": 1, "phone_number": "380501234567", "time": 1, "message": HUGE},
        {"message_token": 1, "phone_number": "1", "time": 1, "message": {"text": HUGE}},
        {"message_token": 1, "phone_number": "1", "time": 1, "message": {"tracking_data": HUGE}},
        {"message_id": "x", "status": 1, "extra": HUGE},
        {"message_id": deeply_nested(5000), "status": 1},
        {"message_id": "x", "status": 1, "extra": deeply_nested(5000)},
        {"message_id": float("nan"), "status": 1},
        {"message_token": 1, "phone_number": "1", "time": float("inf")},
        {"message_token": 1, "phone_number": "1", "time": float("nan")},
    ],
    ids=lambda body: ",".join(sorted(body)),
)
def test_a_hostile_mapping_is_refused_like_hostile_bytes(body: dict[str, Any]) -> None:
    with pytest.raises(UnexpectedResponseError) as caught:
        parse_callback(body)

    assert caught.value.reason
    # The excerpt of a refused body stays short, however large the value.
    assert len(caught.value.body or "") < 400


def test_a_reply_with_a_deeply_nested_message_object_still_arrives_and_shows() -> None:
    # Unknown fields of "message" are ignored, however deep; the record stays printable.
    body = {"message_token": 1, "phone_number": "1", "time": 1, "message": deeply_nested(5000)}

    reply = parse_callback(body)

    assert isinstance(reply, InboundMessage)
    assert reply.text == ""
    assert "InboundMessage" in repr(reply)


def test_a_huge_message_id_is_named_in_the_reason_without_all_its_digits() -> None:
    with pytest.raises(UnexpectedResponseError) as caught:
        parse_callback({"message_id": HUGE, "status": 1})

    assert "message_id" in caught.value.reason
    assert len(caught.value.reason) < 400


# Any JSON-like value, nested in mappings and lists, with the values that break
# formatting or arithmetic: ints past the int-to-str limit, nan, inf, bools.
hostile_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**4300, max_value=10**4400)
    | st.integers(min_value=-(10**4400), max_value=-(10**4300))
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([float("nan"), float("inf"), float("-inf"), -0.0, 2**63, 2**64, -1])
    | st.text(max_size=30)
)
hostile_values = st.recursive(
    hostile_leaves,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
hostile_callbacks = st.dictionaries(
    st.sampled_from(
        [
            "message_token",
            "phone_number",
            "time",
            "message",
            "message_id",
            "status",
            "sms_message_id",
            "sms_message_status",
        ]
    ),
    hostile_values | st.dictionaries(st.sampled_from(["text", "tracking_data"]), hostile_values),
)


@settings(max_examples=300, deadline=None)
@given(hostile_callbacks | hostile_values)
def test_hostile_mappings_parse_or_are_refused_never_anything_else(body: Any) -> None:
    parses_or_refuses(body)


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=100, max_value=3000), hostile_callbacks)
def test_deeply_nested_mappings_parse_or_are_refused(depth: int, body: dict[str, Any]) -> None:
    nested = deeply_nested(depth)
    parses_or_refuses({**body, "extra": nested})
    parses_or_refuses({**body, "message": nested})
    parses_or_refuses({**body, "message_id": nested})
