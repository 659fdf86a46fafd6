"""A loopback HTTP server with a fixed rate limit, for the adaptive rate's tests and bench.

It answers every request ``{"message_id": n}`` while its token bucket has a
token, and ``429`` with the service's error object and a ``Retry-After``
(fractional seconds until the next token) when it has none. The bucket holds
a tenth of a second's worth of tokens, so a client cannot hide a rate above
the limit behind a burst for long. The limit may change over time
(``schedule(seconds_since_start) -> limit``), to test following a drop.

It counts, per one-second window of its own clock since it started, the
requests it accepted and refused: the tests assert on those counts, never on
the client's timing. Used by ``tests/test_adaptive_rate_loopback.py`` and
``bench/adaptive_rate.py``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Callable

_LIMITED_BODY = (
    b'{"name":"Too Many Requests","message":"Rate limit exceeded","code":0,"status":429}'
)


class LimitedServer:
    """A token bucket of ``schedule(t)`` requests a second, on 127.0.0.1."""

    def __init__(self, schedule: Callable[[float], float]) -> None:
        self.schedule = schedule
        self.base_url = ""
        self.accepted: collections.Counter[int] = collections.Counter()
        self.refused: collections.Counter[int] = collections.Counter()
        self._started = 0.0
        self._tokens = 0.0
        self._refilled = 0.0
        self._next_id = 1
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def elapsed(self) -> float:
        """Seconds on the server's clock since it started."""
        return time.monotonic() - self._started

    def _admit(self) -> float:
        """0 when the request is within the limit, else the seconds until a token."""
        now = time.monotonic()
        limit = self.schedule(now - self._started)
        burst = max(1.0, limit / 10)
        self._tokens = min(burst, self._tokens + (now - self._refilled) * limit)
        self._refilled = now
        window = int(now - self._started)
        if self._tokens >= 1:
            self._tokens -= 1
            self.accepted[window] += 1
            return 0.0
        self.refused[window] += 1
        return max(0.001, (1 - self._tokens) / limit)

    def _answer(self) -> bytes:
        wait = self._admit()
        if wait:
            head = (
                "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
                f"Retry-After: {wait:.3f}\r\nContent-Length: {len(_LIMITED_BODY)}\r\n\r\n"
            )
            return head.encode() + _LIMITED_BODY
        body = b'{"message_id":%d}' % self._next_id
        self._next_id += 1
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if length:
                    await reader.readexactly(length)
                writer.write(self._answer())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def window_counts(self, first: int, last: int) -> list[tuple[int, int]]:
        """``(accepted, refused)`` for each whole window ``first..last`` (inclusive)."""
        return [(self.accepted[w], self.refused[w]) for w in range(first, last + 1)]

    @property
    def total_accepted(self) -> int:
        """Requests accepted since the start."""
        return sum(self.accepted.values())

    @property
    def total_refused(self) -> int:
        """Requests answered 429 since the start."""
        return sum(self.refused.values())

    async def __aenter__(self) -> LimitedServer:  # noqa: PYI034 - not subclassed
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/v1/api"
        self._started = self._refilled = time.monotonic()
        self._tokens = max(1.0, self.schedule(0.0) / 10)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()
