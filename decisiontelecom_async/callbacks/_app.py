"""The ASGI receiver for callbacks: checks, parsing, de-duplication, your handlers.

A request goes through, in order:

1. the source allow-list (403), then the secret token (404), before the
   request is looked at any further, so a stranger learns nothing;
2. the method (405 unless POST), the content type (415 unless JSON or
   none), the size (413 over ``max_body_size``, from ``Content-Length`` at
   once, else as soon as the body grows past it);
3. :func:`parse_callback` (400 with the reason);
4. de-duplication (200 at once for a repeat of a callback already handled);
5. your handler: 200 when it returns, 500 when it raises (logged), so the
   service delivers the callback again.

Pure ASGI 3, no framework needed; lifespan messages are answered.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Hashable, Iterable, MutableMapping
from typing import Any, TypeAlias, TypeVar

from decisiontelecom_async._errors import UnexpectedResponseError
from decisiontelecom_async.callbacks._dedup import Deduplicator
from decisiontelecom_async.callbacks._guard import NetworkSpec, SourceCheck, TokenCheck
from decisiontelecom_async.callbacks._parse import (
    Callback,
    InboundMessage,
    StatusCallback,
    parse_callback,
)

__all__ = ["CallbackApp", "InboundHandler", "StatusHandler"]

logger = logging.getLogger("decisiontelecom_async.callbacks")

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]

InboundHandler: TypeAlias = Callable[[InboundMessage], Awaitable[object] | None]
"""An ``async def on_inbound(message: InboundMessage)``; a plain function works too."""
StatusHandler: TypeAlias = Callable[[StatusCallback], Awaitable[object] | None]
"""An ``async def on_status(callback: StatusCallback)``; a plain function works too."""

DEFAULT_MAX_BODY_SIZE = 64 * 1024
DEFAULT_DEDUP_SIZE = 10_000
DEFAULT_DEDUP_TTL = 3600.0


class _Disconnected(Exception):
    """The client went away before the body was read."""


class CallbackApp:
    """An ASGI application that receives callbacks; made by :func:`callback_app`.

    Mount it in any ASGI framework or serve it with an ASGI server. It keeps
    the de-duplication memory, so make one per process and reuse it.
    """

    def __init__(
        self,
        *,
        on_inbound: InboundHandler | None = None,
        on_status: StatusHandler | None = None,
        token: str | None = None,
        allowed_networks: Iterable[NetworkSpec] | NetworkSpec | None = None,
        trusted_proxies: Iterable[NetworkSpec] | NetworkSpec = (),
        proxy_header: str | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        dedup_size: int = DEFAULT_DEDUP_SIZE,
        dedup_ttl: float = DEFAULT_DEDUP_TTL,
    ) -> None:
        if on_inbound is None and on_status is None:
            raise ValueError("give on_inbound, on_status or both: nothing would handle callbacks")
        for name, handler in (("on_inbound", on_inbound), ("on_status", on_status)):
            if handler is not None and not callable(handler):
                raise TypeError(f"{name} must be callable, got {type(handler).__name__}")
        if isinstance(max_body_size, bool) or not isinstance(max_body_size, int):
            raise TypeError("max_body_size must be an int (bytes)")
        if max_body_size <= 0:
            raise ValueError(f"max_body_size must be positive, got {max_body_size}")
        if dedup_size < 0 or not dedup_ttl > 0:
            raise ValueError("dedup_size must be >= 0 (0 turns it off) and dedup_ttl > 0")
        self._on_inbound = on_inbound
        self._on_status = on_status
        self._token = None if token is None else TokenCheck(token)
        self._source = SourceCheck(
            allowed_networks, trusted_proxies=trusted_proxies, proxy_header=proxy_header
        )
        self.max_body_size = max_body_size
        """The largest body accepted, in bytes."""
        self._dedup = Deduplicator(dedup_size, dedup_ttl)

    def __repr__(self) -> str:
        return (
            f"CallbackApp(token={'<hidden>' if self._token else None}, "
            f"allowed_networks={self._source.allowed!r}, max_body_size={self.max_body_size})"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        kind = scope.get("type")
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(receive, send)
        elif kind == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._refusal(scope)
        if refusal is not None:
            await _respond(send, *refusal)
            return
        try:
            body = await _read_body(receive, self.max_body_size)
        except _Disconnected:
            return
        if body is None:
            reason = f"body over {self.max_body_size} bytes"
            logger.warning("callback refused (413) from %s: %s", self._where(scope), reason)
            await _respond(send, 413, reason)
            return
        try:
            callback = parse_callback(body)
        except UnexpectedResponseError as exc:
            logger.warning("callback refused (400) from %s: %s", self._where(scope), exc.reason)
            await _respond(send, 400, f"bad callback: {exc.reason}")
            return
        if await self._dispatch(callback):
            await _respond(send, 200, "ok")
        else:
            await _respond(send, 500, "handler failed")

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        """Why the request is refused before its body is read, if it is."""
        address = self._source.client_address(scope)
        if not self._source.allows(address):
            logger.info("callback refused: %s is not in allowed_networks", _show(address))
            return 403, "forbidden"
        if self._token is not None and not self._token.matches(scope):
            # The URL itself is not logged: a near miss may hold most of the token.
            logger.info("callback refused: wrong or missing token, from %s", _show(address))
            return 404, "not found"
        if scope.get("method") != "POST":
            return 405, "method not allowed: POST callbacks here"
        problem = _content_problem(_headers(scope), self.max_body_size)
        if problem is not None:
            logger.warning("callback refused (%d) from %s: %s", *problem, _show(address))
        return problem

    def _where(self, scope: Scope) -> str:
        return _show(self._source.client_address(scope))

    async def _dispatch(self, callback: Callback) -> bool:
        """Hand ``callback`` to its handler once; whether it was handled (or needs none)."""
        if isinstance(callback, InboundMessage):
            name, handler = "on_inbound", _bind(self._on_inbound, callback)
        else:
            name, handler = "on_status", _bind(self._on_status, callback)
        if handler is None:
            logger.info(
                "%s received but no %s handler was given; dropped", _describe(callback), name
            )
            return True
        try:
            ran = await self._dedup.run_once(_dedup_key(callback), handler)
        except Exception:
            logger.exception(
                "%s handler failed for %s; answered 500 so the service delivers it again",
                name,
                _describe(callback),
            )
            return False
        if not ran:
            logger.debug("repeated delivery of %s suppressed", _describe(callback))
        return True


_C = TypeVar("_C", InboundMessage, StatusCallback)


def _bind(
    handler: Callable[[_C], Awaitable[object] | None] | None, callback: _C
) -> Callable[[], Awaitable[None]] | None:
    """``handler(callback)`` as an argument-less coroutine function, awaiting when needed."""
    if handler is None:
        return None

    async def call() -> None:
        result = handler(callback)
        if inspect.isawaitable(result):
            await result

    return call


def _show(address: object) -> str:
    return "an unknown address" if address is None else str(address)


def _describe(callback: Callback) -> str:
    if isinstance(callback, InboundMessage):
        return f"2-Way reply message_token={callback.message_token}"
    return f"status callback message_id={callback.message_id} status={callback.status.name}"


def _dedup_key(callback: Callback) -> Hashable:
    """Replies repeat with the same token; status callbacks with the same id and statuses."""
    if isinstance(callback, InboundMessage):
        return ("inbound", callback.message_token)
    return (
        "status",
        callback.message_id,
        int(callback.status) if callback.raw_status is None else callback.raw_status,
        callback.sms_message_id,
        callback.raw_sms_status if callback.raw_sms_status is not None else callback.sms_status,
    )


def _headers(scope: Scope) -> dict[bytes, bytes]:
    """The request headers, lower-cased; the first of repeated ones wins."""
    headers: dict[bytes, bytes] = {}
    for name, value in scope.get("headers") or ():
        headers.setdefault(bytes(name).lower(), bytes(value))
    return headers


def _content_problem(headers: dict[bytes, bytes], limit: int) -> tuple[int, str] | None:
    """A (status, reason) refusal from the headers alone, or None."""
    content_type = headers.get(b"content-type")
    if content_type is not None:
        media = content_type.split(b";", 1)[0].strip().lower()
        if media not in {b"application/json", b"text/json"} and not (
            media.startswith(b"application/") and media.endswith(b"+json")
        ):
            shown = media.decode("latin-1")[:100]
            return 415, f"content type must be application/json, got {shown!r}"
    length = headers.get(b"content-length")
    if length is not None:
        text = length.strip()
        if not text.isdigit():
            return 400, "invalid Content-Length"
        if int(text) > limit:
            return 413, f"body over {limit} bytes"
    return None


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it grows past ``limit`` (the rest is not read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            raise _Disconnected
        chunk = bytes(message.get("body", b""))
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, status: int, text: str) -> None:
    body = text.encode("utf-8", errors="replace") + b"\n"
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    if status == 405:  # noqa: PLR2004 - the status a 405 needs an Allow header for
        headers.append((b"allow", b"POST"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    """Answer startup and shutdown; there is nothing to open or close."""
    while True:
        message = await receive()
        kind = message.get("type")
        if kind == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif kind == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
