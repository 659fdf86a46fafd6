"""BodyAnswer: an answer read whole reads like the httpx.Response it stands in for."""

from __future__ import annotations

import gzip
import logging
import zlib
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from decisiontelecom_async import ServerError, ViberClient, ViberMessage
from decisiontelecom_async._answer import Answer, BodyAnswer, text_of
from decisiontelecom_async._redact import Redactor
from decisiontelecom_async._transport import send_request

URL = "https://web.it-decision.com/v1/api/send-viber"
BODY = '{"message_id": 429, "text": "Привет, café"}'.encode()


def body_answer(status: int, headers: dict[str, str], content: bytes) -> BodyAnswer:
    response = httpx.Response(status, headers=headers)  # the reason phrase httpx would give
    return BodyAnswer(status, response.reason_phrase, httpx.Headers(headers), content)


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        pytest.param("text/plain; charset=windows-1251", "Привет".encode("cp1251"), id="cp1251"),
        pytest.param(
            "text/plain; charset=Windows-1251", "Привет".encode("cp1251"), id="mixed-case"
        ),
        pytest.param('application/json; charset="utf-8"', "héllo ✓".encode(), id="quoted"),
        pytest.param('text/plain; charset="koi8-r"', "Привет".encode("koi8-r"), id="quoted-koi8"),
        pytest.param("text/plain; charset='latin-1'", "café".encode("latin-1"), id="single-quoted"),
        pytest.param(
            "text/html; foo=bar; CHARSET=ISO-8859-1", "café".encode("latin-1"), id="upper"
        ),
        pytest.param("text/plain; charset=latin1", "café".encode("latin-1"), id="alias"),
        pytest.param("text/plain; charset=no-such-codec", "héllo".encode(), id="unknown"),
        pytest.param("text/plain; charset=", "héllo".encode(), id="empty-charset"),
        pytest.param("application/json", "héllo".encode(), id="no-charset"),
        pytest.param(None, "héllo".encode(), id="no-content-type"),
        pytest.param(None, b"ok \xff\xfe then \xc3", id="invalid-utf8"),
        pytest.param("text/plain; charset=utf-8", b"\xef\xbb\xbfbom", id="utf8-bom-kept"),
        pytest.param("text/plain; charset=utf-8-sig", b"\xef\xbb\xbfbom", id="utf8-sig"),
        pytest.param("text/plain; charset=utf-16", "hi".encode("utf-16"), id="utf16"),
        pytest.param("text/plain; charset=utf-16", b"\xff", id="utf16-truncated"),
        pytest.param("text/plain; charset=ascii", b"caf\xe9", id="ascii-high-byte"),
        pytest.param(None, b"", id="empty"),
        pytest.param(
            "text/plain; charset*=utf-8''koi8-r",
            "Привет".encode("koi8-r"),
            id="rfc2231",
        ),
    ],
)
def test_text_decodes_as_httpx_would(content_type: str | None, content: bytes) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    expected = httpx.Response(200, headers=headers, content=content).text
    assert text_of(body_answer(200, headers, content)) == expected


@pytest.mark.parametrize("codec", ["hex", "rot13", "base64", "zlib"])
def test_a_charset_naming_no_text_codec_falls_back_to_utf8(codec: str) -> None:
    headers = {"Content-Type": f"text/html; charset={codec}"}
    assert text_of(body_answer(502, headers, "héllo".encode())) == "héllo"


async def test_a_charset_naming_no_text_codec_is_still_an_sdk_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            502, content=b"<h1>Bad gateway</h1>", headers={"Content-Type": "text/html; charset=hex"}
        )

    transport = httpx.MockTransport(handler)
    async with (
        httpx.AsyncClient(transport=transport) as http,
        ViberClient("key", http_client=http, max_retries=0) as client,
    ):
        with pytest.raises(ServerError) as info:
            await client.send(ViberMessage("Shop", "380501234567", "hi"))
    assert "Bad gateway" in str(info.value.body)


