"""``decisiontelecom send``: one message, its id on stdout."""

from __future__ import annotations

from typing import Any

import click

from decisiontelecom_async import MessageType, SourceType, ViberMessage
from decisiontelecom_async._cli._errors import run_command
from decisiontelecom_async._cli._options import EnumParam, Service, service_options
from decisiontelecom_async._cli._output import log_to, stderr_console

__all__ = ["send", "send_one"]


async def send_one(service: Service, fields: dict[str, Any]) -> int:
    """Send one message built from ``fields``; print its id."""
    message = ViberMessage(**fields)
    with log_to(stderr_console()):
        async with service.client() as client:
            message_id = await client.send(message)
    print(message_id)  # noqa: T201 - the command's output, for scripts
    return 0


@click.command()
@service_options
@click.option("--sender", required=True, help="Sender name (source_addr), up to 20 characters.")
@click.option("--to", "receiver", required=True, help="Phone number, digits only.")
@click.option("--text", required=True, help="Message text, up to 1000 characters.")
@click.option(
    "--type",
    "message_type",
    type=EnumParam(MessageType),
    default="text-only",
    show_default=True,
    help="Message type: a name or its number (106, 108, 206, 208).",
)
@click.option(
    "--source",
    "source_type",
    type=EnumParam(SourceType),
    default="transactional",
    show_default=True,
    help="Source type: a name or its number (1, 2).",
)
@click.option("--sms-text", help="SMS fallback text (transactional only).")
@click.option("--image-url", help="Image URL (.jpg/.jpeg/.png) for image+button types.")
@click.option("--button-caption", help="Button caption, up to 30 characters.")
@click.option("--button-action", help="URL the button opens.")
@click.option("--callback-url", help="URL for status callbacks and 2-Way replies.")
@click.option(
    "--ttl", "--validity-period", "validity_period", type=int, help="Time to live, 40..21600 s."
)
def send(service: Service, **fields: Any) -> None:
    """Send one message and print its id."""
    fields = {name: value for name, value in fields.items() if value is not None}
    run_command(send_one(service, fields))
