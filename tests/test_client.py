"""ViberClient: requests on the wire, lifecycle, timeouts, concurrency, logging."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import logging
from typing import Any

import httpx
import pytest
import respx
from conftest import ACCESS_KEY, BASE_URL, FakeTime

import decisiontelecom_async
from decisiontelecom_async import (
    MessageReceipt,
    RetryPolicy,
    ServerError,
    SmsStatus,
    ViberClient,
    ViberMessage,
    ViberStatus,
)

SENT = {"message_id": 429}
RECEIPT = {"message_id": 429, "status": 4, "sms_message_id": 36478, "sms_message_status": 2}


class RecordingTransport(httpx.AsyncBaseTransport):
    """Answers every request as the service would, and remembers it."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        lookup = request.url.path.endswith("/receive-viber")
        return httpx.Response(200, json=RECEIPT if lookup else SENT)


# -- requests on the wire ---------------------------------------------------------


async def test_send_and_get_status(
    api: respx.MockRouter, client: ViberClient, message: ViberMessage
) -> None:
    send = api.post("/send-viber").respond(json=SENT)
    lookup = api.post("/receive-viber").respond(json=RECEIPT)
    message_id = await client.send(message)
    receipt = await client.get_status(message_id)
    assert message_id == 429
    assert receipt == MessageReceipt(429, ViberStatus.UNDELIVERED, 36478, SmsStatus.DELIVERED)
    assert receipt.delivered
    assert receipt.is_final
    assert str(send.calls.last.request.url) == f"{BASE_URL}/send-viber"
    assert str(lookup.calls.last.request.url) == f"{BASE_URL}/receive-viber"


async def test_headers(api: respx.MockRouter, client: ViberClient, message: ViberMessage) -> None:
    route = api.post("/send-viber").respond(json=SENT)
    await client.send(message)
    headers = route.calls.last.request.headers
    token = base64.b64encode(ACCESS_KEY.encode()).decode()
    assert headers["Authorization"] == f"Basic {token}"
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith(
        f"decisiontelecom-async/{decisiontelecom_async.__version__} "
    )


async def test_auth_is_the_raw_key_base64_encoded_without_a_colon() -> None:
    transport = RecordingTransport()
    async with (
        httpx.AsyncClient(transport=transport) as http,
        ViberClient("ключ:42", http_client=http) as client,
    ):
        await client.send(ViberMessage("Shop", "1", "hi"))
    assert transport.requests[0].headers["Authorization"] == "Basic 0LrQu9GO0Yc6NDI="


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://example.test/v1/api", "https://example.test/v1/api/send-viber"),
        ("https://example.test/v1/api/", "https://example.test/v1/api/send-viber"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/send-viber"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/send-viber"),
    ],
)
async def test_base_url(base_url: str, expected: str) -> None:
    transport = RecordingTransport()
    async with (
        httpx.AsyncClient(transport=transport) as http,
        ViberClient("key", base_url=base_url, http_client=http) as client,
    ):
        await client.send(ViberMessage("Shop", "1", "hi"))
    assert str(transport.requests[0].url) == expected


async def test_http_client_headers_do_not_replace_ours() -> None:
    transport = RecordingTransport()
    http = httpx.AsyncClient(transport=transport, headers={"X-Trace": "abc", "Accept": "*/*"})
    async with http, ViberClient("key", http_client=http) as client:
        await client.send(ViberMessage("Shop", "1", "hi"))
    headers = transport.requests[0].headers
    assert headers["X-Trace"] == "abc"
    assert headers["Accept"] == "application/json"
    assert headers["Authorization"].startswith("Basic ")


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"access_key": ""}, "access_key"),
        ({"access_key": "  "}, "access_key"),
        ({"access_key": None}, "access_key"),
        ({"base_url": "web.it-decision.com/v1/api"}, "base_url"),
        ({"base_url": "ftp://web.it-decision.com"}, "base_url"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_concurrency": True}, "max_concurrency"),
        ({"max_concurrency": 2.5}, "max_concurrency"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1.0}, "timeout"),
        ({"timeout": float("inf")}, "timeout"),
        ({"timeout": None}, "timeout"),
        ({"rate_limit": 0}, "rate_limit"),
        ({"max_retries": True}, "max_retries"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], words: str) -> None:
    options = {"access_key": "key", **options}
    with pytest.raises(ValueError, match=words):
        ViberClient(**options)


