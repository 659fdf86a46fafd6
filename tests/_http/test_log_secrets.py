"""No credential reaches a log record, even when a real server echoes it back.

A loopback server answers with the request's own credentials: a 302 whose
``Location`` is the full request URL (the SMS login and password in its
query), and an answer that echoes every request header (the Viber
``Authorization``) and the decoded URL in its headers and body. Every
logger is captured at DEBUG (httpx, httpcore, aiohttp and the SDK's own),
on httpx's transport and on the SDK's aiohttp one, and no record may hold a
secret raw, percent-encoded, base64-encoded or as Python prints bytes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Self
from urllib.parse import quote, quote_plus, unquote

import httpx
import pytest

from decisiontelecom_async import (
    DecisionTelecomError,
    SmsClient,
    ViberClient,
    ViberMessage,
)
from decisiontelecom_async import _base_client as base_client_module

# Markers any partial leak would carry; the rest is made of characters that
# URL libraries percent-encode (and Cyrillic, which bytes reprs escape).
KEY_MARK = "vbrzq4471"
LOGIN_MARK = "lgnzq7731"
PASSWORD_MARK = "pwdzq9917"
ACCESS_KEY = f"{KEY_MARK} p@ss w/rd+&=Ключ"
LOGIN = f"{LOGIN_MARK}@sh p/+&="
PASSWORD = f"{PASSWORD_MARK} p@ss w/rd+&=Пароль"
TOKEN = base64.b64encode(ACCESS_KEY.encode()).decode()  # as sent in Authorization


def forms(secret: str) -> set[str]:
    """``secret`` raw, percent-encoded, base64-encoded and as a bytes repr shows it."""
    encoded = base64.b64encode(secret.encode()).decode()
    return {
        secret,
        quote(secret, safe=""),
        quote(secret, safe="").lower(),
        quote(secret),
        quote_plus(secret),
        encoded,
        repr(secret.encode())[2:-1],
        repr(encoded.encode())[2:-1],
    }


LEAKS = sorted(
    {KEY_MARK, LOGIN_MARK, PASSWORD_MARK}
    | forms(ACCESS_KEY)
    | forms(TOKEN)
    | forms(LOGIN)
    | forms(PASSWORD)
)


class EchoServer:
    """A loopback HTTP/1.1 server whose answers echo the request's credentials.

    ``mode`` "redirect": a 302 whose ``Location`` is the full request URL.
    ``mode`` "echo": a 401 that repeats every request header as
    ``X-Echo-<name>``, the URL as sent and decoded in headers, and all of
    it in the body.
    """

    def __init__(self, mode: str, *, hold: asyncio.Event | None = None) -> None:
        self.mode = mode
        self.hold = hold  # when given, each answer waits for it
        self.requests = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._handlers: list[asyncio.Task[None]] = []

    @property
    def origin(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def _answer(self, head: bytes) -> bytes:
        lines = head.decode("latin-1").split("\r\n")
        target = lines[0].split(" ")[1]
        headers = [line.partition(":") for line in lines[1:] if line]
        url = self.origin + target
        if self.mode == "redirect":
            head = f"HTTP/1.1 302 Found\r\nLocation: {url}\r\nContent-Length: 0\r\n\r\n"
            return head.encode("latin-1")
        echoed = [f"X-Echo-{name.strip()}: {value.strip()}" for name, _, value in headers]
        echoed += [f"X-Echo-Url: {url}"]
        body = "\r\n".join([*echoed, f"decoded: {unquote(url)}"]).encode()
        # The decoded URL and the decoded key go out as raw UTF-8 header bytes.
        extra = f"X-Echo-Decoded: {unquote(url)}\r\n".encode()
        for name, _, value in headers:
            if name.strip().lower() == "authorization":
                key = base64.b64decode(value.strip().removeprefix("Basic "))
                extra += b"X-Echo-Key: " + key + b"\r\n"
        status = "HTTP/1.1 401 Unauthorized\r\n" + "\r\n".join(echoed) + "\r\n"
        return (
            status.encode("latin-1")
            + extra
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        task = asyncio.current_task()
        assert task is not None
        self._handlers.append(task)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                length = 0
                for line in head.decode("latin-1").split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                if length:
                    await reader.readexactly(length)
                if self.hold is not None:
                    await self.hold.wait()
                writer.write(self._answer(head))
                await writer.drain()
        writer.close()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        # Each handler sees its connection end and returns; none is left running.
        await asyncio.wait_for(asyncio.gather(*self._handlers, return_exceptions=True), 10)
        await self._server.wait_closed()


@pytest.fixture
def everything(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record of every logger, at DEBUG."""
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "aiohttp", "decisiontelecom_async"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def record_texts(caplog: pytest.LogCaptureFixture) -> str:
    parts = [caplog.text]
    for record in caplog.records:
        parts += [record.getMessage(), repr(record.args), str(record.exc_text)]
    return "\n".join(parts)


