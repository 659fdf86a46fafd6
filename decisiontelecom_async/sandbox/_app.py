"""The sandbox's request handling, as a plain async function and as an ASGI app.

:meth:`SandboxApp.handle` takes a :class:`SandboxRequest` and returns a
:class:`SandboxReply`; the loopback server, the in-process httpx transport and
the ASGI interface are three thin ways to reach it. A reply can be a *drop*:
the connection is closed with no answer (by the server), or
``httpx.RemoteProtocolError`` is raised (in process).

Per request, in order: latency, a drop before processing, authentication,
the rate limit, a 500, an error inside a 200, validation, the balance, and
the work itself, then a drop after processing. Each step can be turned on
alone.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import attrs
import httpx

from decisiontelecom_async._enums import SmsErrorCode
from decisiontelecom_async._errors import SandboxConnectionDropped
from decisiontelecom_async.sandbox._faults import DropPhase, Faults
from decisiontelecom_async.sandbox._state import SandboxState
from decisiontelecom_async.sandbox._wire import (
    BALANCE_EMPTY,
    INTERNAL_ERROR,
    NOT_FOUND,
    RATE_LIMITED,
    UNAUTHORIZED_JSON,
    InvalidParameter,
    SmsRefused,
    check_sms_credentials,
    error_object,
    invalid_parameter,
    json_bytes,
    sms_balance,
    sms_error,
    sms_message_id,
    sms_pair,
    validate_send,
    validate_sms_send,
    validate_status_lookup,
)

if TYPE_CHECKING:
    from decisiontelecom_async.sandbox._config import SandboxConfig

__all__ = [
    "SMS_PREFIX",
    "VIBER_PREFIX",
    "SandboxApp",
    "SandboxReply",
    "SandboxRequest",
    "SandboxStats",
    "SandboxTransport",
]

logger = logging.getLogger("decisiontelecom_async.sandbox")

VIBER_PREFIX = "/v1/api"
SMS_PREFIX = "/ru/js"
_JSON = "application/json; charset=UTF-8"
_TEXT = "text/plain; charset=UTF-8"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@attrs.define
class SandboxStats:
    """Counters of what the sandbox saw and did (reset with :meth:`Sandbox.reset_stats`)."""

    requests: int = 0
    """Every request that reached the sandbox, dropped ones included."""
    sends_accepted: int = 0
    """Viber sends accepted (each got an id)."""
    status_lookups: int = 0
    """``receive-viber`` calls answered with a status."""
    sms_sends_accepted: int = 0
    """SMS API sends accepted."""
    sms_errors: int = 0
    """SMS API calls answered ``["error", code]``."""
    invalid_parameters: int = 0
    """400 answers (a body broke a rule, or an unknown/expired id)."""
    unauthorized: int = 0
    """401 answers."""
    rate_limited: int = 0
    """429 answers."""
    server_errors: int = 0
    """500 answers."""
    errors_in_200: int = 0
    """Error objects answered inside an HTTP 200."""
    balance_exhausted: int = 0
    """402 answers (and SMS API error 49)."""
    not_found: int = 0
    """404 and 405 answers."""
    dropped_before: int = 0
    """Connections dropped before the request was processed."""
    dropped_after: int = 0
    """Connections dropped after the request was processed."""
    callbacks_delivered: int = 0
    """Callbacks a receiver accepted with a 2xx."""
    callback_failures: int = 0
    """Callback POSTs that failed (each retry counts)."""
    callbacks_abandoned: int = 0
    """Callbacks given up on after every attempt failed."""
    replies_delivered: int = 0
    """2-Way replies among the delivered callbacks."""

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return attrs.asdict(self)


@attrs.frozen
class SandboxRequest:
    """One HTTP request, as the sandbox reads it."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    """Lower-case names."""
    body: bytes


@attrs.frozen
class SandboxReply:
    """The answer to one request, or a dropped connection."""

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    drop: bool = False

    @classmethod
    def json(
        cls, status: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()
    ) -> SandboxReply:
        return cls(status, body, (("content-type", _JSON), *headers))

    @classmethod
    def text(cls, status: int, body: bytes) -> SandboxReply:
        return cls(status, body, (("content-type", _TEXT),))


_DROPPED = SandboxReply(status=0, drop=True)


class SandboxApp:
    """Request handling for the Viber + SMS API and the SMS API."""

    def __init__(
        self,
        *,
        config: SandboxConfig,
        state: SandboxState,
        faults: Faults,
        stats: SandboxStats,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.state = state
        self.faults = faults
        self.stats = stats
        self._sleep = sleep
        self._accepted_tokens = self._tokens_for(config.access_key)

    @staticmethod
    def _tokens_for(access_key: str) -> frozenset[str]:
        # The vendor SDKs send base64(key); curl's CURLOPT_USERPWD in the
        # page's PHP sample sends base64("key:"). Both are the same key.
        return frozenset(
            base64.b64encode(form.encode()).decode() for form in (access_key, access_key + ":")
        )

    async def handle(self, request: SandboxRequest) -> SandboxReply:
        """Answer ``request`` (or drop it), with every enabled fault applied."""
        self.stats.requests += 1
        latency = self.faults.latency_now()
        if latency > 0:
            await self._sleep(latency)
        phase = self.faults.drop()
        if phase is DropPhase.BEFORE:
            self.stats.dropped_before += 1
            return _DROPPED
        reply = self._route(request)
        if phase is DropPhase.AFTER:
            self.stats.dropped_after += 1
            return _DROPPED
        logger.debug("sandbox: %s %s -> %d", request.method, request.path, reply.status)
        return reply

    def _route(self, request: SandboxRequest) -> SandboxReply:
        path = request.path.rstrip("/")
        viber = {
            f"{VIBER_PREFIX}/send-viber": self._send_viber,
            f"{VIBER_PREFIX}/receive-viber": self._receive_viber,
        }
        sms = {
            f"{SMS_PREFIX}/send": self._sms_send,
            f"{SMS_PREFIX}/state": self._sms_state,
            f"{SMS_PREFIX}/balance": self._sms_balance,
        }
        if path in viber:
            if request.method != "POST":
                return self._not_allowed("POST")
            return self._viber_gate(request) or viber[path](request.body)
        if path in sms:
            if request.method != "GET":
                return self._not_allowed("GET")
            return self._sms_gate() or self._sms_call(sms[path], request.query)
        self.stats.not_found += 1
        return SandboxReply.json(404, error_object(NOT_FOUND))

    def _not_allowed(self, allowed: str) -> SandboxReply:
        self.stats.not_found += 1
        body = {"name": "Method Not Allowed", "message": "Method Not Allowed.", "code": 0}
        return SandboxReply.json(405, json_bytes({**body, "status": 405}), (("allow", allowed),))

    # -- Viber + SMS API -------------------------------------------------------

    def _viber_gate(self, request: SandboxRequest) -> SandboxReply | None:
        """Authentication and the service-side faults, before any work."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic" or token.strip() not in self._accepted_tokens:
            self.stats.unauthorized += 1
            return self._unauthorized()
        retry_after = self.faults.retry_after()
        if retry_after is not None:
            self.stats.rate_limited += 1
            return SandboxReply.json(
                429, error_object(RATE_LIMITED), (("retry-after", f"{retry_after:g}"),)
            )
        if self.faults.server_error():
            self.stats.server_errors += 1
            return SandboxReply.json(500, error_object(INTERNAL_ERROR))
        in_200 = self.faults.error_in_200()
        if in_200 is not None:
            self.stats.errors_in_200 += 1
            return SandboxReply.json(200, error_object(RATE_LIMITED if in_200 else INTERNAL_ERROR))
        return None

    def _unauthorized(self) -> SandboxReply:
        headers = (("www-authenticate", 'Basic realm="api"'),)
        kind = self.config.unauthorized_body
        if kind == "json":
            return SandboxReply.json(401, error_object(UNAUTHORIZED_JSON), headers)
        if kind == "text":
            return SandboxReply(
                401,
                b"Your request was made with invalid credentials.",
                (("content-type", _TEXT), *headers),
            )
        return SandboxReply(401, b"", headers)

    def _invalid(self, problem: InvalidParameter) -> SandboxReply:
        self.stats.invalid_parameters += 1
        # The service says no more than the parameter's name; the header is the
        # sandbox's own hint, for whoever debugs the request.
        return SandboxReply.json(
            400,
            invalid_parameter(problem.param),
            (("x-sandbox-problem", _header_safe(str(problem))),),
        )

    def _send_viber(self, body: bytes) -> SandboxReply:
        try:
            send = validate_send(body)
        except InvalidParameter as problem:
            return self._invalid(problem)
        if not self.state.take_send():
            self.stats.balance_exhausted += 1
            return SandboxReply.json(402, error_object(BALANCE_EMPTY))
        message_id = self.state.accept_viber(
            send.body,
            receiver=send.receiver,
            callback_url=send.callback_url,
            ttl=send.validity_period,
            two_way=send.message_type.is_two_way,
            sms_fallback=send.has_sms_text,
        )
        self.stats.sends_accepted += 1
        return SandboxReply.json(200, json_bytes({"message_id": message_id}))

    def _receive_viber(self, body: bytes) -> SandboxReply:
        try:
            message_id = validate_status_lookup(body)
        except InvalidParameter as problem:
            return self._invalid(problem)
        receipt = self.state.receipt(message_id)
        if receipt is None:
            return self._invalid(
                InvalidParameter("message_id", "no such message in the last 5 days")
            )
        self.stats.status_lookups += 1
        return SandboxReply.json(200, json_bytes(receipt))

    # -- SMS API ---------------------------------------------------------------

    def _sms_gate(self) -> SandboxReply | None:
        """The transport-level faults of the SMS API (its errors are all in-band)."""
        retry_after = self.faults.retry_after()
        if retry_after is not None:
            self.stats.rate_limited += 1
            return SandboxReply(
                429,
                b"Too Many Requests",
                (("content-type", _TEXT), ("retry-after", f"{retry_after:g}")),
            )
        if self.faults.server_error():
            self.stats.server_errors += 1
            return SandboxReply.text(500, b"Internal Server Error")
        return None

    def _sms_call(self, call: Callable[[dict[str, str]], bytes], raw_query: str) -> SandboxReply:
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        try:
            check_sms_credentials(query, self.config.sms_login, self.config.sms_password)
            body = call(query)
        except SmsRefused as refused:
            self.stats.sms_errors += 1
            if refused.code is SmsErrorCode.NOT_ENOUGH_MONEY:
                self.stats.balance_exhausted += 1
            body = sms_error(refused.code)
        return SandboxReply.text(200, body)

    def _sms_send(self, query: dict[str, str]) -> bytes:
        parts = validate_sms_send(query)
        if not self.state.sms_parts_affordable(parts) or not self.state.take_send():
            raise SmsRefused(SmsErrorCode.NOT_ENOUGH_MONEY)
        message_id = self.state.accept_sms(parts)
        self.stats.sms_sends_accepted += 1
        return sms_pair("msgid", str(message_id))

    def _sms_state(self, query: dict[str, str]) -> bytes:
        status = self.state.sms_status(sms_message_id(query))
        if status is None:
            raise SmsRefused(SmsErrorCode.INVALID_MESSAGE_ID)
        return sms_pair("status", str(int(status)))

    def _sms_balance(self, _: dict[str, str]) -> bytes:
        config = self.config
        return sms_balance(self.state.sms_money, config.sms_credit, config.currency)

    # -- ASGI ------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI interface: mount the sandbox in any ASGI server or test client.

        Where the sandbox would drop the connection it raises
        :class:`SandboxConnectionDropped`; an ASGI server turns that into a 500
        or a closed connection, depending on the server.
        """
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            msg = f"the sandbox serves HTTP only, not {scope['type']!r}"
            raise RuntimeError(msg)
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope.get("headers", [])
        }
        reply = await self.handle(
            SandboxRequest(
                method=scope["method"],
                path=scope["path"],
                query=scope.get("query_string", b"").decode("latin-1"),
                headers=headers,
                body=b"".join(chunks),
            )
        )
        if reply.drop:
            msg = "the sandbox dropped this connection (drop_connection_share)"
            raise SandboxConnectionDropped(msg)
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [
                    (name.encode("latin-1"), value.encode("latin-1"))
                    for name, value in (
                        *reply.headers,
                        ("content-length", str(len(reply.body))),
                    )
                ],
            }
        )
        await send({"type": "http.response.body", "body": reply.body})


def _header_safe(text: str) -> str:
    cleaned = text.encode("ascii", "replace").decode("ascii")
    return "".join(char if char.isprintable() else "?" for char in cleaned)[:300]


class SandboxTransport(httpx.AsyncBaseTransport):
    """An httpx transport that hands every request to a sandbox, in process.

    No socket is opened. A dropped connection raises
    ``httpx.RemoteProtocolError``, as httpx does when a server hangs up
    without answering.
    """

    def __init__(self, app: SandboxApp) -> None:
        self._app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        reply = await self._app.handle(
            SandboxRequest(
                method=request.method,
                path=request.url.path,
                query=request.url.query.decode("ascii"),
                headers={name.lower(): value for name, value in request.headers.items()},
                body=body,
            )
        )
        if reply.drop:
            msg = "Server disconnected without sending a response."
            raise httpx.RemoteProtocolError(msg, request=request)
        return httpx.Response(
            reply.status, headers=list(reply.headers), content=reply.body, request=request
        )
