"""What the sandbox reads and writes on the wire, checked as the service would.

The JSON bodies posted to the sandbox are validated here on their own terms,
not through :class:`ViberMessage`: the point of the sandbox is to catch a
client (this SDK's or anyone's) that puts something on the wire the service
refuses. The first broken parameter, in the order the vendor page lists them,
is named in the answer, as the service does: ``Invalid Parameter: <wire name>``.
The limits are the SDK's own (:mod:`~decisiontelecom_async._rules`, the SMS
length rules), and an SMS API ``send`` is checked by :class:`SmsMessage`
itself, so the sandbox and the SDK never disagree on what is valid.

Where the page contradicts itself the sandbox takes the permissive reading
and says so: its own example sends ``image`` and a button with
``message_type`` 106 (so extra media on a text-only type is ignored, not
refused) and ``validity_period`` 3600 with ``text_sms`` (so the "TTL only 40
seconds" line is not enforced).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

import attrs

from decisiontelecom_async._enums import MessageType, SmsErrorCode, SourceType
from decisiontelecom_async._errors import FieldProblem, ValidationError
from decisiontelecom_async._rules import (
    MAX_ADDRESS,
    MAX_BUTTON_CAPTION,
    MAX_TEXT,
    MAX_VALIDITY_PERIOD,
    MIN_VALIDITY_PERIOD,
    check_http_url,
    check_text_field,
)
from decisiontelecom_async._sms_length import SmsEncoding, measure_sms
from decisiontelecom_async._sms_models import SmsMessage

__all__ = [
    "SendRequest",
    "error_object",
    "invalid_parameter",
    "json_bytes",
    "sms_balance",
    "sms_error",
    "sms_pair",
    "validate_send",
    "validate_sms_send",
    "validate_status_lookup",
]

RATE_LIMITED: Final = {
    "name": "Too Many Requests",
    "message": "Rate limit exceeded",
    "code": 0,
    "status": 429,
}
INTERNAL_ERROR: Final = {
    "name": "Internal server error",
    "message": (
        "The server encountered an unexpected condition which prevented it from "
        "fulfilling the request"
    ),
    "code": 2,
    "status": 500,
}
BALANCE_EMPTY: Final = {
    "name": "Topup balance is required",
    "message": "User balance is empty",
    "code": 3,
    "status": 402,
}
UNAUTHORIZED_JSON: Final = {
    "name": "Unauthorized",
    "message": "Your request was made with invalid credentials.",
    "code": 0,
    "status": 401,
}
NOT_FOUND: Final = {"name": "Not Found", "message": "Page not found.", "code": 0, "status": 404}

_IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png"})


def json_bytes(value: object) -> bytes:
    """``value`` as compact UTF-8 JSON."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def error_object(template: Mapping[str, Any]) -> bytes:
    """The service's error object for one of the page's errors."""
    return json_bytes(dict(template))


def invalid_parameter(param: str) -> bytes:
    """The 400 error object naming ``param`` by its wire name."""
    return json_bytes(
        {
            "name": f"Invalid Parameter: {param}",
            "message": "Empty parameter or parameter validation error",
            "code": 1,
            "status": 400,
        }
    )


@attrs.frozen
class SendRequest:
    """What the sandbox needs from a valid ``send-viber`` body."""

    body: dict[str, Any]
    receiver: str
    message_type: MessageType
    source_type: SourceType
    callback_url: str | None
    validity_period: int | None
    has_sms_text: bool


class InvalidParameter(Exception):
    """A body broke a rule; :attr:`param` is the wire name, :attr:`detail` the rule."""

    def __init__(self, param: str, detail: str) -> None:
        super().__init__(f"{param}: {detail}")
        self.param = param
        self.detail = detail


