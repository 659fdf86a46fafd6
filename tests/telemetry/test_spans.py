"""The exact spans of a send: a success, a retried 429, a lost answer, a 402 stopping a run.

Real loopback servers, both transports (the SDK's own aiohttp one and
httpx's), the in-memory exporter of ``opentelemetry-sdk``. Every span is
compared whole: name, kind, parent, attributes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from _loopback import Loopback, Reply, loopback
from _otel import Exported
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from decisiontelecom_async import (
    CampaignAborted,
    InsufficientBalanceError,
    RateLimitError,
    RetryPolicy,
    TransportError,
    ViberClient,
    ViberMessage,
)

pytestmark = pytest.mark.network

TRANSPORTS = pytest.mark.parametrize("transport", ["own", "httpx"])
RECEIVER = "380501234567"
TEXT = "Your code is 4242"
LIMITED = {"name": "Too Many Requests", "message": "slow down", "code": 0, "status": 429}
EMPTY = {"name": "Payment Required", "message": "empty", "code": 3, "status": 402}


def message() -> ViberMessage:
    return ViberMessage("Shop", RECEIVER, TEXT)


@contextlib.asynccontextmanager
async def viber(server: Loopback, transport: str, **options: Any) -> AsyncIterator[ViberClient]:
    async with contextlib.AsyncExitStack() as stack:
        if transport == "httpx":
            options["http_client"] = await stack.enter_async_context(httpx.AsyncClient())
        client = ViberClient("telemetry-key", base_url=server.base_url, **options)
        if transport == "own":
            assert type(client._http._transport).__name__ == "AiohttpTransport"

        async def no_wait(_: float) -> None:
            pass

        client._sleep = no_wait  # retries go at once; their waits are not the point
        yield await stack.enter_async_context(client)


def http_attributes(server: Loopback, **extra: Any) -> dict[str, Any]:
    url = httpx.URL(server.base_url)
    return {
        "http.request.method": "POST",
        "server.address": "127.0.0.1",
        "server.port": url.port,
        "url.full": f"{server.base_url}/send-viber",
        "url.template": "/v1/api/send-viber",
        "decisiontelecom.client": "ViberClient",
        "decisiontelecom.endpoint": "send-viber",
        **extra,
    }


def shape(span: Any) -> tuple[str, SpanKind, dict[str, Any]]:
    return span.name, span.kind, dict(span.attributes)


def parent_of(span: Any) -> int | None:
    return None if span.parent is None else span.parent.span_id


@TRANSPORTS
async def test_a_send_is_a_message_span_over_one_client_span(
    otel: Exported, transport: str
) -> None:
    async with (
        loopback(lambda *_: Reply(body={"message_id": 77})) as server,
        viber(server, transport) as client,
    ):
        with trace.get_tracer("the caller").start_as_current_span("handler") as caller:
            assert await client.send(message()) == 77
    attempt, sent, handler = otel.spans()
    assert shape(attempt) == (
        "POST /v1/api/send-viber",
        SpanKind.CLIENT,
        http_attributes(
            server,
            **{
                "decisiontelecom.attempt": 1,
                "http.response.status_code": 200,
                "decisiontelecom.outcome_unknown": False,
            },
        ),
    )
    assert shape(sent) == (
        "ViberClient.send",
        SpanKind.INTERNAL,
        {
            "decisiontelecom.client": "ViberClient",
            "decisiontelecom.endpoint": "send-viber",
            "decisiontelecom.outcome": "sent",
            "decisiontelecom.message_id": 77,
            "decisiontelecom.attempts": 1,
            "decisiontelecom.outcome_unknown": False,
        },
    )
    assert handler.name == "handler"
    # One trace: the caller's span, the send under it, the request under that.
    assert parent_of(attempt) == sent.context.span_id
    assert parent_of(sent) == caller.get_span_context().span_id
    assert {s.context.trace_id for s in (attempt, sent, handler)} == {
        caller.get_span_context().trace_id
    }
    assert attempt.status.status_code is StatusCode.UNSET
    assert attempt.instrumentation_scope.name == "decisiontelecom_async"
    assert attempt.instrumentation_scope.version
    found = otel.metrics()
    assert found["decisiontelecom.messages"] == {
        frozenset(
            {
                "decisiontelecom.client": "ViberClient",
                "decisiontelecom.outcome": "sent",
                "decisiontelecom.resumed": False,
            }.items()
        ): 1
    }
    duration = {
        k: v
        for k, v in http_attributes(server, **{"http.response.status_code": 200}).items()
        if k != "url.full"
    }
    assert found["http.client.request.duration"] == {frozenset(duration.items()): 1}
    assert "decisiontelecom.retries" not in found
    assert "decisiontelecom.rate_limited" not in found
    # No personal data by default, no key.
    exported = otel.everything()
    for private in (RECEIVER, TEXT, "telemetry-key", "Authorization", "Basic "):
        assert private not in exported


@TRANSPORTS
async def test_a_retried_429_is_two_client_spans_and_says_why(
    otel: Exported, transport: str
) -> None:
    def plan(number: int, _: str) -> Reply:
        if number == 0:
            return Reply(429, LIMITED, headers={"Retry-After": "1"})
        return Reply(body={"message_id": 78})

    async with loopback(plan) as server, viber(server, transport) as client:
        assert await client.send(message()) == 78
    first, second, sent = otel.spans()
    assert shape(first) == (
        "POST /v1/api/send-viber",
        SpanKind.CLIENT,
        http_attributes(
            server,
            **{
                "decisiontelecom.attempt": 1,
                "http.response.status_code": 429,
                "error.type": "429",
                "decisiontelecom.outcome_unknown": False,
            },
        ),
    )
    assert first.status.status_code is StatusCode.ERROR
    assert shape(second) == (
        "POST /v1/api/send-viber",
        SpanKind.CLIENT,
        http_attributes(
            server,
            **{
                "decisiontelecom.attempt": 2,
                "http.request.resend_count": 1,
                "decisiontelecom.retry_cause": "rate_limited",
                "http.response.status_code": 200,
                "decisiontelecom.outcome_unknown": False,
            },
        ),
    )
    assert dict(sent.attributes)["decisiontelecom.attempts"] == 2
    assert dict(sent.attributes)["decisiontelecom.outcome"] == "sent"
    assert parent_of(first) == parent_of(second) == sent.context.span_id
    assert parent_of(sent) is None


@TRANSPORTS
async def test_a_lost_answer_is_an_unknown_outcome_on_both_spans(
    otel: Exported, transport: str
) -> None:
    async with (
        loopback(lambda *_: Reply(drop="after_body")) as server,
        viber(server, transport) as client,
    ):
        with pytest.raises(TransportError) as info:
            await client.send(message())
    assert info.value.outcome_unknown
    assert server.requests == 1  # a write whose answer was lost is not repeated
    attempt, sent = otel.spans()
    assert shape(attempt) == (
        "POST /v1/api/send-viber",
        SpanKind.CLIENT,
        http_attributes(
            server,
            **{
                "decisiontelecom.attempt": 1,
                "error.type": "TransportError",
                "decisiontelecom.outcome_unknown": True,
            },
        ),
    )
    assert attempt.status.status_code is StatusCode.ERROR
    assert shape(sent) == (
        "ViberClient.send",
        SpanKind.INTERNAL,
        {
            "decisiontelecom.client": "ViberClient",
            "decisiontelecom.endpoint": "send-viber",
            "decisiontelecom.outcome": "unknown",
            "error.type": "TransportError",
            "decisiontelecom.attempts": 1,
            "decisiontelecom.outcome_unknown": True,
        },
    )
    assert parent_of(attempt) == sent.context.span_id
    assert otel.metrics()["decisiontelecom.messages"] == {
        frozenset(
            {
                "decisiontelecom.client": "ViberClient",
                "decisiontelecom.outcome": "unknown",
                "decisiontelecom.resumed": False,
            }.items()
        ): 1
    }


@TRANSPORTS
async def test_a_402_stopping_a_run_is_one_request_under_the_run_span(
    otel: Exported, transport: str
) -> None:
    async with loopback(lambda *_: Reply(402, EMPTY)) as server, viber(server, transport) as client:
        with trace.get_tracer("the caller").start_as_current_span("campaign") as caller:
            outcomes = [o async for o in client.send_many([message()] * 5, concurrency=1)]
    assert server.requests == 1
    assert isinstance(outcomes[0].error, InsufficientBalanceError)
    assert all(isinstance(o.error, CampaignAborted) for o in outcomes[1:])
    attempt, sent, run, _ = otel.spans()
    assert shape(attempt) == (
        "POST /v1/api/send-viber",
        SpanKind.CLIENT,
        http_attributes(
            server,
            **{
                "decisiontelecom.attempt": 1,
                "http.response.status_code": 402,
                "error.type": "402",
                "decisiontelecom.outcome_unknown": False,
            },
        ),
    )
    assert shape(sent) == (
        "ViberClient.send",
        SpanKind.INTERNAL,
        {
            "decisiontelecom.client": "ViberClient",
            "decisiontelecom.endpoint": "send-viber",
            "decisiontelecom.outcome": "failed",
            "error.type": "InsufficientBalanceError",
            "decisiontelecom.attempts": 1,
            "decisiontelecom.outcome_unknown": False,
        },
    )
    assert shape(run) == (
        "ViberClient.send_many",
        SpanKind.INTERNAL,
        {
            "decisiontelecom.client": "ViberClient",
            "decisiontelecom.messages.sent": 0,
            "decisiontelecom.messages.failed": 1,
            "decisiontelecom.messages.not_sent": 4,
            "decisiontelecom.messages.unknown": 0,
            "decisiontelecom.messages.resumed": 0,
            "error.type": "InsufficientBalanceError",
        },
    )
    assert run.status.status_code is StatusCode.ERROR
    assert parent_of(attempt) == sent.context.span_id
    assert parent_of(sent) == run.context.span_id
    assert parent_of(run) == caller.get_span_context().span_id
    # The counts agree with the outcomes handed out.
    base = {"decisiontelecom.client": "ViberClient", "decisiontelecom.resumed": False}
    assert otel.metrics()["decisiontelecom.messages"] == {
        frozenset(
            {
                **base,
                "decisiontelecom.outcome": "failed",
                "error.type": "InsufficientBalanceError",
            }.items()
        ): 1,
        frozenset({**base, "decisiontelecom.outcome": "not_sent"}.items()): 4,
    }


async def test_the_receiver_is_on_the_message_span_only_when_opted_in(
    otel: Exported, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DECISIONTELECOM_OTEL_RECORD_RECEIVER", "1")
    async with loopback(lambda *_: Reply(body={"message_id": 5})) as server:
        async with viber(server, "httpx") as opted_in:
            await opted_in.send(message())
        monkeypatch.delenv("DECISIONTELECOM_OTEL_RECORD_RECEIVER")
        async with viber(server, "httpx") as default:
            await default.send(message())
    sends = [span for span in otel.spans() if span.name == "ViberClient.send"]
    assert [dict(span.attributes).get("decisiontelecom.receiver") for span in sends] == [
        RECEIVER,
        None,
    ]
    # Only there: never on the request's span, never in a metric, never the text.
    exported = otel.everything()
    assert exported.count(RECEIVER) == 1
    assert TEXT not in exported


async def test_a_retry_policy_of_no_retries_makes_one_span_per_request(otel: Exported) -> None:
    limited = Reply(429, LIMITED, headers={"Retry-After": "1"})
    async with loopback(lambda *_: limited) as server, viber(server, "httpx") as client:
        with pytest.raises(RateLimitError):
            await client.send(message(), retry_policy=RetryPolicy(max_retries=0))
    assert [span.name for span in otel.spans()] == ["POST /v1/api/send-viber", "ViberClient.send"]
    assert otel.metrics()["decisiontelecom.rate_limited"] == {
        frozenset(
            {
                "decisiontelecom.client": "ViberClient",
                "decisiontelecom.endpoint": "send-viber",
            }.items()
        ): 1
    }
