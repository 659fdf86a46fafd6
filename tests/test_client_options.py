"""The options both clients share: one set, the environment, and ``proxy=``."""

from __future__ import annotations

import base64
import contextlib
import inspect
import logging
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import respx
from _forward_proxy import ForwardProxy
from _loopback import Reply, loopback

import decisiontelecom_async._base_client as base_client_module
from decisiontelecom_async import (
    APIError,
    DecisionTelecomError,
    SmsClient,
    SmsStatus,
    TransportError,
    ViberClient,
    ViberMessage,
)

ACCESS_KEY = "env-access-key-q81"
LOGIN = "env-login-q82"
PASSWORD = "env-password-q83"
PROXY_USER = "proxyuserq84"
PROXY_PASSWORD = "proxy-p@ss-q85"
MESSAGE = ViberMessage("Shop", "380501234567", "Hello")


# -- one set of options --------------------------------------------------------------


def test_both_clients_take_the_same_options_with_the_same_defaults() -> None:
    viber = inspect.signature(ViberClient).parameters
    sms = inspect.signature(SmsClient).parameters
    shared = [
        "base_url",
        "timeout",
        "max_retries",
        "max_concurrency",
        "rate_limit",
        "http_client",
        "retry_policy",
        "proxy",
    ]
    assert list(viber) == ["access_key", *shared]
    assert list(sms) == ["login", "password", *shared]
    for name in shared:
        assert viber[name].kind is inspect.Parameter.KEYWORD_ONLY, name
        assert sms[name].kind is inspect.Parameter.KEYWORD_ONLY, name
        if name != "base_url":
            assert viber[name].default == sms[name].default, name
    assert viber["timeout"].default == 30.0
    assert viber["max_retries"].default == 3
    assert viber["max_concurrency"].default == 50
    assert viber["proxy"].default is None


@pytest.mark.parametrize(
    "make", [lambda **o: ViberClient("k", **o), lambda **o: SmsClient("l", "p", **o)]
)
def test_an_unknown_option_is_refused(make: Callable[..., Any]) -> None:
    with pytest.raises(TypeError, match="timout"):
        make(timout=3)


@pytest.mark.parametrize(
    "make", [lambda **o: ViberClient("k", **o), lambda **o: SmsClient("l", "p", **o)]
)
@pytest.mark.parametrize(
    ("option", "value", "rule"),
    [
        ("max_concurrency", 0, "max_concurrency must be an int >= 1"),
        ("max_retries", -1, "max_retries must be an int >= 0"),
        ("timeout", 0, "timeout must be a positive number"),
        ("base_url", "ftp://x", "base_url must be an absolute http"),
    ],
)
def test_shared_options_are_checked_alike(
    make: Callable[..., Any], option: str, value: object, rule: str
) -> None:
    with pytest.raises(ValueError, match=rule):
        make(**{option: value})


# -- credentials and base URL from the environment ----------------------------------------


async def test_viber_client_reads_key_and_base_url_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DECISIONTELECOM_ACCESS_KEY", ACCESS_KEY)
    monkeypatch.setenv("DECISIONTELECOM_BASE_URL", "https://env.example/v1/api")
    with respx.mock(base_url="https://env.example/v1/api", using="httpx") as api:
        route = api.post("/send-viber").respond(json={"message_id": 7})
        async with ViberClient() as client:
            assert await client.send(MESSAGE) == 7
    assert route.calls.last.request.headers["Authorization"] == (
        "Basic ZW52LWFjY2Vzcy1rZXktcTgx"  # base64("env-access-key-q81")
    )


async def test_explicit_arguments_win_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DECISIONTELECOM_ACCESS_KEY", ACCESS_KEY)
    monkeypatch.setenv("DECISIONTELECOM_BASE_URL", "https://env.example/v1/api")
    with respx.mock(base_url="https://given.example/v1/api", using="httpx") as api:
        route = api.post("/send-viber").respond(json={"message_id": 8})
        async with ViberClient("given-key", base_url="https://given.example/v1/api") as client:
            assert await client.send(MESSAGE) == 8
    assert route.calls.last.request.headers["Authorization"] == "Basic Z2l2ZW4ta2V5"


def test_a_bad_base_url_from_the_environment_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DECISIONTELECOM_SMS_BASE_URL", "127.0.0.1:8080/ru/js")
    with pytest.raises(ValueError, match="DECISIONTELECOM_SMS_BASE_URL"):
        SmsClient("l", "p")
    # An explicit base_url wins: the variable is not even read.
    SmsClient("l", "p", base_url="http://127.0.0.1:8080/ru/js")


