"""The one cattrs converter between the models and the JSON wire format.

Out: :class:`ViberMessage` becomes the ``send-viber`` body, with the wire
names (``source_addr``, ``destination_addr``, ``text_sms``, ``image``), the
receiver as a string, enums as ints, and unset fields left out (not null).

In: answers are parsed tolerantly. Unknown fields are ignored, an unknown
status number becomes the enum's fallback member, ids are 64-bit integers
(also when sent as digit strings). A missing or mistyped required field is an
:class:`UnexpectedResponseError`, never a ``KeyError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from decisiontelecom_async._enums import SmsStatus, ViberStatus, parse_enum
from decisiontelecom_async._errors import UnexpectedResponseError, shown
from decisiontelecom_async._models import MessageReceipt, ViberMessage
from decisiontelecom_async._numbers import MAX_ID, parse_int

__all__ = ["converter", "parse_id", "receipt_from_wire", "viber_message_to_wire"]

converter = cattrs.Converter()
converter.register_unstructure_hook(
    ViberMessage,
    make_dict_unstructure_fn(
        ViberMessage,
        converter,
        _cattrs_omit_if_default=True,
        sender=override(rename="source_addr"),
        receiver=override(rename="destination_addr", omit_if_default=False),
        text=override(omit_if_default=False),
        message_type=override(omit_if_default=False),
        source_type=override(omit_if_default=False),
        sms_text=override(rename="text_sms"),
        image_url=override(rename="image"),
    ),
)


def viber_message_to_wire(message: ViberMessage) -> dict[str, Any]:
    """The JSON body of ``send-viber`` for ``message``."""
    wire: dict[str, Any] = converter.unstructure(message)
    return wire


def parse_id(value: object, field: str) -> int:
    """Read a 64-bit message id sent as an int or a string of digits (no spaces)."""
    number = parse_int(value, strip=False)
    if number is not None and 0 <= number <= MAX_ID:
        return number
    raise UnexpectedResponseError(f"{field} is not a message id: {shown(value)}")


def _parse_code(value: object, field: str) -> int:
    number = parse_int(value, signed=True)
    if number is not None:
        return number
    raise UnexpectedResponseError(f"{field} is not a status code: {shown(value)}")


def _require(body: Mapping[str, Any], field: str) -> object:
    if body.get(field) is None:
        raise UnexpectedResponseError(f"the answer has no {field!r}")
    return body[field]


def _structure_receipt(body: Mapping[str, Any], _: type) -> MessageReceipt:
    raw_status = _parse_code(_require(body, "status"), "status")
    sms_id = body.get("sms_message_id")
    sms_status = body.get("sms_message_status")
    raw_sms_status = None if sms_status in (None, "") else _parse_code(sms_status, "sms_status")
    return MessageReceipt(
        message_id=parse_id(_require(body, "message_id"), "message_id"),
        status=parse_enum(ViberStatus, raw_status, ViberStatus.UNKNOWN),
        sms_message_id=None if sms_id in (None, "", 0) else parse_id(sms_id, "sms_message_id"),
        sms_status=(
            None
            if raw_sms_status is None
            else parse_enum(SmsStatus, raw_sms_status, SmsStatus.UNKNOWN)
        ),
        raw_status=raw_status,
        raw_sms_status=raw_sms_status,
    )


converter.register_structure_hook(MessageReceipt, _structure_receipt)


def receipt_from_wire(body: Mapping[str, Any]) -> MessageReceipt:
    """Parse a ``receive-viber`` answer (or a status callback) into a receipt."""
    return converter.structure(body, MessageReceipt)
