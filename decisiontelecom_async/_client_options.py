"""The construction options both clients share: their names, defaults, checks and docs.

:class:`ViberClient` and :class:`SmsClient` differ only in their credentials
and their default base URL. Everything else a user passes them (``base_url``,
``timeout``, ``max_retries``, ``max_concurrency``, ``rate_limit``,
``http_client``, ``retry_policy``, ``proxy``) is written here once:
:class:`ClientOptions` types the keywords, :func:`resolve_options` checks
them and fills in the defaults, and :func:`shared_options` gives each client
the full signature and the options' documentation.

Credentials and the base URL come from the environment when they are not
passed (:func:`from_environment`); an explicit argument always wins.
"""

from __future__ import annotations

import inspect
import math
import os
from typing import Any, Final, TypedDict, TypeVar

import attrs
import httpx

from decisiontelecom_async._retry import RetryPolicy
from decisiontelecom_async._throttle import RateLimit

__all__ = [
    "ClientOptions",
    "ResolvedOptions",
    "from_environment",
    "proxy_secrets",
    "required_from_environment",
    "resolve_options",
    "shared_options",
]

_C = TypeVar("_C", bound=type[Any])


class ClientOptions(TypedDict, total=False):
    """The keyword options of both clients (see :data:`OPTIONS_DOC`)."""

    base_url: str
    timeout: float | httpx.Timeout
    max_retries: int
    max_concurrency: int
    rate_limit: RateLimit
    http_client: httpx.AsyncClient | None
    retry_policy: RetryPolicy | None
    proxy: str | httpx.URL | httpx.Proxy | None


# (name, annotation as shown, default); base_url's default is the client's own.
_OPTIONS: Final = (
    ("base_url", "str", None),
    ("timeout", "float | httpx.Timeout", 30.0),
    ("max_retries", "int", 3),
    ("max_concurrency", "int", 50),
    ("rate_limit", "float | Literal['auto'] | RateGate | None", None),
    ("http_client", "httpx.AsyncClient | None", None),
    ("retry_policy", "RetryPolicy | None", None),
    ("proxy", "str | httpx.URL | httpx.Proxy | None", None),
)

OPTIONS_DOC: Final = """
    Options (keyword-only, the same on both clients):

    ``base_url``
        The API's base URL; default: the environment variable {base_url_env}
        when set, else ``{default_base_url}``.
    ``timeout``
        Seconds (default 30), or an ``httpx.Timeout``; applies to every
        request, also through an ``http_client`` you pass.
    ``max_retries``
        Retries after the first try (default 3; see :class:`RetryPolicy`).
    ``max_concurrency``
        The most requests in flight at once, across every call on the
        client (default 50).
    ``rate_limit``
        Requests per second: a number is a fixed ceiling, ``"auto"``
        learns the service's own limit from its 429s and holds just under
        it, a shared limit (``RedisRateLimit``) holds one rate across
        processes; ``None`` (the default) sets no ceiling. The client's
        ``rate_limit`` attribute reports the rate in force.
    ``http_client``
        An ``httpx.AsyncClient`` to send through instead of the client's
        own; it is never closed by the SDK.
    ``retry_policy``
        A :class:`RetryPolicy`, replacing ``max_retries``.
    ``proxy``
        An HTTP(S) proxy for every request: a URL such as
        ``"http://user:password@proxy:3128"``, or an ``httpx.Proxy``.
        Without it, the proxy variables of the environment
        (``HTTPS_PROXY``...) apply. Its credentials never appear in an
        exception, a ``repr`` or a log line. Not with ``http_client``
        (configure the proxy on that client).
"""


@attrs.frozen
class ResolvedOptions:
    """The options, checked, with every default filled in."""

    base_url: httpx.URL
    timeout: httpx.Timeout
    retry_policy: RetryPolicy
    max_concurrency: int
    rate_limit: RateLimit
    http_client: httpx.AsyncClient | None
    proxy: httpx.Proxy | None


def from_environment(value: str | None, *, argument: str, variable: str) -> str | None:
    """``value`` if given, else the environment variable ``variable`` (``None`` if unset)."""
    if value is not None:
        return value
    found = os.environ.get(variable)
    if found is None:
        return None
    if not found.strip():
        # Never echo the value: it is a credential.
        msg = f"{argument} was not given and the environment variable {variable} is empty"
        raise ValueError(msg)
    return found


def required_from_environment(value: str | None, *, argument: str, variable: str) -> str:
    """``value`` if given, else ``variable`` from the environment; a clear error if neither."""
    found = from_environment(value, argument=argument, variable=variable)
    if found is None:
        msg = f"{argument} was not given and the environment variable {variable} is not set"
        raise ValueError(msg)
    return found


def _check_base_url(base_url: object, *, variable: str | None = None) -> httpx.URL:
    where = f" (from the environment variable {variable})" if variable else ""
    url = None
    if isinstance(base_url, str | httpx.URL):
        try:
            url = httpx.URL(base_url)
        except httpx.InvalidURL:
            url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        msg = f"base_url must be an absolute http(s) URL, got {base_url!r}{where}"
        raise ValueError(msg)
    return url.copy_with(raw_path=url.raw_path.rstrip(b"/") or b"/")


