"""The SMS login and password never show: not in errors, reprs, tracebacks or logs.

Every error path is raised with a recognisable login and password, then
everything a user could see is searched: str and repr of the exception and
of every exception in its __cause__/__context__ chain (with their
attributes), the formatted traceback, every log line of every logger at
DEBUG (httpx's own request log included), and the client's repr.
"""

from __future__ import annotations

import base64
import html
import importlib.util
import json
import logging
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import quote, quote_plus, unquote

import httpx
import pytest
import respx
from _loopback import Loopback as RawLoopback
from _loopback import Reply
from conftest import FakeTime
from test_sms_client import TRANSPORTS, Loopback, closed_port, real_client

from decisiontelecom_async import (
    DecisionTelecomError,
    RetryPolicy,
    ServerError,
    SmsClient,
    SmsErrorCode,
    ValidationError,
)
from decisiontelecom_async._sms_wire import SmsRedactor

SMS_URL = "https://web.it-decision.com/ru/js"
# Markers any leak would carry, in whatever encoding keeps ASCII letters.
LOGIN_MARK = "lgnzq7731"
PASSWORD_MARK = "pwdzq9917"
LOGIN = f"{LOGIN_MARK}@shop"
PASSWORD = f"{PASSWORD_MARK}&p ss#w+rd%Пароль😀"


def leaked_forms() -> list[str]:
    forms = {LOGIN_MARK, PASSWORD_MARK}
    for secret in (LOGIN, PASSWORD):
        forms |= {
            secret,
            quote(secret, safe=""),
            quote(secret),
            quote_plus(secret),
            quote(secret, safe="").lower(),
            base64.b64encode(secret.encode()).decode(),
        }
    return sorted(forms)


def exception_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or any(current is seen for seen in chain):
            continue
        chain.append(current)
        pending += [current.__cause__, current.__context__]
    return chain


def everything_visible(
    exc: BaseException, caplog: pytest.LogCaptureFixture, client: SmsClient
) -> str:
    parts = ["".join(traceback.format_exception(exc)), caplog.text, repr(client)]
    for link in exception_chain(exc):
        parts += [str(link), repr(link), repr(vars(link)), repr(link.args)]
    parts += [record.getMessage() for record in caplog.records]
    return "\n".join(parts)


def assert_nothing_leaked(text: str) -> None:
    lowered = text.lower()
    for form in leaked_forms():
        assert form.lower() not in lowered, f"{form!r} leaked"


