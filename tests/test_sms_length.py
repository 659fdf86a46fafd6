"""measure_sms: the billed length of an SMS text."""

from __future__ import annotations

import pytest

from decisiontelecom_async import SmsEncoding, SmsLength, measure_sms

EXTENSION = "€[]{}^~\\|\f"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SmsLength(SmsEncoding.GSM7, 0, 0)),
        ("Hello", SmsLength(SmsEncoding.GSM7, 5, 1)),
        ("a" * 160, SmsLength(SmsEncoding.GSM7, 160, 1)),
        ("a" * 161, SmsLength(SmsEncoding.GSM7, 161, 2)),
        ("a" * 306, SmsLength(SmsEncoding.GSM7, 306, 2)),
        ("a" * 307, SmsLength(SmsEncoding.GSM7, 307, 3)),
        ("€" * 80, SmsLength(SmsEncoding.GSM7, 160, 1)),
        ("€" * 81, SmsLength(SmsEncoding.GSM7, 162, 2)),
        ("Ж" * 70, SmsLength(SmsEncoding.UCS2, 70, 1)),
        ("Ж" * 71, SmsLength(SmsEncoding.UCS2, 71, 2)),
        ("Ж" * 134, SmsLength(SmsEncoding.UCS2, 134, 2)),
        ("Ж" * 135, SmsLength(SmsEncoding.UCS2, 135, 3)),
        ("😀" * 35, SmsLength(SmsEncoding.UCS2, 70, 1)),
        ("😀" * 36, SmsLength(SmsEncoding.UCS2, 72, 2)),
    ],
)
def test_length_encoding_and_parts(text: str, expected: SmsLength) -> None:
    assert measure_sms(text) == expected


@pytest.mark.parametrize("char", list(EXTENSION))
def test_every_extension_character_takes_two_septets(char: str) -> None:
    assert measure_sms(char) == SmsLength(SmsEncoding.GSM7, 2, 1)


def test_one_character_outside_gsm7_switches_the_whole_text_to_ucs2() -> None:
    # 159 GSM-7 characters fit one SMS; one Cyrillic letter makes all 160
    # characters UCS-2 units, which need three parts of 67.
    length = measure_sms("a" * 159 + "Ж")
    assert length.encoding is SmsEncoding.UCS2
    assert length.units == 160
    assert length.parts == 3
    assert not length.fits_one


def test_gsm7_basic_accented_letters_stay_gsm7() -> None:
    assert (
        measure_sms("Ça va? Öl, Ñu, Ü, é, à, ß, Æ, Ø, Å, £, ¥, §, ¿, ¡").encoding
        is SmsEncoding.GSM7
    )


@pytest.mark.parametrize(("text", "limit"), [("abc", 160), ("абв", 70)])
def test_single_limit_follows_the_encoding(text: str, limit: int) -> None:
    assert measure_sms(text).single_limit == limit
