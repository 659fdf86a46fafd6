"""The SMS API's wire format: percent-encoded queries out, list-like bodies in.

Every call is a ``GET`` whose parameters, credentials included, travel in the
query string. :func:`build_query` percent-encodes each one completely (a
space is ``%20``, ``+`` is ``%2B``), so ``&``, ``#``, ``+``, ``%``, Cyrillic
and emoji arrive as written.

The answers look like JSON lists but are not always valid JSON::

    ["msgid","31885463"]                                       send
    ["status","2"]            ["status",""] (unknown)          state
    ["balance":"-791.83","credit":"1000","currency":"EUR"]     balance
    ["error",44]              ["error","44"]                   any call

:func:`read_items` tokenizes that format strictly (each value is decoded as
a JSON scalar, so escapes and numbers are read exactly) and the ``read_*``
functions turn an answer into its result, an :class:`SmsApiError`, or an
:class:`UnexpectedResponseError` that says what was wrong. HTTP failures
without an SMS error body go through the core's one status mapping.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import NoReturn
from urllib.parse import quote

from decisiontelecom_async._answer import Answer, text_of
from decisiontelecom_async._converter import parse_id
from decisiontelecom_async._enums import SmsErrorCode, SmsStatus, parse_enum
from decisiontelecom_async._errors import SmsApiError, UnexpectedResponseError
from decisiontelecom_async._numbers import MAX_DIGITS, parse_int
from decisiontelecom_async._redact import REDACTED, Redactor
from decisiontelecom_async._responses import (
    decode_json,
    raise_for_error_object,
    status_error,
)
from decisiontelecom_async._sms_models import SmsBalance

__all__ = [
    "MalformedAnswer",
    "SmsRedactor",
    "build_query",
    "read_balance",
    "read_items",
    "read_message_id",
    "read_status",
    "scrub_credentials",
]

Item = tuple[str | None, object]
"""One element of an answer: ``(None, value)`` or ``(key, value)`` for ``"key":value``."""

_WHITESPACE = " \t\r\n"
_BRACKETS = {"[": "]", "{": "}"}
# A value ends at the next unencoded "&", whitespace or the end: stopping
# earlier (at a quote, "#", ";" or "<") would leave the rest of a value that a
# URL library re-encoded less strictly than build_query in plain sight.
_CREDENTIAL_PARAMETER = re.compile(r"(?i)([?&;](?:login|password)=)[^&\s]*")
_MIN_BARE_LOGIN = 4
"""A shorter login is blanked only as the ``login=`` value (a bare "u" is in every word)."""


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(name)


_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_refuse_constant)


def build_query(params: Mapping[str, str]) -> str:
    """``params`` as a query string, every key and value fully percent-encoded."""
    return "&".join(
        f"{quote(key, safe='')}={quote(value, safe='')}" for key, value in params.items()
    )


def scrub_credentials(text: str) -> str:
    """``text`` with the value of every ``login=`` / ``password=`` query parameter blanked."""
    return _CREDENTIAL_PARAMETER.sub(r"\1" + REDACTED, text)


class SmsRedactor(Redactor):
    """The SMS client's redactor: the password everywhere, the login where it is one.

    The password is blanked in every form wherever it appears, whatever its
    length. The login is blanked as the ``login=`` value in every form, and
    elsewhere only when it is at least four characters long, so a short login
    does not mangle ordinary words. Last, every ``login=`` / ``password=``
    value goes whatever its encoding (:func:`scrub_credentials`): a server
    or proxy that echoes the URL may have re-encoded it in a way no list of
    forms foresees. ``extra`` secrets (a proxy's credentials) go everywhere.
    """

    def __init__(self, login: str, password: str, *, extra: Iterable[str] = ()) -> None:
        bare = (password, login) if len(login) >= _MIN_BARE_LOGIN else (password,)
        super().__init__((*bare, *extra), query_values=(("login", login), ("password", password)))

    def __call__(self, text: str) -> str:
        return scrub_credentials(super().__call__(text))


class MalformedAnswer(ValueError):
    """The body is not in the SMS API's list format; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- tokenizing ----------------------------------------------------------------


def _skip_whitespace(text: str, position: int) -> int:
    while position < len(text) and text[position] in _WHITESPACE:
        position += 1
    return position


def _scalar(text: str, position: int) -> tuple[object, int]:
    if position >= len(text):
        raise MalformedAnswer("the body ends too early (truncated)")
    try:
        value, end = _DECODER.raw_decode(text, position)
    except json.JSONDecodeError as exc:
        if exc.msg.startswith("Unterminated") or exc.pos >= len(text):
            raise MalformedAnswer("the body ends too early (truncated)") from None
        raise MalformedAnswer(f"no valid value at character {position}") from None
    except (ValueError, RecursionError):
        # ValueError: NaN, or a number over int()'s 4300-digit limit;
        # RecursionError: a value nested thousands of levels deep.
        raise MalformedAnswer(f"no valid value at character {position}") from None
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, str | int | Decimal)
    ):
        raise MalformedAnswer(
            f"expected a string or a number at character {position}, got {type(value).__name__}"
        )
    return value, end


def _read_item(body: str, position: int) -> tuple[Item, int]:
    """One ``value`` or ``"key":value`` element at ``position``, and where it ends."""
    value, position = _scalar(body, position)
    position = _skip_whitespace(body, position)
    if position < len(body) and body[position] == ":":
        if not isinstance(value, str):
            raise MalformedAnswer(f"a key must be a string, got {value!r}")
        key = value
        value, position = _scalar(body, _skip_whitespace(body, position + 1))
        return (key, value), _skip_whitespace(body, position)
    return (None, value), position