def _check_timeout(timeout: object) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not (timeout > 0 and math.isfinite(timeout))
    ):
        msg = f"timeout must be a positive number of seconds or an httpx.Timeout, got {timeout!r}"
        raise ValueError(msg)
    return httpx.Timeout(float(timeout))


def _check_count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not (isinstance(value, int) and value >= minimum):
        msg = f"{name} must be an int >= {minimum}, got {value!r}"
        raise ValueError(msg)
    return value


def _check_proxy(proxy: object) -> httpx.Proxy | None:
    """An ``httpx.Proxy``; the errors never echo the value, which may hold a password."""
    if proxy is None:
        return None
    if isinstance(proxy, httpx.Proxy):
        if proxy.url.scheme not in ("http", "https"):
            msg = f"proxy must be an http:// or https:// proxy, got scheme {proxy.url.scheme!r}"
            raise ValueError(msg)
        return proxy
    if not isinstance(proxy, str | httpx.URL):
        kind = type(proxy).__name__
        msg = f"proxy must be a URL (str or httpx.URL) or an httpx.Proxy, got {kind}"
        raise TypeError(msg)
    try:
        url = httpx.URL(proxy)
    except httpx.InvalidURL:
        msg = "proxy is not a valid URL (its value is not shown: it may hold a password)"
        raise ValueError(msg) from None
    if url.scheme not in ("http", "https") or not url.host:
        msg = (
            "proxy must be an absolute http:// or https:// URL such as "
            "'http://user:password@proxy:3128' (its value is not shown: it may hold a password)"
        )
        raise ValueError(msg)
    return httpx.Proxy(url)


def proxy_secrets(proxy: httpx.Proxy | None) -> tuple[str, ...]:
    """What of ``proxy`` must never be shown: its password, and ``user:password``.

    The pair covers the ``Proxy-Authorization`` header (its base64 form); one
    set by hand in the proxy's headers is a secret too.
    """
    if proxy is None:
        return ()
    secrets = [
        value for name, value in proxy.headers.items() if name.lower() == "proxy-authorization"
    ]
    if proxy.auth is not None:
        user, password = proxy.auth
        secrets += [password, f"{user}:{password}"]
    return tuple(secret for secret in secrets if secret)


def resolve_options(
    owner: str, options: ClientOptions, *, default_base_url: str, base_url_env: str
) -> ResolvedOptions:
    """Check ``options`` (the keywords ``owner`` got) and fill in the defaults."""
    unknown = sorted(set(options) - {name for name, _, _ in _OPTIONS})
    if unknown:
        msg = f"{owner}() got an unexpected keyword argument {unknown[0]!r}"
        raise TypeError(msg)
    given: dict[str, Any] = dict(options)
    defaults = {name: default for name, _, default in _OPTIONS}
    values = {**defaults, **given}
    if "base_url" in given:
        base_url = _check_base_url(given["base_url"])
    else:
        from_env = from_environment(None, argument="base_url", variable=base_url_env)
        base_url = (
            _check_base_url(from_env, variable=base_url_env)
            if from_env is not None
            else _check_base_url(default_base_url)
        )
    max_concurrency = _check_count("max_concurrency", values["max_concurrency"], 1)
    max_retries = _check_count("max_retries", values["max_retries"], 0)
    proxy = _check_proxy(values["proxy"])
    if proxy is not None and values["http_client"] is not None:
        msg = (
            "pass proxy= or http_client=, not both: "
            "configure the proxy on the httpx.AsyncClient you pass"
        )
        raise ValueError(msg)
    return ResolvedOptions(
        base_url=base_url,
        timeout=_check_timeout(values["timeout"]),
        retry_policy=values["retry_policy"] or RetryPolicy(max_retries=max_retries),
        max_concurrency=max_concurrency,
        rate_limit=values["rate_limit"],
        http_client=values["http_client"],
        proxy=proxy,
    )


def shared_options(cls: _C) -> _C:
    """Give a client the options' documentation and its full signature.

    The client's ``__init__`` takes ``**options: Unpack[ClientOptions]``;
    ``inspect.signature`` (``help()``, IDEs, the API reference) shows each
    option by name with its default instead, as if written out. The client
    names its ``_default_base_url`` and ``_base_url_env``.
    """
    default_base_url: str = cls._default_base_url
    init = cls.__init__
    signature = inspect.signature(init)
    kept = [
        parameter
        for parameter in signature.parameters.values()
        if parameter.kind is not inspect.Parameter.VAR_KEYWORD
    ]
    options = [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=default_base_url if name == "base_url" else default,
            annotation=annotation,
        )
        for name, annotation, default in _OPTIONS
    ]
    init.__signature__ = signature.replace(parameters=[*kept, *options])
    cls.__doc__ = (cls.__doc__ or "") + OPTIONS_DOC.format(
        base_url_env=f"``{cls._base_url_env}``", default_base_url=default_base_url
    )
    return cls
