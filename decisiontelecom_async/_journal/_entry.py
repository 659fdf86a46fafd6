"""One input on its way through a journaled run, and the input read either way.

Shared by :mod:`._run` (one process) and :mod:`._shared_run` (many workers).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from decisiontelecom_async._errors import JournalError
    from decisiontelecom_async._journal._base import JournalRecord

__all__ = ["_Entry", "_each"]

_I = TypeVar("_I")


class _Entry(Generic[_I]):
    """One input on its way through the engine, with what the journal knows of it."""

    __slots__ = ("claimed", "digest", "failure", "index", "item", "resume")

    def __init__(
        self, index: int, item: _I, digest: bytes | None, resume: JournalRecord | None = None
    ) -> None:
        self.index = index
        self.item = item
        self.digest = digest
        self.resume = resume
        """The record answering this input without a request, if any."""
        self.claimed = False
        """Whether a claim was handed to the journal (so an outcome must follow)."""
        self.failure: JournalError | None = None
        """The journal's error to stop the run with, at this input (it is not sent)."""


async def _each(items: Iterable[_I] | AsyncIterable[_I]) -> AsyncIterator[_I]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item