def test_an_explicit_empty_key_is_refused_even_with_the_variable_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DECISIONTELECOM_ACCESS_KEY", ACCESS_KEY)
    with pytest.raises(ValueError, match="access_key must be a non-empty string"):
        ViberClient("")


def test_a_missing_access_key_names_the_variable() -> None:
    with pytest.raises(ValueError, match="DECISIONTELECOM_ACCESS_KEY") as caught:
        ViberClient()
    assert "access_key" in str(caught.value)


def test_an_empty_access_key_variable_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DECISIONTELECOM_ACCESS_KEY", "  ")
    with pytest.raises(ValueError, match="DECISIONTELECOM_ACCESS_KEY"):
        ViberClient()


async def test_sms_client_reads_credentials_and_base_url_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DECISIONTELECOM_SMS_LOGIN", LOGIN)
    monkeypatch.setenv("DECISIONTELECOM_SMS_PASSWORD", PASSWORD)
    monkeypatch.setenv("DECISIONTELECOM_SMS_BASE_URL", "https://env.example/ru/js")
    with respx.mock(base_url="https://env.example/ru/js", using="httpx") as api:
        route = api.get("/state").respond(content=b'["status","2"]')
        async with SmsClient() as sms:
            assert await sms.get_status(5) is SmsStatus.DELIVERED
    params = route.calls.last.request.url.params
    assert (params["login"], params["password"]) == (LOGIN, PASSWORD)


async def test_sms_explicit_credentials_win_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DECISIONTELECOM_SMS_LOGIN", LOGIN)
    monkeypatch.setenv("DECISIONTELECOM_SMS_PASSWORD", PASSWORD)
    monkeypatch.setenv("DECISIONTELECOM_SMS_BASE_URL", "https://env.example/ru/js")
    with respx.mock(base_url="https://given.example/ru/js", using="httpx") as api:
        route = api.get("/state").respond(content=b'["status","2"]')
        async with SmsClient("given", "given-pw", base_url="https://given.example/ru/js") as sms:
            await sms.get_status(5)
    params = route.calls.last.request.url.params
    assert (params["login"], params["password"]) == ("given", "given-pw")


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        ({"DECISIONTELECOM_SMS_LOGIN": LOGIN}, "DECISIONTELECOM_SMS_PASSWORD"),
        ({"DECISIONTELECOM_SMS_PASSWORD": PASSWORD}, "DECISIONTELECOM_SMS_LOGIN"),
    ],
)
def test_a_missing_sms_credential_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, present: dict[str, str], missing: str
) -> None:
    for name, value in present.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=missing) as caught:
        SmsClient()
    assert LOGIN not in str(caught.value)
    assert PASSWORD not in str(caught.value)


# -- proxy= --------------------------------------------------------------------------------

TRANSPORTS = ["httpx", "aiohttp"]


