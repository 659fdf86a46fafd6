"""The message, receipt and outcome classes users handle."""

from __future__ import annotations

import enum
from typing import Generic, TypeVar
from urllib.parse import urlsplit

import attrs

from decisiontelecom_async._enums import MessageType, SmsStatus, SourceType, ViberStatus
from decisiontelecom_async._errors import DecisionTelecomError, ValidationError
from decisiontelecom_async._rules import viber_message_problems

__all__ = ["MessageReceipt", "SendOutcome", "StatusOutcome", "ViberMessage", "phone_to_str"]

_T = TypeVar("_T")
_E = TypeVar("_E", bound=enum.IntEnum)
_R = TypeVar("_R")


_PHONE_INT_BOUND = 10**100


def phone_to_str(value: object) -> object:
    """Accept a phone number given as an int, as the vendor's own samples do."""
    if isinstance(value, int) and not isinstance(value, bool):
        # Past 4300 digits str() raises a plain ValueError. No phone is that
        # long: a description goes to the rules, which refuse it by name.
        if abs(value) >= _PHONE_INT_BOUND:
            return f"<int of {value.bit_length()} bits>"
        return str(value)
    return value


def _to_message_type(value: object) -> object:
    """Accept a plain int for ``message_type``; leave anything invalid for validation."""
    return _lenient_enum(MessageType, value)


def _to_source_type(value: object) -> object:
    """Accept a plain int for ``source_type``; leave anything invalid for validation."""
    return _lenient_enum(SourceType, value)


def _lenient_enum(enum_type: type[_E], value: object) -> object:
    if isinstance(value, enum_type | bool) or not isinstance(value, int):
        return value
    try:
        return enum_type(value)
    except ValueError:
        return value


def _masked_url(value: object) -> str:
    """The ``repr`` of a callback URL, its path, query and user info hidden.

    A callback URL carries the receiver's secret token (see
    :func:`decisiontelecom_async.callbacks.callback_url`) in its path or its
    query, and a message's repr ends up in logs and in bulk outcomes; only
    the scheme and the host show.
    """
    if not isinstance(value, str):
        return repr(value)
    try:
        parts = urlsplit(value)
    except ValueError:
        return repr("…")
    host = parts.netloc.rpartition("@")[2]
    if not parts.scheme or not host:
        return repr("…")
    hidden = parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc
    return repr(f"{parts.scheme}://{host}/…" if hidden else f"{parts.scheme}://{host}/")


@attrs.frozen
class ViberMessage:
    """One Viber message, optionally with an SMS fallback.

    Construction checks every rule of the vendor's page and raises one
    :class:`ValidationError` naming each broken field, so a bad message never
    reaches the network::

        message = ViberMessage(
            "Custom Company",
            "380501234567",
            "Your code is 1234",
            sms_text="Your code is 1234",
        )

    Every string field must be valid Unicode: one holding a lone surrogate
    (``"\\ud800"``), which no encoding takes, is refused here.

    ``sender`` is sent as ``source_addr`` (1 to 20 characters), ``receiver`` as
    ``destination_addr`` (1 to 20 digits, always sent as a string; an ``int``
    is accepted), ``text`` is 1 to 1000 characters.

    ``message_type`` :attr:`~MessageType.TEXT_IMAGE_BUTTON` and
    :attr:`~MessageType.TEXT_IMAGE_BUTTON_2WAY` need ``image_url`` (an http(s)
    URL of a .jpg, .jpeg or .png), ``button_caption`` (at most 30 characters)
    and ``button_action`` (an http(s) URL); the text-only types take none of
    them.

    ``sms_text`` (sent as ``text_sms``) is the SMS sent when Viber does not
    deliver. Only transactional messages take it, and it must fit one SMS:
    160 GSM-7 septets when every character is in the GSM 03.38 alphabet
    (``€ [ ] { } ^ ~ \\ |`` count two), else 70 UCS-2 code units.

    ``validity_period`` is the time to live, 40 to 21600 seconds. The vendor's
    page also says a transactional message with SMS fallback takes a TTL of
    "only 40 seconds", while its own example sends 3600 with ``text_sms``; the
    SDK accepts the whole 40 to 21600 range there and leaves the decision to
    the service.

    ``callback_url`` is an http(s) URL the service POSTs status changes (and
    2-Way replies) to; see :mod:`decisiontelecom_async.callbacks`. It may
    carry a secret token, so the message's ``repr`` shows only its scheme and
    host (``https://example.com/…``); the attribute, equality and what is
    sent are the whole URL.
    """

    sender: str
    receiver: str = attrs.field(converter=phone_to_str)
    text: str
    message_type: MessageType = attrs.field(
        default=MessageType.TEXT_ONLY,
        converter=_to_message_type,
        kw_only=True,
    )
    source_type: SourceType = attrs.field(
        default=SourceType.TRANSACTIONAL,
        converter=_to_source_type,
        kw_only=True,
    )
    sms_text: str | None = attrs.field(default=None, kw_only=True)
    image_url: str | None = attrs.field(default=None, kw_only=True)
    button_caption: str | None = attrs.field(default=None, kw_only=True)
    button_action: str | None = attrs.field(default=None, kw_only=True)
    callback_url: str | None = attrs.field(default=None, kw_only=True, repr=_masked_url)
    validity_period: int | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        problems = viber_message_problems(self)
        if problems:
            raise ValidationError(problems)

    @property
    def has_sms_fallback(self) -> bool:
        """Whether the service falls back to SMS when Viber does not deliver."""
        return self.sms_text is not None


