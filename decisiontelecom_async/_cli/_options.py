"""Options the commands share: the service and its key, enum, delimiter and rate values.

``--shared-limit redis://...`` (:data:`shared_limit_option`, with
:func:`shared_rate_limit` and :func:`reach_shared_limit`) makes
``--rate-limit`` one limit for every process that names the same Redis.
"""

from __future__ import annotations

import codecs
import functools
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import attrs
import click

from decisiontelecom_async import MessageType, SourceType, ViberClient
from decisiontelecom_async._cli._csv import DELIMITERS, parse_enum_text
from decisiontelecom_async._cli._errors import EXIT_USAGE, fail, keep_secret

__all__ = [
    "ACCESS_KEY_ENV",
    "BASE_URL_ENV",
    "EnumParam",
    "RateLimitParam",
    "Service",
    "check_delimiter",
    "check_encoding",
    "rate_limit_option",
    "reach_shared_limit",
    "service_options",
    "shared_limit_option",
    "shared_rate_limit",
]

ACCESS_KEY_ENV = "DECISIONTELECOM_ACCESS_KEY"
BASE_URL_ENV = "DECISIONTELECOM_BASE_URL"


@attrs.frozen
class Service:
    """Where and how the service is reached: the options every client command shares."""

    access_key: str = attrs.field(repr=False)
    base_url: str
    timeout: float
    max_retries: int

    def client(self, **options: Any) -> ViberClient:
        """A :class:`ViberClient` with these settings (``options`` add to them)."""
        return ViberClient(
            self.access_key,
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=self.max_retries,
            **options,
        )


def _require_key(access_key: str | None) -> str:
    if not access_key or not access_key.strip():
        fail(f"no access key: set {ACCESS_KEY_ENV} or pass --access-key", EXIT_USAGE)
    # The key, and the Basic token made of it, never reach the terminal.
    keep_secret(access_key)
    return access_key


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


if TYPE_CHECKING:
    from typing import TypeAlias

    from decisiontelecom_async.distributed import RedisRateLimit

    CliRateLimit: TypeAlias = float | Literal["auto"] | RedisRateLimit | None
    """What a command hands the client as ``rate_limit=`` (see :func:`shared_rate_limit`)."""

    _RateParamBase = click.ParamType[float | Literal["auto"] | None]
else:
    _RateParamBase = click.ParamType


class RateLimitParam(_RateParamBase):
    """``auto`` (learn the service's limit), ``none`` (no ceiling), or requests a second."""

    name = "auto|none|R"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float | Literal["auto"] | None:
        """Turn the text given into a client's ``rate_limit``, or fail saying what fits."""
        if value is None or isinstance(value, float):
            return value
        text = str(value).strip().lower()
        if text in {"auto", "none"}:
            return None if text == "none" else "auto"
        try:
            rate = float(text)
        except ValueError:
            rate = 0.0
        if not rate >= 0.1:  # noqa: PLR2004 - the smallest sensible ceiling; also refuses nan
            self.fail(
                f"{value!r} is not 'auto', 'none' or a number of requests/s >= 0.1", param, ctx
            )
        return rate


rate_limit_option = click.option(
    "--rate-limit",
    type=RateLimitParam(),
    default="auto",
    show_default=True,
    help=(
        "Requests per second: 'auto' learns the service's limit from its 429s and holds "
        "just under it, a number is a fixed ceiling, 'none' sets none."
    ),
)
"""``--rate-limit auto|none|R``, ``auto`` by default (campaign and demo)."""

_REDIS_SCHEMES = ("redis", "rediss", "unix")


def _check_shared_limit(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    """A click callback: ``value`` is a Redis URL; its password never reaches the terminal."""
    del ctx, param
    if value is None:
        return None
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in _REDIS_SCHEMES:
        raise click.BadParameter("give a redis://, rediss:// or unix:// URL")
    if parts.password:
        keep_secret(parts.password)
    return value


shared_limit_option = click.option(
    "--shared-limit",
    metavar="REDIS_URL",
    callback=_check_shared_limit,
    help=(
        "Share the rate limit through this Redis with every process given the same URL: "
        "--rate-limit R is then the total for all of them, 'auto' one learned rate for all."
    ),
)
"""``--shared-limit redis://...``: pass its value and ``--rate-limit``'s to
:func:`shared_rate_limit` (campaign, demo, worker)."""


def shared_rate_limit(
    rate_limit: float | Literal["auto"] | None, shared_limit: str | None
) -> CliRateLimit:
    """The client's ``rate_limit=``: ``rate_limit`` itself, or a ``RedisRateLimit`` of it.

    Exits with a usage error when the limit cannot be shared (``none``), or
    when the ``distributed`` extra is missing.
    """
    if shared_limit is None:
        return rate_limit
    if rate_limit is None:
        fail(
            "--rate-limit none cannot be shared: give --rate-limit R (the total for "
            "every process) or auto with --shared-limit",
            EXIT_USAGE,
        )
    try:
        from decisiontelecom_async.distributed import RedisRateLimit  # noqa: PLC0415
    except ImportError:
        fail(
            "--shared-limit needs the distributed extra: "
            'pip install "decisiontelecom-async[distributed]"',
            EXIT_USAGE,
        )
    return RedisRateLimit(shared_limit, rate=rate_limit)


async def reach_shared_limit(rate_limit: CliRateLimit) -> None:
    """Take one place under a shared limit before sending anything (after the client is made).

    A Redis that cannot be reached then fails the command with one
    ``error:`` line naming it (``SharedLimitError``), before any request,
    instead of a run whose every row fails. The place taken is one
    request's worth of the shared rate.
    """
    if rate_limit is not None and not isinstance(rate_limit, float | str):
        await rate_limit.acquire()


def _enum_name(member: MessageType | SourceType) -> str:
    return member.name.lower().replace("_", "-")


def check_encoding(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A click callback: ``value`` names a codec Python knows."""
    del ctx, param
    try:
        codecs.lookup(value)
    except LookupError:
        raise click.BadParameter(f"unknown encoding {value!r}") from None
    return value


def check_delimiter(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback: one character, or ``tab``; ``None`` finds it from the header."""
    del ctx, param
    if value is None:
        return None
    named = DELIMITERS.get(value.lower(), value)
    if len(named) != 1 or named in {'"', "\r", "\n"}:
        names = ", ".join(repr(name) for name in DELIMITERS)
        msg = f"{value!r} is not one character (or one of {names})"
        raise click.BadParameter(msg)
    return named
