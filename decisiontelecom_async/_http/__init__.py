"""How a request leaves: send one, and turn what went wrong into SDK errors.

:func:`send_request` is what a client calls to send one request (after its
limits let it go: :mod:`._slots`, :mod:`._throttle`). A transport failure
is looked up once in the one table of :mod:`._failures`, which decides
:attr:`TransportError.outcome_unknown`: a failure while connecting (or while
waiting for a pooled connection) means the request provably never left,
anything later means it may have been processed. The transport's exception
is not chained: its text and its request could carry the URL, and the SMS
API puts credentials there.

With the ``fast`` extra installed, clients the SDK builds send through
aiohttp (:func:`fast_transport`, :mod:`._aiohttp`), whose errors reach the
table as aiohttp raised them, the more precise of the two.

Two bounds hold for every request, whatever the transport: the whole
exchange, answer read included, ends when the call's time budget does (a
timeout of that budget is an unknown outcome: the request may have left),
and the answer is read and decoded within :data:`._body.MAX_ANSWER_BYTES`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import sys
import urllib.request
from typing import TYPE_CHECKING, cast

import httpx

from decisiontelecom_async._errors import TransportError, UnexpectedResponseError
from decisiontelecom_async._http._answer import Answer, BodyAnswer
from decisiontelecom_async._http._body import MAX_ANSWER_BYTES, decode_body, read_body, too_large
from decisiontelecom_async._http._failures import Failure, classify
from decisiontelecom_async._http._redact import Redactor
from decisiontelecom_async._http._shortcuts import transport_for

if TYPE_CHECKING:
    from decisiontelecom_async._http._aiohttp import AiohttpTransport

__all__ = ["fast_transport", "send_request"]

_httpx_logger = logging.getLogger("httpx")

_URL_QUERY = re.compile(r"((?:https?|wss?)://[^\s?#'\"<>]*)\?\S*", re.IGNORECASE)


def _transport_error(
    where: str, exc: BaseException, failure: Failure, redactor: Redactor
) -> TransportError:
    # Third-party messages may quote the URL (aiohttp does); its query string
    # can hold credentials in a form no redactor foresaw, so it goes whole.
    detail = _URL_QUERY.sub(r"\1?…", redactor(str(exc))) if str(exc) else ""
    phase = (
        "the request never reached the service"
        if failure.never_sent
        else "the request may have reached the service"
    )
    message = f"{where}: {failure.description} ({type(exc).__name__}"
    message += f": {detail}" if detail else ""
    message += f"); {phase}"
    return TransportError(message, outcome_unknown=not failure.never_sent)


def fast_transport(
    limits: httpx.Limits,
    ssl_context: ssl.SSLContext,
    *,
    trust_env: bool = True,
    proxy: httpx.Proxy | None = None,
) -> httpx.AsyncBaseTransport | None:
    """The SDK's aiohttp transport (the ``fast`` extra), or None to keep httpx's own.

    httpx's default transport costs several times the CPU per request of
    aiohttp's (encode/httpx#3215: httpcore's pool and AnyIO locks); behind the
    same ``httpx.AsyncClient`` interface, aiohttp removes that ceiling.
    httpx's own transport stays in use when aiohttp is not installed, and
    when the environment names a proxy, which httpx honours and this
    transport would not. An explicit ``proxy`` is one this transport honours.
    """
    if (
        proxy is None
        and trust_env
        and any(scheme in ("http", "https", "all") for scheme in urllib.request.getproxies())
    ):
        return None
    try:
        from decisiontelecom_async._http._aiohttp import (  # noqa: PLC0415 - optional
            AiohttpTransport,
        )
    except ImportError:
        return None
    return AiohttpTransport(limits=limits, ssl_context=ssl_context, proxy=proxy)


async def send_request(
    http: httpx.AsyncClient,
    request: httpx.Request,
    redactor: Redactor,
    *,
    direct: bool = False,
    budget: float | None = None,
) -> Answer:
    """Send ``request``; raise :class:`TransportError` when no answer came back.

    ``budget`` bounds the whole exchange in seconds, the answer's body read
    included (a server that drip-feeds it never trips a read timeout): what
    is left of the call's ``RetryPolicy.timeout``. When it runs out, the
    request may have gone out, so the error says the outcome is unknown.

    The body is read a chunk at a time and decoded here, both bounded by
    :data:`._body.MAX_ANSWER_BYTES`; a larger one is an
    :class:`UnexpectedResponseError`.

    ``direct`` (for a client the SDK built itself) hands the request straight
    to the client's transport and reads the answer, skipping what
    ``AsyncClient.send`` adds around it (auth and redirect flows, cookie
    jar, event hooks), none of which the SDK's own client uses: about a
    quarter of the CPU per request. When the ``httpx`` logger would record
    the request, it goes through ``send`` as usual, so its log line stays.
    """
    scope = asyncio.timeout(None if budget is None else _within_budget(request, budget))
    try:
        async with scope:
            if direct and not _httpx_logger.isEnabledFor(logging.INFO):
                return await _send_direct(http, request)
            return await _send_through_client(http, request)
    except httpx.DecodingError as exc:
        raise UnexpectedResponseError(
            f"the body could not be decoded ({type(exc).__name__})"
        ) from None
    except httpx.TooManyRedirects:
        # Only an http_client passed in with follow_redirects=True gets here.
        raise UnexpectedResponseError(f"{_where(request, redactor)}: too many redirects") from None
    except Exception as exc:
        # aiohttp's timeouts are TimeoutErrors too: only the budget's own is "out of budget".
        if isinstance(exc, TimeoutError) and scope.expired():
            raise _out_of_budget(_where(request, redactor)) from None
        failure = classify(exc)
        if failure is None:
            raise
        raise _transport_error(_where(request, redactor), exc, failure, redactor) from None


# How much longer than the budget the whole exchange may take, so that a
# connect cut short by the budget ends as the transport's own connect timeout
# (which proves the request never left) rather than as the budget's scope.
_CONNECT_GRACE = 0.1


def _within_budget(request: httpx.Request, budget: float) -> float:
    """Bound ``request``'s connect and pool waits by ``budget``; the deadline for the rest.

    Without this, a connect that hangs (SYNs unanswered) for longer than the
    budget is cut by the budget's scope, and the error cannot tell that no
    byte of the request left: a send would be reported as maybe delivered.
    """
    timeouts = request.extensions.get("timeout")
    if isinstance(timeouts, dict):
        connect, pool = timeouts.get("connect"), timeouts.get("pool")
        if connect is None or connect > budget or pool is None or pool > budget:
            # A new dict: the request is sent again on a retry, with less budget.
            request.extensions["timeout"] = {
                **timeouts,
                "connect": budget if connect is None else min(connect, budget),
                "pool": budget if pool is None else min(pool, budget),
            }
    return budget + _CONNECT_GRACE


def _out_of_budget(where: str) -> TransportError:
    return TransportError(
        f"{where}: the call's time budget (RetryPolicy.timeout) ran out before a complete "
        "answer; the request may have reached the service",
        outcome_unknown=True,
    )


async def _send_through_client(http: httpx.AsyncClient, request: httpx.Request) -> Answer:
    response = await http.send(request, stream=True)
    if response.is_stream_consumed:
        # Read (and decoded) when it was made, as test doubles' answers are.
        content = response.content
        if len(content) > MAX_ANSWER_BYTES:
            raise too_large(decoded=True)
        return BodyAnswer(response.status_code, response.reason_phrase, response.headers, content)
    try:
        content = await read_body(response.aiter_raw())
    finally:
        await response.aclose()
    return _answer_of(response, content)


async def _send_direct(http: httpx.AsyncClient, request: httpx.Request) -> Answer:
    # The transport httpx would pick (mounts, respx's using="httpx"), fenced
    # with its drift test in _shortcuts.py.
    transport = transport_for(http, request.url)
    if transport is None:
        return await _send_through_client(http, request)
    # The SDK's own aiohttp transport (imported only once the extra is in
    # use) answers without building an httpx.Response.
    own = sys.modules.get("decisiontelecom_async._http._aiohttp")
    if own is not None and type(transport) is own.AiohttpTransport:
        return await cast("AiohttpTransport", transport).answer(request)
    response = await transport.handle_async_request(request)
    stream = response.stream
    if type(stream) is httpx.ByteStream:
        # The body is in memory already (test doubles): take it as is (_answer.py).
        content = b"".join(stream)
        if len(content) > MAX_ANSWER_BYTES:
            raise too_large()
        if "Content-Encoding" not in response.headers:
            return BodyAnswer(
                response.status_code, response.reason_phrase, response.headers, content
            )
        return _answer_of(response, content)
    response.request = request
    try:
        content = await read_body(response.aiter_raw())
    finally:
        await response.aclose()
    return _answer_of(response, content)


def _answer_of(response: httpx.Response, raw: bytes) -> BodyAnswer:
    """The answer with its body decoded, within the size bound."""
    content = decode_body(raw, response.headers.get("Content-Encoding"))
    return BodyAnswer(response.status_code, response.reason_phrase, response.headers, content)


def _where(request: httpx.Request, redactor: Redactor) -> str:
    # Only on failure: printing the URL safely costs more than a request's parsing.
    return f"{request.method} {redactor.url(request.url)}"
