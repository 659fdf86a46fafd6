"""The ``decisiontelecom`` command line (the ``cli`` extra: click and rich).

Commands: ``send`` one message, ``status`` of ids, ``campaign`` a CSV file,
``sandbox`` to serve the local stand-in, and ``demo`` to run a whole
campaign against an embedded sandbox with no key and no network. Errors are
one line on stderr, never a traceback; the exit code says whether anything
failed (0 all good, 1 something failed, 2 bad usage).
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import functools
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast

import attrs

try:
    import click
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    msg = "the command line needs the 'cli' extra: pip install 'decisiontelecom-async[cli]'"
    raise SystemExit(msg) from exc

from decisiontelecom_async._cli._csv import parse_enum_text
from decisiontelecom_async._enums import MessageType, SourceType
from decisiontelecom_async._errors import DecisionTelecomError, ValidationError

if TYPE_CHECKING:
    from decisiontelecom_async._viber_client import ViberClient

__all__ = ["Service", "cli", "main"]

ACCESS_KEY_ENV = "DECISIONTELECOM_ACCESS_KEY"
BASE_URL_ENV = "DECISIONTELECOM_BASE_URL"
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


_secrets: set[str] = set()
"""Values never to print: the access key given to this run."""


def _redact(text: str) -> str:
    for secret in _secrets:
        text = text.replace(secret, "***")
    return text


def _fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    click.echo(_redact(f"error: {message}"), err=True)
    sys.exit(code)


def _run(coroutine: Coroutine[Any, Any, int]) -> None:
    """Run a command's coroutine; turn every failure into one line on stderr."""
    try:
        code = asyncio.run(coroutine)
    except ValidationError as exc:
        _fail(str(exc), EXIT_USAGE)
    except DecisionTelecomError as exc:
        _fail(f"{type(exc).__name__}: {exc}")
    except OSError as exc:
        _fail(str(exc))
    except ValueError as exc:
        _fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        _fail("interrupted", EXIT_INTERRUPTED)
    except Exception as exc:  # noqa: BLE001 - a bug still gets one line, not a traceback
        _fail(f"unexpected {type(exc).__name__}: {exc} (please report this)")
    sys.exit(code)


def _require_key(access_key: str | None) -> str:
    if not access_key or not access_key.strip():
        _fail(f"no access key: set {ACCESS_KEY_ENV} or pass --access-key", EXIT_USAGE)
    # The key, and the Basic token made of it, never reach the terminal.
    _secrets.update((access_key, base64.b64encode(access_key.encode()).decode()))
    return access_key


if TYPE_CHECKING:  # click 8.3 made ParamType generic; older ones cannot be subscripted
    _EnumParamBase = click.ParamType[MessageType | SourceType]
else:
    _EnumParamBase = click.ParamType


class EnumParam(_EnumParamBase):
    """An enum member by number (``106``) or name (``text-only``, ``TEXT_ONLY``)."""

    def __init__(self, enum_type: type[MessageType | SourceType]) -> None:
        self.enum_type = enum_type
        self.name = enum_type.__name__

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        """The choices, as ``[text-only|...]``."""
        del param, ctx
        return "[" + "|".join(_enum_name(member) for member in self.enum_type) + "]"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> MessageType | SourceType:
        """Turn the text given into the member, or fail with the choices."""
        if isinstance(value, self.enum_type):
            return value
        member = parse_enum_text(self.enum_type, str(value))
        if isinstance(member, self.enum_type):
            return member
        choices = ", ".join(f"{_enum_name(m)} ({m.value})" for m in self.enum_type)
        return self.fail(f"{value!r} is not one of {choices}", param, ctx)


def _enum_name(member: MessageType | SourceType) -> str:
    return member.name.lower().replace("_", "-")


@attrs.frozen
class Service:
    """Where and how the service is reached: the options every client command shares."""

    access_key: str = attrs.field(repr=False)
    base_url: str
    timeout: float
    max_retries: int

    def client(self, **options: Any) -> ViberClient:
        """A :class:`ViberClient` with these settings (``options`` add to them)."""
        from decisiontelecom_async._viber_client import ViberClient  # noqa: PLC0415

        return ViberClient(
            self.access_key,
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=self.max_retries,
            **options,
        )


_F = TypeVar("_F", bound=Callable[..., None])


