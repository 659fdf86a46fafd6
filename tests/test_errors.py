"""The error classes: hierarchy, context they carry, and how they print."""

from __future__ import annotations

import pytest

import decisiontelecom_async
from decisiontelecom_async import (
    APIError,
    AuthenticationError,
    CampaignAborted,
    DecisionTelecomError,
    FieldProblem,
    InsufficientBalanceError,
    InvalidParameterError,
    RateLimitError,
    ServerError,
    SmsApiError,
    SmsErrorCode,
    TransportError,
    UnexpectedResponseError,
    ValidationError,
    _errors,
)

HIERARCHY = {
    ValidationError: DecisionTelecomError,
    APIError: DecisionTelecomError,
    RateLimitError: APIError,
    InvalidParameterError: APIError,
    ServerError: APIError,
    InsufficientBalanceError: APIError,
    AuthenticationError: APIError,
    SmsApiError: DecisionTelecomError,
    UnexpectedResponseError: DecisionTelecomError,
    TransportError: DecisionTelecomError,
    CampaignAborted: DecisionTelecomError,
}


@pytest.mark.parametrize(("cls", "parent"), HIERARCHY.items())
def test_hierarchy(cls: type[Exception], parent: type[Exception]) -> None:
    assert cls.__bases__[0] is parent


def test_hierarchy_is_drawn_in_the_module_docstring() -> None:
    doc = _errors.__doc__ or ""
    for cls in (DecisionTelecomError, *HIERARCHY):
        assert cls.__name__ in doc


def test_every_public_exception_is_a_decisiontelecom_error() -> None:
    public = [getattr(decisiontelecom_async, name) for name in decisiontelecom_async.__all__]
    errors = [obj for obj in public if isinstance(obj, type) and issubclass(obj, BaseException)]
    assert set(HIERARCHY) <= set(errors)
    assert all(issubclass(error, DecisionTelecomError) for error in errors)


def test_validation_error_is_a_value_error() -> None:
    assert issubclass(ValidationError, ValueError)
    assert not issubclass(APIError, ValueError)


def test_api_error_text_and_context() -> None:
    exc = InsufficientBalanceError(
        "Topup balance is required",
        "User balance is empty",
        code=3,
        status=402,
        http_status=200,
        body='{"code": 3}',
        attempts=2,
    )
    assert str(exc) == (
        "Topup balance is required: User balance is empty (status 402, code 3) (after 2 attempts)"
    )
    assert (
        exc.message_text == "Topup balance is required: User balance is empty (status 402, code 3)"
    )
    assert repr(exc) == (
        "InsufficientBalanceError(name='Topup balance is required', "
        "message='User balance is empty', code=3, status=402, attempts=2)"
    )
    assert (exc.status, exc.http_status, exc.code, exc.body) == (402, 200, 3, '{"code": 3}')


def test_api_error_without_code_or_message() -> None:
    exc = AuthenticationError("Unauthorized", "", code=None, status=401)
    assert str(exc) == "Unauthorized (status 401)"
    assert exc.http_status == 401
    same = ServerError("Oops", "Oops", code=2, status=500)
    assert str(same) == "Oops (status 500, code 2)"


def test_rate_limit_error_carries_retry_after() -> None:
    exc = RateLimitError("Too Many Requests", "", code=0, status=429, retry_after=90.0)
    assert exc.retry_after == 90.0
    assert RateLimitError("x", "", code=0, status=429).retry_after is None


def test_invalid_parameter_without_a_parameter_name() -> None:
    assert InvalidParameterError("Bad Request", "", code=None, status=400).param is None


def test_body_is_truncated() -> None:
    exc = APIError("x", "", code=None, status=418, body="b" * 1000)
    assert exc.body == "b" * 300 + "... (1000 chars)"


def test_validation_error_lists_every_problem() -> None:
    problems = [
        FieldProblem("sender", "must not be empty"),
        FieldProblem("text", "must be at most 1000 characters, got 1001"),
        FieldProblem("text", "something else"),
    ]
    exc = ValidationError(problems)
    assert exc.problems == tuple(problems)
    assert exc.fields == ("sender", "text")
    assert str(exc) == (
        "invalid message (3 problems): sender: must not be empty; "
        "text: must be at most 1000 characters, got 1001; text: something else"
    )
    assert repr(exc).startswith("ValidationError(problems=(FieldProblem(field='sender'")
    assert exc.attempts == 0
    one = ValidationError([FieldProblem("x", "y")], subject="status look-up")
    assert str(one) == "invalid status look-up (1 problem): x: y"


def test_unexpected_response_error() -> None:
    exc = UnexpectedResponseError("the body is not JSON", status=200, body="<html>")
    assert str(exc) == "unexpected response (HTTP 200): the body is not JSON: '<html>'"
    assert (exc.reason, exc.status, exc.body) == ("the body is not JSON", 200, "<html>")
    assert str(UnexpectedResponseError("no status")) == "unexpected response: no status"


def test_transport_error() -> None:
    exc = TransportError("boom", outcome_unknown=True, attempts=3)
    assert str(exc) == "boom (after 3 attempts)"
    assert repr(exc) == "TransportError('boom', outcome_unknown=True, attempts=3)"


def test_campaign_aborted_names_its_cause() -> None:
    cause = InsufficientBalanceError("Topup balance is required", "", code=3, status=402)
    exc = CampaignAborted(cause)
    assert exc.cause is cause
    assert exc.attempts == 0
    assert str(exc) == (
        "not sent: the run stopped after InsufficientBalanceError: "
        "Topup balance is required (status 402, code 3)"
    )
    assert repr(exc).startswith("CampaignAborted(cause=InsufficientBalanceError(")
    assert str(CampaignAborted(None)) == "not sent: the run stopped"
    assert str(CampaignAborted(None, reason="cancelled")) == "cancelled"


@pytest.mark.parametrize(
    ("code", "text", "auth", "balance"),
    [
        (SmsErrorCode.INVALID_NUMBER, "SMS API error 40: invalid number", False, False),
        (
            SmsErrorCode.INVALID_LOGIN_OR_PASSWORD,
            "SMS API error 44: invalid login or password",
            True,
            False,
        ),
        (SmsErrorCode.NOT_ENOUGH_MONEY, "SMS API error 49: not enough money", False, True),
        (99, "SMS API error 99: unknown SMS API error", False, False),
    ],
)
def test_sms_api_error(code: SmsErrorCode | int, text: str, auth: bool, balance: bool) -> None:
    exc = SmsApiError(code)
    assert str(exc) == text
    assert exc.is_authentication_failure is auth
    assert exc.is_balance_empty is balance
    assert repr(exc) == f"SmsApiError(code={code!r}, attempts=1)"


def test_every_sms_error_code_is_described() -> None:
    for code in SmsErrorCode:
        assert code.description
        assert code.description in str(SmsApiError(code))


def test_base_error_without_message() -> None:
    exc = DecisionTelecomError("plain")
    assert str(exc) == "plain"
    assert repr(exc) == "DecisionTelecomError('plain', attempts=1)"
