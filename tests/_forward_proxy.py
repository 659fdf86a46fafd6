"""A tiny HTTP forward proxy on 127.0.0.1 for tests that check ``proxy=``.

It takes absolute-form requests (``POST http://127.0.0.1:PORT/path HTTP/1.1``),
as a client configured with a proxy sends them for a plain-HTTP origin,
forwards each to that origin over a fresh connection, and relays the answer.
It counts what it forwards and keeps every ``Proxy-Authorization`` it saw; with
``credentials`` set it refuses anything else with ``407``. No ``CONNECT``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from urllib.parse import SplitResult, urlsplit

import attrs
from _loopback import serve_connection


@attrs.define
class ForwardProxy:
    credentials: tuple[str, str] | None = None
    url: str = ""
    forwarded: int = 0
    refused: int = 0
    request_lines: list[str] = attrs.Factory(list)
    proxy_authorizations: list[str | None] = attrs.Factory(list)
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = attrs.Factory(set)

    @property
    def expected_authorization(self) -> str | None:
        if self.credentials is None:
            return None
        token = base64.b64encode(":".join(self.credentials).encode()).decode()
        return f"Basic {token}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_connection(self._one, reader, writer, self._writers)

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        line = await reader.readline()
        if not line:
            return False
        method, target, version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        self.request_lines.append(f"{method} {target} {version}")
        headers: list[tuple[str, str]] = []
        authorization = None
        length = 0
        while True:
            header = await reader.readline()
            if header in (b"\r\n", b""):
                break
            name, _, value = header.decode("latin-1").partition(":")
            name, value = name.strip(), value.strip()
            if name.lower() == "proxy-authorization":
                authorization = value
                continue
            if name.lower() == "content-length":
                length = int(value)
            headers.append((name, value))
        body = await reader.readexactly(length) if length else b""
        self.proxy_authorizations.append(authorization)
        if self.credentials is not None and authorization != self.expected_authorization:
            self.refused += 1
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n'
            )
            await writer.drain()
            return True
        origin = urlsplit(target)
        if origin.scheme != "http" or not origin.hostname:
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return False
        self.forwarded += 1
        answer = await self._forward(method, origin, headers, body)
        writer.write(answer)
        await writer.drain()
        return True

    @staticmethod
    async def _forward(
        method: str, origin: SplitResult, headers: list[tuple[str, str]], body: bytes
    ) -> bytes:
        path = origin.path + (f"?{origin.query}" if origin.query else "")
        up_reader, up_writer = await asyncio.open_connection(origin.hostname, origin.port)
        try:
            kept = [(n, v) for n, v in headers if n.lower() not in ("connection", "keep-alive")]
            head = [f"{method} {path} HTTP/1.1", *(f"{n}: {v}" for n, v in kept)]
            head.append("Connection: close")
            up_writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            await up_writer.drain()
            status_line = await up_reader.readline()
            answer_headers: list[bytes] = []
            answer_length = 0
            while True:
                header = await up_reader.readline()
                if header in (b"\r\n", b""):
                    break
                name, _, value = header.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    answer_length = int(value)
                if name.strip().lower() != "connection":
                    answer_headers.append(header)
            content = await up_reader.readexactly(answer_length) if answer_length else b""
        finally:
            up_writer.close()
            with contextlib.suppress(Exception):
                await up_writer.wait_closed()
        return status_line + b"".join(answer_headers) + b"\r\n" + content

    async def __aenter__(self) -> ForwardProxy:  # noqa: PYI034 - attrs class, not subclassed
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()
