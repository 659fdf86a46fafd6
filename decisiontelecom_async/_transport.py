"""Send one request and translate what httpx raises into SDK errors.

The translation decides :attr:`TransportError.outcome_unknown`: a failure
while connecting (or while waiting for a pooled connection) means the
request provably never left, anything later means it may have been
processed. The httpx exception is not chained: its text and its request
could carry the URL, and the SMS API puts credentials there.
"""

from __future__ import annotations

import httpx

from decisiontelecom_async._errors import TransportError, UnexpectedResponseError
from decisiontelecom_async._redact import Redactor

__all__ = ["send_request"]

_NEVER_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.ProxyError,
    httpx.LocalProtocolError,
)

_DESCRIPTIONS: dict[type[Exception], str] = {
    httpx.ConnectError: "could not connect",
    httpx.ConnectTimeout: "timed out connecting",
    httpx.PoolTimeout: "timed out waiting for a free connection",
    httpx.ReadTimeout: "timed out waiting for the answer",
    httpx.WriteTimeout: "timed out sending the request",
    httpx.ReadError: "the connection failed while reading the answer",
    httpx.WriteError: "the connection failed while sending the request",
    httpx.RemoteProtocolError: "the connection was dropped before a complete answer",
}


def _describe(exc: Exception) -> str:
    for cls in type(exc).__mro__:
        if cls in _DESCRIPTIONS:
            return _DESCRIPTIONS[cls]
    return "the request failed"


async def send_request(
    http: httpx.AsyncClient, request: httpx.Request, redactor: Redactor
) -> httpx.Response:
    """Send ``request``; raise :class:`TransportError` when no answer came back."""
    where = f"{request.method} {redactor.url(request.url)}"
    try:
        return await http.send(request)
    except httpx.DecodingError as exc:
        raise UnexpectedResponseError(
            f"the body could not be decoded ({type(exc).__name__})"
        ) from None
    except httpx.TransportError as exc:
        never_sent = isinstance(exc, _NEVER_SENT)
        detail = redactor(str(exc)) if str(exc) else ""
        phase = (
            "the request never reached the service"
            if never_sent
            else "the request may have reached the service"
        )
        message = f"{where}: {_describe(exc)} ({type(exc).__name__}"
        message += f": {detail}" if detail else ""
        message += f"); {phase}"
        raise TransportError(message, outcome_unknown=not never_sent) from None
