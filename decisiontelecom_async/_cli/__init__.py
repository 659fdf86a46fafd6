"""The ``decisiontelecom`` command line: a client of the package's public API.

:func:`main` is the console script's entry point.
"""

from decisiontelecom_async._cli._app import cli, main

__all__ = ["cli", "main"]
