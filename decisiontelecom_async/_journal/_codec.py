"""An input as a shared journal stores it, so that a worker without the file can send it.

A :class:`ViberMessage` is kept as its fields, an SMS input (an
:class:`SmsMessage` or its tuple) as the fields of its :class:`SmsMessage`,
each as one JSON object tagged with its kind. Credentials are never part of
an input, so they are never stored.
"""

from __future__ import annotations

import enum
import json
from typing import Any

import attrs

from decisiontelecom_async._models import ViberMessage
from decisiontelecom_async._sms_models import SmsMessage

__all__ = ["decode_input", "encode_input", "stored_line"]

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _plain(_instance: object, _field: object, value: object) -> object:
    return value.value if isinstance(value, enum.Enum) else value


def encode_input(item: object, *, line: int | None = None) -> str | None:
    """``item`` as stored text; ``None`` for an input of no kind a journal can store.

    ``line`` is where the input came from in a campaign file (the command
    line stores it, for a results file written without the file).
    """
    if isinstance(item, tuple) and len(item) in (3, 4):
        phone, sender, text, *rest = item
        try:
            item = SmsMessage(phone, sender, text, delivery_report=rest[0] if rest else True)
        except (TypeError, ValueError):
            return None
    if isinstance(item, ViberMessage):
        kind = "viber"
    elif isinstance(item, SmsMessage):
        kind = "sms"
    else:
        return None
    fields = attrs.asdict(item, value_serializer=_plain)
    stored: dict[str, Any] = {"kind": kind, "fields": fields}
    if line is not None:
        stored["line"] = line
    return _ENCODER.encode(stored)


def decode_input(text: str) -> ViberMessage | SmsMessage:
    """The input stored as ``text`` by :func:`encode_input`."""
    stored: dict[str, Any] = json.loads(text)
    fields = stored["fields"]
    if stored["kind"] == "viber":
        return ViberMessage(**fields)
    return SmsMessage(**fields)


def stored_line(text: str) -> int | None:
    """The campaign file's line stored with an input, if any."""
    line = json.loads(text).get("line")
    return line if isinstance(line, int) else None
