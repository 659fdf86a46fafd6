"""Transport failures: was the request sent? Real loopback sockets included."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import respx
from conftest import FakeTime

from decisiontelecom_async import (
    RetryPolicy,
    TransportError,
    UnexpectedResponseError,
    ViberClient,
    ViberMessage,
)

NO_RETRY = RetryPolicy(max_retries=0)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.mark.parametrize(
    ("exc", "outcome_unknown", "words"),
    [
        (httpx.ConnectError("refused"), False, "could not connect"),
        (httpx.ConnectTimeout("slow"), False, "timed out connecting"),
        (httpx.PoolTimeout("busy"), False, "timed out waiting for a free connection"),
        (httpx.UnsupportedProtocol("gopher"), False, "the request failed"),
        (httpx.ReadTimeout("slow"), True, "timed out waiting for the answer"),
        (httpx.WriteTimeout("slow"), True, "timed out sending the request"),
        (httpx.ReadError("reset"), True, "failed while reading the answer"),
        (httpx.WriteError("broken pipe"), True, "failed while sending the request"),
        (httpx.RemoteProtocolError("dropped"), True, "dropped before a complete answer"),
        (httpx.NetworkError("down"), True, "the request failed"),
    ],
)
async def test_transport_failures_tell_whether_the_request_was_sent(
    api: respx.MockRouter,
    client: ViberClient,
    message: ViberMessage,
    exc: Exception,
    outcome_unknown: bool,
    words: str,
) -> None:
    api.post("/send-viber").mock(side_effect=exc)
    with pytest.raises(TransportError) as info:
        await client.send(message, retry_policy=NO_RETRY)
    error = info.value
    assert error.outcome_unknown is outcome_unknown
    assert words in str(error)
    assert type(exc).__name__ in str(error)
    assert str(error).startswith("POST https://web.it-decision.com/v1/api/send-viber: ")
    phase = "may have reached" if outcome_unknown else "never reached"
    assert f"the request {phase} the service" in str(error)
    # httpx's exception is not chained: its request could carry secrets.
    assert error.__cause__ is None
    assert error.__suppress_context__


async def test_undecodable_body_is_an_unexpected_response(
    api: respx.MockRouter, client: ViberClient, message: ViberMessage
) -> None:
    api.post("/send-viber").mock(side_effect=httpx.DecodingError("bad gzip"))
    with pytest.raises(UnexpectedResponseError, match="could not be decoded"):
        await client.send(message)


async def test_redirect_loop_through_a_borrowed_client_is_an_unexpected_response() -> None:
    def redirect(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": str(request.url)})

    transport = httpx.MockTransport(redirect)
    async with (
        httpx.AsyncClient(transport=transport, follow_redirects=True) as http,
        ViberClient("key", http_client=http) as client,
    ):
        with pytest.raises(UnexpectedResponseError, match="too many redirects"):
            await client.send(ViberMessage("Shop", "1", "hi"))


# -- real sockets on loopback ------------------------------------------------------


@contextlib.asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    """A TCP server on 127.0.0.1, port chosen by the OS; yields its base URL."""
    writers: list[asyncio.StreamWriter] = []

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(tracked, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1/api"
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return await reader.readexactly(length)


async def respond(writer: asyncio.StreamWriter, body: dict[str, Any]) -> None:
    content = json.dumps(body).encode()
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(content)}\r\n\r\n".encode()
        + content
    )
    await writer.drain()


@pytest.fixture(params=["default", "httpx"])
def transport_kind(request: pytest.FixtureRequest) -> str:
    """The client's own transport (aiohttp's with the `fast` extra), and httpx's own."""
    kind: str = request.param
    return kind


@contextlib.asynccontextmanager
async def viber(base_url: str, kind: str, **options: Any) -> AsyncIterator[ViberClient]:
    if kind == "default":
        async with ViberClient("key", base_url=base_url, **options) as client:
            yield client
    else:
        async with (
            httpx.AsyncClient() as http,
            ViberClient("key", base_url=base_url, http_client=http, **options) as client,
        ):
            yield client


