"""Receive 2-Way replies and status callbacks from the service.

Put a ``callback_url`` in your messages and the service POSTs JSON to it: a
:class:`StatusCallback` when a message's status changes, and an
:class:`InboundMessage` when a user answers a 2-Way message (types 206 and
208). :func:`parse_callback` reads either body; :func:`callback_app` is an
ASGI application that receives them, checks who sent them, drops repeats and
awaits your handlers::

    import secrets
    from decisiontelecom_async.callbacks import InboundMessage, callback_app, callback_url

    token = secrets.token_urlsafe(32)  # keep it in your settings, not in code


    async def on_inbound(reply: InboundMessage) -> None:
        print(reply.phone_number, "answered message", reply.reply_to, ":", reply.text)


    app = callback_app(on_inbound=on_inbound, token=token)
    # and send with callback_url=callback_url("https://example.com/dt", token)

The service signs nothing. The receiver checks what can be checked: a secret
token in the URL, optionally the caller's network, and repeated deliveries.
See the "Callbacks" page of the docs for the choices and their limits.
"""

from __future__ import annotations

from collections.abc import Iterable

from decisiontelecom_async.callbacks._app import (
    DEFAULT_DEDUP_SIZE,
    DEFAULT_DEDUP_TTL,
    DEFAULT_MAX_BODY_SIZE,
    CallbackApp,
    InboundHandler,
    StatusHandler,
)
from decisiontelecom_async.callbacks._guard import NetworkSpec, callback_url
from decisiontelecom_async.callbacks._parse import (
    Callback,
    InboundMessage,
    StatusCallback,
    parse_callback,
)

__all__ = [
    "Callback",
    "CallbackApp",
    "InboundMessage",
    "StatusCallback",
    "callback_app",
    "callback_url",
    "parse_callback",
]


def callback_app(
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
) -> CallbackApp:
    """An ASGI application that receives callbacks and awaits your handlers.

    Mount it in FastAPI, Starlette, Litestar or Quart, or serve it with
    uvicorn; it needs no framework. It answers a POSTed callback with 200
    once the handler returned, and 500 when the handler raised (the error is
    logged on the ``decisiontelecom_async.callbacks`` logger and the service
    delivers the callback again). Keep handlers short: put the callback on a
    queue and do slow work elsewhere.

    ``on_inbound`` receives each :class:`InboundMessage` (2-Way replies),
    ``on_status`` each :class:`StatusCallback`. Give at least one; a callback
    of a kind with no handler is answered 200 and dropped. Plain functions
    work as well as ``async def`` ones.

    ``token`` is a secret (at least 16 URL-safe characters, for example
    ``secrets.token_urlsafe(32)``) that must appear in the request's URL as a
    whole path segment or as the ``token`` query parameter; build the URL with
    :func:`callback_url`. A request without it is answered 404. It is
    compared in constant time and never logged.

    ``allowed_networks`` (networks or addresses, such as
    ``["203.0.113.0/24"]``) admits only callers from those networks; others
    are answered 403. The caller is the TCP peer. Behind a reverse proxy, set
    ``proxy_header`` (such as ``"X-Forwarded-For"``) and ``trusted_proxies``
    (your proxies' networks): the header is read only on requests from a
    trusted proxy, and only the address the proxy added counts.

    ``max_body_size`` (bytes) caps a body: larger ones are answered 413
    without being read. Other refusals: 405 for a method other than POST, 415
    for a content type other than JSON (a missing one is accepted), 400 for a
    body :func:`parse_callback` refuses.

    A repeat of a callback already handled successfully within ``dedup_ttl``
    seconds is answered 200 without calling the handler: replies repeat with
    the same ``message_token``, status callbacks with the same message id and
    statuses. At most ``dedup_size`` callbacks are remembered (0 turns this
    off); the memory is per process.

    Raises ``ValueError`` for an unusable setting (a short token, a string
    that is not a network, no handler at all).
    """
    return CallbackApp(
        on_inbound=on_inbound,
        on_status=on_status,
        token=token,
        allowed_networks=allowed_networks,
        trusted_proxies=trusted_proxies,
        proxy_header=proxy_header,
        max_body_size=max_body_size,
        dedup_size=dedup_size,
        dedup_ttl=dedup_ttl,
    )
