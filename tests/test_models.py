"""MessageReceipt and SendOutcome: what users read back."""

from __future__ import annotations

import itertools

import pytest

from decisiontelecom_async import (
    CampaignAborted,
    InsufficientBalanceError,
    MessageReceipt,
    SendOutcome,
    SmsStatus,
    ViberMessage,
    ViberStatus,
)
from decisiontelecom_async._converter import viber_message_to_wire
from decisiontelecom_async.callbacks import callback_url

VIBER_FAILURES = {ViberStatus.ERROR, ViberStatus.REJECTED, ViberStatus.UNDELIVERED}
SMS_FINAL = {SmsStatus.DELIVERED, SmsStatus.EXPIRED, SmsStatus.UNDELIVERABLE}


def expected_final(status: ViberStatus, sms_status: SmsStatus | None, sms_id: int | None) -> bool:
    """The rule of public-api.md, spelled out over literal sets."""
    if status == ViberStatus.DELIVERED:
        return True
    if sms_status in SMS_FINAL:
        return True
    fallback_under_way = sms_id is not None or sms_status is not None
    return status in VIBER_FAILURES and not fallback_under_way


COMBINATIONS = list(itertools.product(ViberStatus, [None, *SmsStatus], [None, 36478]))


@pytest.mark.parametrize(("status", "sms_status", "sms_id"), COMBINATIONS)
def test_is_final_for_every_combination(
    status: ViberStatus, sms_status: SmsStatus | None, sms_id: int | None
) -> None:
    receipt = MessageReceipt(429, status, sms_message_id=sms_id, sms_status=sms_status)
    assert receipt.is_final is expected_final(status, sms_status, sms_id)


def test_combination_count_covers_every_status() -> None:
    assert len(COMBINATIONS) == 7 * 6 * 2


@pytest.mark.parametrize(
    ("receipt", "final"),
    [
        (MessageReceipt(1, ViberStatus.DELIVERED), True),
        (MessageReceipt(1, ViberStatus.SENT), False),
        (MessageReceipt(1, ViberStatus.PENDING), False),
        (MessageReceipt(1, ViberStatus.UNKNOWN), False),
        (MessageReceipt(1, ViberStatus.UNDELIVERED), True),
        (MessageReceipt(1, ViberStatus.REJECTED), True),
        # Viber failed, the SMS fallback exists but has no final status yet.
        (MessageReceipt(1, ViberStatus.UNDELIVERED, sms_message_id=7), False),
        (MessageReceipt(1, ViberStatus.ERROR, 7, SmsStatus.ACCEPTED), False),
        (MessageReceipt(1, ViberStatus.ERROR, 7, SmsStatus.UNKNOWN), False),
        (MessageReceipt(1, ViberStatus.ERROR, None, SmsStatus.ACCEPTED), False),
        # ...and once it has one.
        (MessageReceipt(1, ViberStatus.ERROR, 7, SmsStatus.DELIVERED), True),
        (MessageReceipt(1, ViberStatus.ERROR, 7, SmsStatus.EXPIRED), True),
        (MessageReceipt(1, ViberStatus.UNDELIVERED, 7, SmsStatus.UNDELIVERABLE), True),
    ],
)
def test_is_final_named_cases(receipt: MessageReceipt, final: bool) -> None:
    assert receipt.is_final is final


def test_delivered_by_viber_or_by_sms() -> None:
    assert MessageReceipt(1, ViberStatus.DELIVERED).delivered
    assert MessageReceipt(1, ViberStatus.UNDELIVERED, 2, SmsStatus.DELIVERED).delivered
    assert not MessageReceipt(1, ViberStatus.UNDELIVERED, 2, SmsStatus.EXPIRED).delivered
    assert not MessageReceipt(1, ViberStatus.PENDING).delivered


def test_has_sms_fallback() -> None:
    assert not MessageReceipt(1, ViberStatus.SENT).has_sms_fallback
    assert MessageReceipt(1, ViberStatus.ERROR, sms_message_id=3).has_sms_fallback
    assert MessageReceipt(1, ViberStatus.ERROR, sms_status=SmsStatus.ACCEPTED).has_sms_fallback


def test_receipts_compare_by_value_not_raw_numbers() -> None:
    one = MessageReceipt(1, ViberStatus.UNKNOWN, raw_status=20)
    other = MessageReceipt(1, ViberStatus.UNKNOWN, raw_status=99)
    assert one == other
    assert "raw_status" not in repr(one)


def test_message_has_sms_fallback() -> None:
    assert ViberMessage("Shop", "1", "hi", sms_text="hi").has_sms_fallback
    assert not ViberMessage("Shop", "1", "hi").has_sms_fallback


def test_send_outcome_ok_follows_error() -> None:
    message = ViberMessage("Shop", "1", "hi")
    sent = SendOutcome(0, message, message_id=5, attempts=1)
    aborted = SendOutcome(
        1,
        message,
        error=CampaignAborted(
            InsufficientBalanceError(
                "Topup balance is required", "User balance is empty", code=3, status=402
            )
        ),
    )
    assert sent.ok
    assert not aborted.ok
    assert aborted.message_id is None
    assert aborted.attempts == 0


# -- the callback URL's token stays out of reprs --------------------------------------

_TOKEN = "Zq8s3cr3tT0kenVALUE-abc_123"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"https://hooks.example.com/dt/{_TOKEN}", "'https://hooks.example.com/…'"),
        (f"https://hooks.example.com/dt?token={_TOKEN}", "'https://hooks.example.com/…'"),
        (f"http://hooks.example.com:8443/?token={_TOKEN}", "'http://hooks.example.com:8443/…'"),
        (f"https://user:{_TOKEN}@hooks.example.com/", "'https://hooks.example.com/…'"),
        (f"https://hooks.example.com/#{_TOKEN}", "'https://hooks.example.com/…'"),
        ("https://[::1]:8080/cb", "'https://[::1]:8080/…'"),
        ("https://hooks.example.com/", "'https://hooks.example.com/'"),
        ("https://hooks.example.com", "'https://hooks.example.com/'"),
    ],
)
def test_callback_url_repr_hides_the_token(url: str, shown: str) -> None:
    message = ViberMessage("Shop", "380501234567", "Hi", callback_url=url)
    assert f"callback_url={shown}" in repr(message)
    assert _TOKEN not in repr(message)
    outcome = SendOutcome(index=0, message=message, message_id=5)
    assert _TOKEN not in repr(outcome)
    assert f"callback_url={shown}" in repr(outcome)
    # The value itself, equality and the wire are untouched.
    assert message.callback_url == url
    assert viber_message_to_wire(message)["callback_url"] == url
    assert message == ViberMessage("Shop", "380501234567", "Hi", callback_url=url)
    assert message != ViberMessage("Shop", "380501234567", "Hi", callback_url=url + "x")


def test_callback_url_built_by_the_recipe_is_masked() -> None:
    url = callback_url("https://example.com/dt", _TOKEN)
    assert _TOKEN in url
    message = ViberMessage("Shop", "380501234567", "Hi", callback_url=url)
    assert _TOKEN not in repr(message)
    assert "callback_url='https://example.com/…'" in repr(message)


def test_message_without_callback_url_shows_none() -> None:
    assert "callback_url=None" in repr(ViberMessage("Shop", "380501234567", "Hi"))
