"""AiohttpTransport on loopback sockets: the bytes it sends, what it answers, how it fails.

Every server here is a raw ``asyncio`` TCP server on 127.0.0.1, so each test
controls (and sees) the exact bytes on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import gzip
import socket
import time
import warnings
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest

# The whole module tests the `fast` extra's transport.
pytest.importorskip("aiohttp", reason="needs the fast extra (aiohttp)")

import aiohttp
import httpx
from aiohttp.client_reqrep import ConnectionKey
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from decisiontelecom_async import TransportError, UnexpectedResponseError
from decisiontelecom_async._http import _aiohttp as aiohttp_transport
from decisiontelecom_async._http import send_request
from decisiontelecom_async._http._aiohttp import AiohttpTransport
from decisiontelecom_async._http._answer import BodyAnswer, text_of
from decisiontelecom_async._http._failures import classify
from decisiontelecom_async._http._redact import Redactor

pytestmark = pytest.mark.network

T = TypeVar("T")

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
SECRET = "hunter2"


# -- a loopback server that shows the bytes ------------------------------------------


@dataclasses.dataclass(frozen=True)
class Received:
    """One request as it arrived: request line, header lines, body (de-chunked)."""

    line: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    framing: bytes  # the body's bytes exactly as they came (chunk framing included)

    @property
    def target(self) -> bytes:
        return self.line.split(b" ")[1]

    def header_names(self) -> set[bytes]:
        return {name.lower() for name, _ in self.headers}


@dataclasses.dataclass
class Server:
    url: str = ""
    accepted: int = 0
    open: int = 0
    most_open: int = 0
    requests: list[Received] = dataclasses.field(default_factory=list)
    errors: list[BaseException] = dataclasses.field(default_factory=list)
    stopping: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)


@dataclasses.dataclass
class Conn:
    server: Server
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def request(self) -> Received:
        received = await read_request(self.reader)
        self.server.requests.append(received)
        return received

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def stall(self) -> None:
        """Wait, answering nothing, until the test is over."""
        await self.server.stopping.wait()


Handler = Callable[[Conn], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> Received:
    head = await reader.readuntil(b"\r\n\r\n")
    line, *lines = head[:-4].split(b"\r\n")
    headers = [(name, value.strip()) for name, _, value in (x.partition(b":") for x in lines)]
    fields = {name.lower(): value for name, value in headers}
    if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        # RFC 9112 6.3: Transfer-Encoding wins over any Content-Length.
        body, framing = b"", b""
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            framing += size_line + chunk
            body += chunk[:-2]
            if size == 0:
                break
        return Received(line, headers, body, framing)
    body = await reader.readexactly(int(fields.get(b"content-length", b"0")))
    return Received(line, headers, body, body)


@contextlib.asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[Server]:
    """A TCP server on 127.0.0.1, port chosen by the OS; ``handler`` runs per connection."""
    srv = Server()
    writers: list[asyncio.StreamWriter] = []
    tasks: set[asyncio.Task[Any]] = set()

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        writers.append(writer)
        srv.accepted += 1
        srv.open += 1
        srv.most_open = max(srv.most_open, srv.open)
        try:
            await handler(Conn(srv, reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away
        except Exception as exc:  # noqa: BLE001 - reported by the test, not lost in a log
            srv.errors.append(exc)
        finally:
            srv.open -= 1
            writer.close()

    server = await asyncio.start_server(tracked, "127.0.0.1", 0)
    srv.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield srv
    finally:
        srv.stopping.set()
        for writer in writers:
            writer.close()
        pending = {task for task in tasks if not task.done()}
        if pending:
            _, still = await asyncio.wait(pending, timeout=1.0)
            for task in still:
                task.cancel()
        server.close()
        await server.wait_closed()
    assert srv.errors == []


def answer_each(raw: bytes) -> Handler:
    """A handler that answers every request on its connection with ``raw``."""

    async def handler(conn: Conn) -> None:
        while True:
            await conn.request()
            await conn.send(raw)

    return handler


def answer_once(raw: bytes) -> Handler:
    """A handler that reads one request, writes ``raw`` and closes the connection."""

    async def handler(conn: Conn) -> None:
        await conn.request()
        await conn.send(raw)

    return handler


def transport(
    max_connections: int | None = 10,
    max_keepalive_connections: int | None = 10,
    keepalive_expiry: float | None = 5.0,
) -> AiohttpTransport:
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_keepalive_connections,
        keepalive_expiry=keepalive_expiry,
    )
    return AiohttpTransport(limits=limits)


@contextlib.asynccontextmanager
async def client(
    through: AiohttpTransport | None = None,
    *,
    timeouts: httpx.Timeout | None = None,
    follow_redirects: bool = False,
) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=through or transport(),
        timeout=timeouts or httpx.Timeout(1.0),
        follow_redirects=follow_redirects,
        trust_env=False,  # no proxy from the environment in front of the transport
    ) as http:
        yield http


async def until(condition: Callable[[], bool], within: float = 1.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the server"
        await asyncio.sleep(0.005)


async def bounded(step: Awaitable[T]) -> T:
    """``step``, failing the test rather than hanging if a timeout under test never fires."""
    return await asyncio.wait_for(step, 2.0)


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- the request on the wire ---------------------------------------------------------


async def test_the_request_carries_exactly_the_headers_httpx_built() -> None:
    async with serve(answer_each(OK)) as srv, client() as http:
        request = http.build_request(
            "POST",
            srv.url + "/v1/api/send-viber?x=1",
            content=b'{"text": "hi"}',
            headers=[
                ("Content-Type", "application/json"),
                ("X-Trace", "t-1"),
                ("X-Dup", "one"),
                ("X-Dup", "two"),
            ],
        )
        response = await http.send(request)
    assert response.status_code == 200
    [received] = srv.requests
    assert received.line == b"POST /v1/api/send-viber?x=1 HTTP/1.1"
    # Names (their case too), values and order as httpx built them, Host first,
    # httpx's own defaults included, and nothing else.
    assert received.headers == list(request.headers.raw)
    assert received.headers[0] == (b"Host", srv.url.removeprefix("http://").encode())
    assert received.body == b'{"text": "hi"}'


async def test_aiohttp_adds_no_header_of_its_own() -> None:
    body = b"\x00\x01\r\n\r\nbinary\xff"
    async with serve(answer_each(OK)) as srv, client() as http:
        # A bare request: httpx adds only Host and Content-Length.
        request = httpx.Request("POST", srv.url + "/upload", content=body)
        await http.send(request)
    [received] = srv.requests
    host = srv.url.removeprefix("http://").encode()
    assert received.headers == [(b"Host", host), (b"Content-Length", str(len(body)).encode())]
    for name in (b"user-agent", b"accept", b"accept-encoding", b"content-type", b"connection"):
        assert name not in received.header_names()
    assert received.body == body


async def test_a_get_without_body_sends_no_body() -> None:
    async with serve(answer_each(OK)) as srv, client() as http:
        await http.get(srv.url + "/first")
        await http.get(srv.url + "/second")
    # One connection: the second request line follows the first head
    # directly, so not a byte of body (chunked or not) was sent between.
    assert srv.accepted == 1
    first, second = srv.requests
    assert (first.target, second.target) == (b"/first", b"/second")
    assert first.framing == b""
    assert {b"content-length", b"transfer-encoding"}.isdisjoint(first.header_names())


async def test_aiohttp_keeps_no_cookies_of_its_own() -> None:
    raw = b"HTTP/1.1 200 OK\r\nSet-Cookie: session=abc; Path=/\r\nContent-Length: 2\r\n\r\nok"
    async with serve(answer_each(raw)) as srv, client() as http:
        # By name: aiohttp's own jar would ignore cookies from a bare IP address.
        url = srv.url.replace("127.0.0.1", "localhost")
        await http.send(httpx.Request("GET", url + "/login"))
        await http.send(httpx.Request("GET", url + "/next"))
    # Cookies are httpx's business (its client jar); the transport sends none.
    assert b"cookie" not in srv.requests[1].header_names()


async def test_a_proxy_named_by_the_environment_is_not_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, dead_proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    async with serve(answer_each(OK)) as srv, client() as http:
        response = await http.get(srv.url + "/direct")
    assert response.content == b"ok"
    assert srv.requests[0].target == b"/direct"


async def test_a_large_body_arrives_whole() -> None:
    body = bytes(range(256)) * 2048  # 512 KiB, far past a socket buffer
    async with serve(answer_each(OK)) as srv, client() as http:
        response = await http.post(srv.url + "/big", content=body)
    assert response.status_code == 200
    assert srv.requests[0].body == body


async def test_query_escapes_that_carry_meaning_reach_the_server_unchanged() -> None:
    # The SMS client sends its query already encoded (%20 for a space, %2B for
    # "+"); the escapes that change a value's meaning must arrive as sent.
    query = b"login=me&text=a%26b%3Dc%2Bd%20e%25f%23g+h&to=%2B380"
    async with serve(answer_each(OK)) as srv, client() as http:
        await http.get(srv.url + "/sms?" + query.decode())
    assert srv.requests[0].target == b"/sms?" + query


@pytest.mark.parametrize(
    "target",
    [
        "/a%21b%24c%27d%28e%29f%2Ag%2Ch%3Ai%40j%2Fk%7El?q=%3F%2F%21&r=1",
        "/sms?text=100%25%20sure&trailing=",
    ],
)
async def test_the_url_goes_out_exactly_as_httpx_escaped_it(target: str) -> None:
    async with serve(answer_each(OK)) as srv, client() as http:
        request = http.build_request("GET", srv.url + target)
        await http.send(request)
    assert srv.requests[0].target == request.url.raw_path


async def test_a_header_repeated_in_another_case_is_sent_twice() -> None:
    # aiohttp alone would keep only the last of them; names are
    # case-insensitive, so the repetition goes out spelled like the first.
    async with serve(answer_each(OK)) as srv, client() as http:
        request = httpx.Request(
            "GET", srv.url + "/", headers=[("X-Dup", "one"), ("X-Mid", "m"), ("x-dup", "two")]
        )
        await http.send(request)
    sent = [(name, value) for name, value in srv.requests[0].headers if name != b"Host"]
    assert sent == [(b"X-Dup", b"one"), (b"X-Mid", b"m"), (b"X-Dup", b"two")]


async def test_a_utf8_header_value_goes_out_byte_for_byte() -> None:
    async with serve(answer_each(OK)) as srv, client() as http:
        await http.get(srv.url + "/", headers={b"X-Name": "café ✓".encode()})
    assert (b"X-Name", "café ✓".encode()) in srv.requests[0].headers


async def test_a_header_value_aiohttp_would_change_is_refused_unsent() -> None:
    # aiohttp writes header values as UTF-8: latin-1 b"caf\xe9" would go out
    # as b"caf\xc3\xa9", so the request is refused before anything is sent.
    async with serve(answer_each(OK)) as srv, client() as http:
        with pytest.raises(httpx.LocalProtocolError, match="not UTF-8"):
            await http.get(srv.url + "/", headers={b"X-Name": b"caf\xe9"})
    assert srv.requests == []
    assert srv.accepted == 0


async def test_a_streamed_body_is_framed_as_its_headers_say() -> None:
    async def parts() -> AsyncIterator[bytes]:
        yield b"hello "
        yield b"world"

    async def bounded(conn: Conn) -> None:
        try:
            received = await asyncio.wait_for(conn.request(), 0.2)
        except (TimeoutError, ValueError):
            await conn.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        await conn.send(OK if received.body == b"hello world" else b"HTTP/1.1 400 x\r\n\r\n")

    async with serve(bounded) as srv, client() as http:
        response = await http.post(srv.url + "/stream", content=parts())
    assert response.status_code == 200
    names = srv.requests[0].header_names()
    assert not {b"content-length", b"transfer-encoding"} <= names


# -- the response --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "status", "reason", "version", "content"),
    [
        pytest.param(OK, 200, "OK", "HTTP/1.1", b"ok", id="content-length"),
        pytest.param(
            b"HTTP/1.1 404 Not Here At All\r\nContent-Length: 4\r\n\r\nnope",
            404,
            "Not Here At All",
            "HTTP/1.1",
            b"nope",
            id="error-status",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n",
            200,
            "OK",
            "HTTP/1.1",
            b"hello world",
            id="chunked",
        ),
        pytest.param(
            b"HTTP/1.1 204 No Content\r\n\r\n", 204, "No Content", "HTTP/1.1", b"", id="204"
        ),
        pytest.param(
            b"HTTP/1.1 299 \r\nContent-Length: 0\r\n\r\n", 299, "", "HTTP/1.1", b"", id="no-reason"
        ),
        pytest.param(
            b"HTTP/1.0 201 Created\r\n\r\nuntil the connection closes",
            201,
            "Created",
            "HTTP/1.0",
            b"until the connection closes",
            id="http-1.0-read-to-close",
        ),
    ],
)
async def test_the_response_status_line_and_body(
    raw: bytes, status: int, reason: str, version: str, content: bytes
) -> None:
    async with serve(answer_once(raw)) as srv, client() as http:
        response = await http.get(srv.url + "/")
    assert response.status_code == status
    assert response.reason_phrase == reason
    assert response.http_version == version
    assert response.content == content


async def test_response_headers_are_kept_in_order_with_duplicates() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1; Path=/\r\nX-Latin: caf\xe9\r\n"
        b"Set-Cookie: b=2\r\nContent-Length: 2\r\n\r\nok"
    )
    async with serve(answer_each(raw)) as srv, client() as http:
        response = await http.get(srv.url + "/")
    assert response.headers.raw == [
        (b"Set-Cookie", b"a=1; Path=/"),
        (b"X-Latin", b"caf\xe9"),
        (b"Set-Cookie", b"b=2"),
        (b"Content-Length", b"2"),
    ]
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2"]


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress)],
)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_an_encoded_body_is_decoded_once_by_httpx(
    encoding: str, compress: Callable[[bytes], bytes], chunked: bool
) -> None:
    original = b'{"message_id": 1, "status": "ok"}' * 50
    packed = compress(original)
    if chunked:
        half = len(packed) // 2
        framed = b"".join(
            b"%x\r\n%s\r\n" % (len(part), part) for part in (packed[:half], packed[half:], b"")
        )
        length = b"Transfer-Encoding: chunked"
    else:
        framed, length = packed, b"Content-Length: %d" % len(packed)
    raw = b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\n%s\r\n\r\n%s" % (
        encoding.encode(),
        length,
        framed,
    )
    async with serve(answer_each(raw)) as srv, client() as http:
        response = await http.get(srv.url + "/")
    # Decoded twice, it would fail; not at all, it would be the packed bytes.
    assert response.content == original
    assert response.headers["Content-Encoding"] == encoding


async def test_a_corrupt_gzip_body_raises_decoding_error() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 9\r\n\r\nnot gzip!"
    async with serve(answer_each(raw)) as srv, client() as http:
        with pytest.raises(httpx.DecodingError):
            await http.get(srv.url + "/")
        # The answer came whole: the connection is still good for the next one.
        async with http.stream("GET", srv.url + "/") as response:
            assert response.status_code == 200
            with pytest.raises(httpx.DecodingError):
                await response.aread()
    assert srv.accepted == 1


async def test_a_head_answer_has_no_body_and_keeps_the_connection() -> None:
    async def handler(conn: Conn) -> None:
        while True:
            received = await conn.request()
            if received.line.startswith(b"HEAD"):
                await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
            else:
                await conn.send(OK)

    async with serve(handler) as srv, client() as http:
        head = await http.head(srv.url + "/")
        after = await http.get(srv.url + "/")
    assert (head.status_code, head.content, head.headers["Content-Length"]) == (200, b"", "10")
    assert after.content == b"ok"
    assert srv.accepted == 1


async def test_a_redirect_is_not_followed() -> None:
    raw = b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n"
    async with serve(answer_each(raw)) as srv, client(follow_redirects=False) as http:
        response = await http.get(srv.url + "/here")
    assert response.status_code == 302
    assert response.headers["Location"] == "/elsewhere"
    assert [r.target for r in srv.requests] == [b"/here"]


async def test_redirects_are_httpx_s_to_follow() -> None:
    async def handler(conn: Conn) -> None:
        while True:
            received = await conn.request()
            if received.target == b"/here":
                await conn.send(
                    b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n"
                )
            else:
                await conn.send(OK)

    async with serve(handler) as srv, client(follow_redirects=True) as http:
        response = await http.get(srv.url + "/here")
    # httpx saw the 302 itself (history), so the transport did not follow it.
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [302]
    assert [r.target for r in srv.requests] == [b"/here", b"/elsewhere"]


# -- failures: what httpx raises, with aiohttp's error as the cause ------------------


async def test_nothing_listening_is_a_connect_error() -> None:
    async with client() as http:
        with pytest.raises(httpx.ConnectError) as info:
            await http.get(f"http://127.0.0.1:{free_port()}/")
    assert isinstance(info.value.__cause__, aiohttp.ClientConnectorError)


async def test_a_connection_closed_after_the_request_is_a_remote_protocol_error() -> None:
    async def swallow(conn: Conn) -> None:
        await conn.request()

    async with serve(swallow) as srv, client() as http:
        with pytest.raises(httpx.RemoteProtocolError) as info:
            await http.post(srv.url + "/send", content=b"payload")
    assert isinstance(info.value.__cause__, aiohttp.ServerDisconnectedError)
    # Not retried behind the caller's back: the server got it once.
    assert [r.body for r in srv.requests] == [b"payload"]


@pytest.mark.parametrize("switch", [True, False], ids=["aiohttp-switch", "middleware"])
async def test_a_get_whose_kept_alive_connection_drops_leaves_once(
    switch: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # aiohttp would send a GET again on a new connection by itself. The
    # transport turns that off with aiohttp's own switch where aiohttp has
    # one, and with its middleware where it does not: each way, once.
    monkeypatch.setattr(aiohttp_transport, "_RESEND_SWITCH", switch)

    async def answer_then_drop(conn: Conn) -> None:
        await conn.request()
        await conn.send(OK)
        await conn.request()  # read, then the connection closes unanswered

    async with serve(answer_then_drop) as srv, client() as http:
        assert (await http.get(srv.url + "/first")).content == b"ok"
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(srv.url + "/second")
    assert [r.line.split()[1] for r in srv.requests] == [b"/first", b"/second"]
    assert srv.accepted == 1


def test_aiohttp_still_has_the_switch_that_stops_its_resend() -> None:
    # Without it the transport falls back to its middleware, which costs CPU
    # on every request (docs/performance.md): this says when aiohttp drifts.
    assert aiohttp_transport._RESEND_SWITCH
    session_attributes = aiohttp.ClientSession.ATTRS
    assert "_retry_connection" in session_attributes


async def test_a_silent_server_is_a_read_timeout() -> None:
    async def silent(conn: Conn) -> None:
        await conn.request()
        await conn.stall()

    async with serve(silent) as srv, client(timeouts=httpx.Timeout(5.0, read=0.2)) as http:
        start = time.monotonic()
        with pytest.raises(httpx.ReadTimeout) as info:
            await bounded(http.get(srv.url + "/"))
        elapsed = time.monotonic() - start
    assert isinstance(info.value.__cause__, aiohttp.ServerTimeoutError)
    assert not isinstance(info.value.__cause__, aiohttp.ConnectionTimeoutError)
    assert 0.15 < elapsed < 0.8
    assert len(srv.requests) == 1


async def test_a_body_that_stalls_is_a_read_timeout() -> None:
    async def stall_mid_body(conn: Conn) -> None:
        await conn.request()
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        await conn.stall()

    async with serve(stall_mid_body) as srv, client(timeouts=httpx.Timeout(5.0, read=0.2)) as http:
        start = time.monotonic()
        with pytest.raises(httpx.ReadTimeout) as info:
            await bounded(http.get(srv.url + "/"))
    assert time.monotonic() - start < 0.8
    assert isinstance(info.value.__cause__, aiohttp.ServerTimeoutError)


async def test_each_request_gets_its_own_read_timeout() -> None:
    async def slow(conn: Conn) -> None:
        await conn.request()
        await asyncio.sleep(0.15)
        await conn.send(OK)

    async with serve(slow) as srv, client() as http:
        with pytest.raises(httpx.ReadTimeout):
            await bounded(http.get(srv.url + "/", timeout=httpx.Timeout(5.0, read=0.05)))
        response = await http.get(srv.url + "/", timeout=httpx.Timeout(5.0, read=1.0))
    assert response.content == b"ok"


@contextlib.asynccontextmanager
async def one_busy_connection(srv: Server, http: httpx.AsyncClient) -> AsyncIterator[None]:
    """Hold the client's one connection with a request the server is sitting on."""
    held = asyncio.create_task(http.get(srv.url + "/hold", timeout=httpx.Timeout(2.0)))
    try:
        await until(lambda: len(srv.requests) == 1)
        yield
    finally:
        srv.stopping.set()  # the holding handler answers now
        response = await held
    assert response.content == b"ok"


