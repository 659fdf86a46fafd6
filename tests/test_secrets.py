"""The access key never shows: not in logs, errors, tracebacks or reprs."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import traceback
from collections.abc import Callable
from urllib.parse import quote

import httpx
import pytest
import respx
from conftest import ACCESS_KEY, FakeTime

from decisiontelecom_async import (
    DecisionTelecomError,
    Redactor,
    RetryPolicy,
    ViberClient,
    ViberMessage,
)

TOKEN = base64.b64encode(ACCESS_KEY.encode()).decode()
HEADER = f"Basic {TOKEN}"
SECRETS = (ACCESS_KEY, TOKEN, HEADER)
RETRYING = RetryPolicy(max_retries=2, retry_unknown_outcome=True)


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def echo_error(status: int, http_status: int) -> Callable[[httpx.Request], httpx.Response]:
    """The service echoes the credentials back in an error object."""

    def answer(request: httpx.Request) -> httpx.Response:
        auth = request.headers["Authorization"]
        return httpx.Response(
            http_status,
            json={
                "name": f"Invalid Parameter: {ACCESS_KEY}",
                "message": f"bad header {auth}",
                "code": 1 if status == 400 else 0,
                "status": status,
            },
            headers={"Retry-After": "1"},
        )

    return answer


def echo_junk(request: httpx.Request) -> httpx.Response:
    auth = request.headers["Authorization"].encode()
    return httpx.Response(200, content=b"<html>" + auth + b"</html>")


def echo_id(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"message_id": ACCESS_KEY, "status": TOKEN})


def echo_reason(request: httpx.Request) -> httpx.Response:
    return httpx.Response(401, content=b"", extensions={"reason_phrase": HEADER.encode()})


def transport_failure(cls: type[httpx.TransportError]) -> Callable[[httpx.Request], None]:
    def fail(request: httpx.Request) -> None:
        msg = f"failed {request.url} with {request.headers['Authorization']} ({ACCESS_KEY})"
        raise cls(msg, request=request)

    return fail


SCENARIOS = {
    "error-object-400": echo_error(400, 400),
    "error-object-inside-200": echo_error(400, 200),
    "rate-limited-then-retried": echo_error(429, 429),
    "junk-body": echo_junk,
    "unparsable-ids": echo_id,
    "reason-phrase": echo_reason,
    "connect-error": transport_failure(httpx.ConnectError),
    "read-timeout": transport_failure(httpx.ReadTimeout),
}


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
async def test_no_secret_in_errors_or_logs(
    api: respx.MockRouter,
    client: ViberClient,
    message: ViberMessage,
    caplog: pytest.LogCaptureFixture,
    scenario: Callable[[httpx.Request], httpx.Response],
) -> None:
    api.post("/send-viber").mock(side_effect=scenario)
    api.post("/receive-viber").mock(side_effect=scenario)
    errors: list[DecisionTelecomError] = []
    with caplog.at_level(logging.DEBUG):
        for call in (
            lambda: client.send(message, retry_policy=RETRYING),
            lambda: client.get_status(429, retry_policy=RETRYING),
        ):
            with pytest.raises(DecisionTelecomError) as info:
                await call()
            errors.append(info.value)

    ours = [r for r in caplog.records if r.name.startswith("decisiontelecom_async")]
    assert ours, "the client logs every request at DEBUG"
    # Our logger only: httpx's own INFO line repeats whatever reason phrase a
    # server sends, and a server echoing the key there is out of our hands.
    assert leaks("\n".join(f"{r.getMessage()} {r.args}" for r in ours)) == []
    for exc in errors:
        assert leaks(str(exc)) == []
        assert leaks(repr(exc)) == []
        assert leaks("".join(traceback.format_exception(exc))) == []
        for name, value in vars(exc).items():
            assert leaks(repr(value)) == [], name
    assert leaks(repr(client)) == []
    assert leaks(str(client)) == []


async def test_the_secret_really_was_sent_and_echoed(
    api: respx.MockRouter, client: ViberClient, message: ViberMessage
) -> None:
    # Guards the test above: the echoes do carry the secrets before redaction.
    route = api.post("/send-viber").mock(side_effect=echo_error(400, 400))
    with pytest.raises(DecisionTelecomError) as info:
        await client.send(message)
    echoed = route.calls.last.response.text
    assert set(leaks(echoed)) == {ACCESS_KEY, TOKEN, HEADER}
    assert "[REDACTED]" in str(info.value)


@pytest.mark.network
async def test_no_secret_in_any_logger_on_a_real_connection(
    caplog: pytest.LogCaptureFixture, fake_time: FakeTime
) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/v1/api"
    try:
        with caplog.at_level(logging.DEBUG):
            for http in (None, httpx.AsyncClient()):
                async with ViberClient(ACCESS_KEY, base_url=base_url, http_client=http) as client:
                    client._sleep = fake_time.sleep
                    client._clock = fake_time.clock
                    with pytest.raises(DecisionTelecomError):
                        await client.get_status(1)
                if http is not None:
                    await http.aclose()
    finally:
        server.close()
        await server.wait_closed()
    assert caplog.records
    assert leaks(caplog.text) == []


def test_client_repr_and_attributes_shown_to_users() -> None:
    client = ViberClient(ACCESS_KEY)
    assert leaks(repr(client)) == []
    assert leaks(repr(client._redactor)) == []


def test_redactor_blanks_every_form_and_ignores_empty_secrets() -> None:
    from decisiontelecom_async._http._redact import Redactor  # noqa: PLC0415

    redact = Redactor(["", "p@ss word"])
    text = "raw p@ss word, quoted p%40ss%20word, plus p%40ss+word, b64 cEBzcyB3b3Jk"
    assert redact(text) == "raw [REDACTED], quoted [REDACTED], plus [REDACTED], b64 [REDACTED]"
    assert redact("nothing secret here") == "nothing secret here"


def test_redactor_knows_library_html_json_and_lowercase_forms() -> None:
    from decisiontelecom_async._http._redact import Redactor  # noqa: PLC0415

    redact = Redactor(["Tr0ub4dor'&3/horse!é"])
    for text in [
        "Tr0ub4dor'%263/horse!%C3%A9",  # yarl re-encoding
        "Tr0ub4dor%27%263%2Fhorse%21%c3%a9",  # lowercase hex
        "Tr0ub4dor&#39;&amp;3/horse!é",  # HTML-escaped
        "Tr0ub4dor&#x27;%263/horse!%C3%A9",  # yarl, then HTML-escaped
        "Tr0ub4dor'&3\\/horse!\\u00e9",  # JSON-escaped
    ]:
        assert redact(f"<{text}>") == "<[REDACTED]>", text
    assert "forms" in repr(redact)
    assert "horse" not in repr(redact)


def test_redactor_query_values_are_blanked_only_as_values() -> None:
    from decisiontelecom_async._http._redact import Redactor  # noqa: PLC0415

    redact = Redactor(query_values=[("login", "u@x")])
    assert redact("user u@x timeout, ?login=u%40x&LOGIN=u@x") == (
        "user u@x timeout, ?login=[REDACTED]&LOGIN=[REDACTED]"
    )
    assert redact("catalogin=u@x") == "catalogin=u@x"


def test_the_public_redactor_blanks_a_secret_in_every_form_it_travels_in() -> None:
    key = "k3y/with+signs=="
    redact = Redactor([key])
    text = (
        f"raw {key}; basic {base64.b64encode(key.encode()).decode()}; "
        f"query ?key={quote(key, safe='')}; json {json.dumps(key)}"
    )
    cleaned = redact(text)
    assert key not in cleaned
    assert base64.b64encode(key.encode()).decode() not in cleaned
    assert quote(key, safe="") not in cleaned
    assert cleaned.count("[REDACTED]") == 4
    assert "raw " in cleaned  # the rest of the text is kept
    assert "Redactor" in repr(redact)
    assert key not in repr(redact)
