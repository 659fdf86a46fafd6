"""The vendor page's rules for a Viber message, checked all at once.

Each check appends :class:`FieldProblem`\\ s instead of raising, so one
:class:`ValidationError` can name every broken field.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from decisiontelecom_async._enums import MessageType, SourceType
from decisiontelecom_async._errors import FieldProblem
from decisiontelecom_async._sms_length import SmsEncoding, measure_sms

if TYPE_CHECKING:
    from decisiontelecom_async._models import ViberMessage

__all__ = [
    "MAX_ADDRESS",
    "MAX_BUTTON_CAPTION",
    "MAX_TEXT",
    "MAX_VALIDITY_PERIOD",
    "MIN_VALIDITY_PERIOD",
    "check_http_url",
    "check_text_field",
    "check_unicode",
    "encodes",
    "viber_message_problems",
]

MAX_ADDRESS = 20
MAX_TEXT = 1000
MAX_BUTTON_CAPTION = 30
MIN_VALIDITY_PERIOD = 40
MAX_VALIDITY_PERIOD = 21600
_E = TypeVar("_E", MessageType, SourceType)
_IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png"})


def viber_message_problems(message: ViberMessage) -> list[FieldProblem]:
    """Every rule of the vendor page that ``message`` breaks."""
    problems: list[FieldProblem] = []
    check_text_field(problems, "sender", message.sender, max_length=MAX_ADDRESS)
    _check_receiver(problems, message.receiver)
    check_text_field(problems, "text", message.text, max_length=MAX_TEXT)
    message_type = _check_enum(problems, "message_type", message.message_type, MessageType)
    source_type = _check_enum(problems, "source_type", message.source_type, SourceType)
    _check_rich_media(problems, message, message_type)
    _check_sms_text(problems, message.sms_text, source_type)
    if message.callback_url is not None:
        check_http_url(problems, "callback_url", message.callback_url)
    _check_validity_period(problems, message.validity_period)
    return problems


def check_text_field(
    problems: list[FieldProblem], field: str, value: object, *, max_length: int
) -> None:
    """Check that ``value`` is a non-blank string of at most ``max_length`` characters."""
    if not isinstance(value, str):
        problems.append(FieldProblem(field, f"must be a string, got {type(value).__name__}"))
    elif not value.strip():
        problems.append(FieldProblem(field, "must not be empty"))
    elif len(value) > max_length:
        problems.append(
            FieldProblem(field, f"must be at most {max_length} characters, got {len(value)}")
        )
    else:
        check_unicode(problems, field, value)


def check_unicode(problems: list[FieldProblem], field: str, value: str) -> bool:
    """Check that ``value`` can be encoded (as UTF-8, UTF-16 or a URL) at all.

    A Python ``str`` may hold a lone surrogate (``"\\ud800"``, or an emoji
    written as two escapes), which no encoding accepts: it would fail only
    when the request is built, as a ``UnicodeEncodeError``.
    """
    if encodes(value):
        return True
    problems.append(
        FieldProblem(field, "must be valid Unicode (it holds a lone surrogate character)")
    )
    return False


def encodes(value: str) -> bool:
    """Whether ``value`` holds no lone surrogate, so every encoding takes it."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_http_url(problems: list[FieldProblem], field: str, value: object) -> str | None:
    """Check that ``value`` is an absolute http(s) URL; return its path when it is."""
    if not isinstance(value, str):
        problems.append(FieldProblem(field, f"must be a URL string, got {type(value).__name__}"))
        return None
    if not check_unicode(problems, field, value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(char.isspace() for char in value)
    ):
        problems.append(FieldProblem(field, f"must be an absolute http(s) URL, got {value!r}"))
        return None
    return parts.path


