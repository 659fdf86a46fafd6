"""The ``decisiontelecom`` command group, and its one-line usage errors.

Commands: ``send`` one message, ``status`` of ids, ``campaign`` a CSV file,
``sandbox`` to serve the local stand-in, ``demo`` to run a whole
campaign against an embedded sandbox with no key and no network, ``worker``
to join a campaign kept in PostgreSQL, and ``results`` to write a
campaign's results file from its journal. Every
failure is one ``error:`` line on stderr, never a traceback or click's
three-line usage block; the exit code says what happened (see
:mod:`._errors`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from decisiontelecom_async._cli._campaign import campaign
from decisiontelecom_async._cli._demo import demo
from decisiontelecom_async._cli._errors import EXIT_USAGE, fail
from decisiontelecom_async._cli._results import results
from decisiontelecom_async._cli._sandbox import sandbox
from decisiontelecom_async._cli._send import send
from decisiontelecom_async._cli._status import status
from decisiontelecom_async._cli._worker import worker

__all__ = ["PROG_NAME", "cli", "main"]

PROG_NAME = "decisiontelecom"
_NO_COMMAND: type[click.UsageError] | tuple[()] = getattr(click.exceptions, "NoArgsIsHelpError", ())
"""click 8.2+ raises it for a bare ``decisiontelecom``; older ones print the help, exit 0."""


class _Group(click.Group):
    """A click group whose usage errors are one ``error:`` line, exit code 2."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run as click does; say a usage error (or an abort) in one line."""
        try:
            result = super().main(
                args, prog_name or PROG_NAME, complete_var, standalone_mode=False, **extra
            )
        except _NO_COMMAND as exc:
            # click would print the whole help to stderr: a failure is one line.
            commands = ", ".join(self.list_commands(exc.ctx)) if exc.ctx is not None else ""
            fail(
                f"no command given; the commands are: {commands} (see '{PROG_NAME} --help')",
                EXIT_USAGE,
            )
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            fail(exc.format_message() + hint, EXIT_USAGE)
        except click.ClickException as exc:
            fail(exc.format_message(), exc.exit_code)
        except click.Abort:
            fail("interrupted by SIGINT", 130)
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


@click.group(cls=_Group, name=PROG_NAME, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="decisiontelecom-async", prog_name=PROG_NAME)
def cli() -> None:
    """Send Viber messages (with SMS fallback) through DecisionTelecom."""


for _command in (send, status, campaign, sandbox, demo, worker, results):
    cli.add_command(_command)


def main() -> None:
    """Run the command line (the ``cli`` extra is known to be there)."""
    cli.main(prog_name=PROG_NAME)
