"""Keep every open client's secrets out of the log records its requests cause.

A request passes through loggers the SDK does not own: httpx logs its URL
at INFO (for the SMS API, login and password included), and httpcore logs
every answer's headers raw at DEBUG, so a 302 whose ``Location`` echoes the
SMS URL, or a header echoing ``Authorization``, would put a secret in the
log. aiohttp and the SDK's own loggers are covered the same way.

One :class:`SecretLogFilter` sits on each of those loggers and passes every
record through the redactors of the clients registered with it
(:func:`scrub_logs_for`). It holds the clients weakly: a client that is
closed (:func:`forget_logs_for`) or garbage collected leaves it.

A filter on a logger sees only the records made on that very logger, not
those propagated from its children, so it goes on every logger under the
names in :data:`LOGGER_PREFIXES`. Filters run only for a record that is
emitted: with those loggers below their level (the default), they cost
nothing.
"""

from __future__ import annotations

import logging
import threading
import traceback
import weakref
from collections.abc import Callable

__all__ = [
    "LOGGER_NAMES",
    "LOGGER_PREFIXES",
    "SecretLogFilter",
    "forget_logs_for",
    "scrub_logs_for",
]

LOGGER_PREFIXES = ("httpx", "httpcore", "aiohttp", "decisiontelecom_async")
"""Every logger named this or below it (``httpcore.http11``) gets the filter."""

LOGGER_NAMES = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "aiohttp.access",
    "aiohttp.client",
    "aiohttp.internal",
    "aiohttp.server",
    "aiohttp.web",
    "aiohttp.websocket",
    "decisiontelecom_async",
    "decisiontelecom_async.callbacks",
    "decisiontelecom_async.sandbox",
)
"""The loggers these libraries log on, given the filter even before they are imported."""


class SecretLogFilter(logging.Filter):
    """Blanks the secrets of every registered owner out of each record it sees.

    The record's message is formatted once and redacted; when anything was
    blanked, the record keeps the redacted text as its message and drops its
    arguments (they held the secret). A logged traceback and stack are
    redacted the same way. Records are never dropped.
    """

    def __init__(self) -> None:
        super().__init__()
        self._redactors: weakref.WeakKeyDictionary[object, Callable[[str], str]] = (
            weakref.WeakKeyDictionary()
        )

    def add(self, owner: object, redact: Callable[[str], str]) -> None:
        """Blank what ``redact`` blanks for as long as ``owner`` lives (or until discarded)."""
        self._redactors[owner] = redact

    def discard(self, owner: object) -> None:
        """Stop redacting for ``owner``."""
        self._redactors.pop(owner, None)

    def __len__(self) -> int:
        return len(self._redactors)

    def __contains__(self, owner: object) -> bool:
        return owner in self._redactors

    def _redact(self, text: str) -> str:
        for redact in tuple(self._redactors.values()):
            text = redact(text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; always let it through."""
        if not self._redactors:
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a record that cannot be formatted still goes out
            # logging would print its msg and args in its error report; keep both, redacted.
            record.msg = self._redact(f"{record.msg!s} % {record.args!r}")
            record.args = ()
        else:
            cleaned = self._redact(message)
            if cleaned != message:
                record.msg = cleaned
                record.args = ()
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            shown = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            cleaned = self._redact(shown)
            if cleaned != shown:
                # A formatter uses exc_text when it is set, instead of formatting exc_info.
                record.exc_text = cleaned
        elif record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redact(record.stack_info)
        return True


_FILTER = SecretLogFilter()
_lock = threading.Lock()
_installed: set[str] = set()
_loggers_seen = -1


def _install() -> None:
    """Put the filter on every logger under :data:`LOGGER_PREFIXES` that lacks it."""
    global _loggers_seen  # noqa: PLW0603 - one registry for the process, as logging's own
    manager = logging.Logger.manager
    with _lock:
        if _loggers_seen == len(manager.loggerDict):
            return  # no logger was created since the last look
        names = set(LOGGER_NAMES)
        names.update(
            name
            for name, found in list(manager.loggerDict.items())
            if isinstance(found, logging.Logger)
            and any(name == prefix or name.startswith(f"{prefix}.") for prefix in LOGGER_PREFIXES)
        )
        for name in names - _installed:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)
            _installed.add(name)
        _loggers_seen = len(manager.loggerDict)


def scrub_logs_for(owner: object, redact: Callable[[str], str]) -> SecretLogFilter:
    """Keep what ``redact`` blanks out of every record on the SDK's and its libraries' loggers.

    Registering the same owner again replaces its redactor. Returns the
    process's one filter.
    """
    _install()
    _FILTER.add(owner, redact)
    return _FILTER


def forget_logs_for(owner: object) -> None:
    """Stop redacting for ``owner`` (a client that closed)."""
    _FILTER.discard(owner)