def _check_receiver(problems: list[FieldProblem], receiver: object) -> None:
    if not isinstance(receiver, str):
        problems.append(
            FieldProblem(
                "receiver", f"must be a phone number string, got {type(receiver).__name__}"
            )
        )
    elif not receiver:
        problems.append(FieldProblem("receiver", "must not be empty"))
    elif len(receiver) > MAX_ADDRESS:
        problems.append(
            FieldProblem(
                "receiver", f"must be at most {MAX_ADDRESS} characters, got {len(receiver)}"
            )
        )
    elif not (receiver.isascii() and receiver.isdigit()):
        problems.append(
            FieldProblem(
                "receiver",
                f"must be digits only (international format, no '+' or spaces), got {receiver!r}",
            )
        )


def _check_enum(
    problems: list[FieldProblem], field: str, value: object, enum_type: type[_E]
) -> _E | None:
    if isinstance(value, enum_type):
        return value
    allowed = ", ".join(f"{member.value} ({member.name})" for member in enum_type)
    problems.append(FieldProblem(field, f"must be one of {allowed}, got {value!r}"))
    return None


def _check_rich_media(
    problems: list[FieldProblem], message: ViberMessage, message_type: MessageType | None
) -> None:
    if message_type is not None:
        _check_media_presence(problems, message, message_type)
    if message.image_url is not None:
        path = check_http_url(problems, "image_url", message.image_url)
        extension = posixpath.splitext(path or "")[1].lower()
        if extension and extension not in _IMAGE_EXTENSIONS:
            problems.append(
                FieldProblem("image_url", f"must be a .jpg, .jpeg or .png image, got {extension!r}")
            )
    if message.button_caption is not None:
        check_text_field(
            problems, "button_caption", message.button_caption, max_length=MAX_BUTTON_CAPTION
        )
    if message.button_action is not None:
        check_http_url(problems, "button_action", message.button_action)


def _check_media_presence(
    problems: list[FieldProblem], message: ViberMessage, message_type: MessageType
) -> None:
    needs_media = message_type.has_image_and_button
    media = (
        ("image_url", message.image_url),
        ("button_caption", message.button_caption),
        ("button_action", message.button_action),
    )
    for field, value in media:
        if needs_media and value is None:
            problems.append(
                FieldProblem(field, f"is required for message_type {message_type.name}")
            )
        elif not needs_media and value is not None:
            problems.append(
                FieldProblem(
                    field,
                    f"is not allowed for message_type {message_type.name} "
                    "(use TEXT_IMAGE_BUTTON or TEXT_IMAGE_BUTTON_2WAY)",
                )
            )


def _check_sms_text(
    problems: list[FieldProblem], sms_text: object, source_type: SourceType | None
) -> None:
    if sms_text is None:
        return
    if source_type is SourceType.PROMOTIONAL:
        problems.append(
            FieldProblem("sms_text", "is only allowed on TRANSACTIONAL messages (SMS fallback)")
        )
    if not isinstance(sms_text, str):
        problems.append(
            FieldProblem("sms_text", f"must be a string, got {type(sms_text).__name__}")
        )
        return
    if not sms_text.strip():
        problems.append(FieldProblem("sms_text", "must not be empty"))
        return
    if not check_unicode(problems, "sms_text", sms_text):
        return
    length = measure_sms(sms_text)
    if not length.fits_one:
        unit = "GSM-7 septets" if length.encoding is SmsEncoding.GSM7 else "UCS-2 code units"
        problems.append(
            FieldProblem(
                "sms_text",
                f"must be at most {length.single_limit} {unit}, got {length.units}",
            )
        )


def _check_validity_period(problems: list[FieldProblem], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        problems.append(
            FieldProblem("validity_period", f"must be whole seconds, got {type(value).__name__}")
        )
    elif not MIN_VALIDITY_PERIOD <= value <= MAX_VALIDITY_PERIOD:
        problems.append(
            FieldProblem(
                "validity_period",
                f"must be between {MIN_VALIDITY_PERIOD} and {MAX_VALIDITY_PERIOD} seconds, "
                f"got {value}",
            )
        )
