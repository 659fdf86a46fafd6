"""``decisiontelecom sandbox``: serve the local stand-in for the service until a signal."""

from __future__ import annotations

import asyncio
import contextlib

import click

from decisiontelecom_async._cli._errors import run_command
from decisiontelecom_async._cli._output import (
    STOP_SIGNALS,
    log_to,
    on_signals,
    stderr_console,
    stdout_console,
)
from decisiontelecom_async.sandbox import Sandbox, SandboxConfig

__all__ = ["sandbox", "serve_sandbox"]


async def serve_sandbox(config: SandboxConfig, host: str, port: int) -> int:
    """Serve a sandbox until SIGINT or SIGTERM; print where it listens, then "stopped"."""
    console = stdout_console()
    stop = asyncio.Event()

    def ready(base_url: str, sms_base_url: str) -> None:
        console.print(f"Viber + SMS API: [bold]{base_url}[/]")
        console.print(f"SMS API:         [bold]{sms_base_url}[/]")
        console.print(
            f"access key: {config.access_key!r} (a sandbox key, not a secret)  press Ctrl+C to stop"
        )

    with on_signals(lambda _signum: stop.set(), STOP_SIGNALS), log_to(stderr_console()):
        async with Sandbox(config) as served, served.serve(host, port) as base_url:
            ready(base_url, served.sms_base_url)
            with contextlib.suppress(asyncio.CancelledError):
                await stop.wait()
    console.print("sandbox stopped")
    return 0


@click.command()
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
    run_command(serve_sandbox(config, host, port))
