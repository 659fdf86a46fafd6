"""The integer codes print by name and travel as numbers."""

from __future__ import annotations

import json

import pytest

from decisiontelecom_async import (
    MessageReceipt,
    MessageType,
    SmsErrorCode,
    SmsStatus,
    SourceType,
    ViberMessage,
    ViberStatus,
)
from decisiontelecom_async._converter import viber_message_to_wire

MEMBERS = [*MessageType, *SourceType, *ViberStatus, *SmsStatus, *SmsErrorCode]


@pytest.mark.parametrize("member", MEMBERS, ids=repr)
def test_a_code_prints_by_name(member: MessageType, capsys: pytest.CaptureFixture[str]) -> None:
    assert str(member) == member.name
    assert f"{member}" == member.name
    assert f"{member:>30}" == f"{member.name:>30}"
    print(member)  # noqa: T201 - what a user does
    assert capsys.readouterr().out == f"{member.name}\n"


@pytest.mark.parametrize("member", MEMBERS, ids=repr)
def test_a_code_keeps_its_number(member: MessageType) -> None:
    assert int(member) == member.value
    assert f"{member:d}" == str(member.value)
    assert f"{member:03d}" == f"{member.value:03d}"
    assert json.dumps({"code": member}) == f'{{"code": {member.value}}}'
    assert repr(member).endswith(f": {member.value}>")


def test_a_receipt_prints_its_sms_status_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    receipt = MessageReceipt(
        message_id=1,
        status=ViberStatus.UNDELIVERED,
        sms_message_id=2,
        sms_status=SmsStatus.DELIVERED,
    )
    print(receipt.status, receipt.sms_status)  # noqa: T201 - what a user does
    assert capsys.readouterr().out == "UNDELIVERED DELIVERED\n"


def test_the_wire_still_carries_numbers() -> None:
    message = ViberMessage(
        "Shop",
        "380501234567",
        "Hi",
        message_type=MessageType.TEXT_ONLY_2WAY,
        source_type=SourceType.PROMOTIONAL,
    )
    wire = json.loads(json.dumps(viber_message_to_wire(message)))
    assert wire["message_type"] == 206
    assert wire["source_type"] == 1
