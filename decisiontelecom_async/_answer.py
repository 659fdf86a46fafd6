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
from typing import Protocol

import httpx

__all__ = ["Answer", "BodyAnswer"]


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
    def text(self) -> str:
        """The body as text, in its charset (UTF-8 when none is named)."""

    @property
    def is_success(self) -> bool:
        """Whether the status is 2xx."""


class BodyAnswer:
    """An answer whose body was read whole and needs no decoding."""

    __slots__ = ("content", "headers", "reason_phrase", "status_code")

    def __init__(
        self, status_code: int, reason_phrase: str, headers: httpx.Headers, content: bytes
    ) -> None:
        self.status_code = status_code
        self.reason_phrase = reason_phrase
        self.headers = headers
        self.content = content

    @property
    def is_success(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status_code < 300  # noqa: PLR2004

    @property
    def text(self) -> str:
        """The body as text, as ``httpx.Response.text`` would decode it."""
        return self.content.decode(_charset(self.headers.get("content-type")), errors="replace")

    def __repr__(self) -> str:
        return f"<BodyAnswer [{self.status_code}]>"


def _charset(content_type: str | None) -> str:
    """The codec named by a ``Content-Type``'s charset, or UTF-8."""
    if content_type:
        parsed = email.message.Message()
        parsed["content-type"] = content_type
        charset = parsed.get_param("charset")
        if isinstance(charset, str):
            try:
                return codecs.lookup(charset.strip("'\"")).name
            except LookupError:
                pass
    return "utf-8"
