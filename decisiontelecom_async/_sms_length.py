"""How long an SMS text is, in the units the network bills.

A text whose every character is in the GSM 03.38 alphabet is sent as GSM-7:
160 septets fit one SMS, and each character of the extension table (``€``,
``[``, ``]``, ``{``, ``}``, ``^``, ``~``, ``\\``, ``|`` and form feed) takes
two septets. Any other text is sent as UCS-2: 70 UTF-16 code units fit one
SMS, and a character outside the Basic Multilingual Plane (most emoji) takes
two. Longer texts are split into parts of at most 153 septets or 67 code
units, and, as a phone splits them, never inside a character: a two-septet
escape or a surrogate pair that would cross a part's end opens the next
part, so a part may hold one unit less (:func:`split_sms`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator

import attrs

__all__ = ["GSM7_BASIC", "GSM7_EXTENSION", "SmsEncoding", "SmsLength", "measure_sms", "split_sms"]

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
"""The GSM 03.38 basic table: one septet each."""
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
"""The GSM 03.38 extension table: two septets each (an escape, then the character)."""

_SINGLE = {"gsm7": 160, "ucs2": 70}
_PART = {"gsm7": 153, "ucs2": 67}
_BMP_END = 0xFFFF


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
    >>> measure_sms("a" * 152 + "€" + "a" * 152).parts  # "€" is not split
    3
    """
    encoding, cost = _encoding_of(text)
    units = sum(cost(char) for char in text)
    if units <= _SINGLE[encoding.value]:
        return SmsLength(encoding, units, 1 if units else 0)
    parts = sum(1 for _ in _split(text, cost, _PART[encoding.value]))
    return SmsLength(encoding, units, parts)


def split_sms(text: str) -> list[str]:
    """The parts a phone sends ``text`` as, whole characters each.

    >>> [len(part) for part in split_sms("a" * 152 + "€" + "a" * 152)]
    [152, 152, 1]
    """
    encoding, cost = _encoding_of(text)
    if not text:
        return []
    if sum(cost(char) for char in text) <= _SINGLE[encoding.value]:
        return [text]
    return list(_split(text, cost, _PART[encoding.value]))


def _septets(char: str) -> int:
    return 2 if char in GSM7_EXTENSION else 1


def _code_units(char: str) -> int:
    # Counted per code point, not by encoding: a lone surrogate (which the
    # models refuse) is measured as one unit instead of raising here.
    return 2 if ord(char) > _BMP_END else 1


def _encoding_of(text: str) -> tuple[SmsEncoding, Callable[[str], int]]:
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text):
        return SmsEncoding.GSM7, _septets
    return SmsEncoding.UCS2, _code_units


def _split(text: str, cost: Callable[[str], int], per_part: int) -> Iterator[str]:
    """Fill parts greedily; a character that does not fit whole opens the next one."""
    start = used = 0
    for index, char in enumerate(text):
        size = cost(char)
        if used + size > per_part:
            yield text[start:index]
            start, used = index, 0
        used += size
    yield text[start:]
