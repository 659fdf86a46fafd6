"""``decisiontelecom status``: a table of the statuses of message ids."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import click
from rich import box
from rich.table import Table

from decisiontelecom_async import (
    AuthenticationError,
    CampaignAborted,
    MessageReceipt,
    StatusOutcome,
    TransportError,
)
from decisiontelecom_async._cli._errors import run_command
from decisiontelecom_async._cli._options import Service, service_options
from decisiontelecom_async._cli._output import (
    STOPPED_WARNING,
    log_to,
    stderr_console,
    stdout_console,
)

__all__ = ["show_statuses", "status"]


async def show_statuses(service: Service, message_ids: Sequence[int]) -> int:
    """Print a table of the statuses of ``message_ids``, in the order given.

    A wrong key, or a service that cannot be reached for any id, is one error
    line rather than a table of the same failure.
    """
    found: dict[int, StatusOutcome[MessageReceipt]] = {}
    with log_to(stderr_console(), skip=(STOPPED_WARNING,)):
        async with (
            service.client() as client,
            contextlib.aclosing(client.get_statuses(message_ids)) as outcomes,
        ):
            async for outcome in outcomes:
                found[outcome.index] = outcome
    errors = [outcome.error for outcome in found.values() if outcome.error is not None]
    for error in errors:
        cause = error.cause if isinstance(error, CampaignAborted) else error
        if isinstance(cause, AuthenticationError):
            raise cause
    if errors and len(errors) == len(found) and all(isinstance(e, TransportError) for e in errors):
        raise errors[0]

    # No vertical rules: the widest row (two 20-digit ids) fits 80 columns,
    # and no cell is ever cut short or wrapped, so ids can be copied.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name in ("message id", "viber status", "sms id", "sms status", "final"):
        table.add_column(name, no_wrap=True)
    problems = stderr_console()
    for index in range(len(message_ids)):
        outcome = found[index]
        receipt = outcome.receipt
        if outcome.error is not None or receipt is None:
            problem = outcome.error
            problems.print(
                f"error: message {outcome.message_id}: {type(problem).__name__}: {problem}",
                markup=False,
                soft_wrap=True,
            )
            continue
        table.add_row(
            str(receipt.message_id),
            receipt.status.name.lower(),
            "" if receipt.sms_message_id is None else str(receipt.sms_message_id),
            "" if receipt.sms_status is None else receipt.sms_status.name.lower(),
            "yes" if receipt.is_final else "no",
        )
    if table.row_count:
        stdout_console().print(table)
    return 1 if errors else 0


@click.command()
@service_options
@click.argument("message_ids", nargs=-1, required=True, type=int)
def status(service: Service, message_ids: tuple[int, ...]) -> None:
    """Print the status of one or more messages."""
    run_command(show_statuses(service, message_ids))
