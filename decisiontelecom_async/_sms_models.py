"""The SMS API's message and balance, and the rules a message must follow.

:class:`SmsMessage` checks its fields at construction, like
:class:`ViberMessage`, so a bad message never reaches the network, and tells
how the network bills its text (:attr:`SmsMessage.length`).
"""

from __future__ import annotations

import string
from decimal import Decimal
from urllib.parse import quote

import attrs

from decisiontelecom_async._errors import FieldProblem, ValidationError
from decisiontelecom_async._models import phone_to_str
from decisiontelecom_async._rules import check_unicode
from decisiontelecom_async._sms_length import SmsEncoding, SmsLength, measure_sms

__all__ = [
    "MAX_ALPHANUMERIC_SENDER",
    "MAX_CREDENTIAL_URL_LENGTH",
    "MAX_NUMERIC_SENDER",
    "MAX_PHONE",
    "MAX_TEXT_URL_LENGTH",
    "MIN_PHONE",
    "SmsBalance",
    "SmsMessage",
    "sms_message_problems",
]

MIN_PHONE = 7
"""The shortest international number (country code included)."""
MAX_PHONE = 15
"""The longest international number (E.164)."""
MAX_ALPHANUMERIC_SENDER = 11
"""The longest alphanumeric sender id the SMS network carries."""
MAX_NUMERIC_SENDER = 15
"""The longest numeric sender (a phone number, E.164)."""
MAX_TEXT_URL_LENGTH = 7000
"""The longest text, in characters once percent-encoded as the URL carries it.

The SMS API takes the text in the query string of a ``GET``, and the vendor
gives no limit. Web servers refuse a request line over 8 KiB by default
(nginx, Apache), and httpx refuses a URL over 64 KiB before sending; 7000
leaves room for the path, the credentials, the phone and the sender.
"""

MAX_CREDENTIAL_URL_LENGTH = 256
"""The longest login or password, in characters once percent-encoded.

Both travel in the URL of every request, beside a text of up to
:data:`MAX_TEXT_URL_LENGTH`; this keeps the whole request line under the
8 KiB web servers accept, and far under the 64 KiB httpx refuses to send.
"""

_SENDER_CHARACTERS = frozenset(string.ascii_letters + string.digits + " .-_&")


@attrs.frozen
class SmsMessage:
    """One SMS for :class:`SmsClient`, checked at construction.

    ::

        message = SmsMessage("380501234567", "MyShop", "Your code is 1234")
        message.length.parts  # 1: what you pay for

    ``phone`` is the receiver in international format: 7 to 15 digits with
    the country code, no ``+``, spaces or leading 0 (an ``int`` is accepted).
    ``sender`` is an alphanumeric sender id of at most 11 characters
    (letters, digits, space, ``.``, ``-``, ``_``, ``&``), or a phone number of
    at most 15 digits. ``text`` must not be empty, must be valid Unicode (no
    lone surrogate) and at most :data:`MAX_TEXT_URL_LENGTH` (7000) characters
    once percent-encoded, as the URL carries it; a long text is sent as
    several SMS and billed per part (see :attr:`length`).
    ``delivery_report`` asks the service to track delivery, so
    :meth:`SmsClient.get_status` can report it.

    Raises :class:`ValidationError` naming every broken field.
    """

    phone: str = attrs.field(converter=phone_to_str)
    sender: str
    text: str
    delivery_report: bool = attrs.field(default=True, kw_only=True)

    def __attrs_post_init__(self) -> None:
        problems = sms_message_problems(self)
        if problems:
            raise ValidationError(problems, subject="SMS")

    @property
    def length(self) -> SmsLength:
        """The text's billed length: encoding, units and number of SMS parts."""
        return measure_sms(self.text)

    @property
    def parts(self) -> int:
        """How many SMS the text is sent (and billed) as."""
        return self.length.parts

    @property
    def encoding(self) -> SmsEncoding:
        """GSM-7 when every character is in the GSM alphabet, else UCS-2."""
        return self.length.encoding


