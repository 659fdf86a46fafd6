"""Integer codes of the Viber + SMS API, as ``IntEnum``\\ s.

Every enum here is sent and received as a plain integer, and prints by its
name (``str(SmsStatus.DELIVERED)`` is ``"DELIVERED"``, where a plain
``IntEnum`` prints ``"2"``); ``int()``, ``repr()``, JSON and a numeric format
such as ``f"{code:d}"`` still give the number. Parsing a value the service
adds later never fails: :func:`parse_enum` falls back to a documented member
instead of raising.
"""

from __future__ import annotations

import enum
from typing import TypeVar

__all__ = ["MessageType", "SmsErrorCode", "SmsStatus", "SourceType", "ViberStatus", "parse_enum"]

_E = TypeVar("_E", bound=enum.IntEnum)
_E_type = TypeVar("_E_type", bound=type[enum.IntEnum])

# The presentation types of int's format spec: these ask for the number.
_NUMERIC_FORMATS = frozenset("bcdoxXneEfFgG%")


def _by_name(member: enum.IntEnum) -> str:
    return member.name


def _format(member: enum.IntEnum, spec: str) -> str:
    if spec and spec[-1] in _NUMERIC_FORMATS:
        return format(member.value, spec)
    return format(member.name, spec)


def _prints_by_name(cls: _E_type) -> _E_type:
    """Make ``cls`` print by name.

    Set on each class rather than through a shared base, so the API reference
    shows only ``IntEnum`` as its base.
    """
    cls.__str__ = _by_name  # type: ignore[assignment, method-assign]
    cls.__format__ = _format  # type: ignore[assignment, method-assign]
    return cls


@_prints_by_name
class MessageType(enum.IntEnum):
    """The ``message_type`` of a Viber message."""

    TEXT_ONLY = 106
    """Text only; the usual choice for transactional messages."""
    TEXT_IMAGE_BUTTON = 108
    """Text, an image and a button; promotional messages."""
    TEXT_ONLY_2WAY = 206
    """Text only, and the user can reply (2-Way)."""
    TEXT_IMAGE_BUTTON_2WAY = 208
    """Text, image and button, and the user can reply (2-Way)."""

    @property
    def has_image_and_button(self) -> bool:
        """Whether this type carries an image and a button."""
        return self in (MessageType.TEXT_IMAGE_BUTTON, MessageType.TEXT_IMAGE_BUTTON_2WAY)

    @property
    def is_two_way(self) -> bool:
        """Whether the user can reply to this type (2-Way)."""
        return self in (MessageType.TEXT_ONLY_2WAY, MessageType.TEXT_IMAGE_BUTTON_2WAY)


@_prints_by_name
class SourceType(enum.IntEnum):
    """The ``source_type``: how the message is billed and routed."""

    PROMOTIONAL = 1
    """A promotional message (text, image and button allowed; no SMS fallback)."""
    TRANSACTIONAL = 2
    """A transactional message (may fall back to SMS with ``sms_text``)."""


@_prints_by_name
class ViberStatus(enum.IntEnum):
    """The status of a Viber message.

    A value the service adds later is read as :attr:`UNKNOWN`; the raw number
    stays available on :attr:`MessageReceipt.raw_status`.
    """

    SENT = 0
    DELIVERED = 1
    ERROR = 2
    REJECTED = 3
    UNDELIVERED = 4
    PENDING = 5
    UNKNOWN = 20

    @property
    def is_failure(self) -> bool:
        """Whether Viber gave up on the message (error, rejected, undelivered)."""
        return self in (ViberStatus.ERROR, ViberStatus.REJECTED, ViberStatus.UNDELIVERED)


@_prints_by_name
class SmsStatus(enum.IntEnum):
    """The status of an SMS (the Viber fallback or an SMS API message).

    A value the service adds later is read as :attr:`UNKNOWN`.
    """

    UNKNOWN = 0
    DELIVERED = 2
    EXPIRED = 3
    UNDELIVERABLE = 5
    ACCEPTED = 6

    @property
    def is_final(self) -> bool:
        """Whether the SMS will not change status again."""
        return self in (SmsStatus.DELIVERED, SmsStatus.EXPIRED, SmsStatus.UNDELIVERABLE)


@_prints_by_name
class SmsErrorCode(enum.IntEnum):
    """Error codes of the SMS API's ``["error", <code>]`` answers."""

    INVALID_NUMBER = 40
    INCORRECT_SENDER = 41
    INVALID_MESSAGE_ID = 42
    INCORRECT_JSON = 43
    INVALID_LOGIN_OR_PASSWORD = 44
    USER_LOCKED = 45
    EMPTY_TEXT = 46
    EMPTY_LOGIN = 47
    EMPTY_PASSWORD = 48
    NOT_ENOUGH_MONEY = 49
    AUTHENTICATION_ERROR = 50
    INVALID_PHONE_NUMBER = 51

    @property
    def description(self) -> str:
        """A human-readable description of the code."""
        return _SMS_ERROR_DESCRIPTIONS[self]


_SMS_ERROR_DESCRIPTIONS = {
    SmsErrorCode.INVALID_NUMBER: "invalid number",
    SmsErrorCode.INCORRECT_SENDER: "incorrect sender",
    SmsErrorCode.INVALID_MESSAGE_ID: "invalid message id",
    SmsErrorCode.INCORRECT_JSON: "incorrect JSON",
    SmsErrorCode.INVALID_LOGIN_OR_PASSWORD: "invalid login or password",
    SmsErrorCode.USER_LOCKED: "user locked",
    SmsErrorCode.EMPTY_TEXT: "empty text",
    SmsErrorCode.EMPTY_LOGIN: "empty login",
    SmsErrorCode.EMPTY_PASSWORD: "empty password",
    SmsErrorCode.NOT_ENOUGH_MONEY: "not enough money",
    SmsErrorCode.AUTHENTICATION_ERROR: "authentication error",
    SmsErrorCode.INVALID_PHONE_NUMBER: "invalid phone number",
}


def parse_enum(enum_type: type[_E], value: int, fallback: _E) -> _E:
    """Return ``enum_type(value)``, or ``fallback`` for a value it does not know."""
    try:
        return enum_type(value)
    except ValueError:
        return fallback