def read_items(text: str) -> list[Item]:
    """Split a list-like answer into its elements, or raise :class:`MalformedAnswer`."""
    body = text.strip(_WHITESPACE)
    if not body:
        raise MalformedAnswer("the body is empty")
    closing = _BRACKETS.get(body[0])
    if closing is None:
        raise MalformedAnswer("the body is not in the SMS API's [...] format")
    items: list[Item] = []
    position = _skip_whitespace(body, 1)
    if position < len(body) and body[position] == closing:
        position += 1
    else:
        while True:
            item, position = _read_item(body, position)
            items.append(item)
            if position >= len(body):
                raise MalformedAnswer("the body ends too early (truncated)")
            if body[position] == closing:
                position += 1
                break
            if body[position] != ",":
                raise MalformedAnswer(f"unexpected {body[position]!r} at character {position}")
            position = _skip_whitespace(body, position + 1)
    if position != len(body):
        raise MalformedAnswer("there is more after the closing bracket")
    return items


# -- reading answers -----------------------------------------------------------


def _error_answer(items: list[Item]) -> SmsApiError | MalformedAnswer | None:
    """The error an ``["error", code]`` answer reports; ``None`` for any other answer."""
    if not items or items[0] != (None, "error"):
        return None
    if len(items) != 2 or items[1][0] is not None:  # noqa: PLR2004 - ["error", code]
        return MalformedAnswer('an error answer must be ["error", <code>]')
    code = parse_int(items[1][1])
    if code is None:
        return MalformedAnswer(f"the error code is not a number: {items[1][1]!r}")
    try:
        return SmsApiError(SmsErrorCode(code))
    except ValueError:
        return SmsApiError(code)  # a code added after this SDK: keep the number


def _unexpected(
    reason: str, response: Answer, redact: Callable[[str], str]
) -> UnexpectedResponseError:
    # The reason may quote the body, and the body may echo the request URL.
    return UnexpectedResponseError(
        redact(reason), status=response.status_code, body=redact(text_of(response))
    )


def _answer(response: Answer, redact: Callable[[str], str]) -> list[Item]:
    """The elements of a successful answer; raise the matching error for anything else."""
    raise_for_error_object(response, decode_json(response.content), redact=redact)
    problem: MalformedAnswer | None = None
    try:
        items = read_items(text_of(response))
    except MalformedAnswer as exc:
        problem = exc
    else:
        found = _error_answer(items)
        if isinstance(found, SmsApiError):
            raise found
        problem = found
    if not response.is_success:
        raise status_error(response, redact=redact)
    if problem is not None:
        raise _unexpected(problem.reason, response, redact)
    return items


def _expect(response: Answer, redact: Callable[[str], str], tag: str) -> object:
    """The value of a ``[tag, value]`` answer."""
    items = _answer(response, redact)
    if not items:
        raise _unexpected(
            f'the answer is an empty list, expected ["{tag}", <value>]', response, redact
        )
    first_key, first = items[0]
    if first_key is not None or first != tag:
        shown = first_key if first_key is not None else first
        raise _unexpected(
            f'expected ["{tag}", <value>], got an answer starting with {shown!r}',
            response,
            redact,
        )
    if len(items) != 2 or items[1][0] is not None:  # noqa: PLR2004 - [tag, value]
        count = f"{len(items)} element{'' if len(items) == 1 else 's'}"
        raise _unexpected(f'expected ["{tag}", <value>], got {count}', response, redact)
    return items[1][1]


def read_message_id(response: Answer, redact: Callable[[str], str]) -> int:
    """The id in a ``/send`` answer ``["msgid","<id>"]``."""
    value = _expect(response, redact, "msgid")
    try:
        return parse_id(value, "msgid")
    except UnexpectedResponseError as exc:
        raise _unexpected(exc.reason, response, redact) from None


def read_status(response: Answer, redact: Callable[[str], str]) -> SmsStatus:
    """The status in a ``/state`` answer ``["status","<code>"]`` (empty: unknown).

    A code this SDK does not know yet is read as :attr:`SmsStatus.UNKNOWN`.
    """
    value = _expect(response, redact, "status")
    if value is None or (isinstance(value, str) and not value.strip()):
        return SmsStatus.UNKNOWN
    code = parse_int(value)
    if code is None:
        raise _unexpected(f"the status is not a number: {value!r}", response, redact)
    return parse_enum(SmsStatus, code, SmsStatus.UNKNOWN)


def _decimal(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    # An amount is money: refuse what no account holds (and what Decimal
    # arithmetic, SmsBalance.available, would overflow on).
    if not number.is_finite() or not -MAX_DIGITS <= number.adjusted() <= MAX_DIGITS:
        return None
    return number


def read_balance(response: Answer, redact: Callable[[str], str]) -> SmsBalance:
    """The account in a ``/balance`` answer.

    The answer is ``["balance":"<n>","credit":"<n>","currency":"<s>"]``.
    """
    items = _answer(response, redact)
    if not items or any(key is None for key, _ in items):
        raise _unexpected('expected ["balance":<n>,"credit":<n>,"currency":<s>]', response, redact)
    fields = dict(items)
    amounts: dict[str, Decimal] = {}
    for name in ("balance", "credit"):
        if name not in fields:
            raise _unexpected(f"the answer has no {name!r}", response, redact)
        amount = _decimal(fields[name])
        if amount is None:
            raise _unexpected(f"{name} is not a number: {fields[name]!r}", response, redact)
        amounts[name] = amount
    currency = fields.get("currency")
    if not isinstance(currency, str) or not currency.strip():
        raise _unexpected(f"currency is not a currency name: {currency!r}", response, redact)
    return SmsBalance(amounts["balance"], amounts["credit"], currency.strip())
