"""Reading and decoding an answer's body within the size bound (``_body.py``)."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator

import pytest

from decisiontelecom_async import UnexpectedResponseError
from decisiontelecom_async._body import decode_body, read_body

BODY = b'{"message_id": 7}' * 40


def raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("coding", "packed"),
    [
        ("gzip", gzip.compress(BODY)),
        ("x-gzip", gzip.compress(BODY)),
        ("GZIP", gzip.compress(BODY)),
        ("deflate", zlib.compress(BODY)),
        ("deflate", raw_deflate(BODY)),  # no zlib header, as some servers send it
        ("deflate, gzip", gzip.compress(zlib.compress(BODY))),
        ("identity", BODY),
        ("br", BODY),  # not asked for: taken as it is, as httpx does
        (None, BODY),
    ],
)
def test_every_coding_httpx_decodes_is_decoded(coding: str | None, packed: bytes) -> None:
    assert decode_body(packed, coding) == BODY


def test_a_decoded_body_of_exactly_the_limit_is_kept_and_one_byte_more_refused() -> None:
    packed = gzip.compress(BODY)
    assert decode_body(packed, "gzip", limit=len(BODY)) == BODY
    with pytest.raises(UnexpectedResponseError, match="decoded body is larger than"):
        decode_body(packed, "gzip", limit=len(BODY) - 1)


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_corrupt_body_is_an_unexpected_response(coding: str) -> None:
    with pytest.raises(UnexpectedResponseError, match="could not be decoded"):
        decode_body(b"not compressed at all", coding)


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_a_body_is_read_up_to_the_limit_and_refused_past_it() -> None:
    assert await read_body(chunks(b"ab", b"cd"), limit=4) == b"abcd"
    with pytest.raises(UnexpectedResponseError, match="body is larger than"):
        await read_body(chunks(b"ab", b"cd", b"e"), limit=4)
