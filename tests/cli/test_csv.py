"""Campaign files: the reader and the first scan."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from decisiontelecom_async import (
    MessageType,
    SourceType,
)
from decisiontelecom_async._cli._csv import (
    BadRow,
    CampaignReader,
    CampaignRow,
    parse_enum_text,
    scan_file,
)

pytestmark = pytest.mark.network


def rows_of(text: str, **options: Any) -> list[CampaignRow | BadRow]:
    return list(CampaignReader(io.StringIO(text, newline=""), **options))


def test_reader_names_the_line_each_row_starts_on() -> None:
    rows = rows_of(
        "receiver,text,sender\n"
        '380501234567,"two\nlines",Shop\n'
        "\n"
        "380501234568,three,Shop\n"
        "abc,bad,Shop\n"
    )
    assert [(type(row).__name__, row.line) for row in rows] == [
        ("CampaignRow", 2),
        ("CampaignRow", 5),
        ("BadRow", 6),
    ]
    first = rows[0]
    assert isinstance(first, CampaignRow)
    assert first.message.text == "two\nlines"


def test_reader_takes_enum_names_or_numbers() -> None:
    rows = rows_of(
        "receiver,text,sender,message_type,source_type,image_url,button_caption,button_action\n"
        "1234567,a,S,text-image-button,PROMOTIONAL,https://e.com/a.png,Go,https://e.com\n"
        "1234567,a,S,208, 1 ,https://e.com/a.png,Go,https://e.com\n"
        "1234567,a,S,TEXT_ONLY,transactional,,,\n"
    )
    types = [(row.message.message_type, row.message.source_type) for row in rows]  # type: ignore[union-attr]
    assert types == [
        (MessageType.TEXT_IMAGE_BUTTON, SourceType.PROMOTIONAL),
        (MessageType.TEXT_IMAGE_BUTTON_2WAY, SourceType.PROMOTIONAL),
        (MessageType.TEXT_ONLY, SourceType.TRANSACTIONAL),
    ]
    assert parse_enum_text(MessageType, "video") == "video"


def test_reader_handles_short_extra_and_unreadable_rows() -> None:
    rows = rows_of(
        "receiver,text,sender,sms_text\n"
        "1234567,short row,S\n"  # the missing sms_text cell counts as empty
        "1234567,extra,S,,surplus\n"
        "1234567,trailing commas,S,,,\n"  # empty surplus cells are harmless
        '1234567,"' + "x" * 140_000 + '",S\n'  # over csv's field limit
        "1234567,after,S\n",
    )
    kinds = [(type(row).__name__, row.line) for row in rows]
    assert kinds == [
        ("CampaignRow", 2),
        ("BadRow", 3),
        ("CampaignRow", 4),
        ("BadRow", 5),
        ("CampaignRow", 6),
    ]
    assert "5 cells but the header names 4 columns" in rows[1].reason  # type: ignore[union-attr]
    assert "unreadable CSV" in rows[3].reason  # type: ignore[union-attr]


def test_reader_takes_the_default_sender_and_reports_each_broken_field() -> None:
    good, bad = rows_of("receiver,text\n1234567,hi\n,\u200b\n", default_sender="Shop")
    assert isinstance(good, CampaignRow)
    assert good.message.sender == "Shop"
    assert isinstance(bad, BadRow)
    assert "receiver" in bad.reason


@pytest.mark.parametrize(
    ("header", "says"),
    [
        ("receiver,sender", "lacks the column(s) text"),
        ("receiver,text,reciever", "unknown column(s) reciever"),
        ("receiver,text,text", "repeats the column(s) text"),
        ("", "the CSV file is empty"),
    ],
)
def test_reader_refuses_a_bad_header(header: str, says: str) -> None:
    with pytest.raises(ValueError, match=r".*") as caught:
        CampaignReader(io.StringIO(header))
    assert says in str(caught.value)


def test_reader_is_lazy() -> None:
    def endless() -> Iterator[str]:
        yield "receiver,text,sender\n"
        n = 0
        while True:
            n += 1
            yield f"38050{n:07d},hi,S\n"

    rows = iter(CampaignReader(endless()))  # type: ignore[arg-type]
    assert [next(rows).line for _ in range(3)] == [2, 3, 4]


def test_scan_counts_lines_and_names_the_first_undecodable_one(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(b"receiver,text\n1,a\n2,b")
    assert scan_file(path, "utf-8-sig").lines == 2
    path.write_bytes(b"receiver,text\n1,a\n2,\xcf\xf0\xe8\n")
    with pytest.raises(ValueError, match="line 3"):
        scan_file(path, "utf-8-sig")
    assert scan_file(path, "cp1251").lines == 2


@pytest.mark.parametrize("delimiter", [",", ";", "\t"], ids=["comma", "semicolon", "tab"])
def test_reader_finds_the_delimiter_from_the_header(delimiter: str) -> None:
    # European Excel saves ';'; a tab-separated export uses tabs. The other
    # two may appear in the text unquoted.
    text = {
        ",": '"Hi; there\tyou, friend"',
        ";": "Hi, there\tyou, friend",
        "\t": "Hi; there, friend",
    }
    lines = [
        delimiter.join(["receiver", "text", "sender", "validity_period"]),
        delimiter.join(["380501234567", text[delimiter], "Shop", "3600"]),
    ]
    (row,) = rows_of("\n".join(lines) + "\n")
    assert isinstance(row, CampaignRow), row
    assert row.message.text == text[delimiter].strip('"')
    assert row.message.sender == "Shop"
    assert row.message.validity_period == 3600


def test_reader_takes_a_forced_delimiter() -> None:
    (row,) = rows_of("receiver;text\n380501234567;Hi\n", delimiter=";", default_sender="S")
    assert isinstance(row, CampaignRow)
    with pytest.raises(ValueError, match=r".*") as caught:
        CampaignReader(io.StringIO("receiver;text\n380501234567;Hi\n"), delimiter=",")
    assert "--delimiter" in str(caught.value)
    assert "';'" in str(caught.value)
