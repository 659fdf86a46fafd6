"""How long an SMS text is, in the units the network bills.

A text whose every character is in the GSM 03.38 alphabet is sent as GSM-7:
160 septets fit one SMS, and each character of the extension table (``€``,
``[``, ``]``, ``{``, ``}``, ``^``, ``~``, ``\\``, ``|`` and form feed) takes
two septets. Any other text is sent as UCS-2: 70 UTF-16 code units fit one
SMS, and a character outside the Basic Multilingual Plane (most emoji) takes
two. Longer texts are split into parts of 153 septets or 67 code units.
"""

from __future__ import annotations

import enum

import attrs

__all__ = ["SmsEncoding", "SmsLength", "measure_sms"]

_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

_SINGLE = {"gsm7": 160, "ucs2": 70}
_PART = {"gsm7": 153, "ucs2": 67}


class SmsEncoding(enum.StrEnum):
    """The alphabet an SMS is sent in."""

    GSM7 = "gsm7"
    """GSM 03.38, 7 bits a character; 160 septets in one SMS."""
    UCS2 = "ucs2"
    """UCS-2 (UTF-16), 16 bits a unit; 70 units in one SMS."""


@attrs.frozen
class SmsLength:
    """The billed length of an SMS text."""

    encoding: SmsEncoding
    """GSM-7 when every character is in the GSM 03.38 alphabet, else UCS-2."""
    units: int
    """Septets for GSM-7, UTF-16 code units for UCS-2."""
    parts: int
    """How many SMS the text is split into (0 for an empty text)."""

    @property
    def single_limit(self) -> int:
        """How many units fit one SMS in this encoding (160 or 70)."""
        return _SINGLE[self.encoding.value]

    @property
    def fits_one(self) -> bool:
        """Whether the text is sent as a single SMS."""
        return self.units <= self.single_limit


def measure_sms(text: str) -> SmsLength:
    """Measure ``text`` as the network bills it.

    >>> measure_sms("Hello")
    SmsLength(encoding=<SmsEncoding.GSM7: 'gsm7'>, units=5, parts=1)
    >>> measure_sms("Привет").encoding
    <SmsEncoding.UCS2: 'ucs2'>
    """
    septets = 0
    for char in text:
        if char in _GSM7_BASIC:
            septets += 1
        elif char in _GSM7_EXTENSION:
            septets += 2
        else:
            units = len(text.encode("utf-16-le")) // 2
            return SmsLength(SmsEncoding.UCS2, units, _parts(units, SmsEncoding.UCS2))
    return SmsLength(SmsEncoding.GSM7, septets, _parts(septets, SmsEncoding.GSM7))


def _parts(units: int, encoding: SmsEncoding) -> int:
    if units == 0:
        return 0
    if units <= _SINGLE[encoding.value]:
        return 1
    per_part = _PART[encoding.value]
    return -(-units // per_part)