def test_an_access_key_that_cannot_be_encoded_is_refused_without_showing_it() -> None:
    # A UnicodeEncodeError would carry the whole key in its .object.
    key = "secret-\ud800-key"
    with pytest.raises(ValueError, match="access_key must be valid Unicode") as info:
        ViberClient(key)
    assert not isinstance(info.value, UnicodeError)
    assert "secret" not in str(info.value)
    assert info.value.__context__ is None


# -- lifecycle -------------------------------------------------------------------


async def test_context_manager_closes_and_refuses_reuse(
    api: respx.MockRouter, message: ViberMessage
) -> None:
    api.post("/send-viber").respond(json=SENT)
    client = ViberClient("key")
    async with client as entered:
        assert entered is client
        assert not client.is_closed
        await client.send(message)
    assert client.is_closed
    with pytest.raises(RuntimeError, match="ViberClient is closed; create a new one"):
        await client.send(message)
    with pytest.raises(RuntimeError, match="closed"):
        await client.get_status(429)
    with pytest.raises(RuntimeError, match="closed"):
        async with client:
            pass
    await client.aclose()  # a second close does nothing


async def test_entering_twice_is_refused() -> None:
    async with ViberClient("key") as client:
        with pytest.raises(RuntimeError, match="already open"):
            await client.__aenter__()


async def test_aclose_without_context_manager(api: respx.MockRouter, message: ViberMessage) -> None:
    api.post("/send-viber").respond(json=SENT)
    client = ViberClient("key")
    assert await client.send(message) == 429
    await client.aclose()
    assert client._http.is_closed
    with pytest.raises(RuntimeError, match="closed"):
        await client.send(message)


async def test_a_passed_in_http_client_is_never_closed() -> None:
    transport = RecordingTransport()
    async with httpx.AsyncClient(transport=transport) as http:
        async with ViberClient("key", http_client=http) as client:
            await client.send(ViberMessage("Shop", "1", "hi"))
        assert client.is_closed
        assert not http.is_closed
        await ViberClient("key", http_client=http).aclose()
        assert not http.is_closed
        response = await http.get("https://example.test/still-works")
        assert response.status_code == 200


async def test_own_http_client_is_closed() -> None:
    async with ViberClient("key") as client:
        http = client._http
    assert http.is_closed


async def test_garbage_collected_open_client_warns(
    api: respx.MockRouter, message: ViberMessage
) -> None:
    api.post("/send-viber").respond(json=SENT)
    client = ViberClient("key")
    await client.send(message)
    with pytest.warns(ResourceWarning, match="ViberClient was not closed"):  # noqa: PT031 - drop, then collect
        del client
        gc.collect()


async def test_garbage_collected_entered_client_warns() -> None:
    client = ViberClient("key")
    await client.__aenter__()
    http = client._http
    with pytest.warns(ResourceWarning, match="use 'async with' or 'await aclose\\(\\)'"):  # noqa: PT031
        del client
        gc.collect()
    # The warning only tells: nothing was closed behind the user's back.
    assert not http.is_closed
    await http.aclose()


async def test_closed_unused_and_borrowing_clients_do_not_warn(
    recwarn: pytest.WarningsRecorder,
) -> None:
    async with ViberClient("key"):
        pass
    unused = ViberClient("key")
    async with httpx.AsyncClient(transport=RecordingTransport()) as http:
        borrowing = ViberClient("key", http_client=http)
        await borrowing.__aenter__()
        del unused, borrowing
        gc.collect()
    assert [w for w in recwarn if issubclass(w.category, ResourceWarning)] == []


# -- timeouts --------------------------------------------------------------------


def timeouts_of(request: httpx.Request) -> dict[str, float | None]:
    timeout: dict[str, float | None] = request.extensions["timeout"]
    return timeout


async def test_default_timeouts_are_finite_on_every_path(
    api: respx.MockRouter, client: ViberClient, message: ViberMessage
) -> None:
    route = api.post("/send-viber").respond(json=SENT)
    await client.send(message)
    assert timeouts_of(route.calls.last.request) == {
        "connect": 30.0,
        "read": 30.0,
        "write": 30.0,
        "pool": 30.0,
    }
    assert client._http.timeout == httpx.Timeout(30.0)


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        (5, {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}),
        (
            httpx.Timeout(10.0, connect=2.0),
            {"connect": 2.0, "read": 10.0, "write": 10.0, "pool": 10.0},
        ),
    ],
)
async def test_configured_timeout_reaches_the_transport(
    configured: float | httpx.Timeout, expected: dict[str, float]
) -> None:
    transport = RecordingTransport()
    # The borrowed client says "no timeout at all"; the SDK's own still applies.
    async with (
        httpx.AsyncClient(transport=transport, timeout=None) as http,  # noqa: S113 - on purpose
        ViberClient("key", http_client=http, timeout=configured) as client,
    ):
        await client.send(ViberMessage("Shop", "1", "hi"))
        await client.get_status(429)
    assert [timeouts_of(request) for request in transport.requests] == [expected, expected]


