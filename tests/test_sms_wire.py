"""The SMS API's wire format: encoded queries out, list-like (not JSON) answers in."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from decimal import Decimal
from urllib.parse import parse_qs, unquote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from decisiontelecom_async import (
    APIError,
    AuthenticationError,
    DecisionTelecomError,
    InsufficientBalanceError,
    RateLimitError,
    ServerError,
    SmsApiError,
    SmsBalance,
    SmsErrorCode,
    SmsStatus,
    UnexpectedResponseError,
)
from decisiontelecom_async._sms_wire import (
    MalformedAnswer,
    build_query,
    read_balance,
    read_items,
    read_message_id,
    read_status,
    scrub_credentials,
)

NASTY = "a&b=c#d+e%f g?h/i;j Привет 😀 \n€"


def answer(body: str | bytes, status: int = 200, **headers: str) -> httpx.Response:
    content = body.encode() if isinstance(body, str) else body
    return httpx.Response(status, content=content, headers=headers)


def send_answer(body: str | bytes, status: int = 200, **headers: str) -> int:
    return read_message_id(answer(body, status, **headers), redact=str)


# -- queries -------------------------------------------------------------------


def test_query_encodes_every_reserved_character() -> None:
    query = build_query({"text": NASTY, "login": "u"})
    assert query.startswith("text=a%26b%3Dc%23d%2Be%25f%20g%3Fh%2Fi%3Bj%20%D0%9F")
    assert "+" not in query
    assert "#" not in query
    assert parse_qs(query, strict_parsing=True) == {"text": [NASTY], "login": ["u"]}


@given(st.text(st.characters(exclude_categories=["Cs"]), min_size=1))
def test_any_text_survives_the_query_both_ways(text: str) -> None:
    query = build_query({"text": text})
    # A form decoder (PHP, parse_qs) and a plain RFC 3986 decoder read the same.
    assert parse_qs(query, keep_blank_values=True)["text"] == [text]
    assert unquote(query.removeprefix("text=")) == text


def test_scrub_credentials_blanks_login_and_password_values() -> None:
    line = "GET https://h/ru/js/send?login=bob&password=p%26w&phone=1 HTTP/1.1"
    assert scrub_credentials(line) == (
        "GET https://h/ru/js/send?login=[REDACTED]&password=[REDACTED]&phone=1 HTTP/1.1"
    )


# -- the list-like format --------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "items"),
    [
        ('["msgid","31885463"]', [(None, "msgid"), (None, "31885463")]),
        ('[ "error" , 44 ]\n', [(None, "error"), (None, 44)]),
        ('["status",""]', [(None, "status"), (None, "")]),
        ("[]", []),
        (
            '["balance":"-791.8391870","credit":1000,"currency":"EUR"]',
            [("balance", "-791.8391870"), ("credit", 1000), ("currency", "EUR")],
        ),
        ('["text","a\\"b\\u00e9"]', [(None, "text"), (None, 'a"bé')]),
        ('["balance":1.50]', [("balance", Decimal("1.50"))]),
    ],
)
def test_read_items(body: str, items: list[tuple[str | None, object]]) -> None:
    assert read_items(body) == items


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ('["msgid","123', "truncated"),
        ('["msgid",', "truncated"),
        ('["msgid","123"', "truncated"),
        ("<html><body>Bad Gateway</body></html>", "format"),
        ('["msgid","1"] trailing', "after the closing bracket"),
        ('["msgid" "1"]', "unexpected"),
        ('["msgid",[1]]', "string or a number"),
        ('["msgid",true]', "string or a number"),
        ("[msgid,1]", "no valid value"),
        ("[1:2]", "key must be a string"),
        ('["balance":NaN]', "no valid value"),
    ],
)
def test_read_items_refuses_what_is_not_the_format(body: str, reason: str) -> None:
    with pytest.raises(MalformedAnswer, match=reason):
        read_items(body)


# -- send --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", ['["msgid","31885463"]', '["msgid",31885463]', '["msgid", "31885463"]\n']
)
def test_message_id(body: str) -> None:
    assert send_answer(body) == 31885463


def test_message_id_is_64_bit() -> None:
    assert send_answer(f'["msgid","{2**63 + 5}"]') == 2**63 + 5


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        # The vendor SDK test suites' malformed answers, each a clear error.
        ('["error","InvalidNumber"]', "error code is not a number: 'InvalidNumber'"),
        ('["msgid"]', 'expected \\["msgid", <value>\\], got 1 element'),
        ("[]", "empty list"),
        ('["err",44]', "starting with 'err'"),
        ("<!DOCTYPE html><html><body>Oops</body></html>", "not in the SMS API's"),
        ("", "the body is empty"),
        ('["msgid","318854', "truncated"),
        ('["msgid","abc"]', "msgid is not a message id: 'abc'"),
        ('["msgid","-5"]', "not a message id"),
        ('["status","2"]', "starting with 'status'"),
        ('["msgid","1","2"]', "got 3 elements"),
        ('["error"]', "error answer must be"),
        ('{"message_id": 5}', "starting with 'message_id'"),
        ("null", "not in the SMS API's"),
    ],
)
def test_malformed_send_answers(body: str, reason: str) -> None:
    with pytest.raises(UnexpectedResponseError, match=reason) as info:
        send_answer(body)
    assert info.value.status == 200
    assert info.value.body == body


@pytest.mark.parametrize("code", list(SmsErrorCode))
def test_every_error_code(code: SmsErrorCode) -> None:
    with pytest.raises(SmsApiError) as info:
        send_answer(f'["error",{int(code)}]')
    assert info.value.code is code
    assert str(info.value) == f"SMS API error {int(code)}: {code.description}"


def test_error_code_as_a_string_as_the_vendor_sdks_send_it() -> None:
    with pytest.raises(SmsApiError) as info:
        send_answer('["error","44"]')
    assert info.value.code is SmsErrorCode.INVALID_LOGIN_OR_PASSWORD
    assert info.value.is_authentication_failure


def test_unknown_error_code_is_kept() -> None:
    with pytest.raises(SmsApiError) as info:
        send_answer('["error",77]')
    assert info.value.code == 77
    assert "unknown SMS API error" in str(info.value)


def test_not_enough_money_is_balance_empty() -> None:
    with pytest.raises(SmsApiError) as info:
        send_answer('["error",49]')
    assert info.value.is_balance_empty
    assert "not enough money" in str(info.value)


def test_sms_error_body_wins_over_the_http_status() -> None:
    with pytest.raises(SmsApiError) as info:
        send_answer('["error",50]', status=401)
    assert info.value.code is SmsErrorCode.AUTHENTICATION_ERROR


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (401, AuthenticationError),
        (403, AuthenticationError),
        (402, InsufficientBalanceError),
        (500, ServerError),
        (502, ServerError),
        (404, APIError),
        (429, RateLimitError),
    ],
)
def test_http_failures_map_through_the_core(status: int, error_type: type[APIError]) -> None:
    with pytest.raises(error_type) as info:
        send_answer("<html>nope</html>", status=status)
    assert info.value.status == status
    assert info.value.body == "<html>nope</html>"


def test_malformed_error_under_an_http_failure_maps_by_status() -> None:
    with pytest.raises(ServerError):
        send_answer('["error","InternalError"]', status=500)


def test_429_carries_retry_after() -> None:
    with pytest.raises(RateLimitError) as info:
        send_answer("", status=429, **{"Retry-After": "7"})
    assert info.value.retry_after == 7.0


def test_json_error_object_maps_through_the_core() -> None:
    body = '{"name":"Too Many Requests","message":"Rate limit exceeded","code":0,"status":429}'
    with pytest.raises(RateLimitError) as info:
        send_answer(body)
    assert info.value.http_status == 200


def test_redirect_is_unexpected() -> None:
    with pytest.raises(UnexpectedResponseError, match="unexpected HTTP status"):
        send_answer("", status=302)


# -- state ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ('["status","2"]', SmsStatus.DELIVERED),
        ('["status",3]', SmsStatus.EXPIRED),
        ('["status","5"]', SmsStatus.UNDELIVERABLE),
        ('["status","6"]', SmsStatus.ACCEPTED),
        ('["status","0"]', SmsStatus.UNKNOWN),
        ('["status",""]', SmsStatus.UNKNOWN),
        ('["status",null]', SmsStatus.UNKNOWN),
        ('["status","99"]', SmsStatus.UNKNOWN),
    ],
)
def test_status(body: str, status: SmsStatus) -> None:
    assert read_status(answer(body), redact=str) is status


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('["status","DELIVRD"]', "status is not a number"),
        ('["msgid","2"]', "starting with 'msgid'"),
        ("[]", "empty list"),
    ],
)
def test_malformed_status(body: str, reason: str) -> None:
    with pytest.raises(UnexpectedResponseError, match=reason):
        read_status(answer(body), redact=str)


def test_status_error() -> None:
    with pytest.raises(SmsApiError) as info:
        read_status(answer('["error",42]'), redact=str)
    assert info.value.code is SmsErrorCode.INVALID_MESSAGE_ID


# -- balance -----------------------------------------------------------------------------


def test_balance_vendor_format_is_read_exactly() -> None:
    body = '["balance":"-791.8391870","credit":"1000","currency":"EUR"]'
    balance = read_balance(answer(body), redact=str)
    assert balance == SmsBalance(Decimal("-791.8391870"), Decimal(1000), "EUR")
    assert str(balance.balance) == "-791.8391870"
    assert balance.available == Decimal("208.1608130")


@pytest.mark.parametrize(
    "body",
    [
        '["balance":12.50,"credit":0,"currency":"UAH"]',
        '[ "currency" : "UAH" , "credit" : "0", "balance" : "12.50" ]',
        '{"balance":"12.50","credit":"0","currency":"UAH"}',
    ],
)
def test_balance_tolerates_numbers_order_and_braces(body: str) -> None:
    assert read_balance(answer(body), redact=str) == SmsBalance(Decimal("12.50"), Decimal(0), "UAH")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('["balance","12"]', "expected"),
        ("[]", "expected"),
        ('["balance":"12","currency":"EUR"]', "no 'credit'"),
        ('["balance":"lots","credit":"0","currency":"EUR"]', "balance is not a number"),
        ('["balance":"NaN","credit":"0","currency":"EUR"]', "balance is not a number"),
        ('["balance":"1","credit":"0","currency":""]', "currency"),
        ('["balance":"1","credit":"0","currency":5]', "currency"),
        ('["balance":"1","credit":"0"', "truncated"),
    ],
)
def test_malformed_balance(body: str, reason: str) -> None:
    with pytest.raises(UnexpectedResponseError, match=reason):
        read_balance(answer(body), redact=str)


def test_balance_error() -> None:
    with pytest.raises(SmsApiError) as info:
        read_balance(answer('["error",45]'), redact=str)
    assert info.value.code is SmsErrorCode.USER_LOCKED


def test_redact_applies_to_reason_and_body() -> None:
    with pytest.raises(UnexpectedResponseError) as info:
        read_message_id(answer('["msgid","hunter2"]'), redact=lambda t: t.replace("hunter2", "*"))
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in info.value.body


def test_undecodable_bytes_are_a_clear_error() -> None:
    with pytest.raises(UnexpectedResponseError):
        send_answer(b"\xff\xfe\x00garbage")


# -- hostile answers: always an SDK error, never a plain Python one ----------------

_LONG = "4" * 5000  # over int()'s 4300-digit limit
_DEEP = "[" * 100_000


@pytest.mark.parametrize("read", [read_message_id, read_status, read_balance])
@pytest.mark.parametrize(
    "body",
    [
        f'["error","{_LONG}"]',
        f'["error",{_LONG}]',
        f'["msgid",{_DEEP}',
        f'["msgid",{_DEEP}{"]" * 100_000}]',
        f"{_DEEP}",
        f'["balance":{_DEEP}',
    ],
    ids=["long-error-string", "long-error-number", "deep", "deep-closed", "deep-bare", "deep-key"],
)
@pytest.mark.parametrize("status", [200, 500])
def test_hostile_answers_are_sdk_errors(
    read: Callable[..., object], body: str, status: int
) -> None:
    with pytest.raises(UnexpectedResponseError if status == 200 else ServerError):
        read(answer(body, status), redact=str)


@pytest.mark.parametrize(
    "body", [f'["status","{_LONG}"]', f'["status",{_LONG}]', f'["status"," {_LONG} "]']
)
def test_overlong_status_is_unexpected(body: str) -> None:
    with pytest.raises(UnexpectedResponseError, match=r"status is not a number|no valid value"):
        read_status(answer(body), redact=str)


def test_status_code_with_spaces_is_still_read() -> None:
    assert read_status(answer('["status"," 2 "]'), redact=str) is SmsStatus.DELIVERED


@pytest.mark.parametrize("amount", ["1e999999999", '"1e999999999"', '"-1E-999999999"'])
def test_absurd_balance_is_unexpected(amount: str) -> None:
    body = f'["balance":{amount},"credit":"0","currency":"EUR"]'
    with pytest.raises(UnexpectedResponseError, match="balance is not a number"):
        read_balance(answer(body), redact=str)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        # yarl (aiohttp) leaves ' / ! unescaped: the value goes on to the next "&".
        (
            "GET http://h/send?login=bob&password=Tr0ub4dor'%263/horse!&phone=1",
            "GET http://h/send?login=[REDACTED]&password=[REDACTED]&phone=1",
        ),
        ('?password=a"b<c>d#e;f&x=1', "?password=[REDACTED]&x=1"),
        ("?LOGIN=a;b&PassWord=c d", "?LOGIN=[REDACTED]&PassWord=[REDACTED] d"),
        (
            "<a href='/s?x=1&amp;password=p&amp;y=2'>",
            "<a href='/s?x=1&amp;password=[REDACTED]&amp;y=2'>",
        ),
        ("no credentials, password: none", "no credentials, password: none"),
    ],
)
def test_scrub_credentials_blanks_up_to_the_next_ampersand(text: str, shown: str) -> None:
    assert scrub_credentials(text) == shown


_ANSWER_PIECES = st.sampled_from(
    [
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        '"',
        "\\",
        '"error"',
        '"status"',
        '"msgid"',
        '"balance"',
        '"credit"',
        '"currency"',
        "44",
        "-1",
        "1e999999",
        "2.5",
        "null",
        "true",
        "NaN",
        " ",
        '"' + "9" * 4400 + '"',
        "[" * 3000,
        "\u00b2",
        "\ud7ff",
    ]
)


@given(st.lists(_ANSWER_PIECES, max_size=12).map("".join), st.sampled_from([200, 400, 500]))
def test_any_answer_is_a_result_or_an_sdk_error(body: str, status: int) -> None:
    for read in (read_message_id, read_status, read_balance):
        with contextlib.suppress(DecisionTelecomError):
            read(answer(body, status), redact=str)
