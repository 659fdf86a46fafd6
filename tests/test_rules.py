"""ViberMessage validation: every rule of the vendor page, with its valid edge."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st

from decisiontelecom_async import (
    DecisionTelecomError,
    MessageType,
    SourceType,
    ValidationError,
    ViberClient,
    ViberMessage,
)
from decisiontelecom_async._base_client import _JSON_ENCODER
from decisiontelecom_async._converter import viber_message_to_wire

RICH: dict[str, Any] = {
    "message_type": MessageType.TEXT_IMAGE_BUTTON,
    "source_type": SourceType.PROMOTIONAL,
    "image_url": "https://example.com/images/image.jpg",
    "button_caption": "Join Us",
    "button_action": "https://example.com/join-us",
}


def make(**overrides: Any) -> ViberMessage:
    fields: dict[str, Any] = {"sender": "Shop", "receiver": "380501234567", "text": "Hello"}
    fields.update(overrides)
    return ViberMessage(**fields)


def problems_of(**overrides: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        make(**overrides)
    return {problem.field: problem.rule for problem in info.value.problems}


# -- valid edges ---------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"sender": "S" * 20}, id="sender-20-chars"),
        pytest.param({"receiver": "1" * 20}, id="receiver-20-digits"),
        pytest.param({"text": "t" * 1000}, id="text-1000-chars"),
        pytest.param({**RICH, "button_caption": "c" * 30}, id="caption-30-chars"),
        pytest.param({"sms_text": "a" * 160}, id="sms-160-gsm7-septets"),
        pytest.param({"sms_text": "€" * 80}, id="sms-80-extension-chars-160-septets"),
        pytest.param({"sms_text": "a" * 150 + "[]{}^"}, id="sms-mixed-160-septets"),
        pytest.param({"sms_text": "Ж" * 70}, id="sms-70-ucs2-units"),
        pytest.param({"sms_text": "😀" * 35}, id="sms-35-emoji-70-units"),
        pytest.param({"sms_text": "😀" * 34 + "ab"}, id="sms-emoji-and-latin-70-units"),
        pytest.param({"validity_period": 40}, id="ttl-40"),
        pytest.param({"validity_period": 21600}, id="ttl-21600"),
        pytest.param({**RICH, "image_url": "https://example.com/a.PNG"}, id="png-image"),
        pytest.param({**RICH, "image_url": "https://example.com/a.jpeg?v=2"}, id="jpeg-image"),
        pytest.param({**RICH, "message_type": MessageType.TEXT_IMAGE_BUTTON_2WAY}, id="rich-2way"),
        pytest.param({"message_type": MessageType.TEXT_ONLY_2WAY}, id="text-2way"),
        pytest.param({"callback_url": "http://example.com/cb"}, id="callback-url"),
    ],
)
def test_valid_edges_are_accepted(overrides: dict[str, Any]) -> None:
    message = make(**overrides)
    for field, value in overrides.items():
        assert getattr(message, field) == value


# -- each rule, one step past its edge -----------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"sender": "S" * 21}, "sender", "at most 20 characters, got 21"),
        ({"sender": "   "}, "sender", "must not be empty"),
        ({"sender": 42}, "sender", "must be a string"),
        ({"receiver": "1" * 21}, "receiver", "at most 20 characters, got 21"),
        ({"receiver": ""}, "receiver", "must not be empty"),
        ({"receiver": "+380501234567"}, "receiver", "digits only"),
        ({"receiver": "380 50 123"}, "receiver", "digits only"),
        ({"receiver": "٣٨٠٥"}, "receiver", "digits only"),
        ({"receiver": 3.8e11}, "receiver", "must be a phone number string"),
        ({"text": "t" * 1001}, "text", "at most 1000 characters, got 1001"),
        ({"text": ""}, "text", "must not be empty"),
        ({**RICH, "button_caption": "c" * 31}, "button_caption", "at most 30 characters, got 31"),
        ({"sms_text": "a" * 161}, "sms_text", "at most 160 GSM-7 septets, got 161"),
        ({"sms_text": "€" * 81}, "sms_text", "at most 160 GSM-7 septets, got 162"),
        ({"sms_text": "a" * 159 + "€"}, "sms_text", "at most 160 GSM-7 septets, got 161"),
        ({"sms_text": "Ж" * 71}, "sms_text", "at most 70 UCS-2 code units, got 71"),
        ({"sms_text": "😀" * 36}, "sms_text", "at most 70 UCS-2 code units, got 72"),
        ({"sms_text": "😀" * 35 + "a"}, "sms_text", "at most 70 UCS-2 code units, got 71"),
        ({"sms_text": " "}, "sms_text", "must not be empty"),
        ({"sms_text": 5}, "sms_text", "must be a string"),
        ({"validity_period": 39}, "validity_period", "between 40 and 21600 seconds, got 39"),
        ({"validity_period": 21601}, "validity_period", "between 40 and 21600 seconds, got 21601"),
        ({"validity_period": 60.0}, "validity_period", "whole seconds"),
        ({"validity_period": True}, "validity_period", "whole seconds"),
        ({"message_type": 107}, "message_type", "must be one of 106 (TEXT_ONLY)"),
        ({"message_type": "106"}, "message_type", "must be one of"),
        ({"source_type": 3}, "source_type", "must be one of 1 (PROMOTIONAL), 2 (TRANSACTIONAL)"),
        ({"source_type": True}, "source_type", "must be one of"),
        ({**RICH, "image_url": "https://example.com/a.gif"}, "image_url", "'.gif'"),
        ({**RICH, "image_url": "ftp://example.com/a.jpg"}, "image_url", "absolute http(s) URL"),
        ({**RICH, "image_url": "/a.jpg"}, "image_url", "absolute http(s) URL"),
        ({**RICH, "button_action": "https://exa mple.com"}, "button_action", "http(s) URL"),
        ({**RICH, "button_action": 1}, "button_action", "must be a URL string"),
        ({"callback_url": "javascript:alert(1)"}, "callback_url", "absolute http(s) URL"),
        ({"callback_url": "http://[::1"}, "callback_url", "absolute http(s) URL"),
        ({"image_url": "https://example.com/a.jpg"}, "image_url", "not allowed for"),
        ({"button_caption": "Go"}, "button_caption", "not allowed for message_type TEXT_ONLY"),
        ({"button_action": "https://e.com"}, "button_action", "not allowed for"),
        ({**RICH, "image_url": None}, "image_url", "required for message_type TEXT_IMAGE_BUTTON"),
        ({**RICH, "button_caption": None}, "button_caption", "required for"),
        ({**RICH, "button_action": None}, "button_action", "required for"),
        ({**RICH, "sms_text": "fallback"}, "sms_text", "only allowed on TRANSACTIONAL"),
    ],
)
def test_each_broken_rule_names_field_and_rule(
    overrides: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ValidationError) as info:
        make(**overrides)
    assert info.value.fields == (field,)
    assert words in info.value.problems[0].rule
    assert f"{field}: " in str(info.value)
    assert words in str(info.value)


def test_every_broken_field_is_reported_at_once() -> None:
    problems = problems_of(
        sender="S" * 21,
        receiver="+1",
        text="",
        sms_text="Ж" * 71,
        validity_period=10,
        callback_url="nope",
        button_caption="Go",
    )
    assert set(problems) == {
        "sender",
        "receiver",
        "text",
        "sms_text",
        "validity_period",
        "callback_url",
        "button_caption",
    }


def test_validation_error_is_a_value_error_with_a_count() -> None:
    with pytest.raises(ValueError, match=r"invalid message \(2 problems\): sender: .*; text: "):
        make(sender="", text="")


def test_validation_error_sent_nothing() -> None:
    with pytest.raises(ValidationError) as info:
        make(text="")
    assert isinstance(info.value, DecisionTelecomError)
    assert info.value.attempts == 0


def test_plain_ints_are_accepted_for_enums_and_receiver() -> None:
    message = make(
        receiver=380501234567,
        message_type=208,
        source_type=1,
        **{key: value for key, value in RICH.items() if key not in ("message_type", "source_type")},
    )
    assert message.receiver == "380501234567"
    assert message.message_type is MessageType.TEXT_IMAGE_BUTTON_2WAY
    assert message.source_type is SourceType.PROMOTIONAL


def test_message_is_immutable_and_evolve_revalidates() -> None:
    message = make()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        message.text = "changed"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="text"):
        attrs.evolve(message, text="t" * 1001)
    assert attrs.evolve(message, text="Hi again").text == "Hi again"


async def test_invalid_message_never_reaches_the_network(api: respx.MockRouter) -> None:
    route = api.post("/send-viber")
    async with ViberClient("key") as client:
        with pytest.raises(ValidationError):
            await client.send(make(text="t" * 1001))
    assert not route.called
    assert not api.calls.called


async def test_send_refuses_something_that_is_not_a_message(api: respx.MockRouter) -> None:
    async with ViberClient("key") as client:
        with pytest.raises(TypeError, match="takes a ViberMessage, got dict"):
            await client.send({"text": "hi"})  # type: ignore[arg-type]
    assert not api.calls.called


@pytest.mark.parametrize("bad_id", [0, -5, True, "429", 4.29, None])
async def test_status_lookup_of_an_impossible_id_never_reaches_the_network(
    api: respx.MockRouter, bad_id: object
) -> None:
    async with ViberClient("key") as client:
        with pytest.raises(ValidationError, match="message_id: must be a positive int") as info:
            await client.get_status(bad_id)  # type: ignore[arg-type]
    assert info.value.fields == ("message_id",)
    assert "status look-up" in str(info.value)
    assert not api.calls.called


# -- any string either goes out or is refused here -------------------------------

_STRING_FIELDS: dict[str, dict[str, Any]] = {
    "sender": {},
    "text": {},
    "sms_text": {},
    "callback_url": {},
    "image_url": RICH,
    "button_caption": RICH,
    "button_action": RICH,
}
_URL_FIELDS = {"callback_url", "image_url", "button_action"}


def _with_lone_surrogate(field: str) -> str:
    if field in _URL_FIELDS:
        return "https://example.com/\ud800.jpg"
    return "bad \ud800"


@pytest.mark.parametrize("field", sorted(_STRING_FIELDS))
def test_a_lone_surrogate_is_refused_at_construction(field: str) -> None:
    # A lone surrogate cannot be encoded as UTF-8: it would raise
    # UnicodeEncodeError at send() instead of a ValidationError here.
    with pytest.raises(ValidationError) as info:
        make(**{**_STRING_FIELDS[field], field: _with_lone_surrogate(field)})
    assert info.value.fields == (field,)
    assert "lone surrogate" in info.value.problems[0].rule
    assert f"{field}: must be valid Unicode" in str(info.value)


def test_a_surrogate_pair_written_out_is_still_refused() -> None:
    # "\ud83d\ude00" is two lone surrogates in a Python str, not "😀".
    with pytest.raises(ValidationError) as info:
        make(text="\ud83d\ude00")
    assert info.value.fields == ("text",)


# Any code point: exclude_categories=() lets lone surrogates (category Cs) in,
# which st.characters() leaves out by default. As they are rare among a
# million code points, one is also put in on purpose half of the time.
_ANY_CHAR = st.one_of(
    st.characters(exclude_categories=()),
    st.sampled_from("aZ0 \t\n€Ж😀&%#?/"),
)
_SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=())
_ANY_TEXT = st.builds(
    lambda head, middle, tail: head + middle + tail,
    st.text(alphabet=_ANY_CHAR, max_size=20),
    st.one_of(st.just(""), _SURROGATE),
    st.text(alphabet=_ANY_CHAR, max_size=20),
)


def _field_values(field: str) -> st.SearchStrategy[str]:
    if field in _URL_FIELDS:
        # Mostly well-formed URLs, so the later rules (and the encoding) are reached.
        return st.one_of(
            _ANY_TEXT,
            st.builds(lambda path: f"https://example.com/{path}.jpg", _ANY_TEXT),
        )
    return _ANY_TEXT


@pytest.mark.parametrize("field", sorted(_STRING_FIELDS))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_string_is_refused_by_name_or_encodes(field: str, data: st.DataObject) -> None:
    value = data.draw(_field_values(field))
    try:
        message = make(**{**_STRING_FIELDS[field], field: value})
    except ValidationError as exc:
        refused: tuple[str, ...] = exc.fields
    else:
        refused = ()
    if refused:
        assert refused == (field,)
        return
    # What send() puts on the wire, built by the same encoder the client uses.
    body = _JSON_ENCODER.encode(viber_message_to_wire(message)).encode()
    assert json.loads(body)[_WIRE_NAMES.get(field, field)] == value


_WIRE_NAMES = {"sender": "source_addr", "sms_text": "text_sms", "image_url": "image"}
