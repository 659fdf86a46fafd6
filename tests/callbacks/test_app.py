"""callback_app: what a caller of the endpoint sees, and what reaches the handlers."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

import attrs
import httpx
import pytest

from decisiontelecom_async import SmsStatus, ViberStatus
from decisiontelecom_async.callbacks import (
    CallbackApp,
    InboundMessage,
    StatusCallback,
    callback_app,
    callback_url,
)

TOKEN = "tok-0123456789abcdefghijklmnop"
PAGE_REPLY = {
    "message_token": 44444444444444,
    "phone_number": "972512222222",
    "time": 2121212121,
    "message": {"text": "a message to the service", "tracking_data": "tracking_id:100035"},
}
STATUS = {"message_id": 429, "status": 1, "sms_message_id": 36478, "sms_message_status": 2}
PEER = ("203.0.113.5", 40000)


@attrs.define
class Recorder:
    """Handlers that record what they receive, and fail on demand."""

    inbound: list[InboundMessage] = attrs.Factory(list)
    status: list[StatusCallback] = attrs.Factory(list)
    failures: int = 0

    async def on_inbound(self, message: InboundMessage) -> None:
        self.inbound.append(message)
        if self.failures:
            self.failures -= 1
            raise RuntimeError("database is down")

    async def on_status(self, callback: StatusCallback) -> None:
        self.status.append(callback)
        if self.failures:
            self.failures -= 1
            raise RuntimeError("database is down")

    def app(self, **options: Any) -> CallbackApp:
        return callback_app(on_inbound=self.on_inbound, on_status=self.on_status, **options)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def http(app: CallbackApp, peer: tuple[str, int] = PEER) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=peer)
    return httpx.AsyncClient(transport=transport, base_url="http://receiver.test")


@attrs.define
class Answer:
    status: int
    headers: dict[bytes, bytes]
    body: bytes
    chunks_read: int


async def call(
    app: CallbackApp,
    *,
    method: str = "POST",
    path: str = "/",
    query: bytes = b"",
    root_path: str = "",
    headers: Sequence[tuple[bytes, bytes]] = ((b"content-type", b"application/json"),),
    chunks: Sequence[bytes] = (),
    client: tuple[str, int] | None = PEER,
    disconnect: bool = False,
) -> Answer:
    """Drive the app with raw ASGI messages, counting how much body it read."""
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        if read < len(chunks):
            read += 1
            return {
                "type": "http.request",
                "body": chunks[read - 1],
                "more_body": read < len(chunks) or disconnect,
            }
        if disconnect:
            return {"type": "http.disconnect"}
        pytest.fail("the app read past the end of the body")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": root_path,
        "query_string": query,
        "headers": list(headers),
        "client": client,
        "server": ("127.0.0.1", 8000),
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    if not sent:
        return Answer(0, {}, b"", read)
    start, body = sent
    assert start["type"] == "http.response.start"
    return Answer(start["status"], dict(start["headers"]), body["body"], read)


async def test_a_reply_reaches_on_inbound_and_is_answered_200(recorder: Recorder) -> None:
    async with http(recorder.app()) as client:
        response = await client.post("/", json=PAGE_REPLY)

    assert response.status_code == 200
    assert len(recorder.inbound) == 1
    assert recorder.inbound[0].reply_to == 100035
    assert recorder.inbound[0].text == "a message to the service"
    assert recorder.status == []


async def test_a_status_callback_reaches_on_status(recorder: Recorder) -> None:
    async with http(recorder.app()) as client:
        response = await client.post("/any/path", json=STATUS)

    assert response.status_code == 200
    assert [(c.message_id, c.status, c.sms_status) for c in recorder.status] == [
        (429, ViberStatus.DELIVERED, SmsStatus.DELIVERED)
    ]


async def test_plain_function_handlers_work_too() -> None:
    received: list[InboundMessage] = []
    app = callback_app(on_inbound=received.append)

    async with http(app) as client:
        response = await client.post("/", json=PAGE_REPLY)

    assert response.status_code == 200
    assert [m.message_token for m in received] == [44444444444444]


async def test_a_kind_with_no_handler_is_acknowledged_and_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    received: list[InboundMessage] = []
    app = callback_app(on_inbound=received.append)

    with caplog.at_level(logging.INFO, "decisiontelecom_async.callbacks"):
        async with http(app) as client:
            response = await client.post("/", json=STATUS)

    assert response.status_code == 200
    assert received == []
    assert "no on_status handler" in caplog.text


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_other_methods_are_answered_405_with_allow_post(
    recorder: Recorder, method: str
) -> None:
    async with http(recorder.app()) as client:
        response = await client.request(method, "/")

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert not recorder.inbound
    assert not recorder.status


@pytest.mark.parametrize(
    "content_type",
    [
        b"application/json",
        b"Application/JSON; charset=utf-8",
        b"application/vnd.decisiontelecom+json",
        b"text/json",
        None,
    ],
)
async def test_json_content_types_and_a_missing_one_are_accepted(
    recorder: Recorder, content_type: bytes | None
) -> None:
    headers = [] if content_type is None else [(b"content-type", content_type)]

    answer = await call(recorder.app(), headers=headers, chunks=[json.dumps(STATUS).encode()])

    assert answer.status == 200
    assert len(recorder.status) == 1


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""],
)
async def test_non_json_content_types_are_answered_415(
    recorder: Recorder, content_type: str
) -> None:
    async with http(recorder.app()) as client:
        response = await client.post(
            "/", content=json.dumps(STATUS), headers={"content-type": content_type}
        )

    assert response.status_code == 415
    assert recorder.status == []


async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    recorder: Recorder,
) -> None:
    app = recorder.app()
    answer = await call(
        app,
        headers=[(b"content-type", b"application/json"), (b"content-length", b"65537")],
        chunks=[b"x" * 65537],
    )

    assert answer.status == 413
    assert answer.chunks_read == 0
    assert app.max_body_size == 64 * 1024


async def test_a_streamed_body_is_cut_off_as_soon_as_it_passes_the_limit(
    recorder: Recorder,
) -> None:
    chunk = b" " * 1024

    answer = await call(recorder.app(max_body_size=4096), chunks=[chunk] * 50)

    assert answer.status == 413
    assert answer.chunks_read == 5  # stopped at the first chunk past 4 KiB
    assert recorder.status == []


async def test_the_limit_is_configurable_and_inclusive(recorder: Recorder) -> None:
    body = json.dumps(STATUS).encode()

    at_limit = await call(recorder.app(max_body_size=len(body)), chunks=[body[:10], body[10:]])
    over = await call(recorder.app(max_body_size=len(body) - 1), chunks=[body])

    assert (at_limit.status, over.status) == (200, 413)


async def test_a_real_client_sending_too_much_gets_413(recorder: Recorder) -> None:
    async with http(recorder.app(max_body_size=100)) as client:
        response = await client.post("/", content=b"[" + b"1," * 100 + b"1]")

    assert response.status_code == 413


async def test_an_invalid_content_length_is_answered_400(recorder: Recorder) -> None:
    answer = await call(recorder.app(), headers=[(b"content-length", b"12abc")], chunks=[b"{}"])

    assert answer.status == 400


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", b"empty"),
        (b"{message: 429}", b"not JSON"),
        (b"[]", b"expected a JSON object"),
        (b'{"hello": "world"}', b"neither a 2-Way reply"),
        (b'{"message_id": 1}', b"no 'status'"),
        (json.dumps({**PAGE_REPLY, "time": "soon"}).encode(), b"time is not a Unix timestamp"),
    ],
)
async def test_bad_bodies_are_answered_400_with_the_reason(
    recorder: Recorder, caplog: pytest.LogCaptureFixture, body: bytes, reason: bytes
) -> None:
    async with http(recorder.app()) as client:
        response = await client.post("/", content=body)

    assert response.status_code == 400
    assert reason in response.content
    assert not recorder.inbound
    assert not recorder.status
    assert caplog.records[-1].levelno == logging.WARNING
    assert caplog.records[-1].name == "decisiontelecom_async.callbacks"


async def test_a_failing_handler_is_logged_answered_500_and_the_app_keeps_serving(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    recorder.failures = 1
    app = recorder.app()

    async with http(app) as client:
        failed = await client.post("/", json=PAGE_REPLY)
        later = await client.post("/", json=STATUS)

    assert failed.status_code == 500
    assert b"database is down" not in failed.content  # internals stay in the log
    assert later.status_code == 200
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.name == "decisiontelecom_async.callbacks"
    assert "on_inbound handler failed" in record.getMessage()
    assert "message_token=44444444444444" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)


async def test_a_failed_delivery_is_handled_again_when_the_service_retries(
    recorder: Recorder,
) -> None:
    recorder.failures = 1

    async with http(recorder.app()) as client:
        statuses = [(await client.post("/", json=PAGE_REPLY)).status_code for _ in range(3)]

    assert statuses == [500, 200, 200]
    # Called for the failure and for the retry; the third delivery is a repeat of a success.
    assert len(recorder.inbound) == 2


async def test_repeated_deliveries_reach_the_handler_once(recorder: Recorder) -> None:
    async with http(recorder.app()) as client:
        answers = [
            (await client.post("/", json=body)).status_code
            for body in [PAGE_REPLY, PAGE_REPLY, STATUS, STATUS, PAGE_REPLY]
        ]

    assert answers == [200] * 5
    assert len(recorder.inbound) == 1
    assert len(recorder.status) == 1


async def test_status_callbacks_differing_in_any_status_are_not_repeats(
    recorder: Recorder,
) -> None:
    bodies = [
        {"message_id": 1, "status": 4},
        {"message_id": 1, "status": 4, "sms_message_id": 9},
        {"message_id": 1, "status": 4, "sms_message_id": 9, "sms_message_status": 6},
        {"message_id": 1, "status": 4, "sms_message_id": 9, "sms_message_status": 2},
        {"message_id": 1, "status": 1},
        {"message_id": 2, "status": 1},
        {"message_id": 2, "status": 1},  # the only repeat
        {"message_id": 2, "status": 77},  # an unknown status...
        {"message_id": 2, "status": 78},  # ...is told apart from another unknown one
    ]

    async with http(recorder.app()) as client:
        for body in bodies:
            assert (await client.post("/", json=body)).status_code == 200

    assert len(recorder.status) == len(bodies) - 1


async def test_replies_are_repeats_by_message_token_only(recorder: Recorder) -> None:
    other = {**PAGE_REPLY, "message_token": 55555555555555}

    async with http(recorder.app()) as client:
        for body in [PAGE_REPLY, other, {**PAGE_REPLY, "time": 2121212122}]:
            await client.post("/", json=body)

    assert [m.message_token for m in recorder.inbound] == [44444444444444, 55555555555555]


async def test_repeats_are_forgotten_after_the_ttl(recorder: Recorder) -> None:
    now = [0.0]
    app = recorder.app(dedup_ttl=60.0)
    app._dedup.seen._clock = lambda: now[0]

    async with http(app) as client:
        await client.post("/", json=STATUS)
        now[0] = 59.0
        await client.post("/", json=STATUS)
        now[0] = 61.0
        await client.post("/", json=STATUS)

    assert len(recorder.status) == 2


async def test_the_memory_is_bounded_and_forgets_the_oldest(recorder: Recorder) -> None:
    app = recorder.app(dedup_size=2)

    async with http(app) as client:
        for message_id in [1, 2, 3, 1, 3]:
            await client.post("/", json={"message_id": message_id, "status": 1})

    assert [c.message_id for c in recorder.status] == [1, 2, 3, 1]
    assert len(app._dedup.seen) == 2


async def test_dedup_size_zero_turns_de_duplication_off(recorder: Recorder) -> None:
    async with http(recorder.app(dedup_size=0)) as client:
        for _ in range(3):
            await client.post("/", json=STATUS)

    assert len(recorder.status) == 3


@pytest.mark.parametrize(("first_fails", "calls"), [(False, 1), (True, 2)])
async def test_a_repeat_arriving_mid_handling_waits_for_the_first_outcome(
    first_fails: bool, calls: int
) -> None:
    release = asyncio.Event()
    started = asyncio.Event()
    handled: list[int] = []

    async def on_status(callback: StatusCallback) -> None:
        handled.append(callback.message_id)
        if len(handled) == 1:
            started.set()
            await release.wait()
            if first_fails:
                raise RuntimeError("first attempt failed")

    app = callback_app(on_status=on_status)
    async with http(app) as client:
        first = asyncio.create_task(client.post("/", json=STATUS))
        await started.wait()
        second = asyncio.create_task(client.post("/", json=STATUS))
        await asyncio.sleep(0.01)
        assert not second.done()  # it waits rather than answering before the first is known
        release.set()
        answers = [(await first).status_code, (await second).status_code]

    assert answers == [500 if first_fails else 200, 200]
    assert len(handled) == calls


async def test_a_handler_cancelled_mid_way_leaves_the_callback_unseen(recorder: Recorder) -> None:
    calls: list[int] = []

    async def on_status(callback: StatusCallback) -> None:
        calls.append(callback.message_id)
        if len(calls) == 1:
            await asyncio.Event().wait()

    app = callback_app(on_status=on_status)
    body = json.dumps(STATUS).encode()
    stuck = asyncio.create_task(call(app, chunks=[body]))
    await asyncio.sleep(0.01)
    stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck

    assert (await call(app, chunks=[body])).status == 200
    assert len(calls) == 2


async def test_a_client_that_disconnects_mid_body_gets_no_answer_and_no_handling(
    recorder: Recorder,
) -> None:
    answer = await call(recorder.app(), chunks=[b'{"message_id": 1,'], disconnect=True)

    assert answer.status == 0
    assert recorder.status == []


# --- the secret token ---------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "query", "root_path"),
    [
        (f"/{TOKEN}", b"", ""),
        (f"/hooks/decisiontelecom/{TOKEN}", b"", ""),
        (f"/hooks/{TOKEN}/", b"", ""),
        (f"/dt/{TOKEN}", b"", "/dt"),  # mounted under /dt
        ("/hooks", f"token={TOKEN}".encode(), ""),
        ("/hooks", f"a=1&token={TOKEN}&b=2".encode(), ""),
        ("/hooks", f"token=wrong&token={TOKEN}".encode(), ""),
    ],
)
async def test_the_token_in_a_path_segment_or_query_admits_the_callback(
    recorder: Recorder, path: str, query: bytes, root_path: str
) -> None:
    answer = await call(
        recorder.app(token=TOKEN),
        path=path,
        query=query,
        root_path=root_path,
        chunks=[json.dumps(STATUS).encode()],
    )

    assert answer.status == 200
    assert len(recorder.status) == 1


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/", b""),
        ("/hooks", b""),
        (f"/{TOKEN[:-1]}", b""),
        (f"/{TOKEN}x", b""),
        (f"/x{TOKEN}", b""),
        (f"/{TOKEN.upper()}", b""),
        ("/hooks", f"tok={TOKEN}".encode()),
        ("/hooks", f"token={TOKEN}x".encode()),
        ("/hooks", b"token="),
    ],
)
async def test_a_missing_or_wrong_token_is_answered_404_and_not_logged(
    recorder: Recorder, caplog: pytest.LogCaptureFixture, path: str, query: bytes
) -> None:
    with caplog.at_level(logging.DEBUG):
        answer = await call(
            recorder.app(token=TOKEN), path=path, query=query, chunks=[json.dumps(STATUS).encode()]
        )

    assert answer.status == 404
    assert answer.chunks_read == 0
    assert recorder.status == []
    assert "wrong or missing token" in caplog.text
    assert TOKEN[:10] not in caplog.text
    assert TOKEN[:10].encode() not in answer.body


async def test_the_token_is_checked_before_anything_else_is_revealed(recorder: Recorder) -> None:
    app = recorder.app(token=TOKEN)

    async with http(app) as client:
        probe = await client.get("/")
        allowed = await client.get(f"/{TOKEN}")

    assert probe.status_code == 404  # not 405: a stranger cannot tell an endpoint is here
    assert allowed.status_code == 405


async def test_the_token_never_appears_in_logs_or_repr(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    recorder.failures = 1
    app = recorder.app(token=TOKEN)

    with caplog.at_level(logging.DEBUG, "decisiontelecom_async"):
        async with http(app) as client:
            for body in [PAGE_REPLY, PAGE_REPLY, PAGE_REPLY, {"junk": 1}]:
                await client.post(f"/{TOKEN}", json=body)
            await client.post(f"/x?token={TOKEN}", content=b"junk")
            await client.post(f"/{TOKEN}x", content=b"junk")

    ours = [r for r in caplog.records if r.name.startswith("decisiontelecom_async")]
    assert len(ours) >= 5
    assert not any(TOKEN[:10] in r.getMessage() for r in ours)
    assert TOKEN not in repr(app)
    assert "hidden" in repr(app)


def test_callback_url_builds_the_url_the_app_accepts() -> None:
    assert callback_url("https://example.com/dt", TOKEN) == f"https://example.com/dt/{TOKEN}"
    assert callback_url("https://example.com/dt/", TOKEN) == f"https://example.com/dt/{TOKEN}"
    assert callback_url("https://example.com", TOKEN) == f"https://example.com/{TOKEN}"
    assert (
        callback_url("https://example.com/dt?tenant=7", TOKEN)
        == f"https://example.com/dt/{TOKEN}?tenant=7"
    )
    assert (
        callback_url("https://example.com/dt?tenant=7", TOKEN, in_query=True)
        == f"https://example.com/dt?tenant=7&token={TOKEN}"
    )


@pytest.mark.parametrize("in_query", [False, True])
async def test_a_url_from_callback_url_passes_the_apps_token_check(
    recorder: Recorder, in_query: bool
) -> None:
    url = callback_url("http://receiver.test/hooks/dt", TOKEN, in_query=in_query)

    async with http(recorder.app(token=TOKEN)) as client:
        response = await client.post(url, json=STATUS)

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("base", "token", "match"),
    [
        ("ftp://example.com", TOKEN, "http"),
        ("example.com/dt", TOKEN, "http"),
        ("https:///dt", TOKEN, "host"),
        ("https://example.com/dt#frag", TOKEN, "fragment"),
        ("https://example.com/dt", "short", "at least 16"),
        ("https://example.com/dt", "has/slash-in-it-0123", "letters, digits"),
        ("https://example.com/dt", "spaces in the token", "letters, digits"),
    ],
)
def test_callback_url_refuses_what_would_not_work(base: str, token: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        callback_url(base, token)


def test_callback_url_refuses_a_second_token_parameter() -> None:
    with pytest.raises(ValueError, match="already has"):
        callback_url("https://example.com/dt?token=old", TOKEN, in_query=True)


# --- source networks ------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "status"),
    [
        ("203.0.113.5", 200),
        ("203.0.113.250", 200),
        ("::ffff:203.0.113.9", 200),  # IPv4-mapped, as dual-stack servers report it
        ("2001:db8::1", 200),
        ("198.51.100.7", 403),
        ("2001:db9::1", 403),
        ("not-an-address", 403),
    ],
)
async def test_allowed_networks_admit_only_their_callers(
    recorder: Recorder, peer: str, status: int
) -> None:
    app = recorder.app(allowed_networks=["203.0.113.0/24", "2001:db8::/32"])

    answer = await call(app, client=(peer, 1234), chunks=[json.dumps(STATUS).encode()])

    assert answer.status == status
    assert len(recorder.status) == (status == 200)


async def test_a_caller_with_no_known_address_is_refused_when_networks_are_set(
    recorder: Recorder,
) -> None:
    answer = await call(recorder.app(allowed_networks="203.0.113.5"), client=None)

    assert answer.status == 403


def xff(value: str) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"application/json"), (b"x-forwarded-for", value.encode())]


@pytest.mark.parametrize(
    ("peer", "forwarded", "status"),
    [
        # The proxy appends the address it saw; that one counts.
        ("10.0.0.2", "203.0.113.5", 200),
        ("10.0.0.2", "198.51.100.1, 203.0.113.5", 200),
        # A spoofed left-hand entry does not help an outsider.
        ("10.0.0.2", "203.0.113.5, 198.51.100.1", 403),
        # Two trusted hops: the first untrusted address from the right counts.
        ("10.0.0.2", "203.0.113.5, 10.0.0.3", 200),
        ("10.0.0.2", "203.0.113.5:5555", 200),
        ("10.0.0.2", "[2001:db8::1]:443", 200),
        ("10.0.0.2", "garbage", 403),
        ("10.0.0.2", "", 403),
        # From anyone but a trusted proxy the header is ignored.
        ("198.51.100.1", "203.0.113.5", 403),
        ("203.0.113.5", "198.51.100.1", 200),
    ],
)
async def test_the_proxy_header_is_honoured_only_from_trusted_proxies(
    recorder: Recorder, peer: str, forwarded: str, status: int
) -> None:
    app = recorder.app(
        allowed_networks=["203.0.113.0/24", "2001:db8::/32"],
        trusted_proxies=["10.0.0.0/8"],
        proxy_header="X-Forwarded-For",
    )

    answer = await call(
        app, client=(peer, 1234), headers=xff(forwarded), chunks=[json.dumps(STATUS).encode()]
    )

    assert answer.status == status


async def test_without_a_proxy_header_setting_forwarding_headers_are_ignored(
    recorder: Recorder,
) -> None:
    app = recorder.app(allowed_networks=["203.0.113.0/24"])

    answer = await call(app, client=("198.51.100.1", 1), headers=xff("203.0.113.5"))

    assert answer.status == 403


async def test_repeated_forwarding_headers_are_read_as_one_list(recorder: Recorder) -> None:
    app = recorder.app(
        allowed_networks=["203.0.113.0/24"],
        trusted_proxies=["10.0.0.0/8"],
        proxy_header="x-forwarded-for",
    )
    headers = [*xff("198.51.100.1"), (b"X-Forwarded-For", b"203.0.113.5")]

    answer = await call(
        app, client=("10.1.2.3", 1), headers=headers, chunks=[json.dumps(STATUS).encode()]
    )

    assert answer.status == 200


# --- configuration and protocol -------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"on_inbound": None, "on_status": None}, ValueError, "give on_inbound"),
        ({"on_status": "not callable"}, TypeError, "on_status must be callable"),
        ({"token": "short"}, ValueError, "at least 16"),
        ({"token": "with spaces inside it!"}, ValueError, "letters, digits"),
        ({"token": 12345678901234567890}, TypeError, "token must be a str"),
        ({"allowed_networks": ["10.0.0.1/8"]}, ValueError, "allowed_networks"),
        ({"allowed_networks": ["example.com"]}, ValueError, "not an IP network"),
        ({"proxy_header": "X-Forwarded-For"}, ValueError, "go together"),
        ({"trusted_proxies": ["10.0.0.0/8"]}, ValueError, "go together"),
        ({"proxy_header": " ", "trusted_proxies": ["10.0.0.0/8"]}, ValueError, "header name"),
        ({"max_body_size": 0}, ValueError, "positive"),
        ({"max_body_size": 1.5}, TypeError, "int"),
        ({"dedup_size": -1}, ValueError, "dedup_size"),
        ({"dedup_ttl": 0}, ValueError, "dedup_ttl"),
    ],
)
def test_unusable_settings_are_refused_at_once(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    handlers: dict[str, Any] = {"on_inbound": print, "on_status": None}
    with pytest.raises(error, match=match):
        callback_app(**(handlers | options))


def test_a_bad_token_is_not_repeated_in_the_error() -> None:
    with pytest.raises(ValueError, match="letters") as caught:
        callback_app(on_inbound=print, token="secret with a space")

    assert "secret with a space" not in str(caught.value)


async def test_lifespan_startup_and_shutdown_are_answered(recorder: Recorder) -> None:
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outgoing: list[dict[str, Any]] = []
    for kind in ("lifespan.startup", "lifespan.shutdown"):
        incoming.put_nowait({"type": kind})

    async def send(message: dict[str, Any]) -> None:
        outgoing.append(message)

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    await asyncio.wait_for(recorder.app()(scope, incoming.get, send), 1)  # type: ignore[arg-type]

    assert [m["type"] for m in outgoing] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]


async def test_a_websocket_is_closed_politely(recorder: Recorder) -> None:
    outgoing: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        outgoing.append(message)

    await recorder.app()({"type": "websocket", "path": "/"}, receive, send)  # type: ignore[arg-type]

    assert outgoing == [{"type": "websocket.close", "code": 1008}]