async def hold_until_stopping(conn: Conn) -> None:
    while True:
        received = await conn.request()
        if received.target == b"/hold":
            await conn.stall()
        await conn.send(OK)


async def test_all_connections_busy_is_a_connect_timeout_and_nothing_is_sent() -> None:
    async with (
        serve(hold_until_stopping) as srv,
        client(transport(max_connections=1, max_keepalive_connections=1)) as http,
    ):
        async with one_busy_connection(srv, http):
            start = time.monotonic()
            with pytest.raises(httpx.ConnectTimeout) as info:
                await bounded(
                    http.get(srv.url + "/second", timeout=httpx.Timeout(5.0, connect=0.1, pool=0.1))
                )
            elapsed = time.monotonic() - start
        # The freed connection serves the next request.
        assert (await http.get(srv.url + "/third")).content == b"ok"
    assert isinstance(info.value.__cause__, aiohttp.ConnectionTimeoutError)
    assert 0.05 < elapsed < 0.8
    # The second request never reached the server.
    assert [r.target for r in srv.requests] == [b"/hold", b"/third"]
    assert srv.accepted == 1


async def test_the_pool_timeout_alone_bounds_the_wait_for_a_connection() -> None:
    async with (
        serve(hold_until_stopping) as srv,
        client(transport(max_connections=1, max_keepalive_connections=1)) as http,
        one_busy_connection(srv, http),
    ):
        timeout = httpx.Timeout(5.0, connect=None, pool=0.1)
        with pytest.raises(httpx.ConnectTimeout):
            await asyncio.wait_for(http.get(srv.url + "/second", timeout=timeout), 0.6)