@attrs.frozen
class MessageReceipt:
    """The status of a sent Viber message, as ``get_status`` reports it.

    A status number the service adds later is read as ``UNKNOWN`` and kept
    as is on :attr:`raw_status` / :attr:`raw_sms_status`.
    """

    message_id: int
    """The Viber message's id."""
    status: ViberStatus
    """The Viber delivery status."""
    sms_message_id: int | None = None
    """The id of the SMS fallback, once there is one (transactional messages only)."""
    sms_status: SmsStatus | None = None
    """The SMS fallback's status, once there is one."""
    raw_status: int | None = attrs.field(default=None, eq=False, repr=False)
    """The status number exactly as the service sent it."""
    raw_sms_status: int | None = attrs.field(default=None, eq=False, repr=False)
    """The SMS status number exactly as the service sent it."""

    @property
    def has_sms_fallback(self) -> bool:
        """Whether an SMS fallback exists for this message."""
        return self.sms_message_id is not None or self.sms_status is not None

    @property
    def delivered(self) -> bool:
        """Whether the message reached the user, on Viber or by SMS."""
        return self.status is ViberStatus.DELIVERED or self.sms_status is SmsStatus.DELIVERED

    @property
    def is_final(self) -> bool:
        """Whether no further change is expected.

        True when Viber delivered it, when the SMS fallback reached a final
        status (delivered, expired, undeliverable), or when Viber failed
        (error, rejected, undelivered) and no SMS fallback is under way. A
        Viber failure whose SMS fallback is still pending is not final.

        The receipt only knows the fallback once the service reports its SMS
        id: should the service ever report a Viber failure before creating the
        fallback SMS, this says final early. The vendor's page does not say;
        the sandbox reports both together.
        """
        if self.status is ViberStatus.DELIVERED:
            return True
        if self.sms_status is not None and self.sms_status.is_final:
            return True
        return self.status.is_failure and not self.has_sms_fallback


@attrs.frozen
class SendOutcome(Generic[_T]):
    """What became of one input of a bulk run: an id, or an error.

    Bulk runs yield exactly one outcome for every input, in completion order;
    :attr:`index` is the input's position.
    """

    index: int
    """The input's position in what was handed to the bulk call (from 0)."""
    message: _T
    """The input itself."""
    message_id: int | None = None
    """The id the service assigned, when it was sent."""
    error: DecisionTelecomError | None = None
    """Why it was not sent (:class:`CampaignAborted` if the run stopped first)."""
    attempts: int = 0
    """How many requests were made for it (0 when none was)."""
    resumed: bool = False
    """Whether the outcome comes from the journal of an earlier run, with no
    request in this run (accepted earlier, or unknown and not sent again)."""

    @property
    def ok(self) -> bool:
        """Whether the message was accepted by the service."""
        return self.error is None


@attrs.frozen
class StatusOutcome(Generic[_R]):
    """What became of one message id of ``get_statuses`` or ``wait_for_final_statuses``.

    Bulk look-ups yield exactly one outcome for every id, in completion
    order; :attr:`index` is the id's position in the input.
    """

    index: int
    """The id's position in what was handed to the bulk call (from 0)."""
    message_id: int
    """The id looked up, as given."""
    receipt: _R | None = None
    """The status found: a :class:`MessageReceipt` for Viber, an :class:`SmsStatus`
    for SMS. After a :class:`StatusTimeoutError` it is the last status seen
    (``None`` when none was)."""
    error: DecisionTelecomError | None = None
    """Why the look-up failed (:class:`CampaignAborted` if the run stopped first,
    :class:`StatusTimeoutError` if the status was not final in time)."""
    attempts: int = 0
    """How many requests were made for it (0 when none was)."""

    @property
    def ok(self) -> bool:
        """Whether the status was read (and, when waiting, is final)."""
        return self.error is None
