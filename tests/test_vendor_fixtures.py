"""The vendor SDKs' own test answers, word for word, through the real clients.

The Python SDK's Viber success case sends the id as a string,
``{"message_id":"429"}``; the vendor SDKs' malformed SMS answers must each
be a clear :class:`UnexpectedResponseError` (never a KeyError, IndexError or
ValueError, and never mistaken for an :class:`SmsApiError`), on every call
and on both transports.
"""

from __future__ import annotations

import traceback
from collections.abc import Awaitable, Callable

import pytest
import respx
from conftest import BASE_URL
from test_sms_client import LOGIN, PASSWORD, SMS_URL, TRANSPORTS, Loopback, real_client

from decisiontelecom_async import (
    SmsApiError,
    SmsClient,
    UnexpectedResponseError,
    ViberClient,
    ViberMessage,
    ViberStatus,
)

VIBER_SUCCESS = '{"message_id":"429"}'

# The malformed SMS answers of the vendor SDKs' test suites, as they wrote them.
MALFORMED_SMS = [
    '["error",""]',
    '["msg","31885463"]',
    '["msgid",""]',
    '["stat","4"]',
    '["status"]',
    '["err","44"]',
    '["bal","4"]',
]

SMS_CALLS: dict[str, Callable[[SmsClient], Awaitable[object]]] = {
    "send": lambda client: client.send("380501234567", "Shop", "Hello"),
    "state": lambda client: client.get_status(31885463),
    "balance": lambda client: client.get_balance(),
}


async def test_viber_id_sent_as_a_string_is_read_as_a_number() -> None:
    with respx.mock(base_url=BASE_URL, using="httpx") as router:
        router.post("/send-viber").respond(200, text=VIBER_SUCCESS)
        router.post("/receive-viber").respond(200, text='{"message_id":"429","status":"1"}')
        async with ViberClient("api_key") as client:
            message_id = await client.send(ViberMessage("Shop", "380501234567", "Hello"))
            receipt = await client.get_status(message_id)
    assert message_id == 429
    assert type(message_id) is int
    assert receipt.message_id == 429
    assert receipt.status is ViberStatus.DELIVERED


def assert_clear_unexpected(error: BaseException, body: str) -> None:
    assert type(error) is UnexpectedResponseError, repr(error)
    assert not isinstance(error, SmsApiError)
    assert error.body == body  # what came back is kept for the user to read
    assert str(error)  # and it says why
    shown = "".join(traceback.format_exception(error))
    for internal in ("KeyError", "IndexError", "ValueError", "TypeError", "JSONDecodeError"):
        assert internal not in shown, shown


@pytest.mark.parametrize("call", list(SMS_CALLS))
@pytest.mark.parametrize("body", MALFORMED_SMS)
async def test_vendor_malformed_sms_answers_are_unexpected_responses(body: str, call: str) -> None:
    with respx.mock(base_url=SMS_URL, using="httpx") as router:
        route = router.get(f"/{call}").respond(200, text=body)
        async with SmsClient(LOGIN, PASSWORD) as client:
            with pytest.raises(UnexpectedResponseError) as info:
                await SMS_CALLS[call](client)
    assert_clear_unexpected(info.value, body)
    assert route.call_count == 1  # a nonsense answer is not asked for again


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('["error",""]', "the error code is not a number: ''"),
        ('["msg","31885463"]', "expected [\"msgid\", <value>], got an answer starting with 'msg'"),
        ('["msgid",""]', "msgid is not a message id: ''"),
        ('["err","44"]', "expected [\"msgid\", <value>], got an answer starting with 'err'"),
    ],
)
async def test_vendor_malformed_send_answers_say_what_is_wrong(body: str, reason: str) -> None:
    with respx.mock(base_url=SMS_URL, using="httpx") as router:
        router.get("/send").respond(200, text=body)
        async with SmsClient(LOGIN, PASSWORD) as client:
            with pytest.raises(UnexpectedResponseError) as info:
                await client.send("380501234567", "Shop", "Hello")
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('["stat","4"]', "expected [\"status\", <value>], got an answer starting with 'stat'"),
        ('["status"]', 'expected ["status", <value>], got 1 element'),
        ('["err","44"]', "expected [\"status\", <value>], got an answer starting with 'err'"),
    ],
)
async def test_vendor_malformed_state_answers_say_what_is_wrong(body: str, reason: str) -> None:
    with respx.mock(base_url=SMS_URL, using="httpx") as router:
        router.get("/state").respond(200, text=body)
        async with SmsClient(LOGIN, PASSWORD) as client:
            with pytest.raises(UnexpectedResponseError) as info:
                await client.get_status(31885463)
    assert info.value.reason == reason


@pytest.mark.network
@TRANSPORTS
@pytest.mark.parametrize("body", MALFORMED_SMS)
async def test_vendor_malformed_sms_answers_from_a_real_server(transport: str, body: str) -> None:
    async with (
        Loopback(lambda _: body) as server,
        real_client(transport, server.base_url, max_retries=0) as client,
    ):
        for call in SMS_CALLS.values():
            with pytest.raises(UnexpectedResponseError) as info:
                await call(client)
            assert_clear_unexpected(info.value, body)
    assert len(server.targets) == len(SMS_CALLS)
