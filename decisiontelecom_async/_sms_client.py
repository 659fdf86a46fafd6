"""The SMS API client: send an SMS, look up its status, read the balance.

The SMS API puts the login and password in the query string of every
``GET``. The client keeps them out of everything it shows: exception
messages (the core's transport never chains httpx's exceptions), the
``repr`` of its requests (which httpx also puts on its own exceptions), and
every log record of httpx, httpcore, aiohttp and the SDK (httpx logs the
URL at INFO, httpcore the raw answer headers at DEBUG), which the client's
redactor scrubs while it is open (:mod:`._log_filter`).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, Unpack
from urllib.parse import quote

import httpx

from decisiontelecom_async._bulk import BulkRun
from decisiontelecom_async._bulk_calls import send_many_of
from decisiontelecom_async._client_options import (
    ClientOptions,
    required_from_environment,
    shared_options,
)
from decisiontelecom_async._enums import SmsStatus
from decisiontelecom_async._errors import FieldProblem, ValidationError
from decisiontelecom_async._http._answer import Answer
from decisiontelecom_async._models import SendOutcome
from decisiontelecom_async._rules import encodes
from decisiontelecom_async._sms_models import MAX_CREDENTIAL_URL_LENGTH, SmsBalance, SmsMessage
from decisiontelecom_async._sms_wire import (
    SmsRedactor,
    build_query,
    read_balance,
    read_message_id,
    read_status,
)
from decisiontelecom_async._status_lookups import StatusLookups, check_message_id

if TYPE_CHECKING:
    from decisiontelecom_async._http._guard import RunGuard
    from decisiontelecom_async._journal._base import Journal
    from decisiontelecom_async._progress import ProgressHook
    from decisiontelecom_async._retry import RetryPolicy

__all__ = [
    "DEFAULT_SMS_BASE_URL",
    "LOGIN_ENV",
    "PASSWORD_ENV",
    "SMS_BASE_URL_ENV",
    "SmsClient",
    "SmsInput",
]

DEFAULT_SMS_BASE_URL = "https://web.it-decision.com/ru/js"
LOGIN_ENV = "DECISIONTELECOM_SMS_LOGIN"
PASSWORD_ENV = "DECISIONTELECOM_SMS_PASSWORD"  # noqa: S105 - a variable's name, not a password
SMS_BASE_URL_ENV = "DECISIONTELECOM_SMS_BASE_URL"

_T = TypeVar("_T")

SmsInput = SmsMessage | tuple[str, str, str] | tuple[str, str, str, bool]
"""What ``send_many`` takes: an :class:`SmsMessage`, or its arguments as a tuple."""


def _as_sms_message(item: object) -> SmsMessage:
    """An :class:`SmsMessage` from a bulk input; a :class:`ValidationError` for anything else."""
    if isinstance(item, SmsMessage):
        return item
    if isinstance(item, tuple) and len(item) in (3, 4):
        phone, sender, text, *rest = item
        return SmsMessage(phone, sender, text, delivery_report=rest[0] if rest else True)
    problem = FieldProblem(
        "message",
        "expected an SmsMessage or a (phone, sender, text[, delivery_report]) tuple, "
        f"got {type(item).__name__}",
    )
    raise ValidationError([problem], subject="input")


def _send_params(message: SmsMessage) -> dict[str, str]:
    """The query parameters of ``send`` for ``message``, credentials left out."""
    return {
        "phone": message.phone,
        "sender": message.sender,
        "text": message.text,
        "dlr": "1" if message.delivery_report else "0",
    }


def sms_digest(item: object) -> bytes:
    """A journal's digest of a bulk input: a hash of its ``send`` query without credentials."""
    query = build_query(_send_params(_as_sms_message(item))).encode()
    return hashlib.blake2b(b"sms\0" + query, digest_size=16).digest()


class _SmsRequest(httpx.Request):
    """An ``httpx.Request`` whose ``repr`` leaves out the query (and the credentials)."""

    def __repr__(self) -> str:
        url = self.url.copy_with(query=None, fragment=None, username=None, password=None)
        return f"<Request({self.method!r}, '{url}?[query hidden]')>"


class _Credentials:
    """The login and password, kept out of ``repr``."""

    __slots__ = ("login", "password")

    def __init__(self, login: str, password: str) -> None:
        self.login = login
        self.password = password

    def __repr__(self) -> str:
        return "<credentials hidden>"


