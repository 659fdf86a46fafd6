"""Strings a user can pass to a client's constructor, tried as an adversary would.

Issue 10, item 3: any string either goes out or is refused at construction
with an error naming what and why. The SMS API carries the login and
password in the URL of every request, beside a text of up to
``MAX_TEXT_URL_LENGTH`` characters, so credentials of any length made every
call fail with httpx's own ``InvalidURL: URL too long``; an access key of
the same size broke the Viber client's constructor the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from decisiontelecom_async import SmsClient, ViberClient
from decisiontelecom_async._sms_models import MAX_CREDENTIAL_URL_LENGTH, MAX_TEXT_URL_LENGTH


class _Server:
    """Answers every SMS ``send`` with an id; keeps each request's target."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self.base_url = ""
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.targets.append(head.split(b" ", 2)[1].decode("ascii"))
                body = b'["msgid","7"]'
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, limit=2**20)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/ru/js"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@contextlib.asynccontextmanager
async def _sms(transport: str, base_url: str, login: str, password: str) -> AsyncIterator[Any]:
    async with contextlib.AsyncExitStack() as stack:
        options: dict[str, Any] = {"base_url": base_url}
        if transport == "httpx":
            options["http_client"] = await stack.enter_async_context(httpx.AsyncClient())
        yield await stack.enter_async_context(SmsClient(login, password, **options))


@pytest.mark.parametrize("field", ["login", "password"])
@pytest.mark.parametrize("length", [MAX_CREDENTIAL_URL_LENGTH + 1, 30_000, 70_000])
def test_an_sms_credential_too_long_for_the_url_is_refused_at_construction(
    field: str, length: int
) -> None:
    credentials = {"login": "login-r1", "password": "pass-r1"}
    credentials[field] = "q" * (length - 1) + "Z"
    with pytest.raises(ValueError, match=field) as info:
        SmsClient(credentials["login"], credentials["password"])
    assert str(MAX_CREDENTIAL_URL_LENGTH) in str(info.value)
    assert "percent-encoded" in str(info.value)
    assert "q" * 20 not in str(info.value)
    assert not isinstance(info.value, httpx.InvalidURL)


def test_a_credential_is_measured_as_the_url_carries_it() -> None:
    # One Cyrillic letter takes 6 characters in the URL ("%D0%96").
    letters = MAX_CREDENTIAL_URL_LENGTH // 6 + 1
    with pytest.raises(ValueError, match="password"):
        SmsClient("login-r1", "Ж" * letters)
    SmsClient("login-r1", "Ж" * (letters - 1))  # fits


@pytest.mark.network
@pytest.mark.parametrize("transport", ["own", "httpx"])
async def test_the_longest_credentials_and_text_go_out_whole(transport: str) -> None:
    login = "l" * MAX_CREDENTIAL_URL_LENGTH
    password = "%" * (MAX_CREDENTIAL_URL_LENGTH // 3)  # each "%" is "%25" in the URL
    text = "t" * MAX_TEXT_URL_LENGTH
    async with _Server() as server, _sms(transport, server.base_url, login, password) as client:
        assert await client.send("380501234567", "Shop", text) == 7
    (target,) = server.targets
    # Short enough for a web server's default request-line limit (8 KiB).
    assert len(target) < 8 * 1024
    query = parse_qs(urlsplit(target).query)
    assert query["login"] == [login]
    assert query["password"] == [password]
    assert query["text"] == [text]


@pytest.mark.parametrize("length", [30_000, 70_000])
def test_a_long_access_key_does_not_break_the_constructor(length: int) -> None:
    key = "k" * (length - 1) + "Z"
    client = ViberClient(key)
    assert key not in repr(client)


# -- integers no phone or id can be ----------------------------------------------------

HUGE = 10**5000  # past Python's 4300-digit limit for int-to-str


@pytest.mark.parametrize("value", [HUGE, -HUGE], ids=["huge", "minus-huge"])
def test_a_huge_int_phone_is_a_validation_error_naming_the_field(value: int) -> None:
    from decisiontelecom_async import SmsMessage, ValidationError, ViberMessage  # noqa: PLC0415

    with pytest.raises(ValidationError, match="phone"):
        SmsMessage(value, "Shop", "hi")
    with pytest.raises(ValidationError, match="receiver"):
        ViberMessage("Shop", value, "hi")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["sms", "viber"])
@pytest.mark.parametrize("message_id", [HUGE, -HUGE, 2**64], ids=["huge", "minus-huge", "2**64"])
async def test_an_id_no_message_can_have_is_refused_before_any_request(
    kind: str, message_id: int
) -> None:
    from decisiontelecom_async import ValidationError  # noqa: PLC0415

    # Port 9 (discard) on loopback: nothing must be tried at all.
    client: Any = (
        SmsClient("login-r1", "pass-r1", base_url="http://127.0.0.1:9/ru/js")
        if kind == "sms"
        else ViberClient("key-r1", base_url="http://127.0.0.1:9/v1/api")
    )
    async with client:
        with pytest.raises(ValidationError, match="message_id") as info:
            await client.get_status(message_id)
    assert len(str(info.value)) < 300
