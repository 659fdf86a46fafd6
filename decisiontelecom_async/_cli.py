"""The ``decisiontelecom`` command line (the ``cli`` extra: click and rich).

Commands: ``send`` one message, ``status`` of ids, ``campaign`` a CSV file,
``sandbox`` to serve the local stand-in, and ``demo`` to run a whole
campaign against an embedded sandbox with no key and no network. Errors are
one line on stderr, never a traceback; the exit code says whether anything
failed (0 all good, 1 something failed, 2 bad usage).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, NoReturn

try:
    import click
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    msg = "the command line needs the 'cli' extra: pip install 'decisiontelecom-async[cli]'"
    raise SystemExit(msg) from exc

from decisiontelecom_async._enums import MessageType, SourceType
from decisiontelecom_async._errors import DecisionTelecomError, ValidationError

__all__ = ["cli", "main"]

ACCESS_KEY_ENV = "DECISIONTELECOM_ACCESS_KEY"
BASE_URL_ENV = "DECISIONTELECOM_BASE_URL"
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _run(coroutine: Coroutine[Any, Any, int]) -> None:
    """Run a command's coroutine; turn every expected failure into one line."""
    try:
        code = asyncio.run(coroutine)
    except ValidationError as exc:
        _fail(str(exc), EXIT_USAGE)
    except DecisionTelecomError as exc:
        _fail(f"{type(exc).__name__}: {exc}")
    except (OSError, ValueError) as exc:
        _fail(str(exc), EXIT_USAGE if isinstance(exc, ValueError) else EXIT_FAILED)
    except KeyboardInterrupt:
        _fail("interrupted", EXIT_INTERRUPTED)
    sys.exit(code)


def _require_key(access_key: str | None) -> str:
    if not access_key:
        _fail(f"no access key: set {ACCESS_KEY_ENV} or pass --access-key", EXIT_USAGE)
    return access_key


def _enum_choice(enum_type: type[MessageType | SourceType]) -> click.Choice[str]:
    names = [member.name.lower().replace("_", "-") for member in enum_type]
    return click.Choice(names + [str(member.value) for member in enum_type], case_sensitive=False)


def _to_enum(enum_type: type[MessageType | SourceType], value: str) -> Any:
    if value.isdigit():
        return enum_type(int(value))
    return enum_type[value.upper().replace("-", "_")]


