"""Content-Encoding as a hostile (or merely odd) server sends it (issue 10, item 6).

HTTP lets a server list codings in one ``Content-Encoding`` header or in
several (RFC 9110 5.3: repeated fields are one comma-joined list). Both
transports must read the same list, decode every layer within the size
bound, and agree on the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
from collections.abc import AsyncIterator
from typing import Any, Self

import httpx
import pytest

from decisiontelecom_async import UnexpectedResponseError, ViberClient, ViberMessage

pytestmark = pytest.mark.network

ANSWER = b'{"message_id": 429}'


class _Server:
    """Answers every request with ``body`` and the given header lines."""

    def __init__(self, body: bytes, headers: tuple[str, ...]) -> None:
        self.body = body
        self.headers = headers
        self.base_url = ""
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                for line in head.decode("latin-1").split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length" and int(value):
                        await reader.readexactly(int(value))
                lines = ["HTTP/1.1 200 OK", f"Content-Length: {len(self.body)}", *self.headers]
                writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + self.body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/v1/api"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@contextlib.asynccontextmanager
async def _viber(transport: str, base_url: str) -> AsyncIterator[Any]:
    async with contextlib.AsyncExitStack() as stack:
        options: dict[str, Any] = {"base_url": base_url}
        if transport == "httpx":
            options["http_client"] = await stack.enter_async_context(httpx.AsyncClient())
        yield await stack.enter_async_context(ViberClient("key-r1", **options))


TRANSPORTS = pytest.mark.parametrize("transport", ["own", "httpx"])
MESSAGE = ViberMessage("Shop", "380501234567", "hi")


@TRANSPORTS
@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (
            gzip.compress(gzip.compress(ANSWER)),
            ("Content-Encoding: gzip", "Content-Encoding: gzip"),
        ),
        (gzip.compress(ANSWER), ("Content-Encoding: identity", "Content-Encoding: gzip")),
        (gzip.compress(ANSWER), ("Content-Encoding: gzip", "Content-Encoding: identity")),
    ],
    ids=["gzip-twice", "identity-then-gzip", "gzip-then-identity"],
)
async def test_codings_in_several_headers_are_all_undone(
    transport: str, body: bytes, headers: tuple[str, ...]
) -> None:
    async with _Server(body, headers) as server, _viber(transport, server.base_url) as client:
        assert await client.send(MESSAGE) == 429


@TRANSPORTS
async def test_a_bomb_behind_several_headers_is_refused(transport: str) -> None:
    # 64 MiB of zeros, gzipped twice: about 100 bytes on the wire.
    bomb = gzip.compress(gzip.compress(bytes(64 * 1024 * 1024)))
    headers = ("Content-Encoding: gzip", "Content-Encoding: gzip")
    async with _Server(bomb, headers) as server, _viber(transport, server.base_url) as client:
        with pytest.raises(UnexpectedResponseError, match="larger than"):
            await client.send(MESSAGE)
