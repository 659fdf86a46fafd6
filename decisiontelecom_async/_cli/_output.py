"""Where the commands write: consoles, the package's warnings, and signals meanwhile.

A command's output (an id, a table) goes to stdout for scripts; progress,
warnings and summaries go to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterator, Sequence

from rich.console import Console

__all__ = [
    "STOPPED_WARNING",
    "STOP_SIGNALS",
    "log_to",
    "on_signals",
    "stderr_console",
    "stdout_console",
]

LOGGER_NAME = "decisiontelecom_async"
STOPPED_WARNING = "%s stopped after"
"""The bulk engine's warning when a run stops; the commands say it themselves."""
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""Signals that stop a command the careful way; the exit code is 128 + the signal."""


def stdout_console() -> Console:
    """The console for a command's output."""
    return Console(highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    """The console for progress, warnings and summaries."""
    return Console(stderr=True, highlight=False)


@contextlib.contextmanager
def on_signals(
    handler: Callable[[signal.Signals], None], signals: Sequence[signal.Signals]
) -> Iterator[None]:
    """Call ``handler(signum)`` on each of ``signals`` meanwhile, from the running loop.

    Our own handler also works where SIGINT was ignored (a background job).
    Where the loop cannot take signal handlers, the defaults stay.
    """
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for signum in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, handler, signum)
            handled.append(signum)
    try:
        yield
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)


class _ConsoleHandler(logging.Handler):
    """Prints the package's warnings as one line each, above any live progress bar."""

    def __init__(self, console: Console, skip: tuple[str, ...]) -> None:
        super().__init__(logging.WARNING)
        self._console = console
        self._skip = skip

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, str) and record.msg.startswith(self._skip):
            return
        try:
            text = f"{record.levelname.lower()}: {record.getMessage()}"
            self._console.print(text, markup=False, highlight=False, soft_wrap=True)
        except Exception:  # noqa: BLE001 - logging must never break the command
            self.handleError(record)


@contextlib.contextmanager
def log_to(console: Console, *, skip: tuple[str, ...] = ()) -> Iterator[None]:
    """Send the package's warnings to ``console`` (one line, no traceback) meanwhile.

    Records whose format string starts with one of ``skip`` are left out
    (the command says the same thing better itself).
    """
    logger = logging.getLogger(LOGGER_NAME)
    handler = _ConsoleHandler(console, skip)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