access_key_option = click.option(
    "--access-key",
    envvar=ACCESS_KEY_ENV,
    show_envvar=True,
    help="The access key from your account manager (better: the environment variable).",
)
base_url_option = click.option(
    "--base-url",
    envvar=BASE_URL_ENV,
    show_envvar=True,
    default="https://web.it-decision.com/v1/api",
    show_default=True,
    help="The Viber + SMS API's base URL (point it at a sandbox to test).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="decisiontelecom-async", prog_name="decisiontelecom")
def cli() -> None:
    """Send Viber messages (with SMS fallback) through DecisionTelecom."""


@cli.command()
@access_key_option
@base_url_option
@click.option("--sender", required=True, help="Sender name (source_addr), up to 20 characters.")
@click.option("--to", "receiver", required=True, help="Phone number, digits only.")
@click.option("--text", required=True, help="Message text, up to 1000 characters.")
@click.option(
    "--type",
    "message_type",
    type=_enum_choice(MessageType),
    default="text-only",
    show_default=True,
    help="Message type.",
)
@click.option(
    "--source",
    "source_type",
    type=_enum_choice(SourceType),
    default="transactional",
    show_default=True,
    help="Source type.",
)
@click.option("--sms-text", help="SMS fallback text (transactional only).")
@click.option("--image-url", help="Image URL (.jpg/.jpeg/.png) for image+button types.")
@click.option("--button-caption", help="Button caption, up to 30 characters.")
@click.option("--button-action", help="URL the button opens.")
@click.option("--callback-url", help="URL for status callbacks and 2-Way replies.")
@click.option("--ttl", "validity_period", type=int, help="Time to live, 40..21600 seconds.")
def send(access_key: str | None, base_url: str, **fields: Any) -> None:
    """Send one message and print its id."""
    from decisiontelecom_async._cli_commands import send_one  # noqa: PLC0415

    key = _require_key(access_key)
    fields["message_type"] = _to_enum(MessageType, fields["message_type"])
    fields["source_type"] = _to_enum(SourceType, fields["source_type"])
    _run(send_one(key, base_url, fields))


@cli.command()
@access_key_option
@base_url_option
@click.argument("message_ids", nargs=-1, required=True, type=int)
def status(access_key: str | None, base_url: str, message_ids: tuple[int, ...]) -> None:
    """Print the status of one or more messages."""
    from decisiontelecom_async._cli_commands import show_statuses  # noqa: PLC0415

    _run(show_statuses(_require_key(access_key), base_url, message_ids))


@cli.command()
@access_key_option
@base_url_option
@click.argument(
    "csv_file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)
)
@click.option(
    "--results",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Where to write one result row per input row [default: FILE.results.csv].",
)
@click.option("--sender", help="Sender for rows whose 'sender' cell is empty.")
@click.option("--concurrency", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--rate-limit", type=click.FloatRange(min=0.1), help="Requests per second ceiling.")
def campaign(  # noqa: PLR0917 - one parameter per click option
    access_key: str | None,
    base_url: str,
    csv_file: Path,
    results: Path | None,
    sender: str | None,
    concurrency: int,
    rate_limit: float | None,
) -> None:
    """Send one message per row of CSV_FILE, with live progress.

    Columns: receiver, text (required); sender (or --sender); message_type,
    source_type, sms_text, image_url, button_caption, button_action,
    callback_url, validity_period (optional). A bad row is reported with its
    line number in the results file and does not stop the rest.
    """
    from decisiontelecom_async._cli_commands import run_campaign  # noqa: PLC0415

    key = _require_key(access_key)
    results = results or csv_file.with_suffix(".results.csv")
    _run(
        run_campaign(
            key,
            base_url,
            csv_file,
            results,
            sender=sender,
            concurrency=concurrency,
            rate_limit=rate_limit,
        )
    )


@cli.command()
@click.option("--messages", type=click.IntRange(1, 100_000), default=2000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed for the sandbox.")
def demo(messages: int, seed: int) -> None:
    """Run a whole campaign against an embedded sandbox: no key, no network."""
    from decisiontelecom_async._cli_demo import run_demo  # noqa: PLC0415

    _run(run_demo(messages, seed))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--access-key", "sandbox_key", default="sandbox-key", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--rate-limit", type=click.FloatRange(min=0.1), help="Requests/s before 429s.")
@click.option("--server-errors", type=click.FloatRange(0, 1), default=0.0, help="Share of 500s.")
@click.option(
    "--errors-in-200", type=click.FloatRange(0, 1), default=0.0, help="Share of errors in a 200."
)
@click.option("--undelivered", type=click.FloatRange(0, 1), default=0.0, help="Share undelivered.")
@click.option("--latency", type=click.FloatRange(min=0), default=0.0, help="Seconds per request.")
@click.option("--balance", type=click.IntRange(min=0), help="Sends accepted before 402.")
@click.option(
    "--drop", type=click.FloatRange(0, 1), default=0.0, help="Share of dropped connections."
)
def sandbox(  # noqa: PLR0917 - one parameter per click option
    host: str,
    port: int,
    sandbox_key: str,
    seed: int,
    rate_limit: float | None,
    server_errors: float,
    errors_in_200: float,
    undelivered: float,
    latency: float,
    balance: int | None,
    drop: float,
) -> None:
    """Serve the local stand-in for the service until interrupted."""
    from decisiontelecom_async._cli_commands import serve_sandbox  # noqa: PLC0415
    from decisiontelecom_async.sandbox import SandboxConfig  # noqa: PLC0415

    config = SandboxConfig(
        access_key=sandbox_key,
        seed=seed,
        rate_limit=rate_limit,
        server_error_share=server_errors,
        error_in_200_share=errors_in_200,
        undelivered_share=undelivered,
        latency=latency,
        balance=balance,
        drop_connection_share=drop,
    )
    _run(serve_sandbox(config, host, port))


def main() -> None:
    """Entry point of the ``decisiontelecom`` script."""
    cli()
