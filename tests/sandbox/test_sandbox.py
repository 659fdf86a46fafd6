"""The sandbox in process: the vendor page's rules, statuses over time, faults, the SMS API."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from decisiontelecom_async import (
    AuthenticationError,
    InsufficientBalanceError,
    InvalidParameterError,
    MessageType,
    RetryPolicy,
    ServerError,
    SmsApiError,
    SmsErrorCode,
    SmsMessage,
    SmsStatus,
    SourceType,
    TransportError,
    ValidationError,
    ViberMessage,
    ViberStatus,
)
from decisiontelecom_async.sandbox import (
    DropPhase,
    Sandbox,
    SandboxConfig,
    SandboxConnectionDropped,
)
from decisiontelecom_async.sandbox._faults import Faults

KEY = "sandbox-key"
FAST = RetryPolicy(max_retries=3, initial_wait=0.0, max_wait=0.0, jitter=0.0)

PAGE_EXAMPLE: dict[str, Any] = {
    "source_addr": "Custom Company",
    "destination_addr": 380636111112,
    "message_type": 106,
    "text": "Message content",
    "text_sms": "SMS message content",
    "image": "https://yourdomain.com/images/image.jpg",
    "button_caption": "Join Us",
    "button_action": "https://yourdomain.com/join-us",
    "source_type": 2,
    "callback_url": "https://yourdomain.com/viber-callback",
    "validity_period": 3600,
}
PROMO: dict[str, Any] = {
    "source_addr": "Shop",
    "destination_addr": "380501234567",
    "message_type": 108,
    "text": "Sale!",
    "image": "https://shop.example/sale.png",
    "button_caption": "Buy",
    "button_action": "https://shop.example/buy",
    "source_type": 1,
}


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(key.encode()).decode()}


@pytest.fixture
async def box() -> AsyncIterator[Sandbox]:
    async with Sandbox(time_scale=0, callback_transport=httpx.MockTransport(ok)) as sandbox:
        yield sandbox


def ok(_: httpx.Request) -> httpx.Response:
    return httpx.Response(200)


@pytest.fixture
async def raw(box: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """Plain httpx on the sandbox: what any client, not only ours, puts on the wire."""
    async with httpx.AsyncClient(
        transport=box.transport(), base_url=box.base_url + "/", headers=basic(KEY)
    ) as http:
        yield http


def error_body(param: str) -> dict[str, Any]:
    return {
        "name": f"Invalid Parameter: {param}",
        "message": "Empty parameter or parameter validation error",
        "code": 1,
        "status": 400,
    }


# -- the page's rules ------------------------------------------------------------


async def test_the_page_example_is_accepted_at_send_viber(raw: httpx.AsyncClient) -> None:
    response = await raw.post("send-viber", json=PAGE_EXAMPLE)
    assert response.status_code == 200
    message_id = response.json()["message_id"]
    assert isinstance(message_id, int)
    assert 10**9 <= message_id < 2**63


async def test_the_page_example_posted_to_receive_viber_is_refused(
    raw: httpx.AsyncClient,
) -> None:
    response = await raw.post("receive-viber", json=PAGE_EXAMPLE)
    assert response.status_code == 400
    assert response.json() == error_body("message_id")
    assert "send-viber" in response.headers["x-sandbox-problem"]


def changed(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = {**base, **changes}
    return {key: value for key, value in body.items() if value is not ...}


INVALID = [
    (changed(PAGE_EXAMPLE, source_addr=...), "source_addr"),
    (changed(PAGE_EXAMPLE, source_addr=""), "source_addr"),
    (changed(PAGE_EXAMPLE, source_addr="x" * 21), "source_addr"),
    (changed(PAGE_EXAMPLE, destination_addr=...), "destination_addr"),
    (changed(PAGE_EXAMPLE, destination_addr="+380636111112"), "destination_addr"),
    (changed(PAGE_EXAMPLE, destination_addr="1" * 21), "destination_addr"),
    (changed(PAGE_EXAMPLE, message_type=107), "message_type"),
    (changed(PAGE_EXAMPLE, message_type=...), "message_type"),
    (changed(PAGE_EXAMPLE, text=""), "text"),
    (changed(PAGE_EXAMPLE, text="x" * 1001), "text"),
    (changed(PAGE_EXAMPLE, text_sms="x" * 161), "text_sms"),
    (changed(PAGE_EXAMPLE, text_sms="ж" * 71), "text_sms"),
    (changed(PAGE_EXAMPLE, text_sms="[" * 81), "text_sms"),
    (changed(PAGE_EXAMPLE, source_type=1), "text_sms"),
    (changed(PROMO, image=...), "image"),
    (changed(PROMO, image="https://shop.example/sale.gif"), "image"),
    (changed(PROMO, image="not a url"), "image"),
    (changed(PROMO, button_caption="x" * 31), "button_caption"),
    (changed(PROMO, button_caption=...), "button_caption"),
    (changed(PROMO, button_action=...), "button_action"),
    (changed(PROMO, button_action="javascript:alert(1)"), "button_action"),
    (changed(PAGE_EXAMPLE, source_type=3), "source_type"),
    (changed(PAGE_EXAMPLE, text_sms=..., source_type=...), "source_type"),
    (changed(PAGE_EXAMPLE, callback_url="ftp://example.com/cb"), "callback_url"),
    (changed(PAGE_EXAMPLE, validity_period=39), "validity_period"),
    (changed(PAGE_EXAMPLE, validity_period=21601), "validity_period"),
    (changed(PAGE_EXAMPLE, validity_period="an hour"), "validity_period"),
    # Several broken: the first in the page's order is named.
    (changed(PAGE_EXAMPLE, text="", source_type=9, validity_period=1), "text"),
]


@pytest.mark.parametrize(("body", "param"), INVALID)
async def test_each_rule_of_the_page_is_a_400_naming_the_parameter(
    raw: httpx.AsyncClient, box: Sandbox, body: dict[str, Any], param: str
) -> None:
    response = await raw.post("send-viber", json=body)
    assert response.status_code == 400
    assert response.json() == error_body(param)
    assert box.stats.invalid_parameters == 1
    assert box.messages() == []


VALID = [
    changed(PAGE_EXAMPLE, text_sms="x" * 160, validity_period=40),
    changed(PAGE_EXAMPLE, text_sms="ж" * 70, validity_period=21600),
    changed(PAGE_EXAMPLE, destination_addr="380636111112", message_type="206"),
    changed(PROMO, message_type=208, button_caption="x" * 30),
    changed(PROMO, image="https://shop.example/a/photo.JPEG?size=400"),
    changed(PAGE_EXAMPLE, extra_field="ignored"),
]


@pytest.mark.parametrize("body", VALID)
async def test_bodies_within_the_limits_are_accepted(
    raw: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await raw.post("send-viber", json=body)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("content", [b"", b"not json", b"[1, 2]", b'{"source_addr": '])
async def test_a_body_that_is_not_a_json_object_is_a_400(
    raw: httpx.AsyncClient, content: bytes
) -> None:
    response = await raw.post(
        "send-viber", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == 1


@pytest.mark.parametrize(
    "message",
    [
        ViberMessage("Shop", "380501234567", "Hi"),
        ViberMessage("Shop", 380501234567, "Your code", sms_text="Your code 1234"),
        ViberMessage(
            "Shop",
            "380501234567",
            "Sale",
            message_type=MessageType.TEXT_IMAGE_BUTTON_2WAY,
            source_type=SourceType.PROMOTIONAL,
            image_url="https://shop.example/a.jpg",
            button_caption="Buy",
            button_action="https://shop.example/buy",
            callback_url="https://shop.example/cb",
            validity_period=40,
        ),
    ],
)
async def test_what_the_client_sends_the_sandbox_accepts(
    box: Sandbox, message: ViberMessage
) -> None:
    async with box.client() as client:
        message_id = await client.send(message)
    stored = box.message(message_id)
    assert stored is not None
    assert stored.receiver == message.receiver
    assert stored.request is not None
    assert stored.request["text"] == message.text


async def test_the_client_reads_a_400_as_invalid_parameter(box: Sandbox) -> None:
    async with box.client(retry_policy=FAST) as client:
        with pytest.raises(InvalidParameterError) as caught:
            await client.get_status(123456789)
    assert caught.value.param == "message_id"
    assert caught.value.attempts == 1


async def test_unknown_paths_and_methods(raw: httpx.AsyncClient, box: Sandbox) -> None:
    assert (await raw.post("send-sms", json={})).status_code == 404
    response = await raw.get("send-viber")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert box.stats.not_found == 2


# -- authentication --------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, basic("wrong-key"), {"Authorization": "Bearer " + KEY}, {"Authorization": "Basic !!"}],
)
async def test_a_missing_or_wrong_key_is_a_401(box: Sandbox, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(transport=box.transport(), headers=headers) as http:
        response = await http.post(box.base_url + "/send-viber", json=PAGE_EXAMPLE)
    assert response.status_code == 401
    assert box.stats.unauthorized == 1
    assert box.messages() == []


async def test_curl_style_key_with_a_colon_is_the_same_key(box: Sandbox) -> None:
    # The page's PHP sample uses CURLOPT_USERPWD "$key", which sends base64("key:").
    async with httpx.AsyncClient(transport=box.transport(), headers=basic(KEY + ":")) as http:
        response = await http.post(box.base_url + "/send-viber", json=PAGE_EXAMPLE)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        ("empty", lambda r: r.content == b""),
        ("text", lambda r: "invalid credentials" in r.text),
        ("json", lambda r: r.json()["status"] == 401),
    ],
)
async def test_the_401_body_is_configurable_and_the_client_fails_fast(
    kind: str, check: Any
) -> None:
    async with Sandbox(unauthorized_body=kind) as box:
        async with httpx.AsyncClient(transport=box.transport()) as http:
            response = await http.post(box.base_url + "/send-viber", json=PAGE_EXAMPLE)
            assert response.status_code == 401
            assert check(response)
        box.reset_stats()
        async with box.client("wrong-key", retry_policy=FAST) as client:
            with pytest.raises(AuthenticationError) as caught:
                await client.send(ViberMessage("Shop", "380501234567", "Hi"))
        assert caught.value.attempts == 1
        assert box.stats.requests == 1


# -- ids and seeds ---------------------------------------------------------------


async def send_n(box: Sandbox, n: int, **client_options: Any) -> list[int]:
    async with box.client(**client_options) as client:
        return [await client.send(ViberMessage("Shop", "380501234567", "Hi")) for _ in range(n)]


async def test_ids_are_unique_64_bit_and_repeat_with_the_seed() -> None:
    async with Sandbox(seed=5) as first, Sandbox(seed=5) as second, Sandbox(seed=6) as third:
        ids = await send_n(first, 50)
        assert len(set(ids)) == 50
        assert all(10**9 <= i < 2**63 for i in ids)
        assert await send_n(second, 50) == ids
        assert set(await send_n(third, 50)).isdisjoint(ids)


async def test_each_fault_knob_draws_on_its_own() -> None:
    # Turning on 500s changes neither the ids nor the fates of what gets accepted.
    calm = Sandbox(seed=3, time_scale=0, undelivered_share=0.5)
    stormy = Sandbox(seed=3, time_scale=0, undelivered_share=0.5, server_error_share=0.5)
    async with calm, stormy:
        calm_ids = await send_n(calm, 20)
        stormy_ids = await send_n(stormy, 20, retry_policy=RetryPolicy(max_retries=20, **_NOWAIT))
        assert stormy.stats.server_errors > 0
        assert stormy_ids == calm_ids
        await calm.advance(10)
        await stormy.advance(10)
        assert [m.status for m in calm.messages()] == [m.status for m in stormy.messages()]


_NOWAIT: dict[str, float] = {"initial_wait": 0.0, "max_wait": 0.0, "jitter": 0.0}


# -- statuses over simulated time ------------------------------------------------


async def statuses(box: Sandbox, message_id: int) -> tuple[Any, ...]:
    async with box.client() as client:
        receipt = await client.get_status(message_id)
    return receipt.status, receipt.sms_message_id, receipt.sms_status, receipt.is_final


async def test_a_message_goes_pending_sent_delivered(box: Sandbox) -> None:
    (message_id,) = await send_n(box, 1)
    assert await statuses(box, message_id) == (ViberStatus.PENDING, None, None, False)
    await box.advance(0.5)
    assert await statuses(box, message_id) == (ViberStatus.SENT, None, None, False)
    await box.advance(0.5)
    assert await statuses(box, message_id) == (ViberStatus.DELIVERED, None, None, True)
    await box.advance(3600)
    assert (await statuses(box, message_id))[0] is ViberStatus.DELIVERED


async def test_rejected_messages_never_reach_sent() -> None:
    async with Sandbox(time_scale=0, rejected_share=1.0) as box:
        (message_id,) = await send_n(box, 1)
        await box.advance(0.49)
        assert (await statuses(box, message_id))[0] is ViberStatus.PENDING
        await box.advance(0.01)
        assert await statuses(box, message_id) == (ViberStatus.REJECTED, None, None, True)


@pytest.mark.parametrize(
    ("sms_share", "final_sms"), [(1.0, SmsStatus.DELIVERED), (0.0, SmsStatus.UNDELIVERABLE)]
)
async def test_a_transactional_message_falls_back_to_sms(
    sms_share: float, final_sms: SmsStatus
) -> None:
    config = SandboxConfig(time_scale=0, undelivered_share=1.0, sms_delivered_share=sms_share)
    async with Sandbox(config) as box, box.client() as client:
        message_id = await client.send(
            ViberMessage("Shop", "380501234567", "Your code", sms_text="Your code 1234")
        )
        await box.advance(1.0)
        status, sms_id, sms_status, final = await statuses(box, message_id)
        assert (status, sms_status, final) == (ViberStatus.UNDELIVERED, None, False)
        assert sms_id is not None
        assert sms_id != message_id
        await box.advance(1.0)
        assert await statuses(box, message_id) == (ViberStatus.UNDELIVERED, sms_id, final_sms, True)


async def test_a_promotional_failure_has_no_sms() -> None:
    async with Sandbox(time_scale=0, undelivered_share=1.0) as box:
        (message_id,) = await send_n(box, 1)
        await box.advance(5)
        assert await statuses(box, message_id) == (ViberStatus.UNDELIVERED, None, None, True)


async def test_a_short_validity_period_ends_undelivered() -> None:
    async with Sandbox(time_scale=0, delivery_delay=100.0) as box, box.client() as client:
        message_id = await client.send(
            ViberMessage("Shop", "380501234567", "Hi", validity_period=40)
        )
        await box.advance(40)
        assert (await statuses(box, message_id))[0] is ViberStatus.UNDELIVERED


async def test_a_status_is_kept_for_the_window_then_forgotten(box: Sandbox) -> None:
    (message_id,) = await send_n(box, 1)
    await box.advance(timedelta(days=5).total_seconds() - 1)
    assert (await statuses(box, message_id))[0] is ViberStatus.DELIVERED
    await box.advance(2)
    with pytest.raises(InvalidParameterError) as caught:
        await statuses(box, message_id)
    assert caught.value.param == "message_id"
    await send_n(box, 1)  # sending prunes what left the window
    assert len(box.messages()) == 1


async def test_time_runs_with_time_scale() -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    async with Sandbox(time_scale=100, start_time=start, delivery_delay=1.0) as box:
        assert box.clock.now() == pytest.approx(start.timestamp(), abs=1)
        (message_id,) = await send_n(box, 1)
        await asyncio.sleep(0.02)  # two simulated seconds
        assert (await statuses(box, message_id))[0] is ViberStatus.DELIVERED


# -- faults ----------------------------------------------------------------------


async def test_rate_limit_answers_429_with_retry_after() -> None:
    async with (
        Sandbox(rate_limit=2) as box,
        httpx.AsyncClient(transport=box.transport(), headers=basic(KEY)) as http,
    ):
        answers = [
            await http.post(box.base_url + "/send-viber", json=PAGE_EXAMPLE) for _ in range(3)
        ]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json() == {
        "name": "Too Many Requests",
        "message": "Rate limit exceeded",
        "code": 0,
        "status": 429,
    }
    assert 0 < float(answers[2].headers["retry-after"]) <= 0.5
    assert box.stats.rate_limited == 1
    assert box.stats.sends_accepted == 2


@pytest.mark.parametrize(("burst", "let_through"), [(None, 100), (1.0, 100), (0.1, 10)])
async def test_rate_burst_is_how_many_seconds_of_the_limit_go_through_at_once(
    burst: float | None, let_through: int
) -> None:
    options = {} if burst is None else {"rate_burst": burst}
    now = [0.0]
    faults = Faults(SandboxConfig(rate_limit=100, **options), monotonic=lambda: now[0])
    # Everything at one instant: only the burst gets in ...
    assert sum(1 for _ in range(500) if faults.retry_after() is None) == let_through
    # ... and the bucket refills at the limit, whatever the burst.
    now[0] = 0.5
    assert sum(1 for _ in range(500) if faults.retry_after() is None) == min(50, let_through)


async def test_the_client_waits_out_the_rate_limit() -> None:
    async with Sandbox(rate_limit=20) as box:
        await send_n(box, 24, max_concurrency=1)
        assert box.stats.sends_accepted == 24
        assert box.stats.rate_limited > 0


async def test_server_errors_are_500s_that_do_not_store_anything() -> None:
    async with Sandbox(server_error_share=1.0) as box:
        async with box.client(retry_policy=FAST) as client:
            with pytest.raises(ServerError) as caught:
                await client.send(ViberMessage("Shop", "380501234567", "Hi"))
        assert caught.value.http_status == 500
        assert caught.value.code == 2
        assert caught.value.attempts == 4
        assert box.stats.server_errors == 4
        assert box.messages() == []


async def test_errors_inside_200_are_retried_by_the_client() -> None:
    async with Sandbox(seed=2, error_in_200_share=0.5) as box:
        ids = await send_n(box, 10, retry_policy=RetryPolicy(max_retries=10, **_NOWAIT))
        assert box.stats.errors_in_200 > 0
        assert len(box.messages()) == len(set(ids)) == 10


async def test_an_error_inside_200_is_an_error_object(raw: httpx.AsyncClient) -> None:
    async with (
        Sandbox(error_in_200_share=1.0) as box,
        httpx.AsyncClient(transport=box.transport(), headers=basic(KEY)) as http,
    ):
        response = await http.post(box.base_url + "/send-viber", json=PAGE_EXAMPLE)
    assert response.status_code == 200
    assert response.json()["code"] in (0, 2)
    assert "message_id" not in response.json()


async def test_the_balance_runs_out_after_n_sends() -> None:
    async with Sandbox(balance=2) as box, box.client(retry_policy=FAST) as client:
        message = ViberMessage("Shop", "380501234567", "Hi")
        await client.send(message)
        await client.send(message)
        with pytest.raises(InsufficientBalanceError) as caught:
            await client.send(message)
        assert caught.value.attempts == 1
        assert caught.value.code == 3
        assert box.sends_left == 0
        assert box.stats.balance_exhausted == 1
        box.top_up(1)
        await client.send(message)
        assert len(box.messages()) == 3


@pytest.mark.parametrize(("phase", "stored"), [(DropPhase.BEFORE, 0), (DropPhase.AFTER, 1)])
async def test_a_dropped_connection_is_a_remote_protocol_error(
    phase: DropPhase, stored: int
) -> None:
    async with Sandbox(drop_connection_share=1.0, drop_connection_phase=phase) as box:
        async with httpx.AsyncClient(transport=box.transport(), headers=basic(KEY)) as http:
            with pytest.raises(httpx.RemoteProtocolError):
                await http.post(box.base_url + "/send-viber", json=PAGE_EXAMPLE)
        assert len(box.messages()) == stored
        async with box.client() as client:
            with pytest.raises(TransportError) as caught:
                await client.send(ViberMessage("Shop", "380501234567", "Hi"))
        assert caught.value.outcome_unknown
        assert caught.value.attempts == 1
        assert len(box.messages()) == 2 * stored


async def test_either_phase_drops_both_ways() -> None:
    async with Sandbox(seed=4, drop_connection_share=1.0) as box:
        async with httpx.AsyncClient(transport=box.transport(), headers=basic(KEY)) as http:
            for _ in range(20):
                with pytest.raises(httpx.RemoteProtocolError):
                    await http.post(box.base_url + "/send-viber", json=PAGE_EXAMPLE)
        assert box.stats.dropped_before > 0
        assert box.stats.dropped_after > 0
        assert len(box.messages()) == box.stats.dropped_after


@pytest.mark.parametrize("latency", [0.03, (0.02, 0.04)])
async def test_latency_delays_each_answer(latency: Any) -> None:
    async with Sandbox(latency=latency) as box:
        started = time.perf_counter()
        await send_n(box, 2)
        assert time.perf_counter() - started >= 0.04


def test_config_refuses_nonsense() -> None:
    for bad in (
        {"undelivered_share": 1.5},
        {"undelivered_share": 0.6, "rejected_share": 0.6},
        {"latency": (0.2, 0.1)},
        {"latency": -1},
        {"rate_limit": 0},
        {"rate_burst": 0},
        {"rate_burst": float("inf")},
        {"balance": -1},
        {"callback_attempts": 0},
        {"access_key": ""},
        {"unauthorized_body": "html"},
        {"status_window": timedelta(0)},
    ):
        with pytest.raises((ValueError, TypeError)):
            SandboxConfig(**bad)
    assert SandboxConfig(latency=[0.1, 0.2]).latency == (0.1, 0.2)
    assert Sandbox(SandboxConfig(seed=1), rate_limit=5).config == SandboxConfig(
        seed=1, rate_limit=5
    )


# -- the SMS API -----------------------------------------------------------------


@pytest.fixture
async def sms_raw(box: Sandbox) -> AsyncIterator[Any]:
    async with httpx.AsyncClient(transport=box.transport()) as http:

        async def call(path: str, **params: str) -> str:
            query = {"login": "sandbox-login", "password": "sandbox-password", **params}
            response = await http.get(f"{box.sms_base_url}/{path}", params=query)
            assert response.status_code == 200
            return response.text

        yield call


async def test_sms_api_answers_in_its_own_formats(box: Sandbox, sms_raw: Any) -> None:
    answer = json.loads(await sms_raw("send", phone="380501234567", sender="Shop", text="Hi"))
    assert answer[0] == "msgid"
    message_id = answer[1]
    assert message_id.isdigit()
    assert await sms_raw("state", msgid=message_id) == '["status","6"]'
    await box.advance(1)
    assert await sms_raw("state", msgid=message_id) == '["status","2"]'
    assert await sms_raw("balance") == '["balance":"99.95","credit":"0.00","currency":"EUR"]'


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"login": ""}, 47),
        ({"password": ""}, 48),
        ({"password": "nope"}, 44),
        ({"phone": ""}, 40),
        ({"phone": "+380501234567"}, 40),
        ({"phone": "123"}, 51),
        ({"sender": ""}, 41),
        ({"sender": "TwelveLetter"}, 41),
        ({"text": ""}, 46),
    ],
)
async def test_sms_api_errors(box: Sandbox, params: dict[str, str], code: int) -> None:
    query = {
        "login": "sandbox-login",
        "password": "sandbox-password",
        "phone": "380501234567",
        "sender": "Shop",
        "text": "Hi",
        **params,
    }
    async with httpx.AsyncClient(transport=box.transport()) as http:
        response = await http.get(box.sms_base_url + "/send", params=query)
    assert response.text == f'["error",{code}]'
    assert box.stats.sms_errors == 1


@pytest.mark.parametrize(
    ("phone", "sender", "text"),
    [
        ("380501234567", "Shop", "Hi"),
        ("380501234567", " Shop", "Hi"),
        ("380501234567", "Shop ", "Hi"),
        ("380501234567", "Sh@p", "Hi"),
        ("380501234567", "Shop", "   "),
        ("380501234567", "1234567890123456", "Hi"),
        ("380501234567", "123456789012345", "Hi"),
        ("380501234567", "Eleven Char", "Hi"),
        ("0380501234", "Shop", "Hi"),
        ("1234567", "Shop", "Hi"),
        ("1234567890123456", "Shop", "Hi"),
        ("٣٨٠٥٠١٢٣٤٥٦٧", "Shop", "Hi"),
    ],
)
async def test_the_sandbox_refuses_exactly_the_sms_the_sdk_refuses(
    box: Sandbox, phone: str, sender: str, text: str
) -> None:
    # One set of SMS rules: what SmsMessage accepts, the sandbox's SMS API accepts.
    try:
        SmsMessage(phone, sender, text)
    except ValidationError:
        sdk_accepts = False
    else:
        sdk_accepts = True
    query = {"login": "sandbox-login", "password": "sandbox-password"}
    query |= {"phone": phone, "sender": sender, "text": text}
    async with httpx.AsyncClient(transport=box.transport()) as http:
        response = await http.get(box.sms_base_url + "/send", params=query)

    assert json.loads(response.text)[0] == ("msgid" if sdk_accepts else "error")


async def test_sms_client_against_the_sandbox() -> None:
    async with (
        Sandbox(time_scale=0, sms_balance="0.10") as box,
        box.sms_client(retry_policy=FAST) as sms,
    ):
        message_id = await sms.send("380501234567", "Shop", "Tom & Jerry + 50% #1")
        assert await sms.get_status(message_id) is SmsStatus.ACCEPTED
        await box.advance(1)
        assert await sms.get_status(message_id) is SmsStatus.DELIVERED
        balance = await sms.get_balance()
        assert (balance.balance, balance.currency) == (Decimal("0.05"), "EUR")
        await sms.send("380501234567", "Shop", "second")
        with pytest.raises(SmsApiError) as caught:
            await sms.send("380501234567", "Shop", "third: no money left")
        assert caught.value.code is SmsErrorCode.NOT_ENOUGH_MONEY
        with pytest.raises(SmsApiError) as unknown:
            await sms.get_status(42)
        assert unknown.value.code is SmsErrorCode.INVALID_MESSAGE_ID


async def test_the_sandbox_bills_parts_as_a_phone_splits_them() -> None:
    # "€" cannot be split across parts: 152 + (2 + 151) + 1 septets is 3 parts.
    async with (
        Sandbox(time_scale=0, sms_balance="1.00") as box,
        box.sms_client(retry_policy=FAST) as sms,
    ):
        await sms.send("380501234567", "Shop", "a" * 152 + "€" + "a" * 152)
        assert (await sms.get_balance()).balance == Decimal("0.85")
        await sms.send("380501234567", "Shop", "Ж" + "a" * 65 + "😀" + "b" * 66)
        assert (await sms.get_balance()).balance == Decimal("0.70")


# -- the ASGI face ---------------------------------------------------------------


async def test_the_app_is_plain_asgi() -> None:
    async with Sandbox(time_scale=0) as box:
        transport = httpx.ASGITransport(app=box.app)
        async with httpx.AsyncClient(transport=transport, headers=basic(KEY)) as http:
            response = await http.post(box.base_url + "/send-viber", json=PAGE_EXAMPLE)
        assert response.status_code == 200
        assert box.message(response.json()["message_id"]) is not None


async def test_the_asgi_app_raises_where_it_would_drop() -> None:
    async with Sandbox(drop_connection_share=1.0) as box:
        transport = httpx.ASGITransport(app=box.app)
        async with httpx.AsyncClient(transport=transport, headers=basic(KEY)) as http:
            with pytest.raises(SandboxConnectionDropped):
                await http.post(box.base_url + "/send-viber", json=PAGE_EXAMPLE)


# -- memory ----------------------------------------------------------------------


def test_the_store_stays_compact() -> None:
    import tracemalloc  # noqa: PLC0415

    box = Sandbox(time_scale=0, keep_bodies=100)
    body = {"destination_addr": "380501234567", "text": "Hello"}
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(5_000):
            box._state.accept_viber(
                body,
                receiver="380501234567",
                callback_url=None,
                ttl=None,
                two_way=False,
                sms_fallback=False,
            )
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # About 250 bytes a message: 200k messages stay around 50 MB.
    assert used / 5_000 < 350
    assert len(box.messages()) == 5_000


async def test_the_asgi_app_answers_lifespan() -> None:
    box = Sandbox()
    sent: list[dict[str, Any]] = []
    incoming = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict[str, Any]:
        return next(incoming)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await box.app({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]


async def test_a_sandbox_serves_once_at_a_time_and_reports_where() -> None:
    async with Sandbox() as box:
        assert box.base_url == "http://sandbox.test/v1/api"
        assert "in process" in repr(box)
        async with box.serve() as base_url:
            assert box.is_serving
            assert base_url == box.base_url
            assert base_url in repr(box)
            with pytest.raises(RuntimeError, match="already serving"):
                async with box.serve():
                    pass
        assert not box.is_serving
        assert box.sms_base_url == "http://sandbox.test/ru/js"