@attrs.frozen
class SmsBalance:
    """The SMS account's money, as :meth:`SmsClient.get_balance` reports it."""

    balance: Decimal
    """The current balance (negative when the credit line is in use)."""
    credit: Decimal
    """The credit line, when one is open (0 otherwise)."""
    currency: str
    """The currency of both amounts (``"EUR"``)."""

    @property
    def available(self) -> Decimal:
        """What can still be spent: the balance plus the credit line."""
        return self.balance + self.credit


def sms_message_problems(message: SmsMessage) -> list[FieldProblem]:
    """Every rule that ``message`` breaks."""
    problems: list[FieldProblem] = []
    _check_phone(problems, message.phone)
    _check_sender(problems, message.sender)
    _check_text(problems, message.text)
    if not isinstance(message.delivery_report, bool):
        problems.append(
            FieldProblem(
                "delivery_report",
                f"must be True or False, got {type(message.delivery_report).__name__}",
            )
        )
    return problems


def _check_phone(problems: list[FieldProblem], phone: object) -> None:
    if not isinstance(phone, str):
        problems.append(
            FieldProblem("phone", f"must be a phone number string, got {type(phone).__name__}")
        )
    elif not phone:
        problems.append(FieldProblem("phone", "must not be empty"))
    elif not (phone.isascii() and phone.isdigit()):
        problems.append(
            FieldProblem(
                "phone",
                f"must be digits only (international format, no '+' or spaces), got {phone!r}",
            )
        )
    elif not MIN_PHONE <= len(phone) <= MAX_PHONE:
        problems.append(
            FieldProblem(
                "phone",
                f"must be {MIN_PHONE} to {MAX_PHONE} digits with the country code, "
                f"got {len(phone)}",
            )
        )
    elif phone.startswith("0"):
        problems.append(
            FieldProblem("phone", f"must start with the country code, not 0 (got {phone!r})")
        )


def _check_sender(problems: list[FieldProblem], sender: object) -> None:
    if not isinstance(sender, str):
        problems.append(FieldProblem("sender", f"must be a string, got {type(sender).__name__}"))
    elif not sender.strip():
        problems.append(FieldProblem("sender", "must not be empty"))
    elif sender.isascii() and sender.isdigit():
        if len(sender) > MAX_NUMERIC_SENDER:
            problems.append(
                FieldProblem(
                    "sender",
                    f"a numeric sender must be at most {MAX_NUMERIC_SENDER} digits, "
                    f"got {len(sender)}",
                )
            )
    elif len(sender) > MAX_ALPHANUMERIC_SENDER:
        problems.append(
            FieldProblem(
                "sender",
                f"an alphanumeric sender must be at most {MAX_ALPHANUMERIC_SENDER} characters, "
                f"got {len(sender)}",
            )
        )
    elif not set(sender) <= _SENDER_CHARACTERS:
        bad = "".join(sorted(set(sender) - _SENDER_CHARACTERS))
        problems.append(
            FieldProblem(
                "sender",
                "may hold only latin letters, digits, space and . - _ & "
                f"(got {bad!r} in {sender!r})",
            )
        )
    elif sender != sender.strip():
        problems.append(
            FieldProblem("sender", f"must not start or end with a space, got {sender!r}")
        )


def _check_text(problems: list[FieldProblem], text: object) -> None:
    if not isinstance(text, str):
        problems.append(FieldProblem("text", f"must be a string, got {type(text).__name__}"))
    elif not text.strip():
        problems.append(FieldProblem("text", "must not be empty"))
    elif check_unicode(problems, "text", text):
        # The encoding build_query sends: every character not a letter, digit
        # or "-._~" becomes %XX per UTF-8 byte.
        encoded = len(quote(text, safe=""))
        if encoded > MAX_TEXT_URL_LENGTH:
            problems.append(
                FieldProblem(
                    "text",
                    f"must be at most {MAX_TEXT_URL_LENGTH} characters once percent-encoded "
                    "for the URL (a latin letter or digit takes 1, a space or punctuation 3, "
                    f"a Cyrillic letter 6, an emoji 12), got {encoded}",
                )
            )
