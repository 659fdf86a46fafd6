"""The httpx shortcuts of _http/_shortcuts.py still do what httpx would.

Requests the SDK builds itself are exactly what httpx.Request would build,
and the transport it sends them through is the one httpx would pick.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest
from conftest import ACCESS_KEY, BASE_URL

from decisiontelecom_async import SmsClient, ViberClient, ViberMessage
from decisiontelecom_async._http._shortcuts import transport_for

SEND = {
    "source_addr": "Custom Company",
    "destination_addr": "380636111112",
    "message_type": 106,
    "text": "Message content",
    "alpha_name": "Custom Company",
}
NON_ASCII = {**SEND, "text": 'Привет, café ✓ 👋 "quoted" \\ / \u2028'}


def wire(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def as_httpx_builds(
    client: ViberClient | SmsClient,
    method: str,
    url: str,
    json_body: Mapping[str, Any] | None = None,
) -> httpx.Request:
    content = None if json_body is None else wire(json_body)
    request = httpx.Request(
        method,
        url,
        content=content,
        headers=client._requests().merged(json=json_body is not None),
        extensions={"timeout": client._timeout.as_dict()},
    )
    request.read()
    return request


def assert_same_request(built: httpx.Request, expected: httpx.Request) -> None:
    assert built.method == expected.method
    assert built.url == expected.url
    assert str(built.url) == str(expected.url)
    assert built.headers.raw == expected.headers.raw
    assert built.headers.encoding == expected.headers.encoding
    assert built.content == expected.content
    assert b"".join(built.stream) == expected.content  # type: ignore[arg-type]
    assert built.extensions["timeout"] == expected.extensions["timeout"]


@pytest.fixture
async def viber() -> AsyncIterator[ViberClient]:
    async with ViberClient(ACCESS_KEY) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "json_body"),
    [
        pytest.param("POST", SEND, id="json-post"),
        pytest.param("POST", NON_ASCII, id="non-ascii-json-post"),
        pytest.param("POST", {}, id="empty-object-post"),
        pytest.param("GET", None, id="get"),
        pytest.param("POST", None, id="empty-post"),
    ],
)
async def test_a_request_is_what_httpx_would_build(
    viber: ViberClient, method: str, json_body: Mapping[str, Any] | None
) -> None:
    built = viber._build_request(method, "send-viber", json_body=json_body)
    expected = as_httpx_builds(viber, method, f"{BASE_URL}/send-viber", json_body)
    assert_same_request(built, expected)


async def test_a_json_post_has_host_first_and_content_length_last(viber: ViberClient) -> None:
    built = viber._build_request("POST", "send-viber", json_body=NON_ASCII)
    names = [name.lower() for name, _ in built.headers.raw]
    assert names[0] == b"host"
    assert names[-1] == b"content-length"
    assert names.count(b"content-length") == 1
    assert built.headers["Content-Length"] == str(len(wire(NON_ASCII)))
    assert built.headers["Content-Type"] == "application/json"
    assert json.loads(built.content) == NON_ASCII


async def test_an_empty_post_says_content_length_zero(viber: ViberClient) -> None:
    built = viber._build_request("POST", "send-viber")
    expected = as_httpx_builds(viber, "POST", f"{BASE_URL}/send-viber")
    assert built.headers.raw == expected.headers.raw
    assert built.headers.get_list("Content-Length") == ["0"]
    assert "Content-Type" not in built.headers
    assert built.content == b""


async def test_a_get_has_no_body_headers(viber: ViberClient) -> None:
    built = viber._build_request("GET", "balance")
    assert "Content-Length" not in built.headers
    assert "Content-Type" not in built.headers
    assert built.content == b""


@pytest.mark.parametrize(
    ("base_url", "url", "host"),
    [
        ("https://example.test:8443/v1/api", "https://example.test:8443/v1/api/send-viber", None),
        (
            "https://example.test:443/v1/api",
            "https://example.test/v1/api/send-viber",
            "example.test",
        ),
        ("http://example.test:80/api/", "http://example.test/api/send-viber", "example.test"),
        ("http://example.test:8080/api", "http://example.test:8080/api/send-viber", None),
        ("http://[::1]:8080/api", "http://[::1]:8080/api/send-viber", "[::1]:8080"),
        ("https://bücher.example/api", "https://xn--bcher-kva.example/api/send-viber", None),
    ],
)
async def test_the_url_and_host_match_httpx_for_any_base_url(
    base_url: str, url: str, host: str | None
) -> None:
    async with ViberClient(ACCESS_KEY, base_url=base_url) as client:
        for body in (SEND, None):
            built = client._build_request("POST", "send-viber", json_body=body)
            if body is not None:
                assert_same_request(built, as_httpx_builds(client, "POST", url, body))
            get = client._build_request("GET", "send-viber")
            assert_same_request(get, as_httpx_builds(client, "GET", url))
        assert built.url == httpx.URL(url)
        if host is not None:
            assert built.headers["Host"] == host


async def test_a_custom_timeout_is_the_request_timeout() -> None:
    timeout = httpx.Timeout(5.0, connect=1.5, pool=0.25)
    async with ViberClient(ACCESS_KEY, timeout=timeout) as client:
        built = client._build_request("POST", "send-viber", json_body=SEND)
        assert built.extensions["timeout"] == timeout.as_dict()
        assert_same_request(built, as_httpx_builds(client, "POST", f"{BASE_URL}/send-viber", SEND))


async def test_requests_to_the_same_path_carry_their_own_content_length(
    viber: ViberClient,
) -> None:
    long_body = {**SEND, "text": "x" * 500}
    short_body = {**SEND, "text": "y"}
    url = f"{BASE_URL}/send-viber"
    for body in (long_body, short_body, NON_ASCII, long_body):
        built = viber._build_request("POST", "send-viber", json_body=body)
        assert_same_request(built, as_httpx_builds(viber, "POST", url, body))
        assert built.headers.get_list("Content-Length") == [str(len(wire(body)))]
    # A bodyless POST and a GET after them carry no leftover body headers.
    empty = viber._build_request("POST", "send-viber")
    assert empty.headers.get_list("Content-Length") == ["0"]
    assert "Content-Type" not in empty.headers
    get = viber._build_request("GET", "send-viber")
    assert_same_request(get, as_httpx_builds(viber, "GET", url))


async def test_changing_one_requests_headers_leaves_the_next_alone(viber: ViberClient) -> None:
    url = f"{BASE_URL}/send-viber"
    first = viber._build_request("POST", "send-viber", json_body=SEND)
    first.headers["X-Extra"] = "1"
    first.headers["Accept"] = "text/plain"
    first.headers["Content-Length"] = "999"
    del first.headers["Authorization"]
    second = viber._build_request("POST", "send-viber", json_body=SEND)
    assert second.headers is not first.headers
    assert_same_request(second, as_httpx_builds(viber, "POST", url, SEND))
    second.headers["X-Other"] = "2"
    assert "X-Other" not in first.headers
    third = viber._build_request("POST", "send-viber", json_body=SEND)
    assert "X-Other" not in third.headers
    assert "X-Extra" not in third.headers
    assert third.headers["Authorization"] == second.headers["Authorization"]
    get = viber._build_request("GET", "send-viber")
    get.headers["X-Get"] = "3"
    assert_same_request(
        viber._build_request("GET", "send-viber"), as_httpx_builds(viber, "GET", url)
    )


# -- the SMS client: the query is in the URL ------------------------------------------------


async def test_sms_params_go_into_the_query_through_httpx() -> None:
    async with SmsClient("user", "p@ss word") as sms:
        params = {"login": "user", "phone": "380501234567", "text": "a b+c&d=é"}
        built = sms._build_request("GET", "send-sms", params=params)
        assert built.url.params == httpx.QueryParams(params)
        assert built.url.copy_with(query=None) == httpx.URL(
            "https://web.it-decision.com/ru/js/send-sms"
        )
        expected = httpx.Request("GET", "https://web.it-decision.com/ru/js/send-sms", params=params)
        assert built.url == expected.url
        assert built.headers["Accept"] == "*/*"
        assert built.headers["Host"] == "web.it-decision.com"
        assert "Content-Length" not in built.headers
        assert built.extensions["timeout"] == httpx.Timeout(30.0).as_dict()
        # The path was seen before: the next request has its own query, not the last one.
        other = sms._build_request("GET", "send-sms", params={"phone": "1"})
        assert other.url.params == httpx.QueryParams({"phone": "1"})
        plain = sms._build_request("GET", "send-sms")
        assert plain.url.query == b""


async def test_sms_requests_carry_their_own_percent_encoded_query() -> None:
    async with SmsClient("user", "p@ss word") as sms:
        first = sms._get("send-sms", {"phone": "380501234567", "text": "a b+c"})
        second = sms._get("send-sms", {"phone": "380501234568", "text": "x"})
    assert first.url.query == (
        b"login=user&password=p%40ss%20word&phone=380501234567&text=a%20b%2Bc"
    )
    assert second.url.query == b"login=user&password=p%40ss%20word&phone=380501234568&text=x"
    assert first.url.path == second.url.path == "/ru/js/send-sms"
    assert dict(first.url.params) == {
        "login": "user",
        "password": "p@ss word",
        "phone": "380501234567",
        "text": "a b+c",
    }
    assert first.headers["Host"] == "web.it-decision.com"
    assert first.headers["Accept"] == "*/*"


# -- the transport a request goes straight to ---------------------------------------


class _Answers(httpx.AsyncBaseTransport):
    def __init__(self, message_id: int) -> None:
        self.message_id = message_id
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json={"message_id": self.message_id})


async def test_httpx_still_picks_the_transport_where_the_sdk_looks() -> None:
    # If httpx renames or changes AsyncClient._transport_for_url, this fails:
    # the SDK would silently fall back to AsyncClient.send (a third more CPU).
    default, mounted = _Answers(1), _Answers(2)
    async with httpx.AsyncClient(
        transport=default, mounts={"http://mounted.example": mounted}
    ) as http:
        assert transport_for(http, httpx.URL("http://other.example/x")) is default
        assert transport_for(http, httpx.URL("http://mounted.example/x")) is mounted


async def test_a_transport_picked_by_a_patched_httpx_answers_the_sdk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # respx's using="httpx" (docs/quickstart.md) patches this very method; a
    # request of the SDK's own client must go where it points.
    stand_in = _Answers(42)
    monkeypatch.setattr(httpx.AsyncClient, "_transport_for_url", lambda _client, _url: stand_in)
    async with ViberClient(ACCESS_KEY) as client:
        message_id = await client.send(ViberMessage("Shop", "380501234567", "hi"))
    assert message_id == 42
    assert [request.url.path for request in stand_in.requests] == ["/v1/api/send-viber"]
