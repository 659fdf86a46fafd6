"""The call's time budget against waits before a request leaves (issue 10, item 2).

``RetryPolicy.timeout`` is the whole call's budget, "requests and waits
included". These attacks make a call wait *before* its request can go out,
on a real loopback server and both transports: behind the client's rate
ceiling, behind a 429 pause that another call's answer started, and behind
a slow request that holds the client's only slot. Each wait is far longer
than the call's budget; the call must end with a :class:`TransportError`
that says nothing was sent, long before the wait would be over, and the
server must see no request from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any, Self

import httpx
import pytest

from decisiontelecom_async import RetryPolicy, SmsClient, TransportError, ViberClient, ViberMessage

pytestmark = pytest.mark.network

# The queue waits below are WAIT seconds; a call's budget is BUDGET. A call
# still waiting at BOUND has waited out far more than its budget (a generous
# bound, so a slow machine does not fail the test).
WAIT = 30.0
BUDGET = 0.5
BOUND = 10.0

ANSWERS = {
    "balance": b'["balance":"10.5","credit":"0","currency":"UAH"]',
    "receive-viber": b'{"message_id": 7, "status": 1}',
}


class _Server:
    """Answers each request well, except those whose number is in ``hold``.

    A held request is read and then left without an answer until the test
    ends; ``first_429`` answers the first request with a 429 instead.
    """

    def __init__(self, *, hold: frozenset[int] = frozenset(), first_429: bool = False) -> None:
        self.hold = hold
        self.first_429 = first_429
        self.paths: list[str] = []
        self.first_read = asyncio.Event()
        self.base_url = ""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                if length:
                    await reader.readexactly(length)
                path = lines[0].split(" ")[1].split("?")[0]
                number = len(self.paths)
                self.paths.append(path)
                self.first_read.set()
                if number in self.hold:
                    await asyncio.sleep(WAIT)
                    return
                if number == 0 and self.first_429:
                    body = b'{"name":"Too Many Requests","message":"x","code":0,"status":429}'
                    head_lines = ["HTTP/1.1 429 X", f"Retry-After: {WAIT:.0f}"]
                else:
                    body = ANSWERS[path.rsplit("/", 1)[-1]]
                    head_lines = ["HTTP/1.1 200 OK"]
                head_lines.append(f"Content-Length: {len(body)}")
                writer.write(("\r\n".join(head_lines) + "\r\n\r\n").encode() + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/api"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()


@contextlib.asynccontextmanager
async def _client(kind: str, transport: str, base_url: str, **options: Any) -> AsyncIterator[Any]:
    async with contextlib.AsyncExitStack() as stack:
        if transport == "httpx":
            options["http_client"] = await stack.enter_async_context(httpx.AsyncClient())
        client: Any
        if kind == "sms":
            client = SmsClient("login-r1", "pass-r1", base_url=base_url, **options)
        else:
            client = ViberClient("key-r1", base_url=base_url, **options)
        yield await stack.enter_async_context(client)


async def _read(client: Any, kind: str, budget: float) -> object:
    """A read-only call (retried on transient failures) with its own budget."""
    policy = RetryPolicy(timeout=budget, max_retry_after=2 * WAIT)
    if kind == "sms":
        return await client.get_balance(retry_policy=policy)
    return await client.get_status(7, retry_policy=policy)


async def _assert_ends_unsent(client: Any, kind: str) -> None:
    with pytest.raises(TransportError) as info:
        # wait_for only stops the test from hanging; the call must end itself.
        await asyncio.wait_for(_read(client, kind, BUDGET), BOUND)
    assert info.value.outcome_unknown is False
    assert "time budget" in str(info.value)
    assert "never reached the service" in str(info.value)


TRANSPORTS = pytest.mark.parametrize("transport", ["own", "httpx"])
KINDS = pytest.mark.parametrize("kind", ["sms", "viber"])


@TRANSPORTS
@KINDS
async def test_a_wait_for_the_rate_ceiling_ends_within_the_budget(
    kind: str, transport: str
) -> None:
    async with (
        _Server() as server,
        _client(kind, transport, server.base_url, rate_limit=1 / WAIT) as client,
    ):
        await _read(client, kind, 5.0)  # takes the ceiling's one turn for WAIT seconds
        await _assert_ends_unsent(client, kind)
    assert len(server.paths) == 1


@TRANSPORTS
@KINDS
async def test_a_wait_for_a_429_pause_ends_within_the_budget(kind: str, transport: str) -> None:
    async with (
        _Server(first_429=True) as server,
        _client(kind, transport, server.base_url) as client,
    ):
        # The 429's Retry-After pauses the whole client for WAIT seconds.
        with pytest.raises(Exception):  # noqa: B017, PT011 - the first call's fate is not the point
            await asyncio.wait_for(_read(client, kind, BUDGET), BOUND)
        await _assert_ends_unsent(client, kind)
    assert len(server.paths) == 1


@TRANSPORTS
@KINDS
async def test_a_wait_for_a_free_slot_ends_within_the_budget(kind: str, transport: str) -> None:
    async with (
        _Server(hold=frozenset({0})) as server,
        _client(kind, transport, server.base_url, max_concurrency=1) as client,
    ):
        # The first call holds the only slot for as long as the server holds it.
        first = asyncio.create_task(_read(client, kind, WAIT))
        await asyncio.wait_for(server.first_read.wait(), BOUND)
        await _assert_ends_unsent(client, kind)
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first
    assert len(server.paths) == 1


# -- a connect that never completes ----------------------------------------------------


@contextlib.contextmanager
def _unanswered_port() -> Any:
    """A port on 127.0.0.1 whose SYNs go unanswered: its accept queue is full.

    The listener never accepts, and a few half-made connections fill its
    queue (backlog 0), so Linux drops every later SYN: a connect to it hangs
    and no byte of a request can reach anyone.
    """
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


SENDS = {
    "sms": lambda client: client.send("380501234567", "Shop", "hi"),
    "viber": lambda client: client.send(ViberMessage("Shop", "380501234567", "hi")),
}


@TRANSPORTS
@KINDS
async def test_a_budget_spent_connecting_says_the_send_never_left(
    kind: str, transport: str
) -> None:
    # The per-request connect timeout is far longer than the call's budget:
    # the budget is what ends the call, and it must still say (truthfully)
    # that the request never left, or a journal would hold it as unknown.
    with _unanswered_port() as port:
        async with _client(
            kind,
            transport,
            f"http://127.0.0.1:{port}/api",
            timeout=WAIT,
            retry_policy=RetryPolicy(timeout=1.0),
        ) as client:
            with pytest.raises(TransportError) as info:
                await asyncio.wait_for(SENDS[kind](client), BOUND)
    assert info.value.outcome_unknown is False
    assert "never reached the service" in str(info.value)