async def test_waiting_and_connecting_share_the_bound_connect_plus_pool() -> None:
    # aiohttp has one bound for both: it is connect + pool.
    async with (
        serve(hold_until_stopping) as srv,
        client(transport(max_connections=1, max_keepalive_connections=1)) as http,
        one_busy_connection(srv, http),
    ):
        timeout = httpx.Timeout(5.0, connect=0.2, pool=0.1)
        start = time.monotonic()
        with pytest.raises(httpx.ConnectTimeout):
            await asyncio.wait_for(http.get(srv.url + "/second", timeout=timeout), 1.5)
        elapsed = time.monotonic() - start
    assert 0.25 < elapsed < 1.0


@pytest.mark.parametrize(
    ("raw", "cause"),
    [
        pytest.param(b"HTTP/1.1 2", aiohttp.ServerDisconnectedError, id="half-status-line"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Le", aiohttp.ServerDisconnectedError, id="half-headers"
        ),
        pytest.param(b"garbage\r\n\r\n", aiohttp.ClientResponseError, id="not-http"),
        pytest.param(b"SSH-2.0-OpenSSH_9.6\r\n", aiohttp.ClientResponseError, id="not-http-ssh"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nok",
            aiohttp.ClientResponseError,
            id="two-content-lengths",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
            aiohttp.ClientResponseError,
            id="bad-chunk-size",
        ),
    ],
)
async def test_a_broken_answer_is_a_remote_protocol_error(
    raw: bytes, cause: type[Exception]
) -> None:
    async with serve(answer_once(raw)) as srv, client() as http:
        with pytest.raises(httpx.RemoteProtocolError) as info:
            await http.get(srv.url + "/")
    assert isinstance(info.value.__cause__, cause)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", id="content-length"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", id="chunked"
        ),
    ],
)
async def test_a_body_cut_short_is_a_read_error(raw: bytes) -> None:
    async with serve(answer_once(raw)) as srv, client() as http:
        with pytest.raises(httpx.ReadError) as info:
            await http.get(srv.url + "/")
    assert isinstance(info.value.__cause__, aiohttp.ClientPayloadError)


