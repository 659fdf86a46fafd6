"""The ``decisiontelecom`` command line: a client of the package's public API.

It imports the package only through its public modules. :func:`main` is
the console script's entry point; without the ``cli`` extra (click, rich)
it says how to get it, in one ``error:`` line with exit code 2.
"""

from __future__ import annotations

import importlib

from decisiontelecom_async._cli._errors import EXIT_USAGE, fail

__all__ = ["main"]

_EXTRA = ("click", "rich")
"""What the ``cli`` extra brings that the core install does not."""


def main() -> None:
    """Entry point of the ``decisiontelecom`` script."""
    for name in _EXTRA:
        try:
            importlib.import_module(name)
        except ImportError:
            fail(
                'the command line needs the cli extra: pip install "decisiontelecom-async[cli]"',
                EXIT_USAGE,
            )
    from decisiontelecom_async._cli._app import main as run  # noqa: PLC0415 - needs the extra

    run()
