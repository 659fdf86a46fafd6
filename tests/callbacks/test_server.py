"""The receiver on a real uvicorn server, and the examples of docs/callbacks.md, run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from decisiontelecom_async import MessageType, SmsStatus, ViberStatus
from decisiontelecom_async.callbacks import (
    InboundMessage,
    StatusCallback,
    callback_app,
    callback_url,
)
from decisiontelecom_async.callbacks._app import Scope

pytestmark = pytest.mark.network

DOCS_PAGE = Path(__file__).parents[2] / "docs" / "callbacks.md"
TOKEN = "docs-token-0123456789abcdef"
PAGE_REPLY = {
    "message_token": 44444444444444,
    "phone_number": "972512222222",
    "time": 2121212121,
    "message": {"text": "a message to the service", "tracking_data": "tracking_id:100035"},
}
STATUS = {"message_id": 429, "status": 4, "sms_message_id": 36478, "sms_message_status": 5}


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port; yield its base URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="auto",
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        ws="none",
        http="h11",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                pytest.fail("uvicorn stopped before it started")
            await asyncio.sleep(0.005)
        [listener] = server.servers
        port = listener.sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 5)


def docs_example(name: str) -> str:
    """The Python block after ``% example: <name>`` in docs/callbacks.md."""
    pattern = rf"^% example: {re.escape(name)}\n```python\n(.*?)^```$"
    match = re.search(pattern, DOCS_PAGE.read_text(encoding="utf-8"), re.DOTALL | re.MULTILINE)
    assert match is not None, f"no example {name!r} on {DOCS_PAGE.name}"
    return match.group(1)


def run_example(name: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": f"docs_example_{name}"}
    exec(compile(docs_example(name), f"{DOCS_PAGE.name}:{name}", "exec"), namespace)  # noqa: S102
    return namespace


@pytest.fixture(autouse=True)
def callback_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DT_CALLBACK_TOKEN", TOKEN)


async def test_a_real_post_over_loopback_reaches_the_handlers() -> None:
    replies: list[InboundMessage] = []
    updates: list[StatusCallback] = []

    async def on_status(update: StatusCallback) -> None:
        updates.append(update)

    app = callback_app(on_inbound=replies.append, on_status=on_status, token=TOKEN)
    async with serve(app) as base, httpx.AsyncClient() as client:
        url = callback_url(f"{base}/hooks/decisiontelecom", TOKEN)
        answers = [
            await client.post(url, json=PAGE_REPLY),
            await client.post(url, json=STATUS),
            await client.post(url, json=STATUS),  # a repeat
            await client.post(url, content=b"{not json", headers={"content-type": "text/json"}),
            await client.post(f"{base}/hooks/decisiontelecom", json=STATUS),  # no token
            await client.get(url),
            await client.post(url, content=b" " * 70_000),
        ]

    assert [a.status_code for a in answers] == [200, 200, 200, 400, 404, 405, 413]
    assert [(r.phone_number, r.reply_to, r.text) for r in replies] == [
        ("972512222222", 100035, "a message to the service")
    ]
    assert [(u.message_id, u.status, u.sms_status, u.is_final) for u in updates] == [
        (429, ViberStatus.UNDELIVERED, SmsStatus.UNDELIVERABLE, True)
    ]


async def test_a_chunked_upload_over_the_limit_is_cut_off() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b" " * 4096

    app = callback_app(on_inbound=print, max_body_size=8192)
    async with serve(app) as base, httpx.AsyncClient() as client:
        try:
            response = await client.post(base, content=chunks())
        except httpx.TransportError:
            pass  # the server may close before the client finishes sending; also fine
        else:
            assert response.status_code == 413


async def test_a_failing_handler_answers_500_and_the_server_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0

    async def on_inbound(reply: InboundMessage) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("queue unavailable")

    async with serve(callback_app(on_inbound=on_inbound)) as base, httpx.AsyncClient() as client:
        first = await client.post(base, json=PAGE_REPLY)
        retry = await client.post(base, json=PAGE_REPLY)

    assert (first.status_code, retry.status_code, calls) == (500, 200, 2)
    assert "on_inbound handler failed" in caplog.text


async def test_the_fastapi_example_receives_on_a_real_server() -> None:
    example = run_example("fastapi")

    async with serve(example["app"]) as base, httpx.AsyncClient() as client:
        url = callback_url(f"{base}/decisiontelecom", TOKEN)
        ok = [await client.post(url, json=body) for body in (PAGE_REPLY, STATUS)]
        refused = await client.post(f"{base}/decisiontelecom/wrong-token-0123456789", json=STATUS)

    assert [r.status_code for r in ok] == [200, 200]
    assert refused.status_code == 404
    reply = example["replies"].get_nowait()
    assert (reply.message_token, reply.reply_to) == (44444444444444, 100035)
    assert example["updates"].get_nowait().message_id == 429
    assert example["replies"].empty()


async def test_the_uvicorn_example_receives_on_a_real_server(
    caplog: pytest.LogCaptureFixture,
) -> None:
    example = run_example("uvicorn")  # its uvicorn.run() only runs as __main__

    with caplog.at_level(logging.INFO, "shop.callbacks"):
        async with serve(example["app"]) as base, httpx.AsyncClient() as client:
            url = callback_url(base, TOKEN, in_query=True)
            answers = [(await client.post(url, json=b)).status_code for b in (PAGE_REPLY, STATUS)]

    assert answers == [200, 200]
    assert "972512222222 answered message 100035: a message to the service" in caplog.text
    assert "message 429 ended UNDELIVERED" in caplog.text


async def test_the_own_route_example_parses_and_refuses() -> None:
    example = run_example("own-route")
    app = Starlette(routes=[Route("/cb", example["decisiontelecom_callback"], methods=["POST"])])
    app.state.replies = []
    transport = httpx.ASGITransport(app=app)

    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        ok = await client.post("/cb", json=PAGE_REPLY)
        bad = await client.post("/cb", content=b"{}")

    assert (ok.status_code, bad.status_code) == (200, 400)
    assert b"neither a 2-Way reply" in bad.content
    assert [r.reply_to for r in app.state.replies] == [100035]


def test_the_send_example_builds_a_2way_message_with_the_token_url() -> None:
    example = run_example("send")

    question = example["question"]
    assert question.message_type is MessageType.TEXT_ONLY_2WAY
    assert question.callback_url == f"https://shop.example.com/decisiontelecom/{TOKEN}"


async def test_the_proxy_example_admits_only_the_forwarded_allowed_caller() -> None:
    app = run_example("proxy")["app"]

    async def post(peer: str, forwarded: str) -> int:
        sent: list[dict[str, Any]] = []
        scope: Scope = {
            "type": "http",
            "method": "POST",
            "path": f"/{TOKEN}",
            "query_string": b"",
            "headers": [(b"x-forwarded-for", forwarded.encode())],
            "client": (peer, 1),
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b'{"message_id": 1, "status": 1}'}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        status: int = sent[0]["status"]
        return status

    assert await post("10.1.1.1", "203.0.113.7") == 200
    assert await post("10.1.1.1", "203.0.113.7, 198.51.100.2") == 403
    assert await post("198.51.100.2", "203.0.113.7") == 403
