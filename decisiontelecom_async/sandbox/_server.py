"""A small HTTP/1.1 server on asyncio streams and h11, for the sandbox.

Why not uvicorn: the sandbox must be able to hang up on a request without
answering, both before and after it did the work, and no ASGI server offers
that (uvicorn answers 500 when the app fails before the response starts).
Owning the socket makes that a plain ``close()``. h11 (the HTTP/1.1 parser
httpx itself is built on, so it is always installed with this package) does
the protocol: keep-alive, chunked bodies, ``Connection: close``, malformed
requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import http
import logging
import time
from collections.abc import Awaitable, Callable

import h11

from decisiontelecom_async.sandbox._app import SandboxReply, SandboxRequest

__all__ = ["LoopbackServer"]

logger = logging.getLogger("decisiontelecom_async.sandbox")

_MAX_BODY = 1024 * 1024
_READ_CHUNK = 64 * 1024

Handler = Callable[[SandboxRequest], Awaitable[SandboxReply]]


class _TooLarge(Exception):
    pass


class LoopbackServer:
    """Serve ``handler`` over HTTP/1.1 until :meth:`close`."""

    def __init__(self, handler: Handler, *, server_name: str) -> None:
        self._handler = handler
        self._server_name = server_name
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.host = ""
        self.port = 0
        self._date_second = 0
        self._date_value = ""

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host``:``port`` (0 picks a free port; read :attr:`port`)."""
        self._server = await asyncio.start_server(self._accept, host, port)
        sockname = self._server.sockets[0].getsockname()
        self.host, self.port = sockname[0], sockname[1]

    async def close(self) -> None:
        """Stop listening and close every open connection."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            await self._serve_connection(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # Only close() cancels these tasks. Ending normally rather than
            # cancelled keeps asyncio's streams (3.11) from logging the
            # cancellation as an error of the connection callback.
            pass
        except Exception:
            logger.exception("sandbox: a connection failed")
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        connection = h11.Connection(h11.SERVER)
        while True:
            try:
                request = await self._read_request(connection, reader, writer)
            except h11.RemoteProtocolError as exc:
                await self._reject(connection, writer, exc.error_status_hint)
                return
            except _TooLarge:
                await self._reject(connection, writer, 413)
                return
            if request is None:
                return
            reply = await self._handler(request)
            if reply.drop:
                # Hang up without a word; the request was read in full, so the
                # client sees a clean close (EOF), not a reset.
                return
            self._write_reply(connection, writer, reply)
            await writer.drain()
            if connection.our_state is h11.MUST_CLOSE or connection.their_state is h11.MUST_CLOSE:
                return
            connection.start_next_cycle()

    @staticmethod
    async def _read_request(
        connection: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> SandboxRequest | None:
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                if connection.they_are_waiting_for_100_continue:
                    # curl asks before sending a body over 1 KiB; say go on.
                    writer.write(
                        connection.send(
                            h11.InformationalResponse(
                                status_code=100, headers=[], reason=b"Continue"
                            )
                        )
                    )
                connection.receive_data(await reader.read(_READ_CHUNK))
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > _MAX_BODY:
                    raise _TooLarge
            elif isinstance(event, h11.EndOfMessage) and head is not None:
                target = head.target.decode("latin-1")
                path, _, query = target.partition("?")
                return SandboxRequest(
                    method=head.method.decode("ascii"),
                    path=path,
                    query=query,
                    headers={
                        name.decode("latin-1"): value.decode("latin-1")
                        for name, value in head.headers
                    },
                    body=bytes(body),
                )
            elif isinstance(event, h11.ConnectionClosed):
                return None

    def _write_reply(
        self, connection: h11.Connection, writer: asyncio.StreamWriter, reply: SandboxReply
    ) -> None:
        headers = [
            *reply.headers,
            ("content-length", str(len(reply.body))),
            ("date", self._date()),
            ("server", self._server_name),
        ]
        try:
            reason = http.HTTPStatus(reply.status).phrase
        except ValueError:
            reason = ""
        response = h11.Response(status_code=reply.status, headers=headers, reason=reason)
        writer.write(
            b"".join(
                (
                    connection.send(response) or b"",
                    connection.send(h11.Data(data=reply.body)) or b"",
                    connection.send(h11.EndOfMessage()) or b"",
                )
            )
        )

    def _date(self) -> str:
        # The Date header changes once a second; format it once a second.
        now = int(time.time())
        if now != self._date_second:
            self._date_second, self._date_value = now, email.utils.formatdate(now, usegmt=True)
        return self._date_value

    async def _reject(
        self, connection: h11.Connection, writer: asyncio.StreamWriter, status: int
    ) -> None:
        if connection.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        with contextlib.suppress(h11.LocalProtocolError):
            self._write_reply(connection, writer, SandboxReply.text(status, b"Bad Request"))
            await writer.drain()
