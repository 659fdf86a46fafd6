"""An HTTP answer read whole: what the SDK's parsers look at.

The parsers need the status, the headers and the body; an
``httpx.Response`` has them and is one :class:`Answer`. When a transport
answers with the body already in memory (the SDK's aiohttp transport, test
doubles), :class:`BodyAnswer` carries it as is: reading it through
``httpx.Response`` would pass it through a chain of async generators
(decoder, chunker, stream) that costs a tenth of the CPU the SDK spends
on a message, to hand back the same bytes.
"""

from __future__ import annotations

import codecs
import email.message
from collections.abc import Sequence
from typing import Protocol

import httpx

__all__ = ["Answer", "BodyAnswer", "text_of"]


class Answer(Protocol):
    """The parts of an HTTP answer the parsers read (``httpx.Response`` is one)."""

    @property
    def status_code(self) -> int:
        """The HTTP status."""

    @property
    def reason_phrase(self) -> str:
        """The status line's reason (``"Too Many Requests"``)."""

    @property
    def headers(self) -> httpx.Headers:
        """The answer's headers."""

    @property
    def content(self) -> bytes:
        """The body, decoded from its ``Content-Encoding``."""

    @property
    def is_success(self) -> bool:
        """Whether the status is 2xx."""


class BodyAnswer:
    """An answer whose body was read whole and needs no decoding.

    ``headers`` may be given raw, as ``(name, value)`` byte pairs; they
    become ``httpx.Headers`` when first read, which most answers never are.
    """

    __slots__ = ("_headers", "content", "reason_phrase", "status_code")

    def __init__(
        self,
        status_code: int,
        reason_phrase: str,
        headers: httpx.Headers | Sequence[tuple[bytes, bytes]],
        content: bytes,
    ) -> None:
        self.status_code = status_code
        self.reason_phrase = reason_phrase
        self._headers = headers
        self.content = content

    @property
    def headers(self) -> httpx.Headers:
        """The answer's headers."""
        headers = self._headers
        if not isinstance(headers, httpx.Headers):
            headers = self._headers = httpx.Headers(list(headers))
        return headers

    @property
    def is_success(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status_code < 300  # noqa: PLR2004

    def __repr__(self) -> str:
        return f"<BodyAnswer [{self.status_code}]>"


def text_of(answer: Answer) -> str:
    """The body as text, in the charset its ``Content-Type`` names (else UTF-8).

    As ``httpx.Response.text`` decodes it, undecodable bytes replaced, but
    never raising: a charset that names no text codec (``hex``, ``rot13``)
    or no codec at all falls back to UTF-8. Error messages quote this.
    """
    content = answer.content
    charset = _charset(answer.headers.get("content-type"))
    if charset is not None:
        try:
            return content.decode(charset, errors="replace")
        except LookupError:  # a codec, but not one from bytes to text
            pass
    return content.decode("utf-8", errors="replace")


def _charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    parsed = email.message.Message()
    parsed["content-type"] = content_type
    charset = parsed.get_content_charset()
    if charset is None:
        return None
    try:
        return codecs.lookup(charset).name
    except LookupError:
        return None