@pytest.mark.parametrize(
    ("content_type", "content", "text"),
    [
        ("text/plain; charset=windows-1251", "Привет".encode("cp1251"), "Привет"),
        (None, "héllo".encode(), "héllo"),
        ("text/plain; charset=no-such-codec", "héllo".encode(), "héllo"),
        (None, b"ok \xff!", "ok \ufffd!"),
    ],
)
def test_text_reads_as_the_service_wrote_it(
    content_type: str | None, content: bytes, text: str
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    assert text_of(body_answer(200, headers, content)) == text


@pytest.mark.parametrize(
    ("status", "success"),
    [(199, False), (200, True), (204, True), (299, True), (300, False), (429, False)],
)
def test_is_success_means_2xx_as_for_httpx(status: int, success: bool) -> None:
    assert body_answer(status, {}, b"").is_success is success
    assert httpx.Response(status).is_success is success


def test_a_body_answer_keeps_what_it_was_given() -> None:
    headers = httpx.Headers({"Retry-After": "3"})
    answer: Answer = BodyAnswer(429, "Too Many Requests", headers, b"{}")
    assert (answer.status_code, answer.reason_phrase, answer.content) == (
        429,
        "Too Many Requests",
        b"{}",
    )
    assert answer.headers["retry-after"] == "3"
    assert repr(answer) == "<BodyAnswer [429]>"


# -- send_request(direct=True): which kind of answer comes back -----------------------


async def send(handler: httpx.MockTransport, *, direct: bool = True) -> Answer:
    async with httpx.AsyncClient(transport=handler, trust_env=False) as http:
        request = http.build_request("POST", URL, content=b"{}")
        return await send_request(http, request, Redactor(), direct=direct)


async def test_an_in_memory_body_without_encoding_comes_back_as_a_body_answer() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            201, content=BODY, headers={"Content-Type": "application/json; charset=utf-8"}
        )

    answer = await send(httpx.MockTransport(handler))
    assert type(answer) is BodyAnswer
    assert len(seen) == 1
    assert answer.content == BODY
    assert answer.status_code == 201
    assert answer.reason_phrase == "Created"
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    assert text_of(answer) == BODY.decode()
    assert answer.is_success


class Chunks(httpx.AsyncByteStream):
    """A streamed body that records whether it was closed."""

    def __init__(self, *parts: bytes) -> None:
        self.parts = parts
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            yield part

    async def aclose(self) -> None:
        self.closed = True


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress)],
)
@pytest.mark.parametrize("streamed", [False, True], ids=["in-memory", "streamed"])
@pytest.mark.parametrize("direct", [True, False], ids=["direct", "through-send"])
async def test_an_encoded_body_comes_back_decoded_by_the_sdk(
    encoding: str, compress: Callable[[bytes], bytes], *, streamed: bool, direct: bool
) -> None:
    encoded = compress(BODY)
    assert encoded != BODY
    stream = Chunks(encoded[:5], encoded[5:])
    headers = {"Content-Encoding": encoding, "Content-Type": "application/json"}

    def handler(request: httpx.Request) -> httpx.Response:
        if streamed:
            return httpx.Response(200, stream=stream, headers=headers)
        return httpx.Response(200, content=encoded, headers=headers)

    answer = await send(httpx.MockTransport(handler), direct=direct)
    # Decoded by the SDK, within its size bound (_body.py), not by httpx.
    assert type(answer) is BodyAnswer
    assert answer.content == BODY
    assert answer.headers["content-encoding"] == encoding
    assert text_of(answer) == BODY.decode()
    # A streamed body is closed once read: its connection goes back.
    assert stream.closed is streamed


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "through-send"])
async def test_a_streamed_body_comes_back_read_whole(*, direct: bool) -> None:
    stream = Chunks(BODY[:5], BODY[5:])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=stream)

    answer = await send(httpx.MockTransport(handler), direct=direct)
    assert answer.content == BODY
    assert answer.status_code == 200
    assert stream.closed


async def test_without_direct_the_answer_is_read_too() -> None:
    answer = await send(
        httpx.MockTransport(lambda _: httpx.Response(200, content=BODY)), direct=False
    )
    assert answer.content == BODY
    assert answer.status_code == 200


async def test_the_httpx_request_log_line_is_kept_when_it_is_enabled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="httpx")
    answer = await send(httpx.MockTransport(lambda _: httpx.Response(200, content=BODY)))
    assert answer.content == BODY
    assert any(
        record.name == "httpx" and "HTTP Request: POST" in record.getMessage()
        for record in caplog.records
    )
