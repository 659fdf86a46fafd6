"""The one way an answer's integer (an id, a status, an error code) is read.

Every parser of the SDK reads integers through :func:`parse_int`: a real
``int`` (never a ``bool``) or a string of ASCII digits. The length cap keeps
``int()`` away from its 4300-digit limit, where it raises a plain
``ValueError`` (a real ``int`` is held to the same cap), and ``isascii``
refuses digits ``int()`` does not take (``"²"``); what cannot be read is
``None``, for the caller to turn into an SDK error.
"""

from __future__ import annotations

__all__ = ["MAX_DIGITS", "MAX_ID", "parse_int"]

MAX_ID = 2**64 - 1
"""The largest message id: ids are unsigned 64-bit integers."""
MAX_DIGITS = 100
"""The most digits an integer of an answer may have."""
_INT_BOUND = 10**MAX_DIGITS


def parse_int(value: object, *, strip: bool = True, signed: bool = False) -> int | None:
    """``value`` as an ``int``, or ``None`` when it is not one.

    ``strip`` allows whitespace around a digit string; ``signed`` allows a
    leading ``-`` on it. A ``bool`` is never an integer here.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        # An int from a decoded mapping has no digit cap of its own; hold it
        # to the same one as a digit string.
        return value if -_INT_BOUND < value < _INT_BOUND else None
    if not isinstance(value, str):
        return None
    text = value.strip() if strip else value
    digits = text.removeprefix("-") if signed else text
    if digits.isascii() and digits.isdigit() and len(digits) <= MAX_DIGITS:
        return int(text)
    return None