def _int_like(value: object) -> int | None:
    """An int, or a string of ASCII digits, as a loosely typed service accepts."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _fail_on(problems: list[FieldProblem]) -> None:
    if problems:
        raise InvalidParameter(problems[0].field, problems[0].rule)


def decode_body(raw: bytes) -> object:
    """The JSON value of a request body, or None when it is not JSON."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def validate_send(raw: bytes) -> SendRequest:
    """Check a ``send-viber`` body as the vendor page says; raise :class:`InvalidParameter`."""
    body = decode_body(raw)
    if not isinstance(body, dict):
        # Nothing readable is an empty request: its first parameter is missing.
        raise InvalidParameter("source_addr", "the body is not a JSON object")
    problems: list[FieldProblem] = []
    check_text_field(problems, "source_addr", body.get("source_addr"), max_length=MAX_ADDRESS)
    _fail_on(problems)
    receiver = _check_destination(body.get("destination_addr"))
    message_type = _message_type(body.get("message_type"))
    check_text_field(problems, "text", body.get("text"), max_length=MAX_TEXT)
    _fail_on(problems)
    # text_sms depends on source_type, which the page lists last: read it early.
    source_type = _source_type(body.get("source_type"))
    if body.get("text_sms") is not None:
        _check_text_sms(body["text_sms"], source_type)
    if message_type.has_image_and_button:
        _check_media(body)
    if source_type is None:
        raise InvalidParameter("source_type", f"must be 1 or 2, got {body.get('source_type')!r}")
    callback_url = body.get("callback_url")
    if callback_url is not None:
        check_http_url(problems, "callback_url", callback_url)
        _fail_on(problems)
    validity_period = _check_validity_period(body.get("validity_period"))
    return SendRequest(
        body=body,
        receiver=receiver,
        message_type=message_type,
        source_type=source_type,
        callback_url=callback_url,
        validity_period=validity_period,
        has_sms_text=body.get("text_sms") is not None,
    )


def _check_destination(value: object) -> str:
    number = str(value) if _int_like(value) is not None else value
    if not isinstance(number, str) or not number:
        raise InvalidParameter("destination_addr", f"must be a phone number, got {value!r}")
    if len(number) > MAX_ADDRESS or not (number.isascii() and number.isdigit()):
        raise InvalidParameter(
            "destination_addr", f"must be 1 to {MAX_ADDRESS} digits, got {value!r}"
        )
    return number


def _message_type(value: object) -> MessageType:
    try:
        return MessageType(_int_like(value) or 0)
    except ValueError:
        allowed = ", ".join(str(member.value) for member in MessageType)
        raise InvalidParameter("message_type", f"must be one of {allowed}, got {value!r}") from None


def _source_type(value: object) -> SourceType | None:
    try:
        return SourceType(_int_like(value) or 0)
    except ValueError:
        return None


def _check_text_sms(value: object, source_type: SourceType | None) -> None:
    if source_type is SourceType.PROMOTIONAL:
        raise InvalidParameter("text_sms", "is only for transactional messages (source_type 2)")
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameter("text_sms", "must be a non-empty string")
    length = measure_sms(value)
    if not length.fits_one:
        unit = "Latin (GSM-7) characters" if length.encoding is SmsEncoding.GSM7 else "UCS-2"
        raise InvalidParameter(
            "text_sms", f"must fit one SMS: at most {length.single_limit} {unit}"
        )


def _check_media(body: Mapping[str, Any]) -> None:
    problems: list[FieldProblem] = []
    image = body.get("image")
    if image is None:
        raise InvalidParameter("image", "is required for message_type 108 and 208")
    path = check_http_url(problems, "image", image)
    _fail_on(problems)
    if posixpath.splitext(path or "")[1].lower() not in _IMAGE_EXTENSIONS:
        raise InvalidParameter("image", "must be a .jpg, .jpeg or .png URL")
    check_text_field(
        problems, "button_caption", body.get("button_caption"), max_length=MAX_BUTTON_CAPTION
    )
    _fail_on(problems)
    action = body.get("button_action")
    if action is None:
        raise InvalidParameter("button_action", "is required for message_type 108 and 208")
    check_http_url(problems, "button_action", action)
    _fail_on(problems)