def _key() -> ConnectionKey:
    return ConnectionKey("example.com", 443, True, True, None, None, None, None)


def _response_error(cls: type[aiohttp.ClientResponseError]) -> aiohttp.ClientResponseError:
    url = URL("http://example.com/")
    info = aiohttp.RequestInfo(url, "GET", CIMultiDictProxy(CIMultiDict()), url)
    return cls(info, (), status=400, message="bad")


# (aiohttp's error, the httpx class it becomes, whether that proves "never sent")
AIOHTTP_ERRORS = [
    pytest.param(
        aiohttp.ClientConnectorError(_key(), OSError(111, "refused")),
        httpx.ConnectError,
        True,
        id="ClientConnectorError",
    ),
    pytest.param(
        aiohttp.ClientConnectorDNSError(_key(), OSError(-2, "unknown host")),
        httpx.ConnectError,
        True,
        id="ClientConnectorDNSError",
    ),
    pytest.param(
        aiohttp.ClientConnectorCertificateError(_key(), ValueError("bad certificate")),
        httpx.ConnectError,
        True,
        id="ClientConnectorCertificateError",
    ),
    pytest.param(
        aiohttp.ClientConnectorSSLError(_key(), OSError(1, "handshake")),
        httpx.ConnectError,
        True,
        id="ClientConnectorSSLError",
    ),
    pytest.param(
        aiohttp.ConnectionTimeoutError("no connection in time"),
        httpx.ConnectTimeout,
        True,
        id="ConnectionTimeoutError",
    ),
    pytest.param(
        aiohttp.SocketTimeoutError("no answer in time"),
        httpx.ReadTimeout,
        False,
        id="SocketTimeoutError",
    ),
    pytest.param(
        aiohttp.ServerTimeoutError("no answer in time"),
        httpx.ReadTimeout,
        False,
        id="ServerTimeoutError",
    ),
    pytest.param(
        aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError, False, id="ServerDisconnected"
    ),
    pytest.param(
        _response_error(aiohttp.ClientResponseError),
        httpx.RemoteProtocolError,
        False,
        id="ClientResponseError",
    ),
    pytest.param(
        aiohttp.ClientPayloadError("cut short"), httpx.ReadError, False, id="ClientPayloadError"
    ),
    pytest.param(
        aiohttp.ClientConnectionResetError("reset"),
        httpx.ReadError,
        False,
        id="ClientConnectionResetError",
    ),
    pytest.param(
        aiohttp.ClientOSError(32, "broken pipe"), httpx.ReadError, False, id="ClientOSError"
    ),
    pytest.param(
        aiohttp.ClientConnectionError("lost"), httpx.ReadError, False, id="ClientConnectionError"
    ),
    pytest.param(aiohttp.ClientError("other"), httpx.ReadError, False, id="ClientError"),
    pytest.param(
        aiohttp.ServerFingerprintMismatch(b"expected", b"got", "example.com", 443),
        httpx.ConnectError,
        True,
        id="ServerFingerprintMismatch",
    ),
    pytest.param(
        aiohttp.InvalidURL("gopher://x"), httpx.UnsupportedProtocol, True, id="InvalidURL"
    ),
]


