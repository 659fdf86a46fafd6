"""How the command line fails: one ``error:`` line on stderr and a documented exit code.

Exit codes: 0 all good, 1 something failed, 2 bad usage (click's own usage
errors included), 130 after SIGINT and 143 after SIGTERM (128 + the signal).
Every line goes through the SDK's public :class:`Redactor`, which knows the
access key of this run: the SDK's own errors are already clean, and a bug's
message must be too. Nothing here needs click or rich, so the line saying
that they are missing is printed the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn

from decisiontelecom_async import DecisionTelecomError, Redactor, ValidationError

__all__ = [
    "EXIT_FAILED",
    "EXIT_USAGE",
    "Interrupted",
    "fail",
    "keep_secret",
    "run_command",
]

EXIT_FAILED = 1
EXIT_USAGE = 2

_secrets: list[str] = []
_redact = Redactor()
"""Blanks every secret this run was given (see :func:`keep_secret`)."""


def keep_secret(secret: str) -> None:
    """Never print ``secret`` (in any form the SDK knows) from now on."""
    global _redact  # noqa: PLW0603 - one process, one command line, one set of secrets
    if secret not in _secrets:
        _secrets.append(secret)
        _redact = Redactor(_secrets)


class Interrupted(Exception):
    """The command was stopped by a signal before it finished."""

    def __init__(self, signum: signal.Signals) -> None:
        super().__init__(f"interrupted by {signum.name}")
        self.signum = signum


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print ``error: <message>`` as one line on stderr and exit with ``code``."""
    line = " ".join(_redact(f"error: {message}").split())
    print(line, file=sys.stderr, flush=True)  # noqa: T201 - the command's error line
    sys.exit(code)


def run_command(coroutine: Coroutine[Any, Any, int]) -> NoReturn:
    """Run a command's coroutine; exit with its code, every failure one line on stderr."""
    try:
        code = asyncio.run(_stopped_by_sigterm(coroutine))
    except ValidationError as exc:
        fail(str(exc), EXIT_USAGE)
    except DecisionTelecomError as exc:
        fail(f"{type(exc).__name__}: {exc}")
    except OSError as exc:
        fail(str(exc))
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        fail(f"interrupted by {signal.SIGINT.name}", 128 + signal.SIGINT)
    except Interrupted as exc:
        fail(str(exc), 128 + exc.signum)
    except Exception as exc:  # noqa: BLE001 - a bug still gets one line, not a traceback
        fail(f"unexpected {type(exc).__name__}: {exc} (please report this)")
    sys.exit(code)


async def _stopped_by_sigterm(coroutine: Coroutine[Any, Any, int]) -> int:
    """Await ``coroutine``; SIGTERM cancels it and raises :class:`Interrupted`.

    asyncio.run already turns SIGINT into KeyboardInterrupt. A command that
    stops more carefully (``campaign``, ``sandbox``) installs its own handlers
    meanwhile.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None  # noqa: S101 - inside asyncio.run
    received: list[signal.Signals] = []

    def terminate() -> None:
        received.append(signal.SIGTERM)
        task.cancel()

    installed = False
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGTERM, terminate)
        installed = True
    try:
        return await coroutine
    except asyncio.CancelledError:
        if received:
            raise Interrupted(received[0]) from None
        raise
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGTERM)
