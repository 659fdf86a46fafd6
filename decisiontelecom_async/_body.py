"""Read an answer's body with a bound on its size, as sent and once decoded.

Every answer of this API is well under a kilobyte, yet a body is read whole,
and a small gzip or deflate body can inflate a thousandfold: 200 KiB that
decode to 200 MiB. So a body is read a chunk at a time and refused as soon as
it passes :data:`MAX_ANSWER_BYTES`, and it is decoded here, with zlib told the
most it may produce, rather than by httpx or aiohttp, which inflate a chunk
whole. A body over the bound is an :class:`UnexpectedResponseError`; nothing
larger than the bound (plus one chunk) is ever held.

Decoding follows httpx's: ``gzip`` (and ``x-gzip``), ``deflate`` (zlib-wrapped,
or raw as some servers send it), several codings applied in order, and an
unknown coding (``identity``, or one the SDK never asked for) taken as is.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterable

from decisiontelecom_async._errors import UnexpectedResponseError

__all__ = ["ACCEPT_ENCODING", "MAX_ANSWER_BYTES", "decode_body", "read_body", "too_large"]

MAX_ANSWER_BYTES = 1024 * 1024
"""The largest body accepted, as sent and once decoded: 1 MiB."""

ACCEPT_ENCODING = "gzip, deflate"
"""The codings the SDK asks for: the ones :func:`decode_body` bounds."""

_GZIP_WBITS = zlib.MAX_WBITS | 16


def too_large(*, decoded: bool = False) -> UnexpectedResponseError:
    """The error for a body over :data:`MAX_ANSWER_BYTES`."""
    what = "decoded body" if decoded else "body"
    return UnexpectedResponseError(
        f"the answer's {what} is larger than {MAX_ANSWER_BYTES} bytes, "
        "far more than any answer of this API; refused"
    )


async def read_body(chunks: AsyncIterable[bytes], *, limit: int = MAX_ANSWER_BYTES) -> bytes:
    """The body from ``chunks``, refused once it passes ``limit`` bytes."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise too_large()
        parts.append(chunk)
    return b"".join(parts)


def decode_body(
    content: bytes, content_encoding: str | None, *, limit: int = MAX_ANSWER_BYTES
) -> bytes:
    """``content`` decoded from its ``Content-Encoding``, never past ``limit`` bytes."""
    if not content_encoding:
        return content
    try:
        # Codings are listed in the order they were applied: undo them backwards.
        for coding in reversed(content_encoding.lower().split(",")):
            name = coding.strip()
            if name in ("gzip", "x-gzip"):
                content = _inflate(content, _GZIP_WBITS, limit)
            elif name == "deflate":
                try:
                    content = _inflate(content, zlib.MAX_WBITS, limit)
                except zlib.error:
                    # Some servers send raw deflate, with no zlib header (httpx allows it).
                    content = _inflate(content, -zlib.MAX_WBITS, limit)
    except zlib.error as exc:
        msg = f"the answer's body could not be decoded ({exc})"
        raise UnexpectedResponseError(msg) from None
    return content


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    # One byte past the limit tells "exactly the limit" from "more".
    out = inflater.decompress(data, limit + 1)
    if len(out) > limit or inflater.unconsumed_tail:
        raise too_large(decoded=True)
    return out
