"""An httpx transport that sends through aiohttp (the ``fast`` extra).

httpx's own transport costs several times the CPU per request of aiohttp's
(encode/httpx#3215: httpcore's pool and AnyIO locks), which caps a bulk
run far below what the network allows. :class:`AiohttpTransport` keeps the
``httpx.AsyncClient`` interface and hands each request to an
``aiohttp.ClientSession``, using only the public API of both libraries.

Why not httpx-aiohttp, the published adapter: its 0.2.0 maps a server that
dropped the connection after the request to ``httpx.ConnectTimeout``, which
reads as "never sent" and would let a send be repeated; and it streams every
answer through three layers of async iterators, which cost about as much CPU
as the request itself. The SDK reads every answer whole, so this transport
does too, with one ``read()`` when its length is announced, and raises
aiohttp's errors as they are, for the one table of :mod:`._failures` to
say whether the request can have reached the server.

Every request leaves once: aiohttp would send an idempotent one (a ``GET``,
and the SMS API's ``send`` is one) a second time by itself when its
connection drops before the answer. The session's own switch for that
(``_retry_connection``, which aiohttp's test client turns off the same way)
is turned off; with an aiohttp that lacks it, the :func:`_no_resend`
middleware stops the resend instead, at a cost on every request. Either
way only the SDK's retry policy repeats a request.

What it keeps from httpx: the request's headers as httpx built them (aiohttp
adds none of its own) and its URL as httpx escaped it (an empty query's
``?`` aside), redirects not followed, and the ``read`` timeout. The body is
read raw (aiohttp's decompression is off) up to
:data:`._body.MAX_ANSWER_BYTES`, and the SDK decodes it from its
``Content-Encoding`` within that bound (:mod:`._body`), whether it comes
from :meth:`AiohttpTransport.answer` or :meth:`handle_async_request`.

Where aiohttp differs: a streamed request body is read whole and sent with a
``Content-Length``; waiting for a pooled connection and making one share one
bound, ``connect`` + ``pool``; header values must be UTF-8;
``max_keepalive_connections`` is not a separate bound (``max_connections``
is); an answer with bytes after its body is refused. What it lacks: a
``write`` timeout (the SDK's bodies fit in a socket buffer), proxies from
the environment (:func:`._transport.fast_transport` keeps httpx's own
transport when the environment names one; an explicit ``proxy`` is honoured)
and HTTP/2.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Mapping
from typing import Any

import aiohttp
import httpx
import yarl

from decisiontelecom_async._http._answer import Answer, BodyAnswer
from decisiontelecom_async._http._body import MAX_ANSWER_BYTES, decode_body, read_body, too_large
from decisiontelecom_async._http._failures import classify

__all__ = ["AiohttpTransport"]

_MAX_CACHED_HEADERS = 64
"""Distinct header sets converted once (a client's requests have a few: one per body length)."""

# Header names aiohttp would otherwise add when httpx's request lacks them.
_NO_AUTO_HEADERS = frozenset({"Accept", "Accept-Encoding", "User-Agent", "Content-Type"})


_RESEND_SWITCH = "_retry_connection" in getattr(aiohttp.ClientSession, "ATTRS", ())
"""Whether this aiohttp's sessions have the switch that stops its own resend.

A private attribute, so it is checked, and a test says when aiohttp drops it
(``tests/_http/test_aiohttp.py``); the middleware is the fallback.
"""


class _NotResent(aiohttp.ClientConnectionError):
    """A dropped connection, carried past aiohttp's own resend (:func:`_no_resend`)."""


async def _no_resend(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """Let every request leave once: the SDK's retry policy decides about another.

    aiohttp sends a ``GET`` (or another idempotent method) again, once, when
    its connection drops before an answer (RFC 9112 9.3.1), and offers no
    switch to stop it. The SMS API's ``send`` is a ``GET``: the service
    would get the SMS twice and the second id would come back as a plain
    success. A dropped connection raised past this middleware is no longer
    of a kind aiohttp repeats; :meth:`AiohttpTransport._exchange` unwraps it.
    """
    try:
        return await handler(request)
    except aiohttp.ClientConnectorError:
        raise  # never sent, and aiohttp does not repeat it
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
        raise _NotResent(str(exc)) from exc


def _aiohttp_headers(raw: list[tuple[bytes, bytes]], encoding: str) -> list[tuple[str, str]]:
    """The raw headers of an httpx request as aiohttp takes them, in the same order.

    Two adjustments. The body goes out whole with its ``Content-Length``
    (aiohttp adds it), so a ``Transfer-Encoding`` from a streamed httpx body
    is left out. And aiohttp keeps a repeated header only when every
    repetition is spelled like the first, so repetitions take its spelling.
    """
    spellings: dict[bytes, bytes] = {}
    headers: list[tuple[str, str]] = []
    for name, value in raw:
        lowered = name.lower()
        if lowered == b"transfer-encoding":
            continue
        spelled = spellings.setdefault(lowered, name)
        headers.append((spelled.decode(encoding), value.decode(encoding)))
    return headers


def _proxy_headers(proxy: httpx.Proxy) -> list[tuple[str, str]]:
    """The headers ``proxy`` is sent, its credentials in ``Proxy-Authorization``.

    Built as httpx's own proxy transport builds them (UTF-8, base64), rather
    than with aiohttp's ``BasicAuth``, which aiohttp deprecates.
    """
    headers = list(proxy.headers.items())
    if proxy.auth is not None:
        token = base64.b64encode(":".join(proxy.auth).encode()).decode()
        headers.append(("Proxy-Authorization", f"Basic {token}"))
    return headers


class _Exchange:
    """What came back for one request, the body read whole."""

    __slots__ = ("content", "content_encoding", "raw_headers", "reason", "status", "version")

    def __init__(
        self,
        status: int,
        reason: str,
        raw_headers: tuple[tuple[bytes, bytes], ...],
        content: bytes,
        version: aiohttp.HttpVersion | None,
        *,
        content_encoding: str | None,
    ) -> None:
        self.status = status
        self.reason = reason
        self.raw_headers = raw_headers
        self.content = content
        self.version = version
        self.content_encoding = content_encoding

    def response(self, request: httpx.Request) -> httpx.Response:
        """The answer as an unread ``httpx.Response``, as any transport gives it.

        httpx decodes the body by its ``Content-Encoding`` when it is read.
        """
        version = self.version
        extensions: dict[str, Any] = {
            "http_version": f"HTTP/{version.major}.{version.minor}".encode() if version else b"",
            "reason_phrase": self.reason.encode("latin-1", "replace"),
        }
        return httpx.Response(
            self.status,
            headers=list(self.raw_headers),
            stream=httpx.ByteStream(self.content),
            extensions=extensions,
            request=request,
        )


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Send httpx requests through one ``aiohttp.ClientSession``, opened on first use.

    ``limits.max_connections`` bounds the connections (``None``: no bound),
    ``limits.keepalive_expiry`` how long an idle one is kept. ``ssl_context``
    verifies the server as httpx's would. ``proxy`` (an ``httpx.Proxy``) is
    used for every request, its credentials sent as ``Proxy-Authorization``.
    """

    def __init__(
        self,
        *,
        limits: httpx.Limits,
        ssl_context: ssl.SSLContext | None = None,
        proxy: httpx.Proxy | None = None,
    ) -> None:
        self._limits = limits
        self._ssl_context = ssl_context
        self._proxy = yarl.URL(str(proxy.url), encoded=True) if proxy is not None else None
        self._proxy_headers = _proxy_headers(proxy) if proxy is not None else []
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}
        # The headers of one client's requests differ only in Content-Length:
        # converted once per distinct set, not on every request.
        self._headers: dict[tuple[str, tuple[tuple[bytes, bytes], ...]], list[tuple[str, str]]]
        self._headers = {}
        self._closed = False

    def _open_session(self) -> aiohttp.ClientSession:
        # A session belongs to the event loop it is made in, so it waits for
        # the first request rather than being made with the client.
        expiry = self._limits.keepalive_expiry
        connector = aiohttp.TCPConnector(
            ssl=self._ssl_context if self._ssl_context is not None else True,
            limit=self._limits.max_connections or 0,
            keepalive_timeout=expiry if expiry is not None else 5.0,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            skip_auto_headers=_NO_AUTO_HEADERS,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            timeout=aiohttp.ClientTimeout(total=None),
            # Two more coroutines per request: only where the switch is missing.
            middlewares=() if _RESEND_SWITCH else (_no_resend,),
        )
        if _RESEND_SWITCH:
            session._retry_connection = False  # noqa: SLF001 - checked above, see _RESEND_SWITCH
        self._session = session
        return session

    def _timeout_for(self, timeouts: Mapping[str, float | None]) -> aiohttp.ClientTimeout:
        key = (timeouts.get("connect"), timeouts.get("read"), timeouts.get("pool"))
        found = self._timeouts.get(key)
        if found is None:
            connect, read, pool = key
            # aiohttp has one bound for waiting for a pooled connection and
            # making a new one ("connect"), and one for the making alone
            # ("sock_connect"): the first gets connect + pool, or whichever
            # of the two is set.
            bounds = [bound for bound in (connect, pool) if bound is not None]
            acquire = sum(bounds) if bounds else None
            found = aiohttp.ClientTimeout(
                total=None, connect=acquire, sock_connect=connect, sock_read=read
            )
            if len(self._timeouts) < 8:  # noqa: PLR2004 - a client uses one or two
                self._timeouts[key] = found
        return found

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``; answer with its response, the body in memory.

        An aiohttp error becomes the httpx error that means the same
        (:mod:`._failures`), as httpx's ``AsyncClient.send`` expects of a
        transport; the aiohttp error stays chained as its ``__cause__``.
        """
        try:
            exchange = await self._exchange(request)
        except aiohttp.ClientError as exc:
            failure = classify(exc)
            assert failure is not None  # noqa: S101 - every aiohttp error has a row
            raise failure.as_httpx(f"{type(exc).__name__}: {exc}", request=request) from exc
        return exchange.response(request)

    async def answer(self, request: httpx.Request) -> Answer:
        """Send ``request`` for the SDK's own client; answer without an ``httpx.Response``.

        What :meth:`handle_async_request` gives once read, minus the cost of
        building and reading an ``httpx.Response`` (a tenth of the SDK's own
        CPU per message); a body to decode is decoded within the size bound
        (:mod:`._body`). A failure raises the aiohttp error itself, which
        the SDK looks up in the one table of :mod:`._failures`.
        """
        exchange = await self._exchange(request)
        content = exchange.content
        if exchange.content_encoding is not None:
            content = decode_body(content, exchange.content_encoding)
        return BodyAnswer(exchange.status, exchange.reason, exchange.raw_headers, content)

    def _headers_of(self, raw: list[tuple[bytes, bytes]], encoding: str) -> list[tuple[str, str]]:
        """:func:`_aiohttp_headers` of ``raw``, converted once per distinct set."""
        key = (encoding, tuple(raw))
        headers = self._headers.get(key)
        if headers is None:
            headers = _aiohttp_headers(raw, encoding)
            if len(self._headers) < _MAX_CACHED_HEADERS:
                self._headers[key] = headers
        return headers

    def _through_proxy(
        self, url: yarl.URL, headers: list[tuple[str, str]]
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """Aiohttp's proxy keywords for ``url``, and the headers to send with them."""
        if self._proxy is None:
            return {}, headers
        if url.scheme == "https":
            # Sent on the CONNECT that opens the tunnel.
            return {"proxy": self._proxy, "proxy_headers": dict(self._proxy_headers)}, headers
        # aiohttp sends its proxy_headers only on a CONNECT; a plain HTTP
        # request to a proxy carries them itself, as with httpx.
        return {"proxy": self._proxy}, [*headers, *self._proxy_headers]

    async def _exchange(self, request: httpx.Request) -> _Exchange:
        if self._closed:
            msg = "the transport is closed"
            raise RuntimeError(msg)
        session = self._session or self._open_session()
        body = await request.aread()
        encoding = request.headers.encoding
        if encoding not in ("ascii", "utf-8"):
            # aiohttp writes header values as UTF-8; other bytes would change.
            msg = "a header value is not UTF-8, which this transport cannot send as it is"
            raise httpx.LocalProtocolError(msg, request=request)
        headers = self._headers_of(request.headers.raw, encoding)
        # encoded=True: the URL goes out exactly as httpx escaped it.
        url = yarl.URL(str(request.url), encoded=True)
        timeout = self._timeout_for(request.extensions.get("timeout", {}))
        proxy, headers = self._through_proxy(url, headers)
        try:
            async with session.request(
                request.method,
                url,
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=timeout,
                **proxy,
            ) as answer:
                length = answer.content_length
                if length is None:
                    # Chunked or ended by the close: read until the bound.
                    content = await read_body(answer.content.iter_any())
                elif length > MAX_ANSWER_BYTES:
                    answer.close()
                    raise too_large()
                else:
                    content = await answer.read()
                return _Exchange(
                    answer.status,
                    answer.reason or "",
                    answer.raw_headers,
                    content,
                    answer.version,
                    # Several headers are one list (RFC 9110 5.3), as httpx reads them.
                    content_encoding=", ".join(answer.headers.getall("Content-Encoding", ()))
                    or None,
                )
        except _NotResent as exc:
            # The dropped connection itself, now past aiohttp's resend.
            if isinstance(exc.__cause__, aiohttp.ClientError):
                raise exc.__cause__ from None
            raise
        except aiohttp.ClientError:
            raise
        except TimeoutError as exc:
            # Raised past aiohttp's own classes: the request may have gone out.
            raise aiohttp.ServerTimeoutError(str(exc)) from exc
        except OSError as exc:
            raise aiohttp.ClientOSError(*exc.args) from exc

    async def aclose(self) -> None:
        """Close the session and its connections; the transport refuses requests after."""
        self._closed = True
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
