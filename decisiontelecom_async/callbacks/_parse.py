"""The two callbacks the service POSTs, as typed objects, and their one parser.

A message's ``callback_url`` receives two kinds of JSON object.

A 2-Way reply (message types 206 and 208), as the vendor's page shows it::

    {
        "message_token": 44444444444444,
        "phone_number": "972512222222",
        "time": 2121212121,
        "message": {"text": "a message to the service", "tracking_data": "tracking_id:100035"},
    }

A status change, shaped like the ``receive-viber`` answer::

    {"message_id": 429, "status": 1, "sms_message_id": 36478, "sms_message_status": 2}

:func:`parse_callback` tells them apart by ``message_token`` (a reply) and
``message_id`` (a status change). Status changes go through the same receipt
parsing as ``get_status``, so both read every value the same way.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeAlias

import attrs

from decisiontelecom_async._converter import parse_id, receipt_from_wire
from decisiontelecom_async._errors import UnexpectedResponseError, shown
from decisiontelecom_async._models import MessageReceipt
from decisiontelecom_async._numbers import MAX_ID

__all__ = [
    "Callback",
    "InboundMessage",
    "StatusCallback",
    "callback_to_wire",
    "parse_callback",
    "tracking_data_for",
]

# 1e11 seconds is the year 5138: a larger time can only be in milliseconds.
_MILLISECONDS_FROM = 100_000_000_000
_TRACKING_ID = re.compile(r"\s*tracking_id\s*:\s*(\d{1,20})\s*", re.ASCII)
_PHONE_BOUND = 10**20
_SECONDS = re.compile(r"\d{1,20}(\.\d{1,9})?", re.ASCII)


def tracking_data_for(message_id: int) -> str:
    """The ``tracking_data`` of a reply to the message ``message_id``."""
    return f"tracking_id:{message_id}"


def _reply_to(tracking_data: str | None) -> int | None:
    """The message id in ``tracking_id:<n>``; None when absent or malformed."""
    if tracking_data is None:
        return None
    match = _TRACKING_ID.fullmatch(tracking_data)
    if match is None:
        return None
    message_id = int(match.group(1))
    return message_id if message_id <= MAX_ID else None


@attrs.frozen
class InboundMessage:
    """A user's reply to a 2-Way message (types 206 and 208).

    ``reply_to`` is the id of the message the user answered, read from
    ``tracking_data`` of the form ``tracking_id:<n>``; it is ``None`` when the
    service sent no tracking data or something else in it.
    """

    message_token: int
    """The service's unique id of this reply; repeated deliveries share it."""
    phone_number: str
    """The user's phone number, as the service sent it (digits, no ``+``)."""
    time: datetime
    """When the user sent the reply, an aware UTC datetime."""
    text: str = ""
    """The reply's text (empty when the reply carried none)."""
    tracking_data: str | None = None
    """The tracking data exactly as sent (``"tracking_id:100035"``)."""
    reply_to: int | None = attrs.field(init=False)
    """The id of the message the user replied to, from :attr:`tracking_data`."""
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False, kw_only=True)
    """The decoded JSON object, for fields this SDK does not model."""

    @reply_to.default
    def _reply_to_default(self) -> int | None:
        return _reply_to(self.tracking_data)


@attrs.frozen
class StatusCallback(MessageReceipt):
    """A status change the service POSTed to the message's ``callback_url``.

    It is a :class:`~decisiontelecom_async.MessageReceipt` (``message_id``,
    ``status``, ``sms_message_id``, ``sms_status``, ``is_final``,
    ``delivered``), read exactly as ``get_status`` reads its answer: a status
    number the service adds later becomes ``UNKNOWN`` and stays available on
    ``raw_status`` / ``raw_sms_status``.
    """

    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False, kw_only=True)
    """The decoded JSON object, for fields this SDK does not model."""


Callback: TypeAlias = InboundMessage | StatusCallback
"""What :func:`parse_callback` returns."""


def parse_callback(body: bytes | bytearray | memoryview | str | Mapping[str, Any]) -> Callback:
    """Read one callback body into an :class:`InboundMessage` or a :class:`StatusCallback`.

    ``body`` is the raw request body (bytes or str, JSON in UTF-8, UTF-16 or
    UTF-32) or an already decoded JSON object. An object with
    ``message_token`` is a 2-Way reply; one with ``message_id`` is a status
    change. Unknown fields are ignored (they stay on ``raw``); ids may come as
    numbers or digit strings; ``time`` is Unix seconds (a value too large to
    be seconds is read as milliseconds).

    Raises :class:`~decisiontelecom_async.UnexpectedResponseError`, whose
    ``reason`` says what is wrong, for anything else: a body that is not
    JSON, not an object, or misses or mistypes a required field. It never
    raises ``KeyError``, ``TypeError`` or a JSON decoding error.

    ::

        callback = parse_callback(await request.body())
        if isinstance(callback, InboundMessage):
            print(callback.phone_number, "replied to", callback.reply_to, callback.text)
    """
    obj, text = _decode(body)
    try:
        return _from_object(obj)
    except UnexpectedResponseError as exc:
        raise UnexpectedResponseError(exc.reason, body=text()) from None