@pytest.fixture
def loud(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    return caplog


@pytest.fixture
async def sms(fake_time: FakeTime) -> AsyncIterator[SmsClient]:
    async with SmsClient(LOGIN, PASSWORD) as client:
        client._sleep = fake_time.sleep
        client._clock = fake_time.clock
        yield client


def echo_url(request: httpx.Request) -> httpx.Response:
    # The worst server: an error page that prints the URL it was asked for.
    return httpx.Response(404, text=f"<html><h1>Not found</h1><p>{request.url}</p></html>")


def echo_url_normalised(request: httpx.Request) -> httpx.Response:
    # A server (or proxy) that re-encodes the URL it echoes: lowercase hex.
    return httpx.Response(502, text=f"bad gateway for {str(request.url).lower()}")


def echo_credentials_in_list(_: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text=f'["msgid","{LOGIN} {PASSWORD}"]')


def echo_credentials_as_error(_: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text=f'["error","bad password {PASSWORD}"]')


def echo_in_json_error(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        400,
        json={"name": f"Invalid Parameter: {request.url}", "message": PASSWORD, "code": 1},
    )


def connect_error_with_url(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError(f"cannot reach {request.url}", request=request)


def read_timeout_with_url(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout(f"timed out on {request.url}", request=request)


HTTP_SCENARIOS: dict[str, Callable[[httpx.Request], httpx.Response] | httpx.Response] = {
    **{
        f"sms-error-{int(code)}": httpx.Response(200, text=f'["error",{int(code)}]')
        for code in SmsErrorCode
    },
    "http-401": httpx.Response(401, text="Unauthorized"),
    "http-500": httpx.Response(500, text="<html>Internal Server Error</html>"),
    "http-429": httpx.Response(429, headers={"Retry-After": "3600"}),
    "html": httpx.Response(200, text="<!DOCTYPE html><html>maintenance</html>"),
    "empty": httpx.Response(200, text=""),
    "truncated": httpx.Response(200, text='["msgid","12'),
    "bad-error": httpx.Response(200, text='["error","InvalidNumber"]'),
    "echo-url-404": echo_url,
    "echo-url-normalised": echo_url_normalised,
    "echo-credentials": echo_credentials_in_list,
    "echo-credentials-error": echo_credentials_as_error,
    "echo-json-error": echo_in_json_error,
    "connect-error": connect_error_with_url,
    "read-timeout": read_timeout_with_url,
}
CALLS: dict[str, Callable[[SmsClient], Awaitable[object]]] = {
    "send": lambda client: client.send("380501234567", "Shop", "Hello"),
    "state": lambda client: client.get_status(31885463),
    "balance": lambda client: client.get_balance(),
}


@pytest.mark.parametrize("path", list(CALLS))
@pytest.mark.parametrize("scenario", list(HTTP_SCENARIOS))
async def test_no_error_path_shows_the_credentials(
    sms: SmsClient, loud: pytest.LogCaptureFixture, scenario: str, path: str
) -> None:
    answer = HTTP_SCENARIOS[scenario]
    with respx.mock(base_url=SMS_URL, using="httpx") as router:
        route = router.get(f"/{path}")
        if isinstance(answer, httpx.Response):
            route.mock(return_value=answer)
        else:
            route.mock(side_effect=answer)
        with pytest.raises(DecisionTelecomError) as info:
            await CALLS[path](sms)
    assert_nothing_leaked(everything_visible(info.value, loud, sms))
    assert route.calls.last.request.url.params["password"] == PASSWORD  # it did travel


async def test_httpx_request_log_is_kept_but_scrubbed(
    sms: SmsClient, loud: pytest.LogCaptureFixture
) -> None:
    with respx.mock(base_url=SMS_URL, using="httpx") as router:
        router.get("/send").respond(200, text='["msgid","1"]')
        await sms.send("380501234567", "Shop", "Hello")
    lines = [r.getMessage() for r in loud.records if r.name == "httpx"]
    assert len(lines) == 1
    assert "HTTP Request: GET https://web.it-decision.com/ru/js/send?" in lines[0]
    assert "login=[REDACTED]&password=[REDACTED]&phone=380501234567" in lines[0]
    assert_nothing_leaked(loud.text)


async def test_handler_on_the_httpx_logger_sees_scrubbed_records(sms: SmsClient) -> None:
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(self.format(record))

    handler = Collect(logging.DEBUG)
    httpx_logger = logging.getLogger("httpx")
    old_level = httpx_logger.level
    httpx_logger.addHandler(handler)
    httpx_logger.setLevel(logging.DEBUG)
    try:
        with respx.mock(base_url=SMS_URL, using="httpx") as router:
            router.get("/balance").respond(200, text='["balance":1,"credit":0,"currency":"EUR"]')
            await sms.get_balance()
    finally:
        httpx_logger.removeHandler(handler)
        httpx_logger.setLevel(old_level)
    assert any("/ru/js/balance?" in line for line in seen)
    assert_nothing_leaked("\n".join(seen))


@pytest.mark.network
@TRANSPORTS
async def test_real_connect_failure(
    loud: pytest.LogCaptureFixture, fake_time: FakeTime, transport: str
) -> None:
    base_url = f"http://127.0.0.1:{closed_port()}/ru/js"
    async with real_client(transport, base_url) as client:
        client._sleep = fake_time.sleep
        client._clock = fake_time.clock
        with pytest.raises(DecisionTelecomError) as info:
            await client.get_balance()
    assert info.value.attempts == 4
    assert_nothing_leaked(everything_visible(info.value, loud, client))


@pytest.mark.network
@TRANSPORTS
async def test_real_read_timeout(
    loud: pytest.LogCaptureFixture, fake_time: FakeTime, transport: str
) -> None:
    async with (
        Loopback(lambda _: None) as server,
        real_client(
            transport, server.base_url, timeout=0.05, retry_policy=RetryPolicy(max_retries=1)
        ) as client,
    ):
        client._sleep = fake_time.sleep
        client._clock = fake_time.clock
        with pytest.raises(DecisionTelecomError) as info:
            await client.get_status(5)
    assert info.value.attempts == 2
    assert "timed out" in str(info.value)
    assert_nothing_leaked(everything_visible(info.value, loud, client))
    assert any("/ru/js/state" in target for target in server.targets)


@pytest.mark.network
@TRANSPORTS
async def test_real_server_echoing_the_url(loud: pytest.LogCaptureFixture, transport: str) -> None:
    async with (
        Loopback(lambda target: f"<html>no such page: {target}</html>") as server,
        real_client(transport, server.base_url) as client,
    ):
        with pytest.raises(DecisionTelecomError) as info:
            await client.send("380501234567", "Shop", "Hello")
    assert "no such page" in str(info.value)
    assert_nothing_leaked(everything_visible(info.value, loud, client))


async def test_validation_error(sms: SmsClient, loud: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ValidationError) as info:
        await sms.send(PASSWORD_MARK, "Shop", "Hello")
    # The bad phone is the user's own input and is named; nothing else is.
    text = everything_visible(info.value, loud, sms).replace(f"'{PASSWORD_MARK}'", "")
    assert_nothing_leaked(text)


async def test_requests_hide_their_query(sms: SmsClient) -> None:
    # httpx attaches the request to its own exceptions; its repr shows no query.
    request = sms._get("send", {"phone": "380501234567", "text": "Hi"})
    assert repr(request) == (
        "<Request('GET', 'https://web.it-decision.com/ru/js/send?[query hidden]')>"
    )
    error = httpx.ReadTimeout("timed out", request=request)
    assert_nothing_leaked(repr(vars(error)) + repr(error.request))
    assert request.url.params["password"] == PASSWORD


def test_constructor_errors_do_not_echo_credentials() -> None:
    with pytest.raises(ValueError, match="password") as info:
        SmsClient(LOGIN, "")
    assert_nothing_leaked("".join(traceback.format_exception(info.value)))
    client = SmsClient(LOGIN, PASSWORD)
    assert_nothing_leaked(repr(client) + str(client))


# -- nasty passwords, short logins -----------------------------------------------------
#
# Each password carries a marker word: a partial leak (the part after a quote
# or an "&", say) still shows the marker, whatever the encoding around it.

NASTY_PASSWORDS = {
    "quote-amp-slash": ("Tr0ub4dor'&3/horse!", "horse"),
    "html-specials": ("q\"uo'te<zebra>&#39;&amp;", "zebra"),
    "reserved": ("a&b=c#d+e%f g/kiwi;?@:", "kiwi"),
    "looks-encoded": ("%41%2B%26mango%zz", "mango"),
    "unicode": ("Пароль 😀 plum+€", "plum"),
    "spaces": ("  lime  ", "lime"),
    "common-word": ("timeout", "timeout"),
}


def password_forms(password: str) -> set[str]:
    """The password as a URL library, an HTML page or a JSON body may show it."""
    encoded = {
        password,
        str(httpx.URL("http://h/", params={"p": password}).query, "ascii")[2:],
    }
    if importlib.util.find_spec("yarl") is not None:
        # yarl (the "fast" extra, through aiohttp) encodes a few characters
        # its own way; without it installed nothing can show those forms,
        # and the marker word still catches any partial leak.
        import yarl  # noqa: PLC0415

        encoded |= {
            yarl.URL.build(query={"p": password}).raw_query_string[2:],
            yarl.URL("http://h/?p=" + quote(password, safe="")).raw_query_string[2:],
        }
    for safe in ("", "/", "!*'()", "!$&'()*+,;=:@/?"):
        encoded |= {quote(password, safe=safe), quote_plus(password, safe=safe)}
    forms = set()
    for form in encoded:
        for shown in (form, html.escape(form), html.escape(form).replace("&#x27;", "&#39;")):
            forms |= {shown, shown.lower() if "%" in shown else shown}
    return forms


def visible_texts(exc: BaseException) -> str:
    """What a user sees of an exception: str, repr and attributes along its chain."""
    parts: list[str] = []
    for link in exception_chain(exc):
        parts += [str(link), repr(link), repr(vars(link)), repr(link.args)]
    return "\n".join(parts)


def assert_password_hidden(text: str, password: str, marker: str) -> None:
    for form in password_forms(password):
        assert form not in text, f"{form!r} leaked in {text!r}"
    assert marker not in text, f"marker {marker!r} leaked in {text!r}"


def html_escaped_url(url: str) -> str:
    return html.escape(url).replace("&#x27;", "&#39;")


def _yarl_url(request: httpx.Request) -> str:
    # A server re-encoding the URL with yarl: only with the "fast" extra.
    yarl = pytest.importorskip("yarl", reason="yarl comes with the fast extra")
    return str(yarl.URL(str(request.url)))


ECHOES: dict[str, Callable[[httpx.Request], str]] = {
    "as-sent": lambda request: str(request.url),
    "yarl-re-encoded": _yarl_url,
    "html-escaped": lambda request: f"<p>{html_escaped_url(str(request.url))}</p>",
    "html-escaped-yarl": lambda request: f"<p>{html_escaped_url(_yarl_url(request))}</p>",
    "decoded": lambda request: unquote(str(request.url)),
    "lowercased": lambda request: str(request.url).lower(),
    "json": lambda request: json.dumps({"url": str(request.url), "got": unquote(str(request.url))}),
}


@pytest.mark.parametrize("echo", list(ECHOES))
@pytest.mark.parametrize("name", list(NASTY_PASSWORDS))
async def test_nasty_password_hidden_in_echoed_urls(
    fake_time: FakeTime, name: str, echo: str
) -> None:
    password, marker = NASTY_PASSWORDS[name]
    with respx.mock(base_url=SMS_URL, using="httpx") as router:
        route = router.get("/send").mock(
            side_effect=lambda request: httpx.Response(
                500, text=f"Internal error for {ECHOES[echo](request)} (timeout)"
            )
        )
        async with SmsClient("shop-login", password, max_retries=0) as client:
            with pytest.raises(ServerError) as info:
                await client.send("380501234567", "Shop", "Hello")
    assert route.calls.last.request.url.params["password"] == password
    assert "Internal error for" in str(info.value.body)
    assert_password_hidden(visible_texts(info.value), password, marker)


@pytest.mark.parametrize("name", list(NASTY_PASSWORDS))
async def test_nasty_password_hidden_in_transport_errors(name: str) -> None:
    password, marker = NASTY_PASSWORDS[name]

    def fail(request: httpx.Request) -> httpx.Response:
        shown = f"{request.url} | {html_escaped_url(str(request.url))}"
        if importlib.util.find_spec("yarl") is not None:
            shown += f" | {_yarl_url(request)}"
        raise httpx.ConnectTimeout(f"timed out on {shown}", request=request)

    with respx.mock(base_url=SMS_URL, using="httpx") as router:
        router.get("/balance").mock(side_effect=fail)
        async with SmsClient("shop-login", password, max_retries=0) as client:
            with pytest.raises(DecisionTelecomError) as info:
                await client.get_balance()
    assert_password_hidden(visible_texts(info.value), password, marker)


def echo_target_in_500(_: int, target: str) -> Reply:
    # The raw request target, as the transport encoded it, echoed as-is and
    # HTML-escaped: what a careless server's error page does.
    page = f"<html><p>Internal error for {target}</p><p>{html_escaped_url(target)}</p></html>"
    return Reply(status=500, body=page.encode())


@pytest.mark.network
@TRANSPORTS
@pytest.mark.parametrize("name", list(NASTY_PASSWORDS))
async def test_nasty_password_hidden_when_a_real_server_echoes_the_url(
    transport: str, name: str
) -> None:
    password, marker = NASTY_PASSWORDS[name]
    async with (
        RawLoopback(echo_target_in_500) as server,
        real_client(transport, server.base_url, password=password, max_retries=0) as client,
    ):
        with pytest.raises(ServerError) as info:
            await client.send("380501234567", "Shop", "Hello")
    assert "Internal error for" in str(info.value.body)
    assert_password_hidden(visible_texts(info.value), password, marker)


async def test_short_login_is_not_blanked_out_of_ordinary_words() -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout(f"Connection timeout u to {request.url}", request=request)

    with respx.mock(base_url=SMS_URL, using="httpx") as router:
        router.get("/balance").mock(side_effect=fail)
        async with SmsClient("u", "pw-secret", max_retries=0) as client:
            with pytest.raises(DecisionTelecomError) as info:
                await client.get_balance()
    text = str(info.value)
    assert "Connection timeout u to" in text
    # A URL quoted in a library's message loses its whole query string.
    assert "/ru/js/balance?…" in text
    assert "pw-secret" not in text


@pytest.mark.parametrize(
    ("login", "text", "shown"),
    [
        ("u", "Connection timeout (user u)", "Connection timeout (user u)"),
        ("u", "GET /send?login=u&password=x", "GET /send?login=[REDACTED]&password=[REDACTED]"),
        ("u", "<a href='/send?x=1&amp;LOGIN=u'>", "<a href='/send?x=1&amp;LOGIN=[REDACTED]"),
        ("a&b", "echo: login=a&b&phone=1", "echo: login=[REDACTED]&phone=1"),
        ("bob", "bob's login=bob, LOGIN=bob", "bob's login=[REDACTED], LOGIN=[REDACTED]"),
        ("shop", "welcome shop, c2hvcA==", "welcome [REDACTED], [REDACTED]"),
        ("shop@x", "user shop%40x, shop%40x", "user [REDACTED], [REDACTED]"),
    ],
)
def test_login_redaction(login: str, text: str, shown: str) -> None:
    assert SmsRedactor(login, "pw-secret")(text) == shown


@pytest.mark.parametrize("password", ["x", "u", "%", "'"])
def test_short_password_is_blanked_everywhere(password: str) -> None:
    redact = SmsRedactor("shop-login", password)
    assert password not in redact(f"a {password} b {quote(password, safe='')} c")
