"""An SMS send's spans and metrics: its credentials (in the query string) are nowhere in them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from _loopback import Loopback, Reply, loopback
from _otel import Exported
from opentelemetry.trace import SpanKind

from decisiontelecom_async import SmsApiError, SmsClient

pytestmark = pytest.mark.network

LOGIN = "telemetry-login-7781"
PASSWORD = "Pa ss/+w0rd&secret=9931"
PHONE = "380501234567"
TEXT = "Your code is 4242"


@contextlib.asynccontextmanager
async def sms(server: Loopback, transport: str) -> AsyncIterator[SmsClient]:
    async with contextlib.AsyncExitStack() as stack:
        options: dict[str, Any] = {}
        if transport == "httpx":
            options["http_client"] = await stack.enter_async_context(httpx.AsyncClient())
        client = SmsClient(LOGIN, PASSWORD, base_url=server.base_url, **options)
        yield await stack.enter_async_context(client)


def secrets() -> list[str]:
    return [
        LOGIN,
        PASSWORD,
        quote(PASSWORD, safe=""),
        quote_plus(PASSWORD),
        "secret=9931",
        "w0rd",
        "login=",
        "password=",
    ]


@pytest.mark.parametrize("transport", ["own", "httpx"])
async def test_an_sms_send_shows_no_credential_anywhere(otel: Exported, transport: str) -> None:
    paths: list[str] = []

    def plan(number: int, path: str) -> Reply:
        paths.append(path)
        if number == 0:
            return Reply(body=b'["msgid","31885463"]')
        return Reply(body=b'["error","49"]')  # not enough money

    async with loopback(plan) as server, sms(server, transport) as client:
        assert await client.send(PHONE, "Shop", TEXT) == 31885463
        with pytest.raises(SmsApiError):
            await client.send(PHONE, "Shop", TEXT)
    # The password did go out, in the query string: the search below can find it.
    assert quote(PASSWORD, safe="") in paths[0]
    ok_attempt, ok_send, refused_attempt, refused_send = otel.spans()
    port = httpx.URL(server.base_url).port
    assert (ok_attempt.name, ok_attempt.kind, dict(ok_attempt.attributes)) == (
        "GET /v1/api/send",
        SpanKind.CLIENT,
        {
            "http.request.method": "GET",
            "server.address": "127.0.0.1",
            "server.port": port,
            "url.full": f"http://127.0.0.1:{port}/v1/api/send",
            "url.template": "/v1/api/send",
            "decisiontelecom.client": "SmsClient",
            "decisiontelecom.endpoint": "send",
            "decisiontelecom.attempt": 1,
            "http.response.status_code": 200,
            "decisiontelecom.outcome_unknown": False,
        },
    )
    assert dict(ok_send.attributes)["decisiontelecom.message_id"] == 31885463
    # The SMS API says "error" with status 200: the error's class is the type.
    assert dict(refused_attempt.attributes)["error.type"] == "SmsApiError"
    assert dict(refused_send.attributes)["decisiontelecom.outcome"] == "failed"
    assert ok_attempt.parent.span_id == ok_send.context.span_id
    exported = otel.everything()
    assert "31885463" in exported  # the search does reach the data
    for secret in secrets():
        assert secret not in exported, secret
    for private in (PHONE, TEXT):
        assert private not in exported
    base = {"decisiontelecom.client": "SmsClient", "decisiontelecom.resumed": False}
    assert otel.metrics()["decisiontelecom.messages"] == {
        frozenset({**base, "decisiontelecom.outcome": "sent"}.items()): 1,
        frozenset(
            {**base, "decisiontelecom.outcome": "failed", "error.type": "SmsApiError"}.items()
        ): 1,
    }