def callback_to_wire(callback: Callback) -> dict[str, Any]:
    """The JSON object the service POSTs for ``callback``; the inverse of :func:`parse_callback`.

    Unset optional fields are left out. The sandbox writes its bodies on its
    own, from the vendor page; a test holds them equal to this.
    """
    if isinstance(callback, InboundMessage):
        message: dict[str, Any] = {"text": callback.text}
        if callback.tracking_data is not None:
            message["tracking_data"] = callback.tracking_data
        return {
            "message_token": callback.message_token,
            "phone_number": callback.phone_number,
            "time": math.floor(callback.time.timestamp()),
            "message": message,
        }
    wire: dict[str, Any] = {
        "message_id": callback.message_id,
        "status": _raw(callback.raw_status, callback.status),
    }
    if callback.sms_message_id is not None:
        wire["sms_message_id"] = callback.sms_message_id
    if callback.sms_status is not None:
        wire["sms_message_status"] = _raw(callback.raw_sms_status, callback.sms_status)
    return wire


def _raw(raw: int | None, member: int) -> int:
    return int(member) if raw is None else raw


class _Text:
    """The body as text for an error message, computed only when one is raised."""

    def __init__(self, body: object) -> None:
        self._body = body

    def __call__(self) -> str:
        body = self._body
        if isinstance(body, str):
            return body
        if isinstance(body, bytes):
            return body.decode("utf-8", errors="replace")
        # A decoded mapping may hold what repr() cannot show (huge ints, deep nesting).
        return shown(body, body=True)


def _decode(body: object) -> tuple[Mapping[str, Any], _Text]:
    text = _Text(body)
    if isinstance(body, bytearray | memoryview):
        body = bytes(body)
        text = _Text(body)
    if isinstance(body, bytes | str):
        if not body.strip():
            raise UnexpectedResponseError("the callback body is empty")
        try:
            body = json.loads(body)
        except (ValueError, RecursionError):
            raise UnexpectedResponseError("the callback body is not JSON", body=text()) from None
    if not isinstance(body, Mapping):
        raise UnexpectedResponseError(
            f"expected a JSON object, got {type(body).__name__}", body=text()
        )
    return body, text


def _from_object(obj: Mapping[str, Any]) -> Callback:
    if "message_token" in obj:
        return _inbound(obj)
    if "message_id" in obj:
        return _status(obj)
    raise UnexpectedResponseError(
        "neither a 2-Way reply (no 'message_token') nor a status callback (no 'message_id')"
    )


def _inbound(obj: Mapping[str, Any]) -> InboundMessage:
    message = obj.get("message")
    if message is None:
        message = {}
    elif not isinstance(message, Mapping):
        raise UnexpectedResponseError(f"message is not an object: {shown(message)}")
    text = message.get("text")
    if text is None:
        text = ""
    elif not isinstance(text, str):
        raise UnexpectedResponseError(f"message.text is not a string: {shown(text)}")
    tracking_data = message.get("tracking_data")
    if tracking_data is not None and not isinstance(tracking_data, str):
        raise UnexpectedResponseError(
            f"message.tracking_data is not a string: {shown(tracking_data)}"
        )
    return InboundMessage(
        message_token=parse_id(obj["message_token"], "message_token"),
        phone_number=_phone(obj.get("phone_number")),
        time=_time(obj.get("time")),
        text=text,
        tracking_data=tracking_data,
        raw=obj,
    )


def _phone(value: object) -> str:
    # The bound keeps str() below Python's int-to-str limit; a phone number
    # has at most 15 digits (E.164).
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _PHONE_BOUND:
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    if value is None:
        raise UnexpectedResponseError("the reply has no 'phone_number'")
    raise UnexpectedResponseError(f"phone_number is not a phone number: {shown(value)}")


def _time(value: object) -> datetime:
    if value is None:
        raise UnexpectedResponseError("the reply has no 'time'")
    seconds: float
    if isinstance(value, str) and _SECONDS.fullmatch(value.strip()):
        seconds = float(value) if "." in value else int(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value
    else:
        raise UnexpectedResponseError(f"time is not a Unix timestamp: {shown(value)}")
    try:
        if seconds >= _MILLISECONDS_FROM:
            seconds /= 1000
        if 0 <= seconds < math.inf:
            return datetime.fromtimestamp(seconds, tz=UTC)
    except (ValueError, OverflowError, OSError):
        pass
    raise UnexpectedResponseError(f"time is not a Unix timestamp: {shown(value)}")


def _status(obj: Mapping[str, Any]) -> StatusCallback:
    try:
        receipt = receipt_from_wire(obj)
    except UnexpectedResponseError as exc:
        raise UnexpectedResponseError(f"not a status callback: {exc.reason}") from None
    fields = attrs.asdict(receipt, recurse=False)
    return StatusCallback(**fields, raw=obj)
