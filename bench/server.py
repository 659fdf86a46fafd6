"""A loopback stand-in for the service, fast enough that the client is the bottleneck.

Run it in its own process (``python bench/server.py``); it prints its port
on the first line of stdout. It answers every ``POST`` with
``{"message_id": <n>}`` over HTTP/1.1 keep-alive, parsing no more than it
must (a raw asyncio protocol, no framework). Three knobs, set between runs
by ``GET /__reset?latency_ms=..&rate=..&burst=..``:

* ``latency_ms``: answer each request that many milliseconds late (the
  "latency mode": client concurrency, not client CPU, decides throughput);
* ``rate`` and ``burst``: a token bucket of ``rate`` requests per second
  holding ``burst`` tokens; a request finding it empty is answered 429 with
  the service's error object and ``Retry-After: 1``.

``GET /__stats`` returns the counts since the last reset and the server's
own CPU seconds over them, so the reader can see the server's cost per
request next to the client's.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from urllib.parse import parse_qs, urlsplit

_OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
_LIMITED_BODY = (
    b'{"name":"Too Many Requests","message":"Rate limit exceeded","code":0,"status":429}'
)
_LIMITED = (
    b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
    b"Content-Length: " + str(len(_LIMITED_BODY)).encode() + b"\r\n\r\n" + _LIMITED_BODY
)


class State:
    """The knobs and the counts, shared by every connection."""

    def __init__(self) -> None:
        self.reset({})

    def reset(self, query: dict[str, list[str]]) -> None:
        self.latency = float(query.get("latency_ms", ["0"])[0]) / 1000
        rate = float(query.get("rate", ["0"])[0])
        self.rate = rate or None
        self.burst = float(query.get("burst", [str(max(1.0, rate / 10))])[0])
        self.tokens = self.burst
        self.refilled = time.monotonic()
        self.requests = 0
        self.ok = 0
        self.limited = 0
        self.connections = 0
        self.first = 0.0
        self.last = 0.0
        self.cpu = time.process_time()
        self.next_id = 1

    def admit(self) -> bool:
        if self.rate is None:
            return True
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.refilled) * self.rate)
        self.refilled = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def stats(self) -> dict[str, float]:
        cpu = time.process_time() - self.cpu
        return {
            "requests": self.requests,
            "ok": self.ok,
            "limited": self.limited,
            "connections": self.connections,
            "cpu_seconds": cpu,
            "cpu_us_per_request": cpu / self.requests * 1e6 if self.requests else 0.0,
            "ok_window_seconds": self.last - self.first,
        }


STATE = State()


class Http(asyncio.Protocol):
    """One connection: split the byte stream into requests, answer each."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        STATE.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end]
            length = 0
            start = head.find(b"ontent-Length:")
            if start < 0:
                start = head.find(b"ontent-length:")
            if start >= 0:
                stop = head.find(b"\r\n", start)
                length = int(head[start + 14 : stop if stop >= 0 else None])
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            self.buffer = self.buffer[total:]
            self.answer(head)

    def answer(self, head: bytes) -> None:
        assert self.transport is not None
        if head.startswith(b"GET /__"):
            self.control(head)
            return
        STATE.requests += 1
        if not STATE.admit():
            STATE.limited += 1
            self.send(_LIMITED)
            return
        now = time.monotonic()
        if not STATE.ok:
            STATE.first = now
        STATE.last = now
        STATE.ok += 1
        body = b'{"message_id":%d}' % STATE.next_id
        STATE.next_id += 1
        response = _OK_HEAD + str(len(body)).encode() + b"\r\n\r\n" + body
        if STATE.latency:
            asyncio.get_running_loop().call_later(STATE.latency, self.send, response)
        else:
            self.send(response)

    def send(self, response: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response)

    def control(self, head: bytes) -> None:
        target = head.split(b" ", 2)[1].decode()
        url = urlsplit(target)
        if url.path == "/__reset":
            STATE.reset(parse_qs(url.query))
            payload = b"{}"
        else:
            payload = json.dumps(STATE.stats()).encode()
        self.send(_OK_HEAD + str(len(payload)).encode() + b"\r\n\r\n" + payload)

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002
        self.transport = None


async def main() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Http, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    # Serve until the parent closes our stdin.
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.read()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
