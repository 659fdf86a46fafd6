"""SmsClient: the wire it sends, what it returns, validation, retries, lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from typing import Any, Self
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
import respx
from conftest import FakeTime
from hypothesis import given, settings
from hypothesis import strategies as st

from decisiontelecom_async import (
    CampaignAborted,
    RetryPolicy,
    ServerError,
    SmsApiError,
    SmsBalance,
    SmsClient,
    SmsEncoding,
    SmsErrorCode,
    SmsMessage,
    SmsStatus,
    StatusOutcome,
    StatusTimeoutError,
    TransportError,
    ValidationError,
)
from decisiontelecom_async._sms_models import MAX_TEXT_URL_LENGTH
from decisiontelecom_async._sms_wire import build_query
from decisiontelecom_async.sandbox import Sandbox

SMS_URL = "https://web.it-decision.com/ru/js"
LOGIN = "sms-login"
PASSWORD = "sms-pass"
NASTY = "50% off & free #1 + more: Привет 😀 a=b?c/d;e"


class Loopback:
    """A tiny HTTP/1.1 server on 127.0.0.1 that records raw request targets.

    ``respond`` maps the target to a body to answer with (HTTP 200), or
    ``None`` to never answer (for timeouts).
    """

    def __init__(self, respond: Callable[[str], str | None]) -> None:
        self.respond = respond
        self.targets: list[str] = []
        self.heads: list[str] = []
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._closing = asyncio.Event()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/ru/js"

    def received(self, index: int = -1) -> dict[str, list[str]]:
        """The query of a received request, decoded as a server would."""
        return parse_qs(urlsplit(self.targets[index]).query, strict_parsing=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b"\r\n", 1)[0].split(b" ")[1].decode("ascii")
                self.targets.append(target)
                self.heads.append(head.decode("latin-1").lower())
                body = self.respond(target)
                if body is None:
                    await self._closing.wait()
                    break
                data = body.encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(data), data)
                )
                await writer.drain()
        writer.close()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._closing.set()
        self._server.close()
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        await self._server.wait_closed()


def closed_port() -> int:
    """A loopback port nothing listens on."""
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.asynccontextmanager
async def real_client(
    transport: str,
    base_url: str,
    login: str = LOGIN,
    password: str = PASSWORD,
    **options: Any,
) -> AsyncIterator[SmsClient]:
    """A client on the default transport (aiohttp's, with the extra) or on httpx's own."""
    async with contextlib.AsyncExitStack() as stack:
        if transport == "httpx":
            options["http_client"] = await stack.enter_async_context(httpx.AsyncClient())
        yield await stack.enter_async_context(
            SmsClient(login, password, base_url=base_url, **options)
        )


TRANSPORTS = pytest.mark.parametrize("transport", ["default", "httpx"])


@pytest.fixture
def sms_api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=SMS_URL, assert_all_called=False, using="httpx") as router:
        yield router


@pytest.fixture
async def sms(fake_time: FakeTime) -> AsyncIterator[SmsClient]:
    async with SmsClient(LOGIN, PASSWORD) as client:
        client._sleep = fake_time.sleep
        client._clock = fake_time.clock
        yield client


def params_of(route: respx.Route, index: int = -1) -> dict[str, str]:
    return dict(route.calls[index].request.url.params)


# -- construction ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("login", "password"),
    [("", PASSWORD), ("   ", PASSWORD), (LOGIN, ""), (42, PASSWORD), (LOGIN, 123)],
)
def test_credentials_are_required(login: Any, password: Any) -> None:
    with pytest.raises(ValueError, match="must be a non-empty string") as info:
        SmsClient(login, password)
    assert PASSWORD not in str(info.value)


@pytest.mark.parametrize(
    ("login", "password", "field"),
    [("log\udc80in", PASSWORD, "login"), (LOGIN, "pa\ud800ss", "password")],
)
def test_credentials_that_cannot_be_encoded_are_refused_at_construction(
    login: str, password: str, field: str
) -> None:
    # Otherwise every call raises UnicodeEncodeError, whose .object is the secret.
    with pytest.raises(ValueError, match=f"{field} must be valid Unicode") as info:
        SmsClient(login, password)
    assert not isinstance(info.value, UnicodeError)
    assert password not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None


@pytest.mark.parametrize(
    "options",
    [
        {"max_concurrency": 0},
        {"max_retries": -1},
        {"rate_limit": 0},
        {"timeout": -1},
        {"base_url": "ftp://example.com"},
    ],
)
def test_options_are_checked_as_on_viber_client(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(options))):
        SmsClient(LOGIN, PASSWORD, **options)


def test_options_are_kept() -> None:
    policy = RetryPolicy(max_retries=7)
    client = SmsClient(LOGIN, PASSWORD, max_concurrency=4, retry_policy=policy, rate_limit=5)
    assert client.max_concurrency == 4
    assert client.retry_policy is policy
    assert client._throttle.rate_limit == 5
    assert SmsClient(LOGIN, PASSWORD, max_retries=0).retry_policy.max_retries == 0


# -- send --------------------------------------------------------------------------


async def test_send_sends_every_parameter(sms: SmsClient, sms_api: respx.MockRouter) -> None:
    route = sms_api.get("/send").respond(200, text='["msgid","31885463"]')
    assert await sms.send("380501234567", "MyShop", "Hello") == 31885463
    request = route.calls.last.request
    assert request.method == "GET"
    assert request.url.path == "/ru/js/send"
    assert params_of(route) == {
        "login": LOGIN,
        "password": PASSWORD,
        "phone": "380501234567",
        "sender": "MyShop",
        "text": "Hello",
        "dlr": "1",
    }
    assert request.content == b""
    assert request.headers["Accept"] == "*/*"  # the answers are not JSON


async def test_send_without_delivery_report(sms: SmsClient, sms_api: respx.MockRouter) -> None:
    route = sms_api.get("/send").respond(200, text='["msgid","5"]')
    await sms.send(380501234567, "MyShop", "Hello", delivery_report=False)  # type: ignore[arg-type]
    assert params_of(route)["dlr"] == "0"
    assert params_of(route)["phone"] == "380501234567"


async def test_text_with_reserved_characters_arrives_intact(
    sms: SmsClient, sms_api: respx.MockRouter
) -> None:
    route = sms_api.get("/send").respond(200, text='["msgid","5"]')
    await sms.send("380501234567", "A&B Shop", NASTY)
    assert params_of(route)["text"] == NASTY
    assert params_of(route)["sender"] == "A&B Shop"
    raw = route.calls.last.request.url.raw_path
    assert b"#" not in raw
    assert b"+" not in raw  # a space is %20, a plus %2B: no decoder can disagree
    assert b"%2B" in raw
    assert b"%20" in raw


@pytest.mark.network
@TRANSPORTS
async def test_text_arrives_intact_at_a_real_server(transport: str) -> None:
    password = "p&ss=w#rd+%"
    async with (
        Loopback(lambda _: '["msgid","77"]') as server,
        real_client(transport, server.base_url, password=password) as client,
    ):
        assert await client.send("380501234567", "A&B Shop", NASTY) == 77
        assert await client.send("380501234567", "Shop", "a  b+c%2B") == 77
    first = server.received(0)
    assert first["text"] == [NASTY]
    assert first["sender"] == ["A&B Shop"]
    assert first["password"] == [password]
    assert server.received(1)["text"] == ["a  b+c%2B"]
    assert urlsplit(server.targets[0]).path == "/ru/js/send"
    # A plain GET: no body, so nothing for a strict server or proxy to refuse.
    assert "transfer-encoding" not in server.heads[0]
    assert "content-type" not in server.heads[0]


@pytest.mark.network
@TRANSPORTS
async def test_status_and_balance_at_a_real_server(transport: str) -> None:
    def respond(target: str) -> str:
        if target.startswith("/ru/js/state"):
            return '["status","2"]'
        return '["balance":"10.5","credit":"0","currency":"EUR"]'

    async with (
        Loopback(respond) as server,
        real_client(transport, server.base_url) as client,
    ):
        assert await client.get_status(123) is SmsStatus.DELIVERED
        balance = await client.get_balance()
    assert server.received(0) == {"login": [LOGIN], "password": [PASSWORD], "msgid": ["123"]}
    assert balance == SmsBalance(Decimal("10.5"), Decimal(0), "EUR")


@pytest.mark.parametrize(
    ("arguments", "field", "rule"),
    [
        (("+380501234567", "Shop", "Hi"), "phone", "digits only"),
        (("380 50 123", "Shop", "Hi"), "phone", "digits only"),
        (("", "Shop", "Hi"), "phone", "must not be empty"),
        (("123456", "Shop", "Hi"), "phone", "7 to 15 digits"),
        (("3805012345678901", "Shop", "Hi"), "phone", "7 to 15 digits"),
        (("0501234567", "Shop", "Hi"), "phone", "country code"),
        (("380501234567", "", "Hi"), "sender", "must not be empty"),
        (("380501234567", "VeryLongShop", "Hi"), "sender", "at most 11 characters"),
        (("380501234567", "3805012345678901", "Hi"), "sender", "at most 15 digits"),
        (("380501234567", "Магазин", "Hi"), "sender", "latin letters"),
        (("380501234567", "Shop!", "Hi"), "sender", "latin letters"),
        (("380501234567", " Shop", "Hi"), "sender", "start or end with a space"),
        (("380501234567", "Shop", ""), "text", "must not be empty"),
        (("380501234567", "Shop", "  \n"), "text", "must not be empty"),
        (("380501234567", "Shop", "bad \ud800"), "text", "lone surrogate"),
        (("380501234567", "Shop", "\ud83d"), "text", "lone surrogate"),
        # The text travels in the URL: httpx refuses a URL over 64 KiB, and web
        # servers a request line over 8 KiB, long before the service sees it.
        (("380501234567", "Shop", "a" * 70_000), "text", "at most 7000 characters once"),
        (("380501234567", "Shop", "Ж" * 21_000), "text", "percent-encoded"),
        (("380501234567", "Shop", "Ж" * 1167), "text", "got 7002"),
        (("380501234567", "Shop", None), "text", "must be a string"),
    ],
)
async def test_send_validates_before_sending(
    sms: SmsClient,
    sms_api: respx.MockRouter,
    arguments: tuple[Any, Any, Any],
    field: str,
    rule: str,
) -> None:
    route = sms_api.get("/send").respond(200, text='["msgid","5"]')
    with pytest.raises(ValidationError) as info:
        await sms.send(*arguments)
    assert info.value.fields == (field,)
    assert rule in info.value.problems[0].rule
    assert isinstance(info.value, ValueError)
    assert info.value.attempts == 0
    assert not route.called


async def test_validation_names_every_broken_field(sms: SmsClient) -> None:
    with pytest.raises(ValidationError) as info:
        await sms.send("+1", "", "", delivery_report="yes")  # type: ignore[arg-type]
    assert info.value.fields == ("phone", "sender", "text", "delivery_report")
    assert str(info.value).startswith("invalid SMS (4 problems): phone: ")


@pytest.mark.parametrize(
    ("sender"), ["Shop", "A", "My Shop-1", "a.b_c&d", "380501234567", "123456789012345"]
)
def test_valid_senders(sender: str) -> None:
    assert SmsMessage("380501234567", sender, "Hi").sender == sender


@pytest.mark.parametrize(
    ("text", "encoding", "units", "parts"),
    [
        ("Hello", SmsEncoding.GSM7, 5, 1),
        ("x" * 160, SmsEncoding.GSM7, 160, 1),
        ("x" * 161, SmsEncoding.GSM7, 161, 2),
        ("€" * 80, SmsEncoding.GSM7, 160, 1),
        ("Привет" * 11 + "Прив", SmsEncoding.UCS2, 70, 1),
        ("Привет" * 12, SmsEncoding.UCS2, 72, 2),
        ("😀" * 35, SmsEncoding.UCS2, 70, 1),
    ],
)
def test_message_tells_what_it_is_billed_as(
    text: str, encoding: SmsEncoding, units: int, parts: int
) -> None:
    message = SmsMessage("380501234567", "Shop", text)
    assert message.encoding is encoding
    assert message.length.units == units
    assert message.parts == parts


def test_message_is_immutable_and_defaults_to_a_delivery_report() -> None:
    message = SmsMessage("380501234567", "Shop", "Hi")
    assert message.delivery_report is True
    with pytest.raises(AttributeError):
        message.text = "other"  # type: ignore[misc]


async def test_send_message(sms: SmsClient, sms_api: respx.MockRouter) -> None:
    route = sms_api.get("/send").respond(200, text='["msgid","9"]')
    message = SmsMessage("380501234567", "Shop", "Hi", delivery_report=False)
    assert await sms.send_message(message) == 9
    assert params_of(route)["dlr"] == "0"
    with pytest.raises(TypeError, match="SmsMessage"):
        await sms.send_message(("380501234567", "Shop", "Hi"))  # type: ignore[arg-type]


# -- status and balance -------------------------------------------------------------


async def test_get_status(sms: SmsClient, sms_api: respx.MockRouter) -> None:
    route = sms_api.get("/state").respond(200, text='["status","6"]')
    assert await sms.get_status(31885463) is SmsStatus.ACCEPTED
    assert params_of(route) == {"login": LOGIN, "password": PASSWORD, "msgid": "31885463"}


async def test_empty_status_is_unknown(sms: SmsClient, sms_api: respx.MockRouter) -> None:
    sms_api.get("/state").respond(200, text='["status",""]')
    assert await sms.get_status(1) is SmsStatus.UNKNOWN


@pytest.mark.parametrize("message_id", [0, -1, "12", 1.5, True, None])
async def test_get_status_checks_the_id(
    sms: SmsClient, sms_api: respx.MockRouter, message_id: Any
) -> None:
    route = sms_api.get("/state").respond(200, text='["status","2"]')
    with pytest.raises(ValidationError, match="message_id"):
        await sms.get_status(message_id)
    assert not route.called


async def test_get_balance(sms: SmsClient, sms_api: respx.MockRouter) -> None:
    route = sms_api.get("/balance").respond(
        200, text='["balance":"-791.8391870","credit":"1000","currency":"EUR"]'
    )
    balance = await sms.get_balance()
    assert balance.balance == Decimal("-791.8391870")
    assert balance.credit == Decimal(1000)
    assert balance.currency == "EUR"
    assert params_of(route) == {"login": LOGIN, "password": PASSWORD}


# -- retries follow the failure phase -----------------------------------------------


async def test_send_timeout_after_sending_is_not_retried(
    sms: SmsClient, sms_api: respx.MockRouter
) -> None:
    route = sms_api.get("/send").mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(TransportError) as info:
        await sms.send("380501234567", "Shop", "Hi")
    assert info.value.outcome_unknown
    assert info.value.attempts == 1
    assert route.call_count == 1


async def test_send_timeout_is_retried_when_the_policy_accepts_duplicates(
    sms: SmsClient, sms_api: respx.MockRouter
) -> None:
    route = sms_api.get("/send").mock(
        side_effect=[httpx.ReadTimeout("timed out"), httpx.Response(200, text='["msgid","3"]')]
    )
    policy = RetryPolicy(retry_unknown_outcome=True)
    assert await sms.send("380501234567", "Shop", "Hi", retry_policy=policy) == 3
    assert route.call_count == 2


async def test_send_connect_failure_is_retried(
    sms: SmsClient, sms_api: respx.MockRouter, fake_time: FakeTime
) -> None:
    route = sms_api.get("/send").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, text='["msgid","3"]')]
    )
    assert await sms.send("380501234567", "Shop", "Hi") == 3
    assert route.call_count == 2
    assert len(fake_time.sleeps) == 1


async def test_send_bad_gateway_is_not_retried(sms: SmsClient, sms_api: respx.MockRouter) -> None:
    route = sms_api.get("/send").respond(502, text="<html>Bad Gateway</html>")
    with pytest.raises(ServerError):
        await sms.send("380501234567", "Shop", "Hi")
    assert route.call_count == 1


@pytest.mark.parametrize("path", ["/state", "/balance"])
async def test_reads_retry_every_transient_failure(
    sms: SmsClient, sms_api: respx.MockRouter, path: str
) -> None:
    ok = '["status","2"]' if path == "/state" else '["balance":1,"credit":0,"currency":"EUR"]'
    route = sms_api.get(path).mock(
        side_effect=[
            httpx.ReadTimeout("timed out"),
            httpx.Response(502, text="Bad Gateway"),
            httpx.Response(200, text=ok),
        ]
    )
    result = await (sms.get_status(1) if path == "/state" else sms.get_balance())
    assert result is SmsStatus.DELIVERED or isinstance(result, SmsBalance)
    assert route.call_count == 3


@pytest.mark.parametrize("code", list(SmsErrorCode))
@pytest.mark.parametrize("path", ["/send", "/state", "/balance"])
async def test_sms_api_errors_fail_fast(
    sms: SmsClient, sms_api: respx.MockRouter, code: SmsErrorCode, path: str
) -> None:
    route = sms_api.get(path).respond(200, text=f'["error",{int(code)}]')
    call = {
        "/send": lambda: sms.send("380501234567", "Shop", "Hi"),
        "/state": lambda: sms.get_status(1),
        "/balance": sms.get_balance,
    }[path]
    with pytest.raises(SmsApiError) as info:
        await call()
    assert info.value.code is code
    assert info.value.attempts == 1
    assert route.call_count == 1


async def test_rate_limit_waits_retry_after(
    sms: SmsClient, sms_api: respx.MockRouter, fake_time: FakeTime
) -> None:
    route = sms_api.get("/send").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "2"}),
            httpx.Response(200, text='["msgid","3"]'),
        ]
    )
    assert await sms.send("380501234567", "Shop", "Hi") == 3
    assert route.call_count == 2
    assert 2.0 in fake_time.sleeps


# -- lifecycle and concurrency ------------------------------------------------------


async def test_closed_client_refuses_calls(sms_api: respx.MockRouter) -> None:
    client = SmsClient(LOGIN, PASSWORD)
    async with client:
        pass
    assert client.is_closed
    with pytest.raises(RuntimeError, match="closed"):
        await client.get_balance()
    with pytest.raises(RuntimeError, match="closed"):
        async with client:
            pass


async def test_a_passed_http_client_is_used_and_left_open() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text='["msgid","1"]')

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        async with SmsClient(LOGIN, PASSWORD, http_client=http) as client:
            await client.send("380501234567", "Shop", "Hi there")
        assert not http.is_closed
    assert seen[0].url.params["text"] == "Hi there"


async def test_requests_in_flight_never_exceed_max_concurrency(
    sms_api: respx.MockRouter,
) -> None:
    in_flight = peak = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(5):
            await asyncio.sleep(0)
        in_flight -= 1
        return httpx.Response(200, text='["status","2"]')

    sms_api.get("/state").mock(side_effect=slow)
    async with SmsClient(LOGIN, PASSWORD, max_concurrency=3) as client:
        results = await asyncio.gather(*(client.get_status(n) for n in range(1, 13)))
    assert results == [SmsStatus.DELIVERED] * 12
    assert peak == 3


def test_repr_shows_no_credentials() -> None:
    client = SmsClient(LOGIN, PASSWORD)
    assert repr(client) == (
        "<SmsClient base_url='https://web.it-decision.com/ru/js' state=unopened max_concurrency=50>"
    )
    assert "hidden" in repr(client._credentials)


# -- bulk -----------------------------------------------------------------------------


def numbered_send(
    stop_at: int | None = None, code: int = 49
) -> Callable[[httpx.Request], httpx.Response]:
    """Answer id = the phone's last digits; ``["error", code]`` from call ``stop_at`` on."""
    calls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if stop_at is not None and calls >= stop_at:
            return httpx.Response(200, text=f'["error",{code}]')
        return httpx.Response(200, text=f'["msgid","{request.url.params["phone"][-4:]}"]')

    return answer


async def test_send_many_takes_messages_and_tuples(
    sms: SmsClient, sms_api: respx.MockRouter
) -> None:
    route = sms_api.get("/send").mock(side_effect=numbered_send())
    inputs: list[Any] = [
        SmsMessage("380500000001", "Shop", "one"),
        ("380500000002", "Shop", "two"),
        ("380500000003", "Shop", "three", False),
        ("+380500000004", "Shop", "bad phone"),
        "380500000005",
    ]
    outcomes = {o.index: o async for o in sms.send_many(inputs)}
    assert sorted(outcomes) == [0, 1, 2, 3, 4]
    assert [outcomes[i].message_id for i in range(3)] == [1, 2, 3]
    assert all(outcomes[i].ok and outcomes[i].attempts == 1 for i in range(3))
    assert outcomes[1].message == ("380500000002", "Shop", "two")
    assert isinstance(outcomes[3].error, ValidationError)
    assert outcomes[3].error.fields == ("phone",)
    assert isinstance(outcomes[4].error, ValidationError)
    assert "tuple" in str(outcomes[4].error)
    assert outcomes[3].attempts == outcomes[4].attempts == 0
    assert route.call_count == 3
    sent = [call.request.url.params for call in route.calls]
    assert {p["dlr"] for p in sent if p["phone"].endswith("3")} == {"0"}


@pytest.mark.parametrize("code", [49, 44, 45, 50])
async def test_money_and_credential_errors_stop_a_run(
    sms: SmsClient, sms_api: respx.MockRouter, code: int
) -> None:
    route = sms_api.get("/send").mock(side_effect=numbered_send(stop_at=3, code=code))
    messages = ((f"38050000{n:04d}", "Shop", "hi") for n in range(1, 21))
    outcomes = [o async for o in sms.send_many(messages, concurrency=1)]
    assert len(outcomes) == 20
    assert sorted(o.index for o in outcomes) == list(range(20))
    by_index = {o.index: o for o in outcomes}
    assert by_index[0].ok
    assert by_index[1].ok
    stopper = by_index[2].error
    assert isinstance(stopper, SmsApiError)
    assert stopper.code == code
    assert stopper.attempts == 1
    for index in range(3, 20):
        error = by_index[index].error
        assert isinstance(error, CampaignAborted)
        assert error.cause is stopper
        assert by_index[index].attempts == 0
    assert route.call_count == 3


async def test_an_invalid_number_fails_only_its_own_message(
    sms: SmsClient, sms_api: respx.MockRouter
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.params["phone"].endswith("3"):
            return httpx.Response(200, text='["error",40]')
        return httpx.Response(200, text='["msgid","1"]')

    sms_api.get("/send").mock(side_effect=answer)
    messages = [(f"38050000000{n}", "Shop", "hi") for n in range(1, 6)]
    outcomes = [o async for o in sms.send_many(messages, concurrency=2)]
    failed = [o for o in outcomes if not o.ok]
    assert len(outcomes) == 5
    assert [o.index for o in failed] == [2]
    assert isinstance(failed[0].error, SmsApiError)
    assert failed[0].error.code is SmsErrorCode.INVALID_NUMBER


async def test_get_statuses(sms: SmsClient, sms_api: respx.MockRouter) -> None:
    codes = {"1": "2", "2": "", "3": "5"}
    sms_api.get("/state").mock(
        side_effect=lambda request: httpx.Response(
            200, text=f'["status","{codes[request.url.params["msgid"]]}"]'
        )
    )
    outcomes = {o.index: o async for o in sms.get_statuses([1, 2, 3, 0])}
    assert outcomes[0].receipt is SmsStatus.DELIVERED
    assert outcomes[1].receipt is SmsStatus.UNKNOWN
    assert outcomes[2].receipt is SmsStatus.UNDELIVERABLE
    assert outcomes[2].message_id == 3
    assert isinstance(outcomes[3].error, ValidationError)


async def test_refused_credentials_stop_get_statuses(
    sms: SmsClient, sms_api: respx.MockRouter
) -> None:
    route = sms_api.get("/state").respond(200, text='["error",44]')
    outcomes = [o async for o in sms.get_statuses(range(1, 11), concurrency=1)]
    assert len(outcomes) == 10
    assert route.call_count == 1
    assert sum(isinstance(o.error, CampaignAborted) for o in outcomes) == 9


async def test_bulk_arguments_are_checked_at_the_call(sms: SmsClient) -> None:
    with pytest.raises(TypeError, match="iterable"):
        sms.send_many(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="concurrency"):
        sms.get_statuses([1], concurrency=0)


# -- waiting for a final status -----------------------------------------------------------


async def test_wait_for_final_status_polls_the_sandbox_until_delivered() -> None:
    # 100 simulated seconds a second: delivered after about 0.01 s of real time.
    sandbox = Sandbox(seed=1, time_scale=100, delivery_delay=1.0)
    async with sandbox, sandbox.sms_client() as sms:
        message_id = await sms.send("380501234567", "MyShop", "Your code is 1234")
        status = await sms.wait_for_final_status(
            message_id, timeout=5, poll_interval=0.005, max_poll_interval=0.01
        )
    assert status is SmsStatus.DELIVERED
    assert status.is_final


async def test_wait_for_final_status_times_out_with_the_last_status() -> None:
    async with Sandbox(seed=1, time_scale=0) as sandbox, sandbox.sms_client() as sms:
        message_id = await sms.send("380501234567", "MyShop", "Your code is 1234")
        with pytest.raises(StatusTimeoutError) as caught:
            await sms.wait_for_final_status(message_id, timeout=0.05, poll_interval=0.01)
    error = caught.value
    assert isinstance(error, TimeoutError)
    assert error.message_id == message_id
    assert error.receipt is SmsStatus.ACCEPTED
    assert error.attempts >= 2


async def test_wait_for_final_status_checks_its_arguments_first() -> None:
    async with SmsClient(LOGIN, PASSWORD) as sms:
        with pytest.raises(ValidationError):
            await sms.wait_for_final_status(0, timeout=5)
        with pytest.raises(ValueError, match="timeout"):
            await sms.wait_for_final_status(7, timeout=0)
        with pytest.raises(ValueError, match="poll_interval"):
            sms.wait_for_final_statuses([7], timeout=5, poll_interval=-1)


async def test_wait_for_final_statuses_yields_each_sms_once_final() -> None:
    sandbox = Sandbox(seed=2, time_scale=100, delivery_delay=(0.5, 2.0))
    async with sandbox, sandbox.sms_client(max_concurrency=3) as sms:
        ids = [await sms.send(f"38050123456{n}", "MyShop", f"Sale {n}") for n in range(6)]
        outcomes = [
            o
            async for o in sms.wait_for_final_statuses(
                ids, timeout=5, poll_interval=0.005, max_poll_interval=0.01
            )
        ]
    assert sorted(o.index for o in outcomes) == list(range(6))
    for outcome in outcomes:
        assert isinstance(outcome, StatusOutcome)
        assert outcome.ok
        assert outcome.message_id == ids[outcome.index]
        assert outcome.receipt is SmsStatus.DELIVERED
        assert outcome.attempts >= 1


async def test_wait_for_final_statuses_gives_ids_not_final_a_timeout_outcome() -> None:
    async with Sandbox(seed=3, time_scale=0) as sandbox, sandbox.sms_client() as sms:
        ids = [await sms.send(f"38050123456{n}", "MyShop", "Hi") for n in range(3)]
        outcomes = [
            o async for o in sms.wait_for_final_statuses(ids, timeout=0.05, poll_interval=0.01)
        ]
    assert len(outcomes) == 3
    for outcome in outcomes:
        assert isinstance(outcome.error, StatusTimeoutError)
        assert outcome.receipt is SmsStatus.ACCEPTED


# -- the text's URL-length rule ------------------------------------------------------


@pytest.mark.network
@TRANSPORTS
async def test_a_text_at_the_url_limit_arrives_intact(transport: str) -> None:
    # "Ж" is %D0%96 (6 characters), "a" is 1: 1166 * 6 + 4 = 7000, the limit.
    text = "Ж" * 1166 + "abcd"
    assert len(quote(text, safe="")) == MAX_TEXT_URL_LENGTH
    async with (
        Loopback(lambda _: '["msgid","77"]') as server,
        real_client(transport, server.base_url) as client,
    ):
        assert await client.send("380501234567", "Shop", text) == 77
        with pytest.raises(ValidationError) as info:
            await client.send("380501234567", "Shop", text + "e")
    assert info.value.fields == ("text",)
    assert "got 7001" in str(info.value)
    assert server.received(0)["text"] == [text]
    assert len(server.targets) == 1


@pytest.mark.network
@TRANSPORTS
async def test_a_text_that_cannot_go_out_fails_only_its_own_outcome(transport: str) -> None:
    bad = {3: "a" * 70_000, 6: "Ж" * 21_000, 8: "bad \ud800"}
    inputs = [("380501234567", "Shop", bad.get(index, f"hello {index}")) for index in range(11)]
    async with (
        Loopback(lambda _: '["msgid","77"]') as server,
        real_client(transport, server.base_url) as client,
    ):
        outcomes = {outcome.index: outcome async for outcome in client.send_many(inputs)}
    assert sorted(outcomes) == list(range(11))
    failed = {index for index, outcome in outcomes.items() if not outcome.ok}
    assert failed == set(bad)
    for index in bad:
        error = outcomes[index].error
        assert isinstance(error, ValidationError)
        assert error.fields == ("text",)
        assert outcomes[index].attempts == 0
    assert len(server.targets) == 11 - len(bad)


# Any code point, lone surrogates included (st.characters() leaves category Cs
# out unless told), and texts long enough to reach the URL rule.
_ANY_CHAR = st.one_of(
    st.characters(exclude_categories=()),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=()),
    st.sampled_from("aZ09 &+%#Ж😀€"),
)
_ANY_TEXT = st.one_of(
    st.text(alphabet=_ANY_CHAR, max_size=40),
    st.builds(lambda char, count: char * count, _ANY_CHAR, st.integers(1, 8000)),
)
_REQUEST_LINE_LIMIT = 8190  # Apache's LimitRequestLine; nginx's 8 KiB buffer


@pytest.mark.parametrize("field", ["phone", "sender", "text"])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_string_is_refused_by_name_or_goes_out(field: str, data: st.DataObject) -> None:
    arguments = {"phone": "380501234567", "sender": "Shop", "text": "Hi"}
    arguments[field] = data.draw(_ANY_TEXT)
    try:
        message = SmsMessage(arguments["phone"], arguments["sender"], arguments["text"])
    except ValidationError as exc:
        refused: tuple[str, ...] = exc.fields
    else:
        refused = ()
    if refused:
        assert refused == (field,)
        return
    query = build_query(
        {
            "login": LOGIN,
            "password": PASSWORD,
            "phone": message.phone,
            "sender": message.sender,
            "text": message.text,
            "dlr": "1",
        }
    )
    url = httpx.URL(f"{SMS_URL}/send?{query}")
    assert parse_qs(url.query.decode("ascii"))[field] == [arguments[field]]
    assert len(f"GET {url.raw_path.decode('ascii')} HTTP/1.1") <= _REQUEST_LINE_LIMIT


async def test_send_many_takes_a_stop_rule() -> None:
    async with (
        Sandbox(seed=1, time_scale=0) as sandbox,
        sandbox.sms_client(max_concurrency=2) as sms,
    ):
        messages = [SmsMessage(f"3805012345{n:02d}", "MyShop", f"Sale {n}") for n in range(40)]
        outcomes = [
            o async for o in sms.send_many(messages, stop_when=lambda o: o.index >= 5 and o.ok)
        ]
    assert sorted(o.index for o in outcomes) == list(range(40))
    ok = [o for o in outcomes if o.ok]
    assert 6 <= len(ok) <= 6 + 2
    assert sandbox.stats.requests == len(ok)  # nothing sent after the stop but what was out
    assert all(isinstance(o.error, CampaignAborted) for o in outcomes if not o.ok)
