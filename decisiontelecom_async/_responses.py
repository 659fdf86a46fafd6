"""Turn an HTTP answer into its JSON result or the matching exception.

:func:`json_result` is the one place that looks at status codes. The service
reports errors as ``{"name", "message", "code", "status"}``, with the
matching HTTP status or inside an HTTP 200; both map to the same exception.
Bodies that are neither a result nor an error object (text, HTML, truncated
JSON) become :class:`UnexpectedResponseError`; a plain HTTP failure without an
error object still maps by its status.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import httpx

from decisiontelecom_async._errors import (
    APIError,
    AuthenticationError,
    InsufficientBalanceError,
    InvalidParameterError,
    RateLimitError,
    ServerError,
    UnexpectedResponseError,
)
from decisiontelecom_async._http._answer import Answer, text_of
from decisiontelecom_async._numbers import parse_int

__all__ = [
    "api_error",
    "decode_json",
    "json_result",
    "parse_retry_after",
    "raise_for_error_object",
    "status_error",
]

_NOT_JSON: Final = object()
_STATUS_FOR_CODE = {0: 429, 1: 400, 2: 500, 3: 402}


def decode_json(content: bytes) -> object:
    """The decoded JSON value of ``content``, or a sentinel when it is not JSON."""
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        return _NOT_JSON


def json_result(response: Answer, *, redact: Callable[[str], str] = str) -> Mapping[str, Any]:
    """The JSON object of a successful answer; raise for anything else."""
    value = decode_json(response.content)
    raise_for_error_object(response, value, redact=redact)
    if not response.is_success:
        raise status_error(response, redact=redact)
    if value is _NOT_JSON:
        reason = "the body is empty" if not response.content.strip() else "the body is not JSON"
        raise UnexpectedResponseError(
            reason, status=response.status_code, body=redact(text_of(response))
        )
    if not isinstance(value, dict):
        raise UnexpectedResponseError(
            f"expected a JSON object, got {type(value).__name__}",
            status=response.status_code,
            body=redact(text_of(response)),
        )
    return value


def raise_for_error_object(
    response: Answer, value: object, *, redact: Callable[[str], str] = str
) -> None:
    """Raise the matching :class:`APIError` when ``value`` is the service's error object.

    The service may send its error object with any HTTP status, 200 included.
    """
    if isinstance(value, dict) and is_error_object(value):
        raise api_error(
            value,
            http_status=response.status_code,
            body=text_of(response),
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            redact=redact,
        )


def is_error_object(value: Mapping[str, Any]) -> bool:
    """Whether a JSON object is the service's error object rather than a result."""
    return (
        "message_id" not in value
        and ("code" in value or "status" in value)
        and ("name" in value or "message" in value)
    )


def _error_class(status: int, code: int | None) -> type[APIError]:
    if status in (401, 403):
        return AuthenticationError
    if code == 0 or status == 429:  # noqa: PLR2004 - the page's table
        return RateLimitError
    if code == 1 or status == 400:  # noqa: PLR2004
        return InvalidParameterError
    if code == 3 or status == 402:  # noqa: PLR2004
        return InsufficientBalanceError
    if code == 2 or status >= 500:  # noqa: PLR2004
        return ServerError
    return APIError


def api_error(
    value: Mapping[str, Any],
    *,
    http_status: int,
    body: str | None = None,
    retry_after: float | None = None,
    redact: Callable[[str], str] = str,
) -> APIError:
    """The exception for the service's error object ``value``.

    ``redact`` is applied to every text taken from the answer (name, message,
    body), so a secret the service echoes back never reaches the exception.
    """
    code = parse_int(value.get("code"))
    status = parse_int(value.get("status"))
    if status is None or not 100 <= status <= 599:  # noqa: PLR2004
        status = _STATUS_FOR_CODE.get(code, http_status) if code is not None else http_status
    name = value.get("name")
    message = value.get("message")
    return _build(
        _error_class(status, code),
        name=redact(str(name)) if name is not None else _reason(status),
        message=redact(str(message)) if message is not None else "",
        code=code,
        status=status,
        http_status=http_status,
        body=None if body is None else redact(body),
        retry_after=retry_after,
    )


def status_error(response: Answer, *, redact: Callable[[str], str] = str) -> APIError:
    """The exception for an HTTP failure that carries no error object."""
    status = response.status_code
    if not 400 <= status <= 599:  # noqa: PLR2004
        raise UnexpectedResponseError(
            "the service answered with an unexpected HTTP status",
            status=status,
            body=redact(text_of(response)),
        )
    return _build(
        _error_class(status, None),
        name=redact(response.reason_phrase) if response.reason_phrase else _reason(status),
        message="",
        code=None,
        status=status,
        http_status=status,
        body=redact(text_of(response)),
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )


def _build(
    cls: type[APIError],
    *,
    name: str,
    message: str,
    code: int | None,
    status: int,
    http_status: int,
    body: str | None,
    retry_after: float | None,
) -> APIError:
    if cls is RateLimitError:
        return RateLimitError(
            name,
            message,
            code=code,
            status=status,
            http_status=http_status,
            body=body,
            retry_after=retry_after,
        )
    return cls(name, message, code=code, status=status, http_status=http_status, body=body)


def _reason(status: int) -> str:
    phrase = httpx.codes.get_reason_phrase(status)
    return phrase or f"HTTP {status}"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        # An HTTP-date without a zone (the asctime form) is GMT by definition.
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