def assert_nothing_leaked(text: str) -> None:
    leaked = [form for form in LEAKS if form in text]
    assert not leaked, f"{leaked!r} leaked into the log:\n{text}"


TRANSPORTS = ["httpx", "aiohttp"]


@contextlib.asynccontextmanager
async def http_client_for(
    transport: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[dict[str, Any]]:
    """Options that make a client send through ``transport``, built by the SDK itself."""
    if transport == "httpx":
        # As on a core-only install: the SDK builds its client on httpx's transport.
        monkeypatch.setattr(base_client_module, "fast_transport", lambda *_, **__: None)
    else:
        pytest.importorskip("aiohttp")
    yield {}


def check_transport(client: ViberClient | SmsClient, transport: str) -> None:
    used = type(client._http._transport).__name__
    assert used == ("AiohttpTransport" if transport == "aiohttp" else "AsyncHTTPTransport")


def viber_call(origin: str, **options: Any) -> tuple[Any, Callable[[Any], Any]]:
    client = ViberClient(ACCESS_KEY, base_url=f"{origin}/v1/api", max_retries=0, **options)
    message = ViberMessage("Shop", "380501234567", "Hello")
    return client, lambda c: c.send(message)


def sms_call(origin: str, **options: Any) -> tuple[Any, Callable[[Any], Any]]:
    client = SmsClient(LOGIN, PASSWORD, base_url=f"{origin}/ru/js", max_retries=0, **options)
    return client, lambda c: c.send("380501234567", "Shop", "Hello")


CLIENTS = {"viber": viber_call, "sms": sms_call}


@pytest.mark.network
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("mode", ["redirect", "echo"])
@pytest.mark.parametrize("kind", list(CLIENTS))
async def test_no_secret_in_any_log_record_when_the_server_echoes_it(
    everything: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
    mode: str,
    kind: str,
) -> None:
    async with EchoServer(mode) as server, http_client_for(transport, monkeypatch) as options:
        client, call = CLIENTS[kind](server.origin, **options)
        async with client:
            check_transport(client, transport)
            with pytest.raises(DecisionTelecomError):
                await call(client)
    assert server.requests == 1
    text = record_texts(everything)
    # The capture works: the request was logged, by httpx and by the SDK.
    assert any(r.name == "httpx" for r in everything.records)
    assert any(r.name == "decisiontelecom_async" for r in everything.records)
    if transport == "httpx":
        # httpcore printed the response headers (scrubbed), not nothing.
        assert "receive_response_headers.complete" in text
        assert ("Location" if mode == "redirect" else "X-Echo-") in text
    assert_nothing_leaked(text)


@pytest.mark.network
@pytest.mark.parametrize("mode", ["redirect", "echo"])
@pytest.mark.parametrize("kind", list(CLIENTS))
async def test_no_secret_in_the_log_through_a_passed_in_client_following_redirects(
    everything: pytest.LogCaptureFixture, mode: str, kind: str
) -> None:
    # A user's own httpx client that follows redirects logs every hop.
    async with (
        EchoServer(mode) as server,
        httpx.AsyncClient(follow_redirects=True, max_redirects=3) as http,
    ):
        client, call = CLIENTS[kind](server.origin, http_client=http)
        async with client:
            with pytest.raises(DecisionTelecomError):
                await call(client)
    assert server.requests == (4 if mode == "redirect" else 1)
    assert_nothing_leaked(record_texts(everything))


@pytest.mark.network
async def test_a_request_still_in_flight_when_its_client_closes_is_scrubbed(
    everything: pytest.LogCaptureFixture,
) -> None:
    # On a borrowed http_client, closing the SDK's client leaves its request
    # running; the answer's headers are logged after aclose() returned.
    hold = asyncio.Event()
    async with EchoServer("echo", hold=hold) as server, httpx.AsyncClient() as http:
        client, call = viber_call(server.origin, http_client=http)
        async with client:
            sending = asyncio.create_task(call(client))
            for _ in range(1000):
                if server.requests:
                    break
                await asyncio.sleep(0.01)
            assert server.requests == 1
        assert client.is_closed
        hold.set()
        with pytest.raises(DecisionTelecomError):
            await asyncio.wait_for(sending, 30)
    text = record_texts(everything)
    assert "X-Echo-Authorization" in text  # the late answer was logged
    assert_nothing_leaked(text)