@shared_options
class SmsClient(StatusLookups[SmsStatus]):
    """An async client for DecisionTelecom's SMS API (login and password).

    ::

        async with SmsClient(login, password) as sms:
            message_id = await sms.send("380501234567", "MyShop", "Your code is 1234")
            status = await sms.get_status(message_id)
            balance = await sms.get_balance()

    ``login`` and ``password``, when not passed, come from the environment
    variables ``DECISIONTELECOM_SMS_LOGIN`` and ``DECISIONTELECOM_SMS_PASSWORD``.
    Lifecycle, the shared concurrency bound, the rate ceiling and retries work
    as on :class:`ViberClient`. Every parameter is percent-encoded, so any
    text arrives as written. The login and password travel in the query
    string, as the API demands, but never appear in an exception, a ``repr``
    or a log line (also httpx's own request log).

    A ``send`` whose outcome is unknown (the request may have reached the
    service) is not retried unless the policy says
    ``retry_unknown_outcome=True``; status and balance look-ups are reads and
    are retried on every transient failure.
    """

    _default_base_url = DEFAULT_SMS_BASE_URL
    _base_url_env = SMS_BASE_URL_ENV

    def __init__(
        self,
        login: str | None = None,
        password: str | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        login = required_from_environment(login, argument="login", variable=LOGIN_ENV)
        password = required_from_environment(password, argument="password", variable=PASSWORD_ENV)
        # Never echo the values: they are the credentials.
        if not isinstance(login, str) or not login.strip():
            msg = "login must be a non-empty string (the SMS API login)"
            raise ValueError(msg)
        if not isinstance(password, str) or not password:
            msg = "password must be a non-empty string (the SMS API password)"
            raise ValueError(msg)
        for name, value in (("login", login), ("password", password)):
            # Else every call would raise a UnicodeEncodeError holding the secret.
            if not encodes(value):
                msg = f"{name} must be valid Unicode (it holds a lone surrogate character)"
                raise ValueError(msg)
            # Both ride in every URL: too long, and no request could be sent.
            encoded = len(quote(value, safe=""))
            if encoded > MAX_CREDENTIAL_URL_LENGTH:
                msg = (
                    f"{name} must be at most {MAX_CREDENTIAL_URL_LENGTH} characters once "
                    f"percent-encoded for the URL, got {encoded}"
                )
                raise ValueError(msg)
        self._credentials = _Credentials(login, password)
        super().__init__(
            options,
            # The answers are not JSON; ask for anything, as the vendor SDKs do.
            headers={"Accept": "*/*"},
            # Every error the core builds for this client goes through this one.
            redactor=lambda extra: SmsRedactor(login, password, extra=extra),
            account=login,
        )

    def _get(self, path: str, params: Mapping[str, str]) -> httpx.Request:
        query = build_query(
            {"login": self._credentials.login, "password": self._credentials.password, **params}
        )
        # The query goes in already encoded (%20 for a space, %2B for "+"):
        # httpx's own params= would send a space as "+", which a server that
        # decodes by RFC 3986 rather than as a form reads as a literal plus.
        request = self._build_request("GET", f"{path}?{query}")
        # Only the repr differs (no state of its own), so the request built is
        # relabelled rather than built again.
        request.__class__ = _SmsRequest
        return request

    async def _call(
        self,
        request: httpx.Request,
        parse: Callable[[Answer, Callable[[str], str]], _T],
        *,
        idempotent: bool,
        retry_policy: RetryPolicy | None,
        guard: RunGuard | None = None,
    ) -> tuple[_T, int]:
        return await self._request(
            request,
            lambda response: parse(response, self._redactor),
            idempotent=idempotent,
            retry_policy=retry_policy,
            guard=guard,
        )

    # -- send ------------------------------------------------------------------

    async def send(
        self,
        phone: str,
        sender: str,
        text: str,
        *,
        delivery_report: bool = True,
        retry_policy: RetryPolicy | None = None,
    ) -> int:
        """Send one SMS; return the id the service assigned.

        The arguments are checked first (see :class:`SmsMessage`): a broken
        rule raises :class:`ValidationError` and nothing is sent. The service's
        refusal raises :class:`SmsApiError` (``code`` says why, e.g.
        :attr:`SmsErrorCode.NOT_ENOUGH_MONEY`); no answer raises
        :class:`TransportError`; an answer that makes no sense raises
        :class:`UnexpectedResponseError`.
        """
        message = SmsMessage(phone, sender, text, delivery_report=delivery_report)
        message_id, _ = await self._send(message, retry_policy=retry_policy)
        return message_id

    async def send_message(
        self, message: SmsMessage, *, retry_policy: RetryPolicy | None = None
    ) -> int:
        """Send an :class:`SmsMessage`; return the id the service assigned."""
        message_id, _ = await self._send(message, retry_policy=retry_policy)
        return message_id

    async def _send(
        self,
        message: SmsMessage,
        *,
        retry_policy: RetryPolicy | None = None,
        guard: RunGuard | None = None,
    ) -> tuple[int, int]:
        if not isinstance(message, SmsMessage):
            msg = f"expected an SmsMessage, got {type(message).__name__}"
            raise TypeError(msg)
        request = self._get("send", _send_params(message))
        return await self._send_message(
            request,
            lambda response: read_message_id(response, self._redactor),
            receiver=message.phone,
            retry_policy=retry_policy,
            guard=guard,
        )

    def send_many(
        self,
        messages: Iterable[SmsInput] | AsyncIterable[SmsInput],
        *,
        concurrency: int | None = None,
        progress: ProgressHook | None = None,
        progress_interval: float = 0.5,
        retry_policy: RetryPolicy | None = None,
        stop_when: Callable[[SendOutcome[SmsInput]], bool] | None = None,
        journal: Journal | None = None,
        resend_unknown: bool = False,
    ) -> BulkRun[SendOutcome[SmsInput]]:
        """Send every SMS; yield a :class:`SendOutcome` for each as it finishes.

        ::

            messages = (SmsMessage(phone, "MyShop", "Sale today") for phone in phones)
            async with contextlib.aclosing(sms.send_many(messages)) as outcomes:
                async for outcome in outcomes:
                    if not outcome.ok:
                        print(outcome.index, outcome.error)

        Each input is an :class:`SmsMessage` or a ``(phone, sender, text)``
        tuple (optionally with ``delivery_report`` fourth); an input that
        breaks a rule gets a :class:`ValidationError` outcome of its own.
        The guarantees are :meth:`ViberClient.send_many`'s: lazy input in
        constant memory, at most ``concurrency`` (default and ceiling: the
        client's ``max_concurrency``) in flight, completion order, exactly one
        outcome per input. Not enough money (:class:`SmsApiError` code 49) or
        refused credentials (codes 44, 45, 47, 48, 50) stop the run: requests
        in flight finish, nothing new is sent, and every other input gets a
        :class:`CampaignAborted` outcome whose ``cause`` is that error;
        ``stop_when`` adds a stop rule of your own, as there.

        ``journal`` and ``resend_unknown`` work as on
        :meth:`ViberClient.send_many`: a durable, resumable run.
        """
        outcomes: BulkRun[SendOutcome[Any]] = send_many_of(
            self,
            messages,
            lambda item, guard: self._send(
                _as_sms_message(item), retry_policy=retry_policy, guard=guard
            ),
            object,
            concurrency=concurrency,
            progress=progress,
            progress_interval=progress_interval,
            stop_when=stop_when,
            journal=journal,
            resend_unknown=resend_unknown,
            digest_of=sms_digest,
        )
        return outcomes

    # -- reads -------------------------------------------------------------------

    async def get_status(
        self, message_id: int, *, retry_policy: RetryPolicy | None = None
    ) -> SmsStatus:
        """Look up the delivery status of an SMS sent with ``delivery_report=True``.

        An empty status from the service, or a code this SDK does not know
        yet, is :attr:`SmsStatus.UNKNOWN`.
        """
        status, _ = await self._get_status(message_id, retry_policy=retry_policy)
        return status

    async def _get_status(
        self,
        message_id: int,
        *,
        retry_policy: RetryPolicy | None = None,
        guard: RunGuard | None = None,
    ) -> tuple[SmsStatus, int]:
        request = self._get("state", {"msgid": str(check_message_id(message_id))})
        return await self._call(
            request, read_status, idempotent=True, retry_policy=retry_policy, guard=guard
        )

    async def get_balance(self, *, retry_policy: RetryPolicy | None = None) -> SmsBalance:
        """Read the account's balance, credit line and currency."""
        request = self._get("balance", {})
        balance, _ = await self._call(
            request, read_balance, idempotent=True, retry_policy=retry_policy
        )
        return balance