@pytest.mark.parametrize(("error", "mapped", "never_sent"), AIOHTTP_ERRORS)
def test_one_table_says_what_an_aiohttp_error_means(
    error: aiohttp.ClientError, mapped: type[httpx.TransportError], never_sent: bool
) -> None:
    failure = classify(error)
    assert failure is not None
    assert failure.never_sent is never_sent
    assert failure.as_httpx is mapped


@pytest.mark.parametrize(("error", "mapped", "never_sent"), AIOHTTP_ERRORS)
def test_the_httpx_error_raised_for_httpx_means_the_same(
    error: aiohttp.ClientError, mapped: type[httpx.TransportError], never_sent: bool
) -> None:
    # What handle_async_request raises for httpx's own send, read by the same
    # table with nothing chained, tells the same story as the aiohttp error.
    failure = classify(mapped("failed"))
    assert failure is not None
    assert failure.never_sent is never_sent


@pytest.mark.parametrize(("error", "mapped", "never_sent"), AIOHTTP_ERRORS)
async def test_an_aiohttp_error_raised_as_it_is_is_classified_once(
    error: aiohttp.ClientError, mapped: type[httpx.TransportError], never_sent: bool
) -> None:
    # The SDK's own path (AiohttpTransport.answer) raises aiohttp's error
    # unwrapped: send_request reads it straight from the one table.
    class Failing(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            raise error

    async with httpx.AsyncClient(transport=Failing()) as http:
        request = http.build_request("POST", f"http://127.0.0.1:9/send?password={SECRET}")
        with pytest.raises(TransportError) as info:
            await send_request(http, request, Redactor(), direct=True)
    assert info.value.outcome_unknown is not never_sent
    assert type(error).__name__ in str(info.value)
    assert SECRET not in str(info.value)


# -- through the SDK: send_request turns them into TransportError --------------------


async def _sdk_failure(http: httpx.AsyncClient, url: str) -> TransportError:
    request = http.build_request("POST", f"{url}/send?password={SECRET}", content=b"{}")
    with pytest.raises(TransportError) as info:
        await bounded(send_request(http, request, Redactor(), direct=True))
    error = info.value
    assert error.__cause__ is None  # nothing that could carry the URL is chained
    assert SECRET not in str(error)
    return error


async def test_sdk_nothing_listening_never_reached_the_service() -> None:
    async with client() as http:
        error = await _sdk_failure(http, f"http://127.0.0.1:{free_port()}")
    assert error.outcome_unknown is False
    assert "ClientConnectorError" in str(error)
    assert "never reached the service" in str(error)


async def test_sdk_all_connections_busy_never_reached_the_service() -> None:
    async with (
        serve(hold_until_stopping) as srv,
        client(
            transport(max_connections=1, max_keepalive_connections=1),
            timeouts=httpx.Timeout(5.0, connect=0.1, pool=0.1),
        ) as http,
        one_busy_connection(srv, http),
    ):
        error = await _sdk_failure(http, srv.url)
    assert error.outcome_unknown is False
    assert "ConnectionTimeoutError" in str(error)
    assert "never reached the service" in str(error)
    assert [r.target for r in srv.requests] == [b"/hold"]


async def _drop(conn: Conn) -> None:
    await conn.request()


async def _stall(conn: Conn) -> None:
    await conn.request()
    await conn.stall()


@pytest.mark.parametrize(
    ("handler", "cause"),
    [
        pytest.param(_drop, "ServerDisconnectedError", id="dropped"),
        pytest.param(_stall, "SocketTimeoutError", id="read-timeout"),
        pytest.param(answer_once(b"garbage\r\n\r\n"), "ClientResponseError", id="not-http"),
        pytest.param(
            answer_once(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
            "ClientPayloadError",
            id="cut-short",
        ),
    ],
)
async def test_sdk_failure_after_the_request_may_have_reached_the_service(
    handler: Handler, cause: str
) -> None:
    async with (
        serve(handler) as srv,
        client(timeouts=httpx.Timeout(5.0, read=0.2)) as http,
    ):
        error = await _sdk_failure(http, srv.url)
    assert error.outcome_unknown is True
    assert cause in str(error)
    assert "may have reached the service" in str(error)
    assert len(srv.requests) == 1


@pytest.mark.parametrize("encoded", [False, True], ids=["plain", "gzip"])
async def test_sdk_reads_the_answer_through_the_transport(encoded: bool) -> None:
    body = b'{"message_id": 429, "status": 1}'
    if encoded:
        packed = gzip.compress(body)
        raw = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (
            len(packed),
            packed,
        )
    else:
        raw = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    async with serve(answer_each(raw)) as srv, client() as http:
        request = http.build_request("GET", srv.url + "/status")
        answer = await send_request(http, request, Redactor(), direct=True)
    assert (answer.status_code, answer.reason_phrase, answer.is_success) == (200, "OK", True)
    assert answer.content == body
    # No httpx.Response either way: a body to decode is decoded by the SDK,
    # within its size bound (_body.py).
    assert type(answer) is BodyAnswer


async def test_sdk_answer_keeps_every_header_and_the_reason() -> None:
    raw = (
        b"HTTP/1.1 429 Slow Down Please\r\nRetry-After: 7\r\nSet-Cookie: a=1\r\n"
        b"Set-Cookie: b=2\r\nContent-Type: text/plain; charset=windows-1251\r\n"
        b"Content-Length: 6\r\n\r\n" + "Привет".encode("cp1251")
    )
    async with serve(answer_each(raw)) as srv, client() as http:
        request = http.build_request("POST", srv.url + "/send", content=b"{}")
        answer = await send_request(http, request, Redactor(), direct=True)
    assert type(answer) is BodyAnswer
    assert (answer.status_code, answer.reason_phrase, answer.is_success) == (
        429,
        "Slow Down Please",
        False,
    )
    assert answer.headers["retry-after"] == "7"
    assert answer.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert text_of(answer) == "Привет"


async def test_sdk_corrupt_gzip_is_an_unexpected_response() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 9\r\n\r\nnot gzip!"
    async with serve(answer_each(raw)) as srv, client() as http:
        request = http.build_request("GET", srv.url + "/status")
        with pytest.raises(UnexpectedResponseError, match="could not be decoded"):
            await send_request(http, request, Redactor(), direct=True)


# -- keep-alive and the connection bound ---------------------------------------------


async def test_sequential_requests_reuse_one_connection() -> None:
    async with serve(answer_each(OK)) as srv, client() as http:
        for _ in range(5):
            assert (await http.get(srv.url + "/")).content == b"ok"
    assert len(srv.requests) == 5
    assert srv.accepted == 1


@pytest.mark.parametrize("announced", [True, False], ids=["connection-close", "silent-close"])
async def test_a_connection_the_server_closed_is_not_reused(announced: bool) -> None:
    closing = b"Connection: close\r\n" if announced else b""
    raw = b"HTTP/1.1 200 OK\r\n" + closing + b"Content-Length: 2\r\n\r\nok"
    async with serve(answer_once(raw)) as srv, client() as http:
        for _ in range(3):
            assert (await http.get(srv.url + "/")).content == b"ok"
            # A silent close reaches the client a moment after the answer.
            await until(lambda: srv.open == 0)
            await asyncio.sleep(0.03)
    assert srv.accepted == 3


async def test_an_idle_connection_expires_after_keepalive_expiry() -> None:
    async with serve(answer_each(OK)) as srv, client(transport(keepalive_expiry=0.05)) as http:
        await http.get(srv.url + "/")
        await http.get(srv.url + "/")
        assert srv.accepted == 1
        await asyncio.sleep(0.15)
        await http.get(srv.url + "/")
    assert srv.accepted == 2


async def test_max_connections_bounds_concurrent_connections() -> None:
    async def slow(conn: Conn) -> None:
        while True:
            await conn.request()
            await asyncio.sleep(0.02)
            await conn.send(OK)

    async with (
        serve(slow) as srv,
        client(transport(max_connections=3, max_keepalive_connections=3)) as http,
    ):
        responses = await asyncio.gather(*(http.get(srv.url + f"/{i}") for i in range(12)))
    assert [r.content for r in responses] == [b"ok"] * 12
    assert len(srv.requests) == 12
    # Three at once, never more, and reused rather than reopened.
    assert srv.most_open == 3
    assert srv.accepted == 3


async def test_no_max_connections_sends_everything_at_once() -> None:
    count = 8
    arrived = asyncio.Event()

    async def gather_then_answer(conn: Conn) -> None:
        await conn.request()
        if len(conn.server.requests) == count:
            arrived.set()
        await asyncio.wait_for(arrived.wait(), 0.5)
        await conn.send(OK)

    async with (
        serve(gather_then_answer) as srv,
        client(transport(max_connections=None, max_keepalive_connections=None)) as http,
    ):
        responses = await asyncio.gather(*(http.get(srv.url + "/") for _ in range(count)))
    assert [r.content for r in responses] == [b"ok"] * count
    assert srv.most_open == count


# -- lifecycle -----------------------------------------------------------------------


async def test_aclose_closes_the_connections() -> None:
    hung_up = asyncio.Event()

    async def answer_then_watch(conn: Conn) -> None:
        await conn.request()
        await conn.send(OK)
        if await conn.reader.read(1) == b"":
            hung_up.set()

    through = transport()
    async with serve(answer_then_watch) as srv, client(through) as http:
        await http.get(srv.url + "/")
        session = through._session
        assert session is not None
        assert not hung_up.is_set()
        await through.aclose()
        await asyncio.wait_for(hung_up.wait(), 0.5)
        assert session.closed
        await through.aclose()  # twice is fine


async def test_a_request_after_aclose_is_refused() -> None:
    through = transport()
    async with serve(answer_each(OK)) as srv, client(through) as http:
        await http.get(srv.url + "/")
        await through.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            await http.get(srv.url + "/")
        with pytest.raises(RuntimeError, match="closed"):
            await through.handle_async_request(httpx.Request("GET", srv.url + "/"))
    # Refused before anything went out.
    assert len(srv.requests) == 1


async def test_a_transport_never_used_closes_cleanly() -> None:
    through = transport()
    await through.aclose()
    await through.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await through.handle_async_request(httpx.Request("GET", "http://127.0.0.1:9/"))
    assert through._session is None  # no session was opened just to be closed
    async with client():
        pass


def test_a_transport_made_outside_any_event_loop_works_inside_one() -> None:
    through = transport()

    async def use() -> bytes:
        async with serve(answer_each(OK)) as srv, client(through) as http:
            return (await http.get(srv.url + "/")).content

    assert asyncio.run(use()) == b"ok"


async def test_closing_leaves_no_unclosed_resource_behind() -> None:
    loop = asyncio.get_running_loop()
    complaints: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: complaints.append(context))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            async with serve(answer_each(OK)) as srv:
                through = transport()
                async with client(through) as http:
                    await asyncio.gather(*(http.get(srv.url + "/") for _ in range(4)))
                del http, through
                gc.collect()
            gc.collect()
    finally:
        loop.set_exception_handler(previous)
    assert [str(w.message) for w in caught] == []
    assert complaints == []