def _check_validity_period(value: object) -> int | None:
    if value is None:
        return None
    seconds = _int_like(value)
    if seconds is None or not MIN_VALIDITY_PERIOD <= seconds <= MAX_VALIDITY_PERIOD:
        raise InvalidParameter(
            "validity_period",
            f"must be {MIN_VALIDITY_PERIOD} to {MAX_VALIDITY_PERIOD} seconds, got {value!r}",
        )
    return seconds


def validate_status_lookup(raw: bytes) -> int:
    """The ``message_id`` of a ``receive-viber`` body; raise :class:`InvalidParameter`."""
    body = decode_body(raw)
    value = body.get("message_id") if isinstance(body, dict) else None
    message_id = _int_like(value)
    if message_id is None or message_id <= 0:
        detail = "is missing" if value is None else f"is not a message id: {value!r}"
        if isinstance(body, dict) and "destination_addr" in body:
            detail += " (this is a send body: sends go to /send-viber)"
        raise InvalidParameter("message_id", detail)
    return message_id


# -- SMS API -------------------------------------------------------------------


class SmsRefused(Exception):
    """An SMS API request the service answers with ``["error", code]``."""

    def __init__(self, code: SmsErrorCode) -> None:
        super().__init__(code.description)
        self.code = code


def check_sms_credentials(query: Mapping[str, str], login: str, password: str) -> None:
    """Raise :class:`SmsRefused` unless ``login`` and ``password`` match."""
    if not query.get("login"):
        raise SmsRefused(SmsErrorCode.EMPTY_LOGIN)
    if not query.get("password"):
        raise SmsRefused(SmsErrorCode.EMPTY_PASSWORD)
    if query["login"] != login or query["password"] != password:
        raise SmsRefused(SmsErrorCode.INVALID_LOGIN_OR_PASSWORD)


def validate_sms_send(query: Mapping[str, str]) -> int:
    """Check an SMS API ``send``; return how many SMS parts its text bills.

    The rules are the SDK's own (:class:`SmsMessage`), so the sandbox refuses
    exactly what the SDK refuses before sending; only the mapping onto the
    service's error codes is the sandbox's.
    """
    phone = query.get("phone", "")
    try:
        message = SmsMessage(phone, query.get("sender", ""), query.get("text", ""))
    except ValidationError as exc:
        raise SmsRefused(_sms_refusal(exc.fields, phone)) from None
    return message.parts


def _sms_refusal(fields: tuple[str, ...], phone: str) -> SmsErrorCode:
    # The service names the first broken parameter, in the order phone,
    # sender, text; a phone that is not digits at all has its own code.
    if "phone" in fields:
        if not (phone.isascii() and phone.isdigit()):
            return SmsErrorCode.INVALID_NUMBER
        return SmsErrorCode.INVALID_PHONE_NUMBER
    if "sender" in fields:
        return SmsErrorCode.INCORRECT_SENDER
    return SmsErrorCode.EMPTY_TEXT


def sms_message_id(query: Mapping[str, str]) -> int:
    """The ``msgid`` of an SMS API ``state`` call."""
    value = _int_like(query.get("msgid"))
    if value is None or value <= 0:
        raise SmsRefused(SmsErrorCode.INVALID_MESSAGE_ID)
    return value


def sms_pair(key: str, value: str) -> bytes:
    """``["key","value"]``, the SMS API's answer shape."""
    return json_bytes([key, value])


def sms_error(code: SmsErrorCode) -> bytes:
    """``["error",<code>]``."""
    return json_bytes(["error", int(code)])


def sms_balance(balance: Decimal, credit: Decimal, currency: str) -> bytes:
    """``["balance":"<num>","credit":"<num>","currency":"<str>"]`` (not JSON, as served)."""
    pairs = ",".join(
        f"{json.dumps(key)}:{json.dumps(value)}"
        for key, value in (
            ("balance", f"{balance:.2f}"),
            ("credit", f"{credit:.2f}"),
            ("currency", currency),
        )
    )
    return f"[{pairs}]".encode()
