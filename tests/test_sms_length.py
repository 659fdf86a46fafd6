"""measure_sms: the billed length of an SMS text."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decisiontelecom_async import SmsEncoding, SmsLength, measure_sms
from decisiontelecom_async._sms_length import GSM7_BASIC, GSM7_EXTENSION, split_sms

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


# -- parts as a phone splits them ------------------------------------------------
# Hand-checked: a GSM-7 part holds 153 septets, a UCS-2 part 67 code units, and
# a phone never splits a two-septet escape (``€`` is ESC + e) or a surrogate
# pair across two parts, so a part may end one unit short.


@pytest.mark.parametrize(
    ("text", "units", "parts"),
    [
        # 152 "a" fill part 1; "€" would be septets 153-154, so it opens part 2
        # (€ + 151 "a" = 153), and the last "a" needs part 3.
        ("a" * 152 + "€" + "a" * 152, 306, 3),
        ("a" * 159 + "€", 161, 2),
        ("a" * 158 + "€", 160, 1),
        # 76 "€" (152 septets) a part: 229 of them need 4 parts, not 458 / 153 -> 3.
        ("€" * 229, 458, 4),
        ("€" * 228, 456, 3),
        # Ж + 65 "a" = 66 units; the emoji (2 units) would cross into unit 68,
        # so it opens part 2 (emoji + 65 "b" = 67) and the last "b" needs part 3.
        ("Ж" + "a" * 65 + "😀" + "b" * 66, 134, 3),
        ("😀" * 34, 68, 1),
        # 33 emoji (66 units) a part: 36 need 2 parts, 67 need 3 (not 134 / 67 -> 2).
        ("😀" * 36, 72, 2),
        ("😀" * 67, 134, 3),
        ("Ж" * 66 + "😀" * 3, 72, 2),
    ],
)
def test_parts_never_split_a_character(text: str, units: int, parts: int) -> None:
    length = measure_sms(text)
    assert (length.units, length.parts) == (units, parts)
    assert len(split_sms(text)) == parts


def test_split_sms_gives_the_parts_a_phone_sends() -> None:
    assert split_sms("") == []
    assert split_sms("Hello") == ["Hello"]
    assert split_sms("a" * 152 + "€" + "a" * 152) == ["a" * 152, "€" + "a" * 151, "a"]
    assert split_sms("Ж" + "a" * 65 + "😀" + "b" * 66) == [
        "Ж" + "a" * 65,
        "😀" + "b" * 65,
        "b",
    ]


def test_a_lone_surrogate_is_measured_not_raised() -> None:
    # Not sendable (the models refuse it), but measuring it must not crash.
    assert measure_sms("a\ud83d") == SmsLength(SmsEncoding.UCS2, 2, 1)


_GSM7_HEAVY = st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENSION))
_ANY_CHAR = st.characters(codec="utf-8")
_SMS_TEXT = st.one_of(
    st.text(_GSM7_HEAVY, max_size=700),
    st.text(st.one_of(_GSM7_HEAVY, _ANY_CHAR, st.sampled_from("Ж😀€")), max_size=400),
)


def _cost(char: str, encoding: SmsEncoding) -> int:
    if encoding is SmsEncoding.GSM7:
        return 2 if char in GSM7_EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1


@settings(max_examples=300, deadline=None)
@given(_SMS_TEXT)
def test_parts_reassemble_the_text_within_the_limits(text: str) -> None:
    length = measure_sms(text)
    parts = split_sms(text)
    # Whole characters only: joining the parts gives the text back, and
    # every part is valid text on its own (no half of a pair).
    assert "".join(parts) == text
    assert all(part for part in parts)
    for part in parts:
        part.encode("utf-16-le")
    assert len(parts) == length.parts
    assert sum(_cost(char, length.encoding) for char in text) == length.units
    per_part = (
        length.single_limit if length.fits_one else {"gsm7": 153, "ucs2": 67}[length.encoding.value]
    )
    for part in parts:
        assert sum(_cost(char, length.encoding) for char in part) <= per_part
    # Greedy, as a phone fills them: the next part's first character did not fit.
    for part, following in itertools.pairwise(parts):
        used = sum(_cost(char, length.encoding) for char in part)
        assert used + _cost(following[0], length.encoding) > per_part
