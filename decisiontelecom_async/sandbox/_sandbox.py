"""The sandbox itself: :class:`Sandbox` ties the state, the faults, the app and the outbox.

The public face is :mod:`decisiontelecom_async.sandbox`; the configuration is
in :mod:`~decisiontelecom_async.sandbox._config`, and each part reads its own
fields of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any, Self

import attrs
import httpx

from decisiontelecom_async._sms_client import SmsClient
from decisiontelecom_async._version import __version__
from decisiontelecom_async._viber_client import ViberClient
from decisiontelecom_async.sandbox._app import (
    SMS_PREFIX,
    VIBER_PREFIX,
    SandboxApp,
    SandboxStats,
    SandboxTransport,
)
from decisiontelecom_async.sandbox._callbacks import CallbackOutbox, DeliveredCallback
from decisiontelecom_async.sandbox._config import SandboxConfig
from decisiontelecom_async.sandbox._faults import Faults
from decisiontelecom_async.sandbox._state import (
    SandboxClock,
    SandboxMessage,
    SandboxState,
)

__all__ = ["Sandbox"]

logger = logging.getLogger("decisiontelecom_async.sandbox")

IN_PROCESS_HOST = "sandbox.test"
"""The host of the in-process URLs (never resolved: the transport answers)."""
_PUMP_INTERVAL = 0.02


class Sandbox:
    """The stand-in service: in process (:meth:`transport`) or on loopback (:meth:`serve`).

    ``Sandbox(config)`` or ``Sandbox(seed=1, rate_limit=50)``: keyword
    arguments override fields of ``config`` (or of the defaults).
    ``callback_transport`` is an ``httpx.AsyncBaseTransport`` the callbacks are
    POSTed through (for example ``httpx.ASGITransport(app=your_app)``);
    without one they go out over the network to each ``callback_url``.

    Use it as an async context manager (or call :meth:`aclose`) so the HTTP
    clients it made are closed.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        /,
        *,
        callback_transport: httpx.AsyncBaseTransport | None = None,
        **overrides: Any,
    ) -> None:
        config = config if config is not None else SandboxConfig()
        self._config = attrs.evolve(config, **overrides) if overrides else config
        config = self._config
        start = time.time() if config.start_time is None else config.start_time.timestamp()
        self._clock = SandboxClock(start, config.time_scale)
        self._stats = SandboxStats()
        # Each part reads its own slice of the one config: nothing is copied.
        self._state = SandboxState(config, self._clock)
        self._faults = Faults(config)
        self._app = SandboxApp(
            config=config, state=self._state, faults=self._faults, stats=self._stats
        )
        self._callback_transport = callback_transport
        self._outbox = CallbackOutbox(
            config, client_factory=self._make_callback_client, stats=self._stats
        )
        self._pump_lock = asyncio.Lock()
        self._served: tuple[str, int] | None = None
        self._http_clients: list[httpx.AsyncClient] = []

    # -- what it is ------------------------------------------------------------

    @property
    def config(self) -> SandboxConfig:
        """The configuration, overrides applied."""
        return self._config

    @property
    def stats(self) -> SandboxStats:
        """Live counters of requests, answers, faults and callbacks."""
        return self._stats

    def reset_stats(self) -> None:
        """Set every counter back to 0 (messages and balance are kept)."""
        for field in attrs.fields(SandboxStats):
            setattr(self._stats, field.name, 0)

    @property
    def clock(self) -> SandboxClock:
        """The simulated clock (``clock.now()`` is Unix seconds)."""
        return self._clock

    @property
    def app(self) -> SandboxApp:
        """The ASGI application, to mount in any ASGI server or test client."""
        return self._app

    def transport(self) -> httpx.AsyncBaseTransport:
        """An httpx transport that serves requests in process, with no socket.

        ::

            http = httpx.AsyncClient(transport=sandbox.transport())
            client = ViberClient("sandbox-key", base_url=sandbox.base_url, http_client=http)
        """
        return SandboxTransport(self._app)

    @property
    def base_url(self) -> str:
        """The Viber + SMS API base URL: the served one while :meth:`serve` runs."""
        return f"{self._origin()}{VIBER_PREFIX}"

    @property
    def sms_base_url(self) -> str:
        """The SMS API base URL: the served one while :meth:`serve` runs."""
        return f"{self._origin()}{SMS_PREFIX}"

    @property
    def is_serving(self) -> bool:
        """Whether :meth:`serve` is running."""
        return self._served is not None

    def _origin(self) -> str:
        if self._served is None:
            return f"http://{IN_PROCESS_HOST}"
        host, port = self._served
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    # -- messages --------------------------------------------------------------

    def messages(self) -> list[SandboxMessage]:
        """Every Viber message in the status window, oldest first, as it stands now."""
        return list(self._state.messages())

    def message(self, message_id: int) -> SandboxMessage | None:
        """One message as it stands now; None if unknown or out of the window."""
        return self._state.message(message_id)

    @property
    def sends_left(self) -> int | None:
        """Sends the balance still allows (None: no limit)."""
        return self._state.sends_left

    def top_up(self, sends: int | None) -> None:
        """Set the balance to ``sends`` more accepted sends (None: no limit)."""
        self._state.sends_left = sends

    # -- time and callbacks ----------------------------------------------------

    @property
    def callbacks(self) -> tuple[DeliveredCallback, ...]:
        """Finished callbacks (delivered or given up), oldest first."""
        return tuple(self._outbox.history)

    @property
    def pending_callbacks(self) -> int:
        """Callbacks queued: not yet due, or waiting for a retry."""
        return len(self._outbox)

    async def flush_callbacks(self) -> int:
        """POST every callback due now; return how many receivers accepted.

        While :meth:`serve` runs this happens by itself; in process, call this
        (or :meth:`advance`). A failed delivery is retried later, after its
        backoff in simulated time.
        """
        return await self._pump(self._clock.now())

    async def advance(self, seconds: float) -> int:
        """Move simulated time forward ``seconds``, POSTing callbacks on the way.

        Every status change and retry due in between happens in order, at its
        own simulated time. Returns how many callbacks receivers accepted.
        """
        if not seconds >= 0:
            msg = f"advance() takes seconds >= 0, got {seconds!r}"
            raise ValueError(msg)
        target = self._clock.now() + seconds
        delivered = 0
        while True:
            due = [
                when
                for when in (self._state.next_event_time(), self._outbox.next_due())
                if when is not None
            ]
            if not due or min(due) > target:
                break
            self._clock.advance_to(min(due))
            delivered += await self._pump(self._clock.now())
        self._clock.advance_to(target)
        return delivered + await self._pump(self._clock.now())

    async def _pump(self, now: float) -> int:
        async with self._pump_lock:
            for event in self._state.due_events(now):
                self._outbox.add(event)
            return await self._outbox.deliver_due(now)

    def _make_callback_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self._callback_transport,
            timeout=self._config.callback_timeout,
            follow_redirects=False,
            # Callbacks go to the URL the sender gave, never through a proxy.
            trust_env=False,
            headers={"user-agent": f"decisiontelecom-sandbox/{__version__}"},
        )

    # -- clients ---------------------------------------------------------------

    def _http_client(self) -> httpx.AsyncClient | None:
        if self._served is not None:
            return None
        http = httpx.AsyncClient(transport=self.transport())
        self._http_clients.append(http)
        return http

    def client(self, access_key: str | None = None, **kwargs: Any) -> ViberClient:
        """A :class:`ViberClient` wired to this sandbox, with its key (or ``access_key``).

        In process while not serving, over loopback while :meth:`serve` runs.
        ``kwargs`` go to :class:`ViberClient` (``retry_policy``, ``timeout``...).
        """
        kwargs.setdefault("base_url", self.base_url)
        if "http_client" not in kwargs:
            kwargs["http_client"] = self._http_client()
        return ViberClient(access_key or self._config.access_key, **kwargs)

    def sms_client(self, **kwargs: Any) -> SmsClient:
        """An :class:`SmsClient` with the sandbox's login and password, wired to it."""
        kwargs.setdefault("base_url", self.sms_base_url)
        if "http_client" not in kwargs:
            kwargs["http_client"] = self._http_client()
        return SmsClient(self._config.sms_login, self._config.sms_password, **kwargs)

    # -- serving ---------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve the sandbox over real HTTP/1.1; yield the Viber + SMS API base URL.

        ``port=0`` picks a free port. While it runs, callbacks are POSTed by a
        background task as they fall due. :attr:`sms_base_url` is the SMS
        API's URL. Dropped connections are real: the socket is closed with no
        answer.
        """
        try:
            from decisiontelecom_async.sandbox._server import LoopbackServer  # noqa: PLC0415
        except ImportError as exc:  # pragma: no cover - h11 comes with httpx
            msg = (
                "serving the sandbox needs h11; "
                "install it with 'pip install decisiontelecom-async[sandbox]'"
            )
            raise ImportError(msg) from exc
        if self._served is not None:
            msg = "this sandbox is already serving; serve() it once at a time"
            raise RuntimeError(msg)
        server = LoopbackServer(
            self._app.handle, server_name=f"decisiontelecom-sandbox/{__version__}"
        )
        await server.start(host, port)
        self._served = (server.host, server.port)
        pump = asyncio.create_task(self._pump_forever(), name="sandbox-callbacks")
        logger.info("sandbox: serving %s", self.base_url)
        try:
            yield self.base_url
        finally:
            self._served = None
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            await server.close()

    async def serve_forever(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ready: Callable[[str], object] | None = None,
    ) -> None:
        """Serve until cancelled; call ``ready(base_url)`` once listening."""
        async with self.serve(host, port) as base_url:
            if ready is not None:
                ready(base_url)
            await asyncio.Event().wait()

    async def _pump_forever(self) -> None:
        while True:
            try:
                await self._pump(self._clock.now())
            except Exception:
                logger.exception("sandbox: delivering callbacks failed")
            await asyncio.sleep(_PUMP_INTERVAL)

    # -- lifecycle -------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the HTTP clients the sandbox made (queued callbacks are dropped)."""
        clients, self._http_clients = self._http_clients, []
        for http in clients:
            await http.aclose()
        await self._outbox.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        where = self.base_url if self._served else "in process"
        return (
            f"<Sandbox {where} seed={self._config.seed} "
            f"messages={self._state.viber_count} requests={self._stats.requests}>"
        )
