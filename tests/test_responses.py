"""Answers to exceptions: the error table, junk bodies, and anything at all."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decisiontelecom_async import (
    APIError,
    AuthenticationError,
    DecisionTelecomError,
    InsufficientBalanceError,
    InvalidParameterError,
    MessageReceipt,
    RateLimitError,
    RetryPolicy,
    ServerError,
    UnexpectedResponseError,
    ViberClient,
    ViberMessage,
)
from decisiontelecom_async._responses import api_error, parse_retry_after

NO_RETRY = RetryPolicy(max_retries=0)

# The vendor page's error table.
TABLE = [
    pytest.param(
        {"name": "Too Many Requests", "message": "Rate limit exceeded", "code": 0, "status": 429},
        RateLimitError,
        id="429-rate-limit",
    ),
    pytest.param(
        {
            "name": "Invalid Parameter: destination_addr",
            "message": "Empty parameter or parameter validation error",
            "code": 1,
            "status": 400,
        },
        InvalidParameterError,
        id="400-invalid-parameter",
    ),
    pytest.param(
        {
            "name": "Internal server error",
            "message": "The server encountered an unexpected condition",
            "code": 2,
            "status": 500,
        },
        ServerError,
        id="500-internal",
    ),
    pytest.param(
        {
            "name": "Topup balance is required",
            "message": "User balance is empty",
            "code": 3,
            "status": 402,
        },
        InsufficientBalanceError,
        id="402-balance",
    ),
]


@pytest.mark.parametrize(("error", "cls"), TABLE)
@pytest.mark.parametrize("as_http_status", [True, False], ids=["as-status", "inside-200"])
async def test_error_table(
    api: respx.MockRouter,
    client: ViberClient,
    message: ViberMessage,
    error: dict[str, Any],
    cls: type[APIError],
    as_http_status: bool,
) -> None:
    http_status = error["status"] if as_http_status else 200
    api.post("/send-viber").respond(http_status, json=error)
    with pytest.raises(cls) as info:
        await client.send(message, retry_policy=NO_RETRY)
    exc = info.value
    assert type(exc) is cls
    assert (exc.name, exc.message, exc.code, exc.status) == (
        error["name"],
        error["message"],
        error["code"],
        error["status"],
    )
    assert exc.http_status == http_status
    assert exc.attempts == 1
    assert exc.body is not None
    assert error["message"] in exc.body
    assert f"status {error['status']}, code {error['code']}" in str(exc)


async def test_invalid_parameter_names_the_parameter(
    api: respx.MockRouter, client: ViberClient, message: ViberMessage
) -> None:
    api.post("/send-viber").respond(
        200,
        json={"name": "Invalid Parameter: text_sms", "message": "m", "code": 1, "status": 400},
    )
    with pytest.raises(InvalidParameterError) as info:
        await client.send(message)
    assert info.value.param == "text_sms"


@pytest.mark.parametrize(
    ("name", "param"),
    [
        ("Invalid Parameter: destination_addr", "destination_addr"),
        ("invalid parameter:source_addr ", "source_addr"),
        ("Invalid Parameter:", None),
        ("Invalid Parameter", None),
        ("Bad Request", None),
    ],
)
def test_param_parsing(name: str, param: str | None) -> None:
    exc = api_error({"name": name, "code": 1, "status": 400}, http_status=400)
    assert isinstance(exc, InvalidParameterError)
    assert exc.param == param


@pytest.mark.parametrize(
    ("value", "cls", "status"),
    [
        ({"message": "slow down", "code": 0}, RateLimitError, 429),
        ({"message": "x", "code": "3"}, InsufficientBalanceError, 402),
        ({"name": "x", "status": "500"}, ServerError, 500),
        ({"name": "x", "status": 503}, ServerError, 503),
        ({"name": "x", "status": 401}, AuthenticationError, 401),
        ({"name": "Forbidden", "status": 403, "code": 1}, AuthenticationError, 403),
        ({"name": "x", "status": 404}, APIError, 404),
        ({"name": "x", "status": 9999, "code": 2}, ServerError, 500),
        ({"name": "x", "status": None, "code": 77}, APIError, 418),
    ],
)
def test_error_objects_map_by_status_then_code(
    value: dict[str, Any], cls: type[APIError], status: int
) -> None:
    exc = api_error(value, http_status=418)
    assert type(exc) is cls
    assert exc.status == status
    assert exc.http_status == 418


JUNK = [
    pytest.param(b"Rate limit exceeded", id="plain-text"),
    pytest.param(b"<html><body><h1>502 Bad Gateway</h1></body></html>", id="html"),
    pytest.param(b"{message: 429}", id="not-json-object"),
    pytest.param(b'{"message_id": 42', id="truncated-json"),
    pytest.param(b'{"id": 42, "ok": true}', id="json-without-message-id"),
    pytest.param(b"", id="empty"),
    pytest.param(b"   \n", id="whitespace"),
    pytest.param(b"[429]", id="json-list"),
    pytest.param(b'["msgid", "429"]', id="sms-api-shape"),
    pytest.param(b"null", id="json-null"),
    pytest.param(b"429", id="json-number"),
    pytest.param(b'{"message_id": null}', id="null-message-id"),
    pytest.param(b'{"message_id": "abc"}', id="text-message-id"),
    pytest.param(b"\xff\xfe\x00garbage", id="undecodable-bytes"),
]


@pytest.mark.parametrize("body", JUNK)
async def test_junk_with_200_is_an_unexpected_response_and_not_retried(
    api: respx.MockRouter, client: ViberClient, message: ViberMessage, body: bytes
) -> None:
    route = api.post("/send-viber").respond(200, content=body)
    with pytest.raises(UnexpectedResponseError) as info:
        await client.send(message)
    assert info.value.status == 200
    assert "HTTP 200" in str(info.value)
    assert route.call_count == 1
    assert info.value.attempts == 1


@pytest.mark.parametrize("body", JUNK)
@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, InvalidParameterError),
        (401, AuthenticationError),
        (402, InsufficientBalanceError),
        (403, AuthenticationError),
        (404, APIError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
    ],
)
async def test_junk_with_an_error_status_maps_by_status(
    api: respx.MockRouter,
    client: ViberClient,
    message: ViberMessage,
    body: bytes,
    status: int,
    cls: type[APIError],
) -> None:
    api.post("/send-viber").respond(status, content=body)
    with pytest.raises(cls) as info:
        await client.send(message, retry_policy=NO_RETRY)
    assert type(info.value) is cls
    assert info.value.status == status
    assert info.value.code is None
    assert info.value.name == httpx.codes.get_reason_phrase(status)


@pytest.mark.parametrize("body", JUNK)
async def test_junk_status_answers_are_unexpected_responses(
    api: respx.MockRouter, client: ViberClient, body: bytes
) -> None:
    route = api.post("/receive-viber").respond(200, content=body)
    with pytest.raises(UnexpectedResponseError):
        await client.get_status(429)
    assert route.call_count == 1


@pytest.mark.parametrize("status", [204, 301, 302, 304, 103])
async def test_odd_statuses_are_unexpected_responses(
    api: respx.MockRouter, client: ViberClient, message: ViberMessage, status: int
) -> None:
    api.post("/send-viber").respond(status, content=b"")
    with pytest.raises(UnexpectedResponseError) as info:
        await client.send(message)
    assert info.value.status == status


async def test_error_body_is_kept_as_a_truncated_excerpt(
    api: respx.MockRouter, client: ViberClient, message: ViberMessage
) -> None:
    api.post("/send-viber").respond(400, content=b"x" * 10_000)
    with pytest.raises(InvalidParameterError) as info:
        await client.send(message)
    body = info.value.body
    assert body is not None
    assert body.startswith("x" * 300)
    assert body.endswith("... (10000 chars)")
    assert len(body) < 400


async def test_unexpected_response_excerpt_is_truncated(
    api: respx.MockRouter, client: ViberClient, message: ViberMessage
) -> None:
    api.post("/send-viber").respond(200, content=b"<html>" + b"y" * 5000)
    with pytest.raises(UnexpectedResponseError) as info:
        await client.send(message)
    assert info.value.body.endswith("... (5006 chars)")
    assert len(str(info.value)) < 500


# -- Retry-After -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("nan", None),
        ("inf", None),
        ("soon", None),
        ("", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("Wed, 21 Oct 2015 07:28:00", 30.0),
        ("Wed, 21 Oct 99999 07:28:00 GMT", None),
    ],
)
def test_parse_retry_after(header: str, seconds: float | None) -> None:
    now = 1445412450.0  # 2015-10-21 07:27:30 UTC
    assert parse_retry_after(header, now=now) == seconds


def test_no_retry_after_header() -> None:
    assert parse_retry_after(None) is None


# -- anything at all -------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
wire_keys = st.sampled_from(
    ["message_id", "status", "code", "name", "message", "sms_message_id", "sms_message_status"]
)
wire_values = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text(max_size=8)
    | st.sampled_from(["429", "²", "-1", " 7 ", "Invalid Parameter: x", "9" * 5000])
    | st.floats()
)
bodies = st.one_of(
    st.binary(max_size=64),
    st.text(max_size=64).map(str.encode),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.dictionaries(wire_keys, wire_values, max_size=5).map(
        lambda value: json.dumps(value).encode()
    ),
)
statuses = st.integers(min_value=100, max_value=999) | st.sampled_from(
    [200, 400, 401, 402, 403, 429, 500, 502, 503]
)
retry_afters = st.none() | st.sampled_from(
    ["1", "0", "-1", "1e999", "soon", "Wed, 21 Oct 2015 07:28:00 GMT", "Mon, 1 Jan 99999 0:0:0"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(status=statuses, body=bodies, retry_after=retry_afters)
def test_any_answer_is_a_result_or_a_decisiontelecom_error(
    status: int, body: bytes, retry_after: str | None
) -> None:
    headers = {} if retry_after is None else {"Retry-After": retry_after}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers=headers)

    now = [0.0]

    async def sleep(seconds: float) -> None:
        assert seconds >= 0
        now[0] += seconds

    async def run() -> list[object]:
        outcomes: list[object] = []
        http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
        async with http, ViberClient("key", http_client=http, max_retries=2) as client:
            client._sleep = sleep
            client._clock = lambda: now[0]
            for call in (
                lambda: client.send(ViberMessage("Shop", "1", "hi")),
                lambda: client.get_status(429),
            ):
                try:
                    outcomes.append(await call())
                except DecisionTelecomError as exc:
                    outcomes.append(exc)
        return outcomes

    sent, receipt = asyncio.run(run())
    for outcome in (sent, receipt):
        if isinstance(outcome, DecisionTelecomError):
            assert str(outcome)
            assert repr(outcome)
            assert outcome.attempts >= 1
    assert isinstance(sent, int | DecisionTelecomError)
    assert isinstance(receipt, MessageReceipt | DecisionTelecomError)


@pytest.mark.parametrize(
    ("code", "status", "expected_code", "error_type"),
    [
        ("9" * 5000, "9" * 5000, None, ServerError),  # over int()'s 4300-digit limit
        (" 1 ", " 400 ", 1, InvalidParameterError),
        (True, True, None, ServerError),
        ("-1", "-400", None, ServerError),
        ("²", "⁴⁰⁰", None, ServerError),
    ],
)
def test_error_object_integers_are_read_safely(
    code: object, status: object, expected_code: int | None, error_type: type[APIError]
) -> None:
    error = api_error({"name": "X", "code": code, "status": status}, http_status=500)
    assert type(error) is error_type
    assert error.code == expected_code
