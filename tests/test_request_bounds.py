"""The request path against servers that misbehave: every call ends, once, bounded.

Three fault servers on raw ``asyncio`` sockets on 127.0.0.1, each run
against every call of both clients, on the client's own transport (aiohttp's
with the ``fast`` extra) and on httpx's own:

* one that reads a request and closes the kept-alive connection without
  answering: no library under the SDK may send that request again;
* one that drip-feeds its answer a byte at a time, which no read timeout
  ever trips: the call's time budget (``RetryPolicy.timeout``) must end it;
* one that answers a small gzip/deflate body that inflates to hundreds of
  MiB: it must be refused without being inflated.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
import tracemalloc
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from decisiontelecom_async import (
    RetryPolicy,
    SmsClient,
    SmsMessage,
    TransportError,
    UnexpectedResponseError,
    ViberClient,
    ViberMessage,
)
from decisiontelecom_async._body import MAX_ANSWER_BYTES

pytestmark = pytest.mark.network

# -- the fault servers -------------------------------------------------------------


class Request:
    """One request as the server read it."""

    def __init__(self, number: int, target: str, body: bytes, head: bytes = b"") -> None:
        self.head = head
        self.number = number
        self.target = target
        self.body = body

    @property
    def receiver(self) -> str:
        """Whom the request is about: the phone, the Viber receiver, the message id."""
        query = parse_qs(urlsplit(self.target).query)
        for key in ("phone", "msgid"):
            if key in query:
                return query[key][0]
        if self.body:
            fields = json.loads(self.body)
            return str(fields.get("destination_addr", fields.get("message_id")))
        return urlsplit(self.target).path


# What the server does with a request once read: write an answer (and
# return True to keep the connection), or return False to close it.
Behaviour = Callable[[Request, asyncio.StreamWriter], Awaitable[bool]]


class FaultServer:
    """A keep-alive HTTP/1.1 server whose ``behaviour`` decides each answer."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests: list[Request] = []
        self.base_url = ""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def received(self) -> Counter[str]:
        return Counter(request.receiver for request in self.requests)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                line, *lines = head[:-4].decode("latin-1").split("\r\n")
                length = 0
                for header in lines:
                    name, _, value = header.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                request = Request(len(self.requests), line.split(" ")[1], body, head)
                self.requests.append(request)
                if not await self.behaviour(request, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # Cancelled by __aexit__ mid-answer (the drip): the test is over.
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

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


def answer(body: bytes, *, headers: tuple[str, ...] = ()) -> bytes:
    head = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def write(writer: asyncio.StreamWriter, data: bytes) -> bool:
    writer.write(data)
    await writer.drain()
    return True


# -- the calls, on both clients and both transports ----------------------------------


# The answer each call understands, as the service would give it.
GOOD_ANSWERS = {
    "viber.send": b'{"message_id": 7}',
    "viber.get_status": b'{"message_id": 7, "status": 1}',
    "sms.send": b'["msgid","7"]',
    "sms.get_status": b'["status","2"]',
    "sms.get_balance": b'["balance":"10.5","credit":"0","currency":"UAH"]',
}
SENDS = {"viber.send", "sms.send"}


def good_answer(request: Request) -> bytes:
    endpoint = urlsplit(request.target).path.rsplit("/", 1)[-1]
    return GOOD_ANSWERS[
        {
            "send-viber": "viber.send",
            "receive-viber": "viber.get_status",
            "send": "sms.send",
            "state": "sms.get_status",
            "balance": "sms.get_balance",
        }[endpoint]
    ]


def call_of(name: str, receiver: str) -> Callable[[Any], Awaitable[object]]:
    calls: dict[str, Callable[[Any], Awaitable[object]]] = {
        "viber.send": lambda c: c.send(ViberMessage("Shop", receiver, "hi")),
        "viber.get_status": lambda c: c.get_status(int(receiver)),
        "sms.send": lambda c: c.send(receiver, "Shop", "hi"),
        "sms.get_status": lambda c: c.get_status(int(receiver)),
        "sms.get_balance": lambda c: c.get_balance(),
    }
    return calls[name]


SMS_LOGIN, SMS_PASSWORD, ACCESS_KEY = "login-5f1e", "pass-9c2b", "key-7d3a"


def assert_no_secret(error: BaseException) -> None:
    for secret in (SMS_LOGIN, SMS_PASSWORD, ACCESS_KEY):
        assert secret not in str(error)
        assert secret not in repr(error)


@contextlib.asynccontextmanager
async def client_for(
    name: str, transport: str, base_url: str, **options: Any
) -> AsyncIterator[Any]:
    async with contextlib.AsyncExitStack() as stack:
        if transport == "httpx":
            options["http_client"] = await stack.enter_async_context(httpx.AsyncClient())
        if name.startswith("sms."):
            client: Any = SmsClient(SMS_LOGIN, SMS_PASSWORD, base_url=base_url, **options)
        else:
            client = ViberClient(ACCESS_KEY, base_url=base_url, **options)
        yield await stack.enter_async_context(client)


CALLS = pytest.mark.parametrize("name", sorted(GOOD_ANSWERS))
TRANSPORTS = pytest.mark.parametrize("transport", ["own", "httpx"])


# -- 1. a dropped answer: sent once, outcome unknown -----------------------------------


@TRANSPORTS
@CALLS
async def test_a_request_whose_answer_is_dropped_leaves_once(name: str, transport: str) -> None:
    # The first call is answered, so the connection is pooled and kept alive;
    # the second request is read and its connection closed without an answer.
    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> bool:
        if request.number == 1:
            return False
        return await write(writer, answer(good_answer(request)))

    # Reads are retried by the SDK; with no retries, every request the server
    # sees beyond one per call came from a library under the SDK.
    policy = None if name in SENDS else RetryPolicy(max_retries=0)
    async with (
        FaultServer(behaviour) as server,
        client_for(name, transport, server.base_url, retry_policy=policy) as client,
    ):
        await call_of(name, "380500000001")(client)
        with pytest.raises(TransportError) as info:
            await call_of(name, "380500000002")(client)
    assert len(server.requests) == 2
    assert_no_secret(info.value)
    assert info.value.outcome_unknown is True
    assert "may have reached the service" in str(info.value)
    assert info.value.attempts == 1


@TRANSPORTS
async def test_sms_send_many_with_dropped_answers_sends_each_sms_once(transport: str) -> None:
    dropped: set[str] = set()

    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> bool:
        if request.number % 10 == 3:
            dropped.add(request.receiver)
            return False
        return await write(writer, answer(b'["msgid","%d"]' % (1000 + request.number)))

    phones = [f"380{500000000 + i}" for i in range(300)]
    async with (
        FaultServer(behaviour) as server,
        client_for("sms.send", transport, server.base_url, max_concurrency=20) as client,
    ):
        outcomes = [
            outcome
            async for outcome in client.send_many(SmsMessage(p, "Shop", "hi") for p in phones)
        ]
    assert len(outcomes) == 300
    # Every SMS reached the service exactly once, dropped answer or not.
    assert server.received() == Counter(phones)
    assert len(dropped) == 30
    for outcome in outcomes:
        phone = phones[outcome.index]
        if phone in dropped:
            assert not outcome.ok
            assert isinstance(outcome.error, TransportError)
            assert outcome.error.outcome_unknown is True
        else:
            assert outcome.ok, outcome.error
            assert outcome.attempts == 1
    assert sum(outcome.ok for outcome in outcomes) == 270


# -- 2. a drip-fed answer: the call's budget ends it -----------------------------------

BUDGET = 1.5
MARGIN = 3.0  # generous: the call ends within the budget; broken, it takes ~20 s


@TRANSPORTS
@CALLS
async def test_a_drip_fed_answer_ends_within_the_call_budget(name: str, transport: str) -> None:
    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> bool:
        # A whole answer, padded so dripping it takes about 20 s; each byte
        # comes well within the read timeout.
        data = answer(good_answer(request), headers=("X-Padding: " + "p" * 30,))
        for byte in data:
            await write(writer, bytes([byte]))
            await asyncio.sleep(0.25)
        return True

    policy = RetryPolicy(timeout=BUDGET)
    async with (
        FaultServer(behaviour) as server,
        client_for(name, transport, server.base_url, timeout=1.0, retry_policy=policy) as client,
    ):
        started = time.monotonic()
        with pytest.raises(TransportError) as info:
            await call_of(name, "380500000001")(client)
        elapsed = time.monotonic() - started
    assert elapsed < BUDGET + MARGIN
    assert_no_secret(info.value)
    assert "time budget" in str(info.value)
    # It may have been processed: the request went out.
    assert info.value.outcome_unknown is True
    assert "may have reached the service" in str(info.value)
    # The budget is spent: nothing was repeated.
    assert len(server.requests) == 1


@TRANSPORTS
async def test_a_call_whose_budget_runs_out_in_the_queue_sends_nothing(transport: str) -> None:
    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> bool:
        for byte in answer(good_answer(request), headers=("X-Padding: " + "p" * 30,)):
            await write(writer, bytes([byte]))
            await asyncio.sleep(0.25)
        return True

    async with (
        FaultServer(behaviour) as server,
        client_for(
            "sms.send",
            transport,
            server.base_url,
            timeout=1.0,
            max_concurrency=1,
            retry_policy=RetryPolicy(timeout=BUDGET),
        ) as client,
    ):
        # The first call holds the client's only slot until its budget ends;
        # the second's shorter budget is spent waiting for that slot.
        first = asyncio.create_task(call_of("sms.send", "380500000001")(client))
        await asyncio.sleep(0)
        with pytest.raises(TransportError) as info:
            await client.send("380500000002", "Shop", "hi", retry_policy=RetryPolicy(timeout=0.5))
        with pytest.raises(TransportError):
            await first
    assert info.value.outcome_unknown is False
    assert "never reached the service" in str(info.value)
    assert "time budget" in str(info.value)
    assert server.received() == Counter({"380500000001": 1})


# -- 6. an answer that inflates: refused, never inflated -------------------------------

BOMB_SIZE = 200 * 1024 * 1024


@functools.cache
def bomb(encoding: str) -> bytes:
    """``BOMB_SIZE`` bytes of zeros, compressed (about 200 KiB)."""
    wbits = zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = bytes(1024 * 1024)
    parts = [packer.compress(block) for _ in range(BOMB_SIZE // len(block))]
    parts.append(packer.flush())
    return b"".join(parts)


@TRANSPORTS
@CALLS
@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_an_answer_that_inflates_is_refused_without_inflating_it(
    name: str, transport: str, encoding: str
) -> None:
    packed = bomb(encoding)
    assert len(packed) < MAX_ANSWER_BYTES

    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> bool:
        return await write(writer, answer(packed, headers=(f"Content-Encoding: {encoding}",)))

    async with (
        FaultServer(behaviour) as server,
        client_for(name, transport, server.base_url) as client,
    ):
        tracemalloc.start()
        try:
            with pytest.raises(UnexpectedResponseError) as info:
                await call_of(name, "380500000001")(client)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert "larger than" in str(info.value)
    # Loosely: the answer was refused long before it was inflated whole.
    assert peak < 40 * 1024 * 1024
    assert len(server.requests) == 1


@TRANSPORTS
@pytest.mark.parametrize("framing", ["length", "chunked"])
async def test_a_plain_answer_over_the_cap_is_refused(transport: str, framing: str) -> None:
    body = b'{"message_id": 7' + b" " * MAX_ANSWER_BYTES + b"}"

    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> bool:
        if framing == "length":
            return await write(writer, answer(body))
        await write(writer, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        step = 64 * 1024
        for start in range(0, len(body), step):
            chunk = body[start : start + step]
            await write(writer, b"%x\r\n%s\r\n" % (len(chunk), chunk))
        return await write(writer, b"0\r\n\r\n")

    async with (
        FaultServer(behaviour) as server,
        client_for("viber.send", transport, server.base_url) as client,
    ):
        with pytest.raises(UnexpectedResponseError) as info:
            await call_of("viber.send", "380500000001")(client)
    assert "larger than" in str(info.value)


@TRANSPORTS
@pytest.mark.parametrize("encoding", ["gzip", "deflate", "identity"])
async def test_an_answer_just_under_the_cap_is_read(transport: str, encoding: str) -> None:
    body = b'{"message_id": 7' + b" " * (MAX_ANSWER_BYTES - 20) + b"}"
    if encoding == "gzip":
        packer = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        data = packer.compress(body) + packer.flush()
    elif encoding == "deflate":
        data = zlib.compress(body)
    else:
        data = body

    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> bool:
        return await write(writer, answer(data, headers=(f"Content-Encoding: {encoding}",)))

    async with (
        FaultServer(behaviour) as server,
        client_for("viber.send", transport, server.base_url) as client,
    ):
        assert await call_of("viber.send", "380500000001")(client) == 7


@TRANSPORTS
async def test_only_the_codings_the_sdk_decodes_within_its_bound_are_asked_for(
    transport: str,
) -> None:
    seen: list[bytes] = []

    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> bool:
        return await write(writer, answer(good_answer(request)))

    async def record(request: Request, writer: asyncio.StreamWriter) -> bool:
        seen.append(request.head)
        return await behaviour(request, writer)

    async with contextlib.AsyncExitStack() as stack:
        server = await stack.enter_async_context(FaultServer(record))
        options: dict[str, Any] = {}
        if transport == "httpx":
            # A client that would take brotli and zstd: the SDK cannot bound those.
            http = httpx.AsyncClient(headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
            options["http_client"] = await stack.enter_async_context(http)
        client = await stack.enter_async_context(
            SmsClient("login", "password", base_url=server.base_url, **options)
        )
        await client.get_balance()
    assert len(seen) == 1
    codings = [
        line.split(b":", 1)[1].strip()
        for line in seen[0].split(b"\r\n")
        if line.lower().startswith(b"accept-encoding:")
    ]
    assert codings == [b"gzip, deflate"]