def service_options(command: _F) -> _F:
    """Add --access-key, --base-url, --timeout and --max-retries; pass ``service``."""

    @functools.wraps(command)
    def wrapper(
        *args: Any,
        access_key: str | None,
        base_url: str,
        timeout: float,
        max_retries: int,
        **kwargs: Any,
    ) -> None:
        service = Service(_require_key(access_key), base_url, timeout, max_retries)
        command(*args, service=service, **kwargs)

    options = (
        click.option(
            "--access-key",
            envvar=ACCESS_KEY_ENV,
            show_envvar=True,
            help="The access key from your account manager (better: the environment variable).",
        ),
        click.option(
            "--base-url",
            envvar=BASE_URL_ENV,
            show_envvar=True,
            default="https://web.it-decision.com/v1/api",
            show_default=True,
            help="The Viber + SMS API's base URL (point it at a sandbox to test).",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0.1),
            default=30.0,
            show_default=True,
            help="Seconds to wait for each answer.",
        ),
        click.option(
            "--max-retries",
            type=click.IntRange(0, 10),
            default=3,
            show_default=True,
            help="Retries of a failed request (429, 5xx, no connection) after the first try.",
        ),
    )
    for option in reversed(options):
        wrapper = option(wrapper)
    return cast("_F", wrapper)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="decisiontelecom-async", prog_name="decisiontelecom")
def cli() -> None:
    """Send Viber messages (with SMS fallback) through DecisionTelecom."""


@cli.command()
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
    from decisiontelecom_async._cli._commands import send_one  # noqa: PLC0415

    fields = {name: value for name, value in fields.items() if value is not None}
    _run(send_one(service, fields))


@cli.command()
@service_options
@click.argument("message_ids", nargs=-1, required=True, type=int)
def status(service: Service, message_ids: tuple[int, ...]) -> None:
    """Print the status of one or more messages."""
    from decisiontelecom_async._cli._commands import show_statuses  # noqa: PLC0415

    _run(show_statuses(service, message_ids))


def _check_encoding(ctx: click.Context, param: click.Parameter, value: str) -> str:
    del ctx, param
    try:
        codecs.lookup(value)
    except LookupError:
        raise click.BadParameter(f"unknown encoding {value!r}") from None
    return value


@cli.command()
@service_options
@click.argument("csv_file", type=click.Path(path_type=Path))
@click.option(
    "--results",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write one result row per input row [default: FILE.results.csv].",
)
@click.option("--sender", help="Sender for rows whose 'sender' cell is empty.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1000),
    default=50,
    show_default=True,
    help="Messages in flight at once.",
)
@click.option("--rate-limit", type=click.FloatRange(min=0.1), help="Requests per second ceiling.")
@click.option(
    "--encoding",
    default="utf-8-sig",
    show_default=True,
    callback=_check_encoding,
    help="The file's text encoding (utf-8-sig reads UTF-8 with or without a BOM).",
)
def campaign(  # noqa: PLR0917 - one parameter per click option
    service: Service,
    csv_file: Path,
    results: Path | None,
    sender: str | None,
    concurrency: int,
    rate_limit: float | None,
    encoding: str,
) -> None:
    """Send one message per row of CSV_FILE, with live progress.

    Columns: receiver, text (required); sender (or --sender); message_type,
    source_type, sms_text, image_url, button_caption, button_action,
    callback_url, validity_period (optional). A bad row is reported with its
    line number in the results file and does not stop the rest. Each result
    row is flushed as it settles. Ctrl+C or SIGTERM stops sending, settles
    what is in flight and records every row (the rest as not_sent). Exit
    code 0 when every row was sent, 1 when any was not, 130 after Ctrl+C,
    143 after SIGTERM.
    """
    from decisiontelecom_async._cli._commands import run_campaign  # noqa: PLC0415

    if not csv_file.exists():
        _fail(f"no such file: {csv_file}", EXIT_USAGE)
    if not csv_file.is_file():
        _fail(f"not a file: {csv_file}", EXIT_USAGE)
    results = results or csv_file.with_name(csv_file.stem + ".results.csv")
    if results.resolve() == csv_file.resolve():
        _fail(f"the results file would overwrite the campaign file {csv_file}", EXIT_USAGE)
    if not results.parent.is_dir():
        _fail(f"no such directory for the results: {results.parent}", EXIT_USAGE)
    _run(
        run_campaign(
            service,
            csv_file,
            results,
            sender=sender,
            concurrency=concurrency,
            rate_limit=rate_limit,
            encoding=encoding,
        )
    )


@cli.command()
@click.option("--messages", type=click.IntRange(1, 100_000), default=2000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed for the sandbox.")
def demo(messages: int, seed: int) -> None:
    """Run a whole campaign against an embedded sandbox: no key, no network."""
    from decisiontelecom_async._cli._demo import run_demo  # noqa: PLC0415

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
    from decisiontelecom_async._cli._commands import serve_sandbox  # noqa: PLC0415
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
