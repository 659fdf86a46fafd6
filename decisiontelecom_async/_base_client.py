"""What every client of the SDK shares: lifecycle, limits, retries, one request.

A client owns (or borrows) an ``httpx.AsyncClient``, bounds its requests in
flight with one semaphore shared by every call, passes each request through
the :class:`Throttle`, and repeats failures as its :class:`RetryPolicy` says.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import json
import logging
import ssl
import time
import warnings
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import httpx

from decisiontelecom_async._client_options import ClientOptions, proxy_secrets, resolve_options
from decisiontelecom_async._errors import DecisionTelecomError, RateLimitError, TransportError
from decisiontelecom_async._http import fast_transport, send_request
from decisiontelecom_async._http._answer import Answer
from decisiontelecom_async._http._body import ACCEPT_ENCODING
from decisiontelecom_async._http._guard import RunGuard
from decisiontelecom_async._http._log_filter import forget_logs_for, scrub_logs_for
from decisiontelecom_async._http._redact import Redactor
from decisiontelecom_async._http._shortcuts import OwnRequests
from decisiontelecom_async._http._slots import Slots
from decisiontelecom_async._http._throttle import OwedRetry, Throttle
from decisiontelecom_async._retry import RetryPolicy, call_with_retries
from decisiontelecom_async._telemetry import HOOKS

__all__ = ["BaseClient", "ClientState"]

logger = logging.getLogger("decisiontelecom_async")

_T = TypeVar("_T")
_DEFAULT_TIMEOUT = 30.0
_MAX_CACHED_URLS = 16
# json.dumps with options builds an encoder per call; one serves every request.
_JSON_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class _LiveRun(Protocol):
    """A bulk run in progress on the client, which closing the client cancels."""

    def cancel(self, reason: BaseException) -> None: ...


class ClientState(enum.Enum):
    """Where a client is in its life."""

    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


def _user_agent() -> str:
    from decisiontelecom_async._version import __version__  # noqa: PLC0415 - a leaf module, no cycle

    return f"decisiontelecom-async/{__version__} python-httpx/{httpx.__version__}"


def _log_request(request: httpx.Request, outcome: str, attempt: int, started: float) -> None:
    # The path only: the SMS API carries credentials in the query string.
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "%s %s -> %s (attempt %d, %.1f ms)",
            request.method,
            request.url.path,
            outcome,
            attempt,
            (time.perf_counter() - started) * 1000,
        )


@functools.cache
def _budget_spent_unsent(request: httpx.Request, policy: RetryPolicy) -> TransportError:
    """The error of a call whose time budget ran out before its request could leave."""
    msg = (
        f"{request.method} {request.url.path}: the call's time budget "
        f"(RetryPolicy.timeout={policy.timeout:g}s) ran out before the request "
        "could be sent; the request never reached the service"
    )
    return TransportError(msg, outcome_unknown=False)


def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs tens of milliseconds; every client of the
    # process shares one context (SSLContext is made to be shared).
    return httpx.create_ssl_context(trust_env=True)


class BaseClient:
    """Lifecycle, limits and retries shared by :class:`ViberClient` and :class:`SmsClient`."""

    # Each client names its own (see _client_options.shared_options).
    _default_base_url: str
    _base_url_env: str

    def __init__(
        self,
        options: ClientOptions,
        *,
        headers: Mapping[str, str],
        redactor: Callable[[tuple[str, ...]], Redactor],
        account: str,
    ) -> None:
        """Check ``options`` (see :mod:`._client_options`) and set the client up.

        ``redactor`` builds the client's redactor from the secrets the options
        add to the client's own (a proxy's credentials). ``account`` names the
        account (a credential: only ever hashed, for a shared limit's key).
        """
        resolved = resolve_options(
            type(self).__name__,
            options,
            default_base_url=self._default_base_url,
            base_url_env=self._base_url_env,
        )
        http_client = resolved.http_client
        self._base_url = resolved.base_url
        self._timeout = resolved.timeout
        self._retry_policy = resolved.retry_policy
        self._max_concurrency = resolved.max_concurrency
        self._proxy = resolved.proxy
        self._slots = Slots(self._max_concurrency)
        # Time goes through these two so tests can run retries without sleeping.
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self._clock: Callable[[], float] = time.monotonic
        self._throttle = Throttle(resolved.rate_limit, sleep=self._sleep_now, clock=self._now)
        # A shared limit's default key comes from the account (base URL and
        # the first credential: the access key, the SMS login).
        self._throttle.bind(f"{self._base_url}\n{account}")
        self._redactor = redactor(proxy_secrets(self._proxy))
        # httpx and httpcore log URLs and raw answer headers (_log_filter.py).
        scrub_logs_for(self, self._redactor)
        self._headers = {
            "Accept": "application/json",
            # Only the codings _body.py decodes within its size bound.
            "Accept-Encoding": ACCEPT_ENCODING,
            "User-Agent": _user_agent(),
            **headers,
        }
        self._owns_http_client = http_client is None
        self._http = http_client if http_client is not None else self._make_http_client()
        self._state = ClientState.UNOPENED
        self._in_flight = 0
        self._live_runs: set[_LiveRun] = set()
        self._urls: dict[str, httpx.URL] = {}
        self._own_requests: OwnRequests | None = None
        # None without the otel extra: every hook below is behind this one check.
        self._telemetry = None if HOOKS is None else HOOKS.watch(self, self._base_url)

    def _make_http_client(self) -> httpx.AsyncClient:
        # A keep-alive pool as large as the concurrency bound: a busy run reuses it.
        limits = httpx.Limits(
            max_connections=self._max_concurrency,
            max_keepalive_connections=self._max_concurrency,
        )
        transport = fast_transport(limits, _ssl_context(), proxy=self._proxy)
        return httpx.AsyncClient(
            verify=_ssl_context(),
            timeout=self._timeout,
            limits=limits,
            transport=transport,
            # An explicit proxy goes to the SDK's transport when there is one,
            # else to httpx (which then mounts its own proxy transport).
            proxy=self._proxy if transport is None else None,
            follow_redirects=False,
            trust_env=True,
        )

    async def _sleep_now(self, seconds: float) -> None:
        # Read at each call: tests replace _sleep after the client is made.
        await self._sleep(seconds)

    def _now(self) -> float:
        return self._clock()

    # -- lifecycle -----------------------------------------------------------

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`aclose` has been called."""
        return self._state is ClientState.CLOSED

    @property
    def retry_policy(self) -> RetryPolicy:
        """The client's default :class:`RetryPolicy`."""
        return self._retry_policy

    @property
    def max_concurrency(self) -> int:
        """The most requests this client has in flight at once."""
        return self._max_concurrency

    @property
    def rate_limit(self) -> float | None:
        """The requests-per-second ceiling in force now (learned with ``"auto"``), or None."""
        return self._throttle.rate_limit

    @property
    def in_flight(self) -> int:
        """How many requests are in flight right now."""
        return self._in_flight

    async def __aenter__(self) -> Self:
        if self._state is ClientState.CLOSED:
            msg = f"this {type(self).__name__} is closed; create a new one"
            raise RuntimeError(msg)
        if self._state is ClientState.OPEN:
            msg = f"this {type(self).__name__} is already open; enter it only once"
            raise RuntimeError(msg)
        self._state = ClientState.OPEN
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client and its connections (not an ``http_client`` you passed in).

        Calling it again does nothing. A closed client refuses every call.
        """
        if self._state is ClientState.CLOSED:
            return
        self._state = ClientState.CLOSED
        self._stop_live_runs()
        if self._owns_http_client:
            await self._http.aclose()
        await self._throttle.aclose()
        self._forget_secrets_when_idle()

    def _stop_live_runs(self) -> None:
        """Cancel every bulk run of this client; what they hold stays for ``drain()``."""
        for run in list(self._live_runs):
            run.cancel(
                RuntimeError(
                    f"the {type(self).__name__} was closed during a bulk run; "
                    "drain() hands out the outcomes it holds"
                )
            )

    def _forget_secrets_when_idle(self) -> None:
        # A request still in flight on a borrowed http_client may yet be logged.
        if self._state is ClientState.CLOSED and not self._in_flight:
            forget_logs_for(self)

    def __del__(self) -> None:
        # Never close from here: there may be no running loop. Only tell.
        if getattr(self, "_state", None) is ClientState.OPEN and getattr(
            self, "_owns_http_client", False
        ):
            warnings.warn(
                f"{type(self).__name__} was not closed; use 'async with' or 'await aclose()'",
                ResourceWarning,
                stacklevel=1,
                source=self,
            )

    def _ensure_usable(self) -> None:
        if self._state is ClientState.CLOSED:
            msg = f"this {type(self).__name__} is closed; create a new one"
            raise RuntimeError(msg)
        self._state = ClientState.OPEN

    # -- one request -----------------------------------------------------------

    def _build_request(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Request:
        url = self._urls.get(path)
        if url is None:
            url = self._base_url.copy_with(raw_path=self._base_url.raw_path.rstrip(b"/") + b"/")
            url = url.join(path.lstrip("/"))
            # Parsing URLs is most of the cost of a request here: remember the
            # few fixed paths (never one with a query: it may hold credentials).
            if "?" not in path and len(self._urls) < _MAX_CACHED_URLS:
                self._urls[path] = url
        content = None
        if json_body is not None:
            content = _JSON_ENCODER.encode(json_body).encode()
        if self._owns_http_client and params is None and not self._http.cookies:
            # Nothing to merge into our own headers: httpx's merging is skipped.
            return self._requests().build(method, url, content)
        headers = dict(self._headers)
        if json_body is not None:
            headers["Content-Type"] = "application/json"
        return self._http.build_request(
            method,
            url,
            params=params,
            content=content,
            headers=headers,
            timeout=self._timeout,
        )

    def _requests(self) -> OwnRequests:
        """The builder of this client's own requests, made at the first one."""
        if self._own_requests is None:
            self._own_requests = OwnRequests(
                self._http.headers, self._headers, self._timeout.as_dict()
            )
        return self._own_requests

    async def _send_once(
        self,
        request: httpx.Request,
        parse: Callable[[Answer], _T],
        *,
        attempt: int = 1,
        after: DecisionTelecomError | None = None,
        retry_policy: RetryPolicy | None = None,
        call_started: float | None = None,
        on_way: Callable[[], None] | None = None,
        guard: RunGuard | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> _T:
        policy = retry_policy or self._retry_policy
        sent_at = await self._pass_gate_in_budget(
            request, policy, call_started, retry=attempt > 1, sleep=sleep
        )
        try:
            if on_way is not None:
                on_way()
            if self._state is ClientState.CLOSED:
                msg = f"this {type(self).__name__} is closed; create a new one"
                raise RuntimeError(msg)
            budget = (
                None if call_started is None else self._budget_left(request, policy, call_started)
            )
            if guard is not None:
                # A stopped bulk run sends nothing more, retries included.
                guard.request_leaves()
            self._in_flight += 1
            started = time.perf_counter()
            watch = self._telemetry.attempt(request, attempt, after) if self._telemetry else None
            try:
                response = await send_request(
                    self._http,
                    request,
                    self._redactor,
                    direct=self._owns_http_client,
                    budget=budget,
                )
            except BaseException as exc:
                if watch is not None:
                    watch.end(None, exc)
                if isinstance(exc, DecisionTelecomError):
                    _log_request(request, type(exc).__name__, attempt, started)
                raise
            finally:
                self._in_flight -= 1
                self._forget_secrets_when_idle()
        finally:
            self._slots.release()
        _log_request(request, str(response.status_code), attempt, started)
        if watch is not None:
            parse = watch.reading(parse)  # the attempt's span ends with what parse says
        try:
            result = parse(response)
        except RateLimitError as exc:
            # The whole client waits: every call, however long the service asked.
            self._throttle.pause(
                exc.retry_after if exc.retry_after is not None else policy.initial_wait
            )
            self._throttle.on_429(exc.retry_after, sent_at)
            exc.wait_refused = exc.retry_after is not None and (
                exc.retry_after > policy.max_retry_after
            )
            raise
        except DecisionTelecomError:
            # Any other answer came through the service's limit.
            self._throttle.on_success()
            raise
        self._throttle.on_success()
        return result

    def _budget_left(
        self, request: httpx.Request, policy: RetryPolicy, call_started: float
    ) -> float:
        """Seconds left of the call's ``policy.timeout``; fail, sending nothing, when none are.

        Time queued behind the client's own concurrency bound or rate ceiling
        counts: the budget is the caller's bound on the whole call.
        """
        left = policy.timeout - (self._now() - call_started)
        if left <= 0:
            raise _budget_spent_unsent(request, policy)
        return left

    async def _pass_gate_in_budget(
        self,
        request: httpx.Request,
        policy: RetryPolicy,
        call_started: float | None,
        *,
        retry: bool,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> float:
        """:meth:`_pass_gate`, given up (sending nothing) when the call's budget runs out.

        The wait at the gate (the rate ceiling, a 429 pause another call's
        answer began, a free slot behind slow requests) can be far longer
        than the call's ``policy.timeout``, which bounds the whole call.
        """
        if self._throttle.open_now and self._slots.take_now():
            # Nothing to wait for (most requests): _pass_gate's slot, at once.
            return self._throttle.now()
        if call_started is None:
            return await self._pass_gate(policy, retry=retry, sleep=sleep)
        left = self._budget_left(request, policy, call_started)
        scope = asyncio.timeout(left)
        try:
            async with scope:
                return await self._pass_gate(policy, retry=retry, sleep=sleep)
        except TimeoutError:
            if not scope.expired():
                raise
        raise _budget_spent_unsent(request, policy)

    async def _pass_gate(
        self,
        policy: RetryPolicy,
        *,
        retry: bool,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> float:
        """Wait until this attempt may go out, then hold a slot for it.

        Returns the moment the rate gate let it go (for the gate's ``on_429``).
        ``sleep`` (a bulk run's, which its stop cuts short) waits out the
        pause and the rate ceiling instead of the client's own.

        The pause (and, for a first attempt, any owed retry) is waited out
        without a slot: a first attempt holding one through a pause would go
        out ahead of the retries queued for it, on the turns the service
        promised them. A pause that begins while the slot or the rate ceiling
        is waited for sends the attempt back to wait again, so nothing slips
        out during a pause.
        """
        ticket = self._slots.ticket()
        try:
            while True:
                self._refuse_long_pause(policy)
                await self._throttle.wait(retry=retry, sleep=sleep)
                # A retry takes the next free slot ahead of first attempts (_slots.py).
                await self._slots.acquire(retry=retry, ticket=ticket)
                try:
                    sent_at = await self._throttle.acquire(sleep=sleep)
                except BaseException:
                    self._slots.release()
                    raise
                if self._throttle.clear or (retry and self._throttle.paused_for == 0):
                    return sent_at
                # Back to wait, keeping this attempt's place among first attempts.
                self._slots.step_aside(ticket)
        except BaseException:
            self._slots.leave(ticket)
            raise

    def _refuse_long_pause(self, policy: RetryPolicy) -> None:
        """Fail at once, sending nothing, while the service asked to wait too long.

        After a ``Retry-After`` longer than ``max_retry_after`` the client stays
        paused for all of it; a call that will not wait that long fails
        without adding to the service's load (and stops a bulk run).
        """
        remaining = self._throttle.paused_for
        if remaining > policy.max_retry_after:
            refused = RateLimitError(
                "Too Many Requests",
                f"the service asked this client to wait {remaining:.0f}s more "
                f"(Retry-After), longer than max_retry_after={policy.max_retry_after:g}s; "
                "nothing was sent",
                code=None,
                status=429,
                retry_after=remaining,
            )
            refused.wait_refused = True
            raise refused

    async def _request(
        self,
        request: httpx.Request,
        parse: Callable[[Answer], _T],
        *,
        idempotent: bool,
        retry_policy: RetryPolicy | None,
        on_retry: Callable[[DecisionTelecomError, float], None] | None = None,
        guard: RunGuard | None = None,
    ) -> tuple[_T, int]:
        """Send ``request`` with retries; return the parsed result and the attempts made.

        ``guard`` is the stop signal of the bulk run the call works for
        (:mod:`._http._guard`): no attempt leaves once the run stopped, the
        call's waits end when it stops, and the guard counts the requests
        that left and keeps the error of the last attempt retried.
        """
        self._ensure_usable()
        policy = retry_policy or self._retry_policy
        started = self._now()
        sleep = None if guard is None else guard.sleeper(self._sleep_now)
        try:
            # Most calls succeed at once: the first attempt goes straight out.
            return await self._send_once(
                request, parse, retry_policy=policy, call_started=started, guard=guard, sleep=sleep
            ), 1
        except DecisionTelecomError as exc:
            first_failure = exc
        # A 429 leaves a retry owed (_throttle.py), from the answer (no await
        # since) until the retry is on its way or the call ends.
        debt = OwedRetry(self._throttle)
        if isinstance(first_failure, RateLimitError):
            debt.owe()
        previous = first_failure

        async def attempt(number: int) -> _T:
            nonlocal previous
            try:
                return await self._send_once(
                    request,
                    parse,
                    attempt=number,
                    after=previous,
                    retry_policy=policy,
                    call_started=started,
                    on_way=debt.repay,
                    guard=guard,
                    sleep=sleep,
                )
            except DecisionTelecomError as exc:
                previous = exc
                if isinstance(exc, RateLimitError):
                    debt.owe()
                raise

        try:
            return await call_with_retries(
                attempt,
                policy,
                first_failure=first_failure,
                started=started,
                idempotent=idempotent,
                sleep=sleep or self._sleep_now,
                describe=f"{request.method} {request.url.path}",
                # Inside a bulk run, an input stopped during a retry wait reports
                # the error of the request that went out, not "not sent".
                on_retry=on_retry if on_retry is not None or guard is None else guard.note_failure,
                clock=self._now,
            )
        except DecisionTelecomError as exc:
            # Errors are raised "from None": that hides httpx's exception in
            # tracebacks but keeps it as __context__, and it holds the request
            # (its URL and Authorization header).
            if exc.__suppress_context__:
                exc.__context__ = None
            raise
        finally:
            debt.repay()  # the call may end without the retry it was owed

    def _send_message(
        self,
        request: httpx.Request,
        parse: Callable[[Answer], int],
        *,
        receiver: str,
        retry_policy: RetryPolicy | None,
        guard: RunGuard | None,
    ) -> Awaitable[tuple[int, int]]:
        """Send one message: :meth:`_request` under its span (counted unless in a bulk run)."""
        call = self._request(
            request, parse, idempotent=False, retry_policy=retry_policy, guard=guard
        )
        if self._telemetry is None:
            return call
        return self._telemetry.message(call, request, receiver, counted=guard is None)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} base_url={self._redactor.url(self._base_url)!r} "
            f"state={self._state.value} max_concurrency={self._max_concurrency}>"
        )
