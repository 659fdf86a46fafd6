"""A tiny HTTP/1.1 server on 127.0.0.1 for tests that need real sockets.

Each request is answered by a plan: ``plan(number, path) -> Reply`` (or an
awaitable of one), decided once the headers are in; ``number`` counts
requests from 0. A :class:`Reply` can answer (its ``body`` may be a function
of the request body), wait first, or drop the connection before or after
reading the request body.
Keep-alive is supported, so a client reuses its connections as it would
against the real service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

import attrs


async def serve_connection(
    one: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]],
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    writers: set[asyncio.StreamWriter],
) -> None:
    """Answer requests on one kept-alive connection with ``one`` until it says stop.

    ``writers`` holds the open connections, so a server can drop them all.
    """
    writers.add(writer)
    try:
        while await one(reader, writer):
            pass
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writers.discard(writer)
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


@attrs.frozen
class Reply:
    status: int = 200
    body: Any = attrs.Factory(lambda: {"message_id": 1})
    headers: dict[str, str] = attrs.Factory(dict)
    delay: float = 0.0
    drop: Literal["before_body", "after_body"] | None = None


Plan = Callable[[int, str], "Reply | Awaitable[Reply]"]


@attrs.define
class Loopback:
    plan: Plan
    base_url: str = ""
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    connections: int = 0
    bodies: list[bytes] = attrs.Factory(list)
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = attrs.Factory(set)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await serve_connection(self._one, reader, writer, self._writers)

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        line = await reader.readline()
        if not line:
            return False
        _, path, _ = line.decode("latin-1").split(" ", 2)
        length = 0
        while True:
            header = await reader.readline()
            if header in (b"\r\n", b""):
                break
            name, _, value = header.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        number = self.requests
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            planned = self.plan(number, path)
            reply = planned if isinstance(planned, Reply) else await planned
            if reply.drop == "before_body":
                return False
            body = await reader.readexactly(length) if length else b""
            self.bodies.append(body)
            if reply.drop == "after_body":
                return False
            if reply.delay:
                await asyncio.sleep(reply.delay)
            answer = reply.body(body) if callable(reply.body) else reply.body
            payload = answer if isinstance(answer, bytes) else json.dumps(answer)
            data = payload if isinstance(payload, bytes) else payload.encode()
            head = [f"HTTP/1.1 {reply.status} X", f"Content-Length: {len(data)}"]
            head += ["Content-Type: application/json"]
            head += [f"{name}: {value}" for name, value in reply.headers.items()]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
            await writer.drain()
            return True
        finally:
            self.in_flight -= 1

    async def __aenter__(self) -> Loopback:  # noqa: PYI034 - attrs class, not subclassed
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/v1/api"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()


@contextlib.asynccontextmanager
async def loopback(plan: Plan) -> AsyncIterator[Loopback]:
    async with Loopback(plan) as server:
        yield server