async def test_default_timeout_through_a_borrowed_client() -> None:
    transport = RecordingTransport()
    async with (
        httpx.AsyncClient(transport=transport, timeout=None) as http,  # noqa: S113 - on purpose
        ViberClient("key", http_client=http) as client,
    ):
        await client.get_status(429)
    assert set(timeouts_of(transport.requests[0]).values()) == {30.0}


# -- concurrency -----------------------------------------------------------------


class GatedTransport(httpx.AsyncBaseTransport):
    """Holds every request until released, counting how many are in flight."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most = 0
        self.release = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await self.release.wait()
        finally:
            self.in_flight -= 1
        return httpx.Response(200, json=SENT if request.url.path.endswith("viber") else {})


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


@pytest.mark.parametrize("max_concurrency", [1, 3, 7])
async def test_max_concurrency_bounds_requests_in_flight(max_concurrency: int) -> None:
    transport = GatedTransport()
    async with (
        httpx.AsyncClient(transport=transport) as http,
        ViberClient("key", http_client=http, max_concurrency=max_concurrency) as client,
    ):
        sends = [
            asyncio.create_task(client.send(ViberMessage("Shop", str(n + 1), "hi")))
            for n in range(10)
        ]
        lookups = [asyncio.create_task(client.get_status(n + 1)) for n in range(5)]
        await settle()
        assert transport.in_flight == max_concurrency
        assert client.in_flight == max_concurrency
        transport.release.set()
        await asyncio.gather(*sends, *lookups, return_exceptions=True)
    assert transport.most == max_concurrency
    assert client.in_flight == 0
    assert all(task.result() == 429 for task in sends)


# -- logging ---------------------------------------------------------------------


async def test_one_debug_line_per_request_and_per_retry(
    api: respx.MockRouter,
    client: ViberClient,
    message: ViberMessage,
    caplog: pytest.LogCaptureFixture,
    fake_time: FakeTime,
) -> None:
    api.post("/send-viber").mock(
        side_effect=[
            httpx.Response(500),
            httpx.ConnectError("refused"),
            httpx.Response(200, json=SENT),
        ]
    )
    with caplog.at_level(logging.DEBUG, logger="decisiontelecom_async"):
        await client.send(message, retry_policy=RetryPolicy(initial_wait=1.0, jitter=0.0))
    lines = [r.getMessage() for r in caplog.records if r.name == "decisiontelecom_async"]
    assert len(lines) == 5
    assert lines[0].startswith("POST /v1/api/send-viber -> 500 (attempt 1, ")
    assert lines[1] == (
        "retrying POST /v1/api/send-viber after ServerError (status 500) in 1.00s (attempt 2 of 4)"
    )
    assert lines[2].startswith("POST /v1/api/send-viber -> TransportError (attempt 2, ")
    assert lines[3] == (
        "retrying POST /v1/api/send-viber after TransportError (status none) in 2.00s "
        "(attempt 3 of 4)"
    )
    assert lines[4].startswith("POST /v1/api/send-viber -> 200 (attempt 3, ")
    assert all(record.levelno == logging.DEBUG for record in caplog.records)


async def test_nothing_is_logged_above_debug(
    api: respx.MockRouter,
    client: ViberClient,
    message: ViberMessage,
    caplog: pytest.LogCaptureFixture,
) -> None:
    api.post("/send-viber").respond(500)
    with caplog.at_level(logging.INFO, logger="decisiontelecom_async"), pytest.raises(ServerError):
        await client.send(message)
    assert caplog.records == []


def test_repr() -> None:
    client = ViberClient("key", base_url="https://user:pw@example.test/api", max_concurrency=9)
    text = repr(client)
    assert (
        text == "<ViberClient base_url='https://example.test/api' state=unopened max_concurrency=9>"
    )
    assert "pw" not in text
    json.dumps(text)