@pytest.mark.network
async def test_nothing_listening_is_a_failure_that_never_reached_the_service(
    transport_kind: str, fake_time: FakeTime
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/v1/api"
    policy = RetryPolicy(max_retries=2, initial_wait=1.0, jitter=0.0)
    async with viber(base_url, transport_kind, retry_policy=policy) as client:
        client._sleep = fake_time.sleep
        client._clock = fake_time.clock
        with pytest.raises(TransportError) as info:
            await client.send(ViberMessage("Shop", "1", "hi"))
    assert info.value.outcome_unknown is False
    assert "never reached the service" in str(info.value)
    # Provably never sent, so even a send was retried.
    assert info.value.attempts == 3
    assert fake_time.sleeps == [1.0, 2.0]


@pytest.mark.network
async def test_connection_closed_without_an_answer_is_an_unknown_outcome(
    transport_kind: str,
) -> None:
    received: list[bytes] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await read_request(reader))
        writer.close()

    async with serve(swallow) as base_url, viber(base_url, transport_kind) as client:
        with pytest.raises(TransportError) as info:
            await client.send(ViberMessage("Shop", "1", "hi"))
    assert info.value.outcome_unknown is True
    assert "may have reached the service" in str(info.value)
    # The service got it once; the send was not repeated.
    assert len(received) == 1
    assert json.loads(received[0])["text"] == "hi"
    assert info.value.attempts == 1


@pytest.mark.network
async def test_a_read_retried_after_a_dropped_connection(
    transport_kind: str, fake_time: FakeTime
) -> None:
    seen = 0

    async def flaky(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal seen
        while True:
            await read_request(reader)
            seen += 1
            if seen == 1:
                return  # drop the first one unanswered
            await respond(writer, {"message_id": 429, "status": 1})

    async with serve(flaky) as base_url, viber(base_url, transport_kind) as client:
        client._sleep = fake_time.sleep
        client._clock = fake_time.clock
        receipt = await client.get_status(429)
    assert receipt.message_id == 429
    assert seen == 2


@pytest.mark.network
async def test_read_timeout_is_an_unknown_outcome(transport_kind: str) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async with serve(silent) as base_url, viber(base_url, transport_kind, timeout=0.2) as client:
        with pytest.raises(TransportError) as info:
            await client.send(ViberMessage("Shop", "1", "hi"))
    assert info.value.outcome_unknown is True
    assert "timed out waiting for the answer" in str(info.value)
    assert info.value.attempts == 1


@pytest.mark.network
async def test_the_pool_never_holds_back_max_concurrency_requests() -> None:
    max_concurrency = 12
    active = 0
    most = 0
    all_in = asyncio.Event()

    async def gather_then_answer(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal active, most
        while True:
            await read_request(reader)
            active += 1
            most = max(most, active)
            if active == max_concurrency:
                all_in.set()
            # A pool smaller than max_concurrency never lets them all in.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_in.wait(), timeout=2.0)
            active -= 1
            await respond(writer, {"message_id": 429})

    options: dict[str, Any] = {"max_concurrency": max_concurrency}
    async with serve(gather_then_answer) as base_url, viber(base_url, "default", **options) as c:
        results = await asyncio.gather(
            *(c.send(ViberMessage("Shop", str(n + 1), "hi")) for n in range(3 * max_concurrency))
        )
    assert results == [429] * (3 * max_concurrency)
    assert all_in.is_set()
    assert most == max_concurrency


def test_a_url_quoted_in_a_library_message_loses_its_whole_query() -> None:
    from decisiontelecom_async._http import _transport_error  # noqa: PLC0415
    from decisiontelecom_async._http._failures import classify  # noqa: PLC0415
    from decisiontelecom_async._http._redact import Redactor  # noqa: PLC0415

    password = "Tr0ub4dor'&3/horse!"
    leaked = f"Connection timeout to host http://sms.test/ru/js/send?login=shop&password={password}"
    failed = httpx.ConnectTimeout(leaked)
    failure = classify(failed)
    assert failure is not None
    error = _transport_error("GET http://sms.test/ru/js/send", failed, failure, Redactor())
    assert "Tr0ub4dor" not in str(error)
    assert "horse" not in str(error)
    assert "http://sms.test/ru/js/send?…" in str(error)