def use_transport(transport: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if transport == "httpx":
        # As on a core-only install: the SDK builds its client on httpx's transport.
        monkeypatch.setattr(base_client_module, "fast_transport", lambda *_, **__: None)
    else:
        pytest.importorskip("aiohttp")


def origin_plan(number: int, path: str) -> Reply:
    if "/ru/js/send" in path:
        return Reply(body=b'["msgid","31885463"]')
    if "/ru/js/state" in path:
        return Reply(body=b'["status","2"]')
    if path.endswith("/receive-viber"):
        return Reply(body={"message_id": 11, "status": 1})
    return Reply(body={"message_id": 11})


def proxy_option(proxy: ForwardProxy, form: str, password: str = PROXY_PASSWORD) -> Any:
    host = proxy.url.removeprefix("http://")
    if form == "url":
        quoted = password.replace("@", "%40")
        return f"http://{PROXY_USER}:{quoted}@{host}"
    return httpx.Proxy(proxy.url, auth=(PROXY_USER, password))


def make_client(kind: str, origin: str, **options: Any) -> ViberClient | SmsClient:
    if kind == "viber":
        return ViberClient("k", base_url=origin, max_retries=0, **options)
    return SmsClient(
        "l", "p", base_url=origin.replace("/v1/api", "/ru/js"), max_retries=0, **options
    )


async def two_calls(client: ViberClient | SmsClient) -> None:
    if isinstance(client, ViberClient):
        message_id = await client.send(MESSAGE)
        assert (await client.get_status(message_id)).message_id == 11
    else:
        assert await client.send("380501234567", "Shop", "Hi") == 31885463
        assert await client.get_status(31885463) is SmsStatus.DELIVERED


@contextlib.asynccontextmanager
async def origin_and_proxy(
    credentials: tuple[str, str] | None = (PROXY_USER, PROXY_PASSWORD),
) -> AsyncIterator[tuple[Any, ForwardProxy]]:
    async with loopback(origin_plan) as origin, ForwardProxy(credentials) as proxy:
        yield origin, proxy


@pytest.mark.network
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("kind", ["viber", "sms"])
@pytest.mark.parametrize("form", ["url", "httpx.Proxy"])
async def test_every_request_goes_through_the_proxy_with_its_credentials(
    transport: str, kind: str, form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_transport(transport, monkeypatch)
    async with origin_and_proxy() as (origin, proxy):
        client = make_client(kind, origin.base_url, proxy=proxy_option(proxy, form))
        async with client:
            await two_calls(client)
    assert proxy.forwarded == 2
    assert origin.requests == 2
    origin_url = origin.base_url.rsplit("/v1/api", 1)[0]
    # Absolute-form request lines: the request went to the proxy, for the origin.
    assert all(line.split()[1].startswith(origin_url) for line in proxy.request_lines)
    assert proxy.proxy_authorizations == [proxy.expected_authorization] * 2


@pytest.mark.network
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_proxy_without_credentials_works(
    transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_transport(transport, monkeypatch)
    async with origin_and_proxy(credentials=None) as (origin, proxy):
        client = make_client("viber", origin.base_url, proxy=proxy.url)
        async with client:
            await two_calls(client)
    assert proxy.forwarded == 2
    assert proxy.proxy_authorizations == [None, None]


def assert_no_proxy_secret(text: str) -> None:
    for form in (PROXY_PASSWORD, PROXY_PASSWORD.replace("@", "%40"), "proxy-p%40ss"):
        assert form not in text, text
    token = base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode()
    assert token not in text, text


@pytest.mark.network
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("kind", ["viber", "sms"])
@pytest.mark.parametrize("form", ["url", "httpx.Proxy"])
async def test_proxy_credentials_never_show_in_errors_reprs_or_logs(
    transport: str,
    kind: str,
    form: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    use_transport(transport, monkeypatch)
    caplog.set_level(logging.DEBUG)
    # The proxy wants other credentials: it answers 407.
    async with origin_and_proxy(credentials=("someone", "else")) as (origin, proxy):
        client = make_client(kind, origin.base_url, proxy=proxy_option(proxy, form))
        async with client:
            with pytest.raises(DecisionTelecomError) as refused:
                await two_calls(client)
            shown = [str(refused.value), repr(refused.value), repr(client)]
    assert proxy.refused == 1
    assert proxy.forwarded == 0
    if isinstance(refused.value, APIError):
        assert refused.value.status == 407
    # Nothing listens there any more: the proxy cannot be reached.
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        closed_port = free.getsockname()[1]
    unreachable = (
        f"http://{PROXY_USER}:{PROXY_PASSWORD.replace('@', '%40')}@127.0.0.1:{closed_port}"
    )
    async with make_client(kind, "http://127.0.0.1:9/v1/api", proxy=unreachable) as client:
        with pytest.raises(TransportError) as failed:
            await two_calls(client)
        shown += [str(failed.value), repr(failed.value), repr(client)]
    assert not failed.value.outcome_unknown
    shown += [record.getMessage() for record in caplog.records]
    shown += [str(record.args) for record in caplog.records]
    assert_no_proxy_secret("\n".join(shown))


@pytest.mark.parametrize("kind", ["viber", "sms"])
async def test_proxy_and_http_client_together_are_refused(kind: str) -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(ValueError, match="proxy") as caught:
            make_client(
                kind,
                "https://web.it-decision.com/v1/api",
                proxy="http://u:secretpw@h:1",
                http_client=http,
            )
    assert "secretpw" not in str(caught.value)


@pytest.mark.parametrize("kind", ["viber", "sms"])
@pytest.mark.parametrize("value", ["socks9://u:secretpw@h:1", "u:secretpw@h", 42])
def test_a_bad_proxy_is_refused_without_echoing_it(kind: str, value: object) -> None:
    with pytest.raises((ValueError, TypeError), match="proxy") as caught:
        make_client(kind, "https://web.it-decision.com/v1/api", proxy=value)
    assert "secretpw" not in str(caught.value)
