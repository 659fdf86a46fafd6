"""The one table of transport failures: did the request leave, and what happened.

Whatever the transport raises when no answer came back (httpx's own, or
aiohttp's through :mod:`._aiohttp`, which raises aiohttp's errors as they
are) is looked up here once. Only a connection that could not be made (or a
free one not found in time) proves the request never left: a retry cannot
send it twice. Anything later may have reached the service, so its outcome
is unknown. The aiohttp rows also name the httpx class the aiohttp
transport raises for httpx's own ``AsyncClient.send``, so both ways through
it tell the same story.
"""

from __future__ import annotations

import functools
import sys
from typing import NamedTuple

import httpx

__all__ = ["Failure", "classify"]


class Failure(NamedTuple):
    """One row: a kind of failure and what it means for the request."""

    kind: type[BaseException]
    never_sent: bool
    """Whether the request provably never left (a retry cannot send it twice)."""
    description: str
    """What happened, as the :class:`TransportError` says it."""
    as_httpx: type[httpx.TransportError]
    """The httpx class that means the same (what the aiohttp transport raises for httpx)."""


def _never_sent(
    kind: type[BaseException], description: str, as_httpx: type[httpx.TransportError]
) -> Failure:
    return Failure(kind, never_sent=True, description=description, as_httpx=as_httpx)


def _maybe_sent(
    kind: type[BaseException], description: str, as_httpx: type[httpx.TransportError]
) -> Failure:
    return Failure(kind, never_sent=False, description=description, as_httpx=as_httpx)


_HTTPX: tuple[Failure, ...] = (
    _never_sent(httpx.ConnectError, "could not connect", httpx.ConnectError),
    _never_sent(httpx.ConnectTimeout, "timed out connecting", httpx.ConnectTimeout),
    _never_sent(httpx.PoolTimeout, "timed out waiting for a free connection", httpx.PoolTimeout),
    _never_sent(httpx.UnsupportedProtocol, "the request failed", httpx.UnsupportedProtocol),
    _never_sent(httpx.ProxyError, "the request failed", httpx.ProxyError),
    _never_sent(httpx.LocalProtocolError, "the request failed", httpx.LocalProtocolError),
    _maybe_sent(httpx.ReadTimeout, "timed out waiting for the answer", httpx.ReadTimeout),
    _maybe_sent(httpx.WriteTimeout, "timed out sending the request", httpx.WriteTimeout),
    _maybe_sent(httpx.ReadError, "the connection failed while reading the answer", httpx.ReadError),
    _maybe_sent(
        httpx.WriteError, "the connection failed while sending the request", httpx.WriteError
    ),
    _maybe_sent(
        httpx.RemoteProtocolError,
        "the connection was dropped before a complete answer",
        httpx.RemoteProtocolError,
    ),
    _maybe_sent(httpx.TransportError, "the request failed", httpx.TransportError),
)


@functools.cache
def _aiohttp_rows() -> tuple[Failure, ...]:
    """The aiohttp rows, most specific first (a connection timeout is a server timeout)."""
    import aiohttp  # noqa: PLC0415 - the fast extra: only once aiohttp is in use

    return (
        _never_sent(aiohttp.ClientConnectorError, "could not connect", httpx.ConnectError),
        _never_sent(
            aiohttp.ServerFingerprintMismatch,
            "the server's certificate does not match the expected fingerprint",
            httpx.ConnectError,
        ),
        _never_sent(aiohttp.InvalidURL, "the URL cannot be requested", httpx.UnsupportedProtocol),
        _never_sent(
            aiohttp.ConnectionTimeoutError,
            "timed out connecting or waiting for a free connection",
            httpx.ConnectTimeout,
        ),
        _maybe_sent(
            aiohttp.ServerTimeoutError, "timed out waiting for the answer", httpx.ReadTimeout
        ),
        _maybe_sent(
            aiohttp.ServerDisconnectedError,
            "the connection was dropped before a complete answer",
            httpx.RemoteProtocolError,
        ),
        _maybe_sent(
            aiohttp.ClientPayloadError,
            "the connection failed while reading the answer",
            httpx.ReadError,
        ),
        _maybe_sent(
            aiohttp.ClientResponseError,
            "the answer was not valid HTTP",
            httpx.RemoteProtocolError,
        ),
        _maybe_sent(aiohttp.ClientError, "the connection failed", httpx.ReadError),
    )


def classify(exc: BaseException) -> Failure | None:
    """The row of ``exc``, or None when it is no transport failure."""
    if isinstance(exc, httpx.TransportError):
        rows = _HTTPX
    elif (aiohttp := sys.modules.get("aiohttp")) is not None and isinstance(
        exc, aiohttp.ClientError
    ):
        rows = _aiohttp_rows()
    else:
        return None
    return next(row for row in rows if isinstance(exc, row.kind))
